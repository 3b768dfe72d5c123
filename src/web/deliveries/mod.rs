//! `/deliveries` and `/dead-letters`: what happened to every event, each delivery's attempts,
//! and the manager actions that send deliveries again or discard them.

pub mod actions;
pub mod dead_letters;
pub mod detail;
pub mod list;
pub mod query;

use crate::error::AppError;
use crate::replay::ReplayError;

impl From<ReplayError> for AppError {
    fn from(err: ReplayError) -> Self {
        match err {
            ReplayError::NotFound => AppError::NotFound,
            ReplayError::Database(err) => err.into(),
            other => AppError::BadRequest(other.to_string()),
        }
    }
}
