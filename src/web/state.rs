//! Shared application state and the one way handlers reach the database: on the blocking
//! pool, with a pooled connection that is returned as soon as the closure ends. A checkout
//! that fails is `AppError::Unavailable` (503); while the database monitor's last ping failed,
//! only an idle connection that still works is taken, without waiting.

use std::sync::Arc;

use actix_web::web;
use diesel::PgConnection;

use crate::config::Settings;
use crate::db::monitor::DatabaseStatus;
use crate::db::{PgPool, PooledPg};
use crate::domain::secret_box::SecretBox;
use crate::error::{AppError, Unavailable};

pub struct AppState {
    /// The web pool (console, management API, ingest); the delivery worker has its own.
    pub pool: PgPool,
    /// What the database monitor last saw (`/healthz`, and failing fast in an outage).
    pub database: DatabaseStatus,
    /// Bounds the ingest requests doing database work at once.
    pub ingest_admission: crate::ingest::admission::Admission,
    pub settings: Arc<Settings>,
    /// Seals and opens the secrets stored in the database.
    pub secrets: SecretBox,
    /// The HTTP client and address policy for requests to receivers (test pings).
    pub outbound: crate::delivery::Outbound,
    /// Wakes delivery workers (here and in other processes) when deliveries were queued.
    pub queue_signal: crate::ingest::signal::QueueSignal,
    /// Stores ingest requests in groups (one statement and commit for many).
    pub ingest_committer: crate::ingest::committer::Committer,
    /// Requests per token on the management API.
    pub api_rate_limit: crate::web::api::rate_limit::ApiRateLimit,
    /// Requests to the built-in test receiver's public endpoint, per inbox and overall.
    pub inbox_rate_limit: crate::inbox::rate::InboxRateLimit,
    /// Marks browsers that signed in before (exempt from the per-username sign-in ceiling).
    pub known_clients: crate::auth::known_client::KnownClients,
}

impl AppState {
    /// Runs `query` with a connection on the blocking pool; its error becomes an `AppError`.
    pub async fn run<T, E, F>(&self, query: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<AppError> + Send + 'static,
    {
        self.attempt(query).await?.map_err(Into::into)
    }

    /// Like [`run`](Self::run), but hands a domain error back to the caller (to show it
    /// beside a form field) instead of turning it into an error page.
    pub async fn attempt<T, E, F>(&self, query: F) -> Result<Result<T, E>, AppError>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let pool = self.pool.clone();
        let database = self.database.clone();
        web::block(move || {
            let mut conn = checkout(&pool, &database)?;
            Ok::<_, AppError>(query(&mut conn))
        })
        .await?
    }
}

/// A connection from `pool` (blocking): waits up to the pool's timeout, or, while the
/// database is known to be down, takes only an idle connection that still works.
pub fn checkout(pool: &PgPool, database: &DatabaseStatus) -> Result<PooledPg, AppError> {
    if database.is_down() {
        return pool.try_get().ok_or_else(|| {
            AppError::Unavailable(Unavailable::Database(format!(
                "not reachable since the last health check ({})",
                database.last_error()
            )))
        });
    }
    pool.get().map_err(|err| {
        // The database may have gone while the monitor pinged seldom (an idle process).
        database.nudge();
        AppError::Unavailable(match Unavailable::from_pool(&err) {
            // Waiting out the pool's timeout with no connection failure seen (another waiter
            // may have been told about it) while the monitor cannot reach the database either.
            Unavailable::Busy(_) if !database.is_reachable() => {
                Unavailable::Database(crate::db::one_line(&err.to_string()))
            }
            reason => reason,
        })
    })
}
