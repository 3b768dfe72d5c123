//! Shared application state and the one way handlers reach the database: on the blocking
//! pool, with a pooled connection that is returned as soon as the closure ends.

use std::sync::Arc;

use actix_web::web;
use diesel::PgConnection;

use crate::config::Settings;
use crate::db::PgPool;
use crate::domain::secret_box::SecretBox;
use crate::error::AppError;

pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    /// Seals and opens the secrets stored in the database.
    pub secrets: SecretBox,
    /// The HTTP client and address policy for requests to receivers (test pings).
    pub outbound: crate::delivery::Outbound,
    /// Wakes delivery workers (here and in other processes) when deliveries were queued.
    pub queue_signal: crate::ingest::signal::QueueSignal,
    pub ingest_caches: crate::ingest::Caches,
    /// Requests per token on the management API.
    pub api_rate_limit: crate::web::api::rate_limit::ApiRateLimit,
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
        web::block(move || {
            let mut conn = pool.get()?;
            Ok::<_, AppError>(query(&mut conn))
        })
        .await?
    }
}
