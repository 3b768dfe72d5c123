//! The enabled webhooks and what they subscribe to, kept in memory per process and reloaded
//! when `webhook_config_version` moves. The version is read inside the ingest transaction, so
//! the list is as fresh as querying it there would be: a webhook disabled before the event
//! arrives gets nothing queued.

use std::sync::{Arc, RwLock};

use diesel::prelude::*;

use crate::model::webhook::{self, Subscriber};

/// The list and the config version it was loaded at.
type Remembered = Option<(i64, Arc<Vec<Subscriber>>)>;

#[derive(Clone, Default)]
pub struct Subscriptions(Arc<RwLock<Remembered>>);

impl Subscriptions {
    /// The list as last loaded and its version (loading it when there is none); the caller
    /// checks the version in the statement that uses the list, and calls `forget` on a
    /// mismatch.
    pub fn remembered(&self, conn: &mut PgConnection) -> QueryResult<(i64, Arc<Vec<Subscriber>>)> {
        if let Some((version, list)) = &*self.0.read().expect("subscriptions lock") {
            return Ok((*version, list.clone()));
        }
        let version = webhook::config_version(conn)?;
        let list = Arc::new(webhook::subscribers(conn)?);
        *self.0.write().expect("subscriptions lock") = Some((version, list.clone()));
        Ok((version, list))
    }

    /// Drops the remembered list (it is older than the database's).
    pub fn forget(&self) {
        *self.0.write().expect("subscriptions lock") = None;
    }

    /// The current subscribers (a query for the version; the list only when it changed).
    pub fn current(&self, conn: &mut PgConnection) -> QueryResult<Arc<Vec<Subscriber>>> {
        // The version is read first: a list loaded later is at least that new, so it can
        // never be remembered under a version newer than itself.
        let version = webhook::config_version(conn)?;
        if let Some((cached, list)) = &*self.0.read().expect("subscriptions lock")
            && *cached == version
        {
            return Ok(list.clone());
        }
        let list = Arc::new(webhook::subscribers(conn)?);
        *self.0.write().expect("subscriptions lock") = Some((version, list.clone()));
        Ok(list)
    }
}
