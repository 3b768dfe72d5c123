//! The database monitor: a connection of its own (outside both pools, opened with a connect
//! timeout) runs `SELECT 1` every second while the process uses the database, and every five
//! seconds once nothing has taken a pooled connection for a few seconds (an idle Herald then
//! costs a ping where it cost five). `/healthz` reports the last result, so it answers at once
//! however busy the pools are; while the last ping failed, requests take an idle pooled
//! connection if one still works and otherwise answer 503 at once, instead of each waiting
//! for the pool's timeout. A request that cannot get a connection asks for a ping at once, so
//! an outage that begins while the process was idle is noticed by the first request that
//! meets it. It logs one line when the database goes away and one when it is back; requests
//! refused meanwhile log one line each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::stamp::Stamp;

/// How often the database is pinged while the process uses it, or while it is down.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// How often it is pinged while the process is idle.
pub const PING_EVERY_IDLE: Duration = Duration::from_secs(5);
/// No pooled connection taken for this long: the process is idle.
const IDLE_AFTER: Duration = Duration::from_secs(5);
/// A ping unanswered for this long, or no successful ping for this long beyond the idle
/// interval, and the database counts as unreachable.
pub const STALE_AFTER: Duration = Duration::from_secs(3);
/// libpq's `connect_timeout` for the monitor's connection, in seconds.
const CONNECT_TIMEOUT_SECONDS: u64 = 2;

/// What the monitor last saw; cheap to clone and to read from any thread.
#[derive(Clone)]
pub struct DatabaseStatus(Arc<Inner>);

struct Inner {
    origin: Instant,
    /// The last successful ping.
    last_ok: Stamp,
    /// Whether the last finished ping failed.
    failing: AtomicBool,
    /// The start of the ping under way.
    ping_started: Stamp,
    /// Why the last failed ping failed (one line).
    last_error: Mutex<String>,
    /// Asks for a ping now.
    nudge: Notify,
}

impl DatabaseStatus {
    fn new() -> Self {
        Self::since(Instant::now())
    }

    /// A status whose clock starts at `origin`.
    fn since(origin: Instant) -> Self {
        Self(Arc::new(Inner {
            origin,
            last_ok: Stamp::none(),
            failing: AtomicBool::new(false),
            ping_started: Stamp::none(),
            last_error: Mutex::new(String::new()),
            nudge: Notify::new(),
        }))
    }

    /// The last ping succeeded, recently enough, and the one under way (if any) has not been
    /// waiting for an answer for [`STALE_AFTER`].
    pub fn is_reachable(&self) -> bool {
        !self.is_down()
            && self
                .since_last_ok()
                .is_some_and(|elapsed| elapsed < PING_EVERY_IDLE + STALE_AFTER)
            && self
                .ping_waiting_for()
                .is_none_or(|waiting| waiting < STALE_AFTER)
    }

    /// A request could not get a database connection: ping now rather than at the next tick.
    pub fn nudge(&self) {
        self.0.nudge.notify_one();
    }

    fn ping_waiting_for(&self) -> Option<Duration> {
        self.0.ping_started.elapsed(self.0.origin)
    }

    fn ping_starts(&self) {
        self.0.ping_started.mark(self.0.origin);
    }

    fn ping_ended(&self) {
        self.0.ping_started.clear();
    }

    /// How long until the next ping: often while the process uses the database or the
    /// database is down, seldom while both are quiet.
    fn next_ping_in(&self) -> Duration {
        ping_interval(crate::db::liveness::since_last_checkout(), self.is_down())
    }

    /// The last ping failed: the database is down or refuses this process's connections.
    pub fn is_down(&self) -> bool {
        self.0.failing.load(Ordering::Acquire)
    }

    /// How long ago the database last answered a ping.
    pub fn since_last_ok(&self) -> Option<Duration> {
        self.0.last_ok.elapsed(self.0.origin)
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
        self.0.last_ok.mark(self.0.origin);
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

/// The pause before the next ping, given how long ago a pooled connection was last taken
/// and whether the last ping failed.
fn ping_interval(since_checkout: Option<Duration>, down: bool) -> Duration {
    let busy = since_checkout.is_some_and(|ago| ago < IDLE_AFTER);
    if busy || down {
        PING_EVERY
    } else {
        PING_EVERY_IDLE
    }
}

/// Pings once (so `/healthz` is right from the first request), then every [`PING_EVERY`]
/// or [`PING_EVERY_IDLE`] (see [`DatabaseStatus::next_ping_in`]), and whenever nudged, until
/// `stop` is cancelled.
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
            let mut last_hand_back: Option<Instant> = None;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(status.next_ping_in()) => {}
                    _ = status.0.nudge.notified() => {}
                }
                conn = ping(&status, &url, conn.take()).await;
                // The process fell quiet: the code its work ran need not stay resident.
                if crate::file_pages::fell_quiet(
                    crate::db::liveness::since_last_checkout(),
                    last_hand_back.map(|at| at.elapsed()),
                    IDLE_AFTER,
                ) {
                    last_hand_back = Some(Instant::now());
                    let _ = tokio::task::spawn_blocking(crate::file_pages::hand_back).await;
                }
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
    status.ping_starts();
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
    status.ping_ended();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_often_while_the_database_is_used_or_down_and_seldom_when_idle() {
        let recently = Some(Duration::from_millis(200));
        let long_ago = Some(IDLE_AFTER + Duration::from_secs(1));
        assert_eq!(ping_interval(recently, false), PING_EVERY);
        assert_eq!(ping_interval(long_ago, false), PING_EVERY_IDLE);
        assert_eq!(ping_interval(None, false), PING_EVERY_IDLE);
        assert_eq!(ping_interval(long_ago, true), PING_EVERY);
        assert_eq!(ping_interval(None, true), PING_EVERY);
    }

    #[test]
    fn a_ping_left_unanswered_makes_the_database_unreachable() {
        // A clock started a while ago, so a ping can have started STALE_AFTER ago.
        let origin = Instant::now()
            .checked_sub(Duration::from_secs(60))
            .expect("the clock is past a minute");
        let status = DatabaseStatus::since(origin);
        assert!(!status.is_reachable(), "never pinged");
        status.succeeded();
        assert!(status.is_reachable());
        status.ping_starts();
        assert!(status.is_reachable(), "a ping just started");
        // A ping that started STALE_AFTER ago and has not come back.
        let long_ago = status.0.origin.elapsed().saturating_sub(STALE_AFTER);
        status.0.ping_started.mark_at(long_ago);
        assert!(!status.is_reachable());
        status.ping_ended();
        assert!(status.is_reachable());
        status.failed("connection refused");
        assert!(!status.is_reachable() && status.is_down());
    }
}
