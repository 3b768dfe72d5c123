//! `/webhooks`: the list, the create and edit forms, the detail page and the manage actions.

pub mod actions;
pub mod detail;
pub mod form;
pub mod list;
pub mod list_row;
pub mod secret;
pub mod test_ping;

use crate::error::AppError;
use crate::webhooks::service::WebhookError;

impl From<WebhookError> for AppError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::NotFound => AppError::NotFound,
            WebhookError::Database(err) => err.into(),
            other => AppError::Unexpected(anyhow::Error::new(other)),
        }
    }
}
