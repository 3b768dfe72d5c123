//! Telling workers that deliveries were queued. This process's worker is woken directly;
//! workers in other processes get a PostgreSQL NOTIFY, sent from a background task at most
//! once per few milliseconds rather than inside each ingest transaction: a NOTIFY in a
//! transaction takes a database-wide lock until its commit is flushed, which would serialise
//! every ingest commit and defeat group commit.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use tokio::sync::Notify;

use super::NOTIFY_CHANNEL;
use crate::db::PgPool;

/// Notifications to other processes are coalesced over this long.
const COALESCE: Duration = Duration::from_millis(5);
/// How long the answer to "does another process listen?" is trusted.
const LISTENERS_FRESH: Duration = Duration::from_millis(250);
/// How old an answer "no other process listens" may be for ingest to hand deliveries straight
/// to this process's worker (see `delivery::handoff`).
const ALONE_FRESH: Duration = Duration::from_secs(1);

/// The `application_name` of this process's LISTEN connection: other processes see it in
/// `pg_stat_activity` and know a worker elsewhere wants notifications.
pub fn listener_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        format!(
            "{LISTENER_PREFIX}{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )
    })
}

const LISTENER_PREFIX: &str = "herald-listener-";

#[derive(Clone)]
pub struct QueueSignal {
    local: Arc<Notify>,
    remote: Arc<Notify>,
    /// When it was last asked whether another process listens, and the answer.
    others: Arc<Mutex<Option<(Instant, bool)>>>,
}

impl QueueSignal {
    /// Starts the background notifier on the current runtime.
    pub fn start(pool: PgPool) -> Self {
        let signal = Self {
            local: Arc::new(Notify::new()),
            remote: Arc::new(Notify::new()),
            others: Arc::new(Mutex::new(None)),
        };
        let remote = signal.remote.clone();
        let others = signal.others.clone();
        tokio::spawn(async move {
            loop {
                remote.notified().await;
                let pool = pool.clone();
                let known = others
                    .lock()
                    .expect("others lock")
                    .filter(|(at, _)| at.elapsed() < LISTENERS_FRESH);
                let sent = tokio::task::spawn_blocking(move || {
                    let mut conn = pool.get()?;
                    // A NOTIFY nobody else hears is two round trips per event for nothing
                    // (this process's own worker was woken directly).
                    let listening = match known {
                        Some((_, listening)) => listening,
                        None => other_listeners(&mut conn).unwrap_or(true),
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
                    *others.lock().expect("others lock") = Some((Instant::now(), *listening));
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
    /// listens (which keeps handoffs going while it says no).
    pub fn stored(&self, queued: &super::queue::Queued) {
        if queued.left_to_claim() {
            self.queued();
        } else if queued.deliveries > 0 {
            self.remote.notify_one();
        }
    }

    /// No other Herald process had a worker listening on this database, asked within the
    /// last second.
    pub fn alone(&self) -> bool {
        matches!(
            *self.others.lock().expect("others lock"),
            Some((at, false)) if at.elapsed() < ALONE_FRESH
        )
    }

    /// What this process's worker waits on.
    pub fn local(&self) -> Arc<Notify> {
        self.local.clone()
    }
}

/// Whether a Herald process other than this one has a LISTEN connection to this database.
fn other_listeners(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "EXISTS (SELECT 1 FROM pg_stat_activity
                 WHERE datname = current_database()
                   AND application_name LIKE '{LISTENER_PREFIX}%'
                   AND application_name <> '{}')",
        listener_name()
    )))
    .get_result(conn)
}

/// Wakes the workers of every Herald process on this database.
pub fn notify_workers(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query(format!("NOTIFY {NOTIFY_CHANNEL}"))
        .execute(conn)
        .map(|_| ())
}
