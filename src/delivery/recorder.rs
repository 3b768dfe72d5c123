//! Writes attempt outcomes in batches: one transaction applies many deliveries' new states,
//! stores their attempts and disables the webhooks that must be disabled. Only deliveries this
//! worker still holds are changed (a delivery whose webhook was deleted is simply gone).

use std::collections::HashSet;

use diesel::prelude::*;

use crate::model::audit::Actor;
use crate::model::delivery::{self, StateChange};
use crate::model::delivery_attempt::{self, NewAttempt};
use crate::webhooks::service;

/// One finished delivery step, waiting to be written.
#[derive(Debug, Clone)]
pub struct Completed {
    pub change: StateChange,
    /// `None` when nothing was sent (the webhook was disabled meanwhile).
    pub attempt: Option<NewAttempt>,
    /// Disable this webhook with this reason.
    pub disable: Option<(i64, String)>,
}

/// Writes a batch in one transaction; returns how many deliveries it changed.
pub fn write(conn: &mut PgConnection, worker: &str, batch: &[Completed]) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let changes: Vec<StateChange> = batch.iter().map(|c| c.change.clone()).collect();
        let changed: HashSet<uuid::Uuid> = delivery::apply_changes(conn, worker, &changes)?
            .into_iter()
            .collect();
        let attempts: Vec<NewAttempt> = batch
            .iter()
            .filter(|c| changed.contains(&c.change.id))
            .filter_map(|c| c.attempt.clone())
            .collect();
        delivery_attempt::insert_many(conn, &attempts)?;
        for (webhook_id, reason) in batch
            .iter()
            .filter(|c| changed.contains(&c.change.id))
            .filter_map(|c| c.disable.as_ref())
        {
            match service::set_enabled(conn, &Actor::system(), *webhook_id, false, Some(reason)) {
                Ok(_) | Err(service::WebhookError::NotFound) => {}
                Err(service::WebhookError::Database(err)) => return Err(err),
                Err(other) => tracing::error!(webhook_id, "could not disable webhook: {other}"),
            }
        }
        Ok(changed.len())
    })
}
