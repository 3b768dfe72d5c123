//! The database monitor: a connection of its own (outside both pools, opened with a connect
//! timeout) runs `SELECT 1` every second. `/healthz` reports the last result, so it answers
//! at once however busy the pools are; while the last ping failed, requests take an idle
//! pooled connection if one still works and otherwise answer 503 at once, instead of each
//! waiting for the pool's timeout. It logs one line when the database goes away and one when
//! it is back; requests refused meanwhile log one line each.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use tokio_util::sync::CancellationToken;

/// How often the database is pinged.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// With no successful ping for this long, the database counts as unreachable.
pub const STALE_AFTER: Duration = Duration::from_secs(3);
/// libpq's `connect_timeout` for the monitor's connection, in seconds.
const CONNECT_TIMEOUT_SECONDS: u64 = 2;

/// What the monitor last saw; cheap to clone and to read from any thread.
#[derive(Clone)]
pub struct DatabaseStatus(Arc<Inner>);

struct Inner {
    origin: Instant,
    /// Milliseconds from `origin` to the last successful ping, plus one (0 = never).
    last_ok: AtomicU64,
    /// Whether the last finished ping failed.
    failing: AtomicBool,
    /// Why the last failed ping failed (one line).
    last_error: Mutex<String>,
}

impl DatabaseStatus {
    fn new() -> Self {
        Self(Arc::new(Inner {
            origin: Instant::now(),
            last_ok: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
        }))
    }

    /// The last ping succeeded, less than [`STALE_AFTER`] ago.
    pub fn is_reachable(&self) -> bool {
        !self.is_down()
            && self
                .since_last_ok()
                .is_some_and(|elapsed| elapsed < STALE_AFTER)
    }

    /// The last ping failed: the database is down or refuses this process's connections.
    pub fn is_down(&self) -> bool {
        self.0.failing.load(Ordering::Acquire)
    }

    /// How long ago the database last answered a ping.
    pub fn since_last_ok(&self) -> Option<Duration> {
        match self.0.last_ok.load(Ordering::Acquire) {
            0 => None,
            at => Some(
                self.0
                    .origin
                    .elapsed()
                    .saturating_sub(Duration::from_millis(at - 1)),
            ),
        }
    }

    /// Why the last failed ping failed.
    pub fn last_error(&self) -> String {
        self.0
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn succeeded(&self) {
        let at = self.0.origin.elapsed().as_millis() as u64 + 1;
        self.0.last_ok.store(at, Ordering::Release);
        if self.0.failing.swap(false, Ordering::AcqRel) {
            tracing::info!("database reachable again");
        }
    }

    fn failed(&self, cause: &str) {
        *self.0.last_error.lock().unwrap_or_else(|e| e.into_inner()) = cause.to_owned();
        if !self.0.failing.swap(true, Ordering::AcqRel) {
            tracing::warn!("database unreachable: {cause}; answering 503 until it is back");
        }
    }
}

/// Pings once (so `/healthz` is right from the first request), then every [`PING_EVERY`]
/// until `stop` is cancelled.
pub async fn start(
    database_url: &str,
    stop: CancellationToken,
) -> (DatabaseStatus, tokio::task::JoinHandle<()>) {
    let url = super::with_connect_timeout(database_url, CONNECT_TIMEOUT_SECONDS);
    let status = DatabaseStatus::new();
    let mut conn = ping(&status, &url, None).await;
    let task = {
        let status = status.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(PING_EVERY);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                conn = ping(&status, &url, conn.take()).await;
            }
        })
    };
    (status, task)
}

/// One ping on `conn` (connecting first if there is none); the connection, if it still works.
async fn ping(
    status: &DatabaseStatus,
    url: &str,
    conn: Option<PgConnection>,
) -> Option<PgConnection> {
    let url = url.to_owned();
    let mut task = tokio::task::spawn_blocking(move || {
        let mut conn = match conn {
            Some(conn) => conn,
            None => PgConnection::establish(&url).map_err(|err| err.to_string())?,
        };
        diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .map_err(|err| err.to_string())?;
        Ok::<_, String>(conn)
    });
    // A ping that hangs (a network partition) is reported once; `/healthz` turns 503 anyway
    // when the last success grows old.
    let stalled = tokio::time::sleep(STALE_AFTER);
    tokio::pin!(stalled);
    let mut reported = false;
    let outcome = loop {
        tokio::select! {
            outcome = &mut task => break outcome,
            _ = &mut stalled, if !reported => {
                reported = true;
                tracing::warn!("the database has not answered a ping for {} s", STALE_AFTER.as_secs());
            }
        }
    };
    match outcome {
        Ok(Ok(conn)) => {
            if reported && !status.is_down() {
                tracing::info!("the database answers pings again");
            }
            status.succeeded();
            Some(conn)
        }
        Ok(Err(cause)) => {
            status.failed(&super::one_line(&cause));
            None
        }
        Err(err) => {
            status.failed(&format!("the ping task failed: {err}"));
            None
        }
    }
}
