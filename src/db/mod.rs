//! Connection pool, embedded migrations and the embedded PostgreSQL cluster.

pub mod embedded;
pub mod schema;

use std::time::Duration;

use anyhow::Context;
use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub type PgPool = Pool<ConnectionManager<PgConnection>>;
pub type PooledPg = PooledConnection<ConnectionManager<PgConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Builds the pool; fails with a clear error when the database cannot be reached.
pub fn build_pool(database_url: &str, size: u32) -> anyhow::Result<PgPool> {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .build(ConnectionManager::<PgConnection>::new(database_url))
        .context("could not connect to the database (check DATABASE_URL)")
}

/// Applies every pending migration; safe to call at every start.
pub fn run_migrations(conn: &mut impl MigrationHarness<diesel::pg::Pg>) -> anyhow::Result<()> {
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|err| anyhow::anyhow!("migrations failed: {err}"))?;
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
