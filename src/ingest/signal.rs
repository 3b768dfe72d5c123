//! Telling workers that deliveries were queued. This process's worker is woken directly;
//! workers in other processes get a PostgreSQL NOTIFY, sent from a background task at most
//! once per few milliseconds rather than inside each ingest transaction: a NOTIFY in a
//! transaction takes a database-wide lock until its commit is flushed, which would serialise
//! every ingest commit and defeat group commit.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use tokio::sync::Notify;

use super::NOTIFY_CHANNEL;
use crate::db::PgPool;

/// Notifications to other processes are coalesced over this long.
const COALESCE: Duration = Duration::from_millis(5);

#[derive(Clone)]
pub struct QueueSignal {
    local: Arc<Notify>,
    remote: Arc<Notify>,
}

impl QueueSignal {
    /// Starts the background notifier on the current runtime.
    pub fn start(pool: PgPool) -> Self {
        let signal = Self {
            local: Arc::new(Notify::new()),
            remote: Arc::new(Notify::new()),
        };
        let remote = signal.remote.clone();
        tokio::spawn(async move {
            loop {
                remote.notified().await;
                let pool = pool.clone();
                let sent = tokio::task::spawn_blocking(move || {
                    let mut conn = pool.get()?;
                    notify_workers(&mut conn)?;
                    Ok::<_, anyhow::Error>(())
                })
                .await;
                if let Ok(Err(err)) = sent {
                    tracing::warn!("could not notify other workers ({err:#}); they will poll");
                }
                tokio::time::sleep(COALESCE).await;
            }
        });
        signal
    }

    /// Deliveries were queued: wake workers here and elsewhere.
    pub fn queued(&self) {
        self.local.notify_one();
        self.remote.notify_one();
    }

    /// What this process's worker waits on.
    pub fn local(&self) -> Arc<Notify> {
        self.local.clone()
    }
}

/// Wakes the workers of every Herald process on this database.
pub fn notify_workers(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query(format!("NOTIFY {NOTIFY_CHANNEL}"))
        .execute(conn)
        .map(|_| ())
}
