//! Connection pool, embedded migrations and the embedded PostgreSQL cluster.

pub mod embedded;
pub mod liveness;
pub mod monitor;
pub mod notifications;
pub mod partitions;
pub mod prepared;
pub mod schema;
pub mod stamp;

use std::time::Duration;

use anyhow::Context;
use diesel::PgConnection;
use diesel::r2d2::{Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use liveness::CheckedManager;

pub type PgPool = Pool<CheckedManager>;
pub type PooledPg = PooledConnection<CheckedManager>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Builds the pool; fails with a clear error when the database cannot be reached.
pub fn build_pool(database_url: &str, size: u32) -> anyhow::Result<PgPool> {
    build_pool_with(database_url, size, Duration::from_secs(10))
}

/// Builds a pool whose checkouts wait at most `timeout`; fails with a clear error when the
/// database cannot be reached within 10 s (whatever `timeout` is: a database may be slow to
/// accept the first connections).
pub fn build_pool_with(database_url: &str, size: u32, timeout: Duration) -> anyhow::Result<PgPool> {
    let pool = pool_builder(size, timeout).build_unchecked(CheckedManager::new(database_url));
    pool.get_timeout(timeout.max(Duration::from_secs(10)))
        .context("could not connect to the database (check DATABASE_URL)")?;
    Ok(pool)
}

/// The pool settings every Herald pool shares. Failed connection attempts are not logged by
/// r2d2 (it would log each retry at error level, with libpq's multi-line message): whoever
/// waited for the connection reports the failure once, and the database monitor logs when
/// the database goes away and comes back.
pub fn pool_builder(size: u32, timeout: Duration) -> r2d2::Builder<CheckedManager> {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(timeout)
        .error_handler(Box::new(ConnectErrorsAtDebug))
}

/// Connection attempts r2d2 makes in the background, logged at debug level only.
#[derive(Debug, Clone, Copy)]
struct ConnectErrorsAtDebug;

impl<E: std::fmt::Display> r2d2::HandleError<E> for ConnectErrorsAtDebug {
    fn handle_error(&self, error: E) {
        tracing::debug!(
            "database connection attempt failed: {}",
            one_line(&error.to_string())
        );
    }
}

/// The delivery worker's pool: its transactions (claims, lease renewals, outcomes) commit
/// without waiting for the WAL flush. Losing the last few hundred milliseconds of them in a
/// database crash only re-sends deliveries (a lost claim is pending again, a lost outcome
/// leaves an expired lease that is taken back): delivery stays at-least-once, and nothing
/// the platform posted is lost, because ingest keeps synchronous commits in the web pool.
/// Without this, every claim and every outcome batch waited for an fsync, which capped a
/// webhook with a small in-flight limit at a few hundred deliveries a second.
/// Its prepared statements also always use their generic plan: PostgreSQL otherwise kept
/// planning the outcome statement afresh on every call (the generic plan of a statement over
/// partitioned tables looks costlier on paper), which cost more than running it.
/// And it never chooses a sequential scan where an index serves: a generic plan is made once
/// per connection from the statistics of that moment, and a week's partition starts empty and
/// unanalysed (PostgreSQL then assumes 10 pages), so the claim and the outcome statement were
/// planned as scans of the whole partition and kept that plan while it grew to tens of
/// thousands of rows (seen with auto_explain: 26 ms per claim, one benchmark run in three at
/// twice the database CPU). Every statement of the worker finds its rows by key or by index.
pub fn build_worker_pool(database_url: &str, size: u32) -> anyhow::Result<PgPool> {
    let pool = pool_builder(size, WORKER_POOL_TIMEOUT)
        .connection_customizer(Box::new(WorkerSession))
        .build_unchecked(CheckedManager::new(database_url));
    pool.get_timeout(Duration::from_secs(10))
        .context("could not connect to the database (check DATABASE_URL)")?;
    Ok(pool)
}

#[derive(Debug, Clone, Copy)]
struct WorkerSession;

impl r2d2::CustomizeConnection<PgConnection, diesel::r2d2::Error> for WorkerSession {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        use diesel::connection::SimpleConnection;
        conn.batch_execute(
            "SET synchronous_commit TO off; SET plan_cache_mode TO force_generic_plan; \
             SET enable_seqscan TO off",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// How long the delivery worker waits for a connection of its own pool.
const WORKER_POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's connections to the database, kept apart so that saturated ingest cannot
/// starve delivery (nor the reverse): the web pool serves the console, the management API
/// and ingest; the worker pool the delivery worker. The database monitor opens a connection
/// of its own from `url`, outside both.
#[derive(Clone)]
pub struct Pools {
    pub web: PgPool,
    pub worker: PgPool,
    pub url: String,
}

impl Pools {
    /// Opens both pools as `settings` size them; fails with a clear error when the database
    /// cannot be reached.
    pub fn connect(database_url: &str, settings: &crate::config::Settings) -> anyhow::Result<Self> {
        Ok(Self {
            web: build_pool_with(
                database_url,
                settings.db_pool_size,
                settings.db_pool_timeout,
            )?,
            worker: build_worker_pool(database_url, settings.worker_db_pool_size)?,
            url: database_url.to_owned(),
        })
    }
}

/// `text` on one line: libpq's messages span several (with a tab-indented hint).
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `database_url` with libpq's `connect_timeout` (seconds) set, unless it sets one already:
/// without it, connecting to an unreachable host waits as long as TCP does.
pub fn with_connect_timeout(database_url: &str, seconds: u64) -> String {
    if database_url.contains("connect_timeout") {
        return database_url.to_owned();
    }
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        let separator = if database_url.contains('?') { '&' } else { '?' };
        format!("{database_url}{separator}connect_timeout={seconds}")
    } else {
        // The `key=value …` form.
        format!("{database_url} connect_timeout={seconds}")
    }
}

/// Applies every pending migration and creates the history partitions of the weeks ahead;
/// safe to call at every start.
pub fn run_migrations(conn: &mut PgConnection) -> anyhow::Result<()> {
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|err| anyhow::anyhow!("migrations failed: {err}"))?;
    partitions::ensure_ahead(conn).context("could not create the history partitions ahead")?;
    Ok(())
}

/// Where the database lives for this process: `DATABASE_URL`, or the embedded cluster under
/// the data directory (stopped when this value is dropped, if this process started it).
pub struct Database {
    pub url: String,
    pub embedded: Option<embedded::EmbeddedPostgres>,
}

impl Database {
    pub fn open(settings: &crate::config::Settings) -> anyhow::Result<Self> {
        use secrecy::ExposeSecret;
        if let Some(url) = &settings.database_url {
            return Ok(Self {
                url: url.expose_secret().to_owned(),
                embedded: None,
            });
        }
        let cluster = embedded::EmbeddedPostgres::start(
            &settings.data_dir.join("postgres"),
            embedded::ClusterOptions::default(),
        )?;
        Ok(Self {
            url: cluster.url("herald"),
            embedded: Some(cluster),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_timeout_is_added_to_either_url_form_unless_set() {
        assert_eq!(
            with_connect_timeout("postgres://h/db", 2),
            "postgres://h/db?connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgresql:///herald?host=/run&port=5432", 2),
            "postgresql:///herald?host=/run&port=5432&connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("host=h dbname=db", 2),
            "host=h dbname=db connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=9", 2),
            "postgres://h/db?connect_timeout=9"
        );
    }

    #[test]
    fn libpq_messages_become_one_line() {
        assert_eq!(
            one_line("connection failed: refused\n\tIs the server running?\n"),
            "connection failed: refused Is the server running?"
        );
    }
}
