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
use super::other_workers::{self, OtherWorkers};
use crate::db::PgPool;

/// Notifications to other processes are coalesced over this long.
const COALESCE: Duration = Duration::from_millis(5);
/// How long the answer to "does another process listen?" is trusted before waking others.
const LISTENERS_FRESH: Duration = Duration::from_millis(250);
/// How old an answer "no other process listens" may be for ingest to hand deliveries straight
/// to this process's worker (see `delivery::handoff`). A worker joining announces itself to
/// this process's listener at once (see `other_workers`), so the answer can be trusted long.
const ALONE_FRESH: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct QueueSignal {
    local: Arc<Notify>,
    remote: Arc<Notify>,
    /// Whether another process's worker listens on this database.
    others: Arc<OtherWorkers>,
}

impl QueueSignal {
    /// Starts the background notifier on the current runtime.
    pub fn start(pool: PgPool) -> Self {
        let signal = Self {
            local: Arc::new(Notify::new()),
            remote: Arc::new(Notify::new()),
            others: Arc::new(OtherWorkers::default()),
        };
        let remote = signal.remote.clone();
        let others = signal.others.clone();
        tokio::spawn(async move {
            loop {
                remote.notified().await;
                let pool = pool.clone();
                let known = others.known(LISTENERS_FRESH);
                let sent = tokio::task::spawn_blocking(move || {
                    let mut conn = pool.get()?;
                    // A NOTIFY nobody else hears is two round trips per event for nothing
                    // (this process's own worker was woken directly).
                    let listening = match known {
                        Some(listening) => listening,
                        None => other_workers::ask(&mut conn).unwrap_or(true),
                    };
                    if listening {
                        notify_workers(&mut conn)?;
                    }
                    Ok::<_, anyhow::Error>(listening)
                })
                .await;
                if known.is_none()
                    && let Ok(Ok(listening)) = &sent
                {
                    others.record(*listening);
                }
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

    /// After ingest stored `queued`: wakes the workers when something is left to claim; when
    /// everything was handed to this process's worker, only refreshes whether another process
    /// listens once the answer is half its trusted age (which keeps handoffs going while it
    /// says no).
    pub fn stored(&self, queued: &super::queue::Queued) {
        if queued.left_to_claim() {
            self.queued();
        } else if queued.deliveries > 0 && self.others.known(ALONE_FRESH / 2).is_none() {
            self.remote.notify_one();
        }
    }

    /// No other Herald process had a worker listening on this database when last asked, and
    /// none has announced itself since (heard only while this worker's listener is up, which
    /// the caller checks).
    pub fn alone(&self) -> bool {
        self.others.known(ALONE_FRESH) == Some(false)
    }

    /// What the listener of this process's worker tells about other workers.
    pub fn other_workers(&self) -> Arc<OtherWorkers> {
        self.others.clone()
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
