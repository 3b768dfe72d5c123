//! `Application::build` binds the listener (port 0 in tests, read back with `port()`) and
//! wires middleware, state and routes.

use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, Service};
use actix_web::http::ConnectionType;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::telemetry::RequestSpan;

use crate::auth::csrf::verify_csrf;
use crate::config::Settings;
use crate::db::Pools;
use crate::delivery::Outbound;
use crate::delivery::worker::Worker;
use crate::domain::secret_box::SecretBox;
use crate::domain::secret_key::SecretKey;
use crate::error::AppError;
use crate::ingest::signal::QueueSignal;
use crate::web::routes;
use crate::web::state::AppState;

pub const SESSION_COOKIE: &str = "herald_session";

/// No inline script anywhere, no framing, nothing loaded from elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Two years, the usual preload value; sent only when the session cookie is `Secure`.
const HSTS: &str = "max-age=63072000";

pub struct Application {
    port: u16,
    server: Server,
    worker: Option<tokio::task::JoinHandle<()>>,
    stop_worker: CancellationToken,
    monitor: tokio::task::JoinHandle<()>,
    stop_monitor: CancellationToken,
    ingest_admission: crate::ingest::admission::Admission,
}

impl Application {
    /// Serves with the web pool of `pools`; the delivery worker (when enabled) uses the
    /// worker pool, and the database monitor a connection of its own.
    pub async fn build(
        settings: Settings,
        pools: Pools,
        secret: SecretKey,
    ) -> anyhow::Result<Self> {
        let Pools {
            web: pool,
            worker: worker_pool,
            url: database_url,
        } = pools;
        let listener = crate::web::connection_limit::listen(settings.bind)
            .map_err(|err| anyhow::anyhow!("could not listen on {}: {err}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let workers = settings.http_workers;
        // The server's own connection limit is per worker.
        let connections_per_worker = settings
            .max_connections
            .map_or(crate::config::SERVER_CONNECTIONS_PER_WORKER, |limit| {
                limit.div_ceil(workers)
            });
        let connection_limit = crate::web::connection_limit::ConnectionLimit::new(
            listener.try_clone()?,
            connections_per_worker,
            workers,
        );
        let cookie_secure = settings.cookie_secure;
        let session_key = Key::from(&secret.derive("session-cookie"));
        let outbound = Outbound::new(
            settings.worker.allow_private_targets.clone(),
            settings.worker.concurrency,
        );
        let queue_signal = QueueSignal::start(pool.clone());
        let secrets = SecretBox::new(&secret);
        // Test events from the console reach the inboxes through the web pool, deliveries
        // through the worker's.
        let worker_outbound = outbound
            .clone()
            .with_inbox(worker_pool.clone(), secrets.clone());
        let outbound = outbound.with_inbox(pool.clone(), secrets.clone());
        let stop_worker = CancellationToken::new();
        let worker = settings.worker.enabled.then(|| {
            Worker::new(
                worker_pool,
                secrets.clone(),
                settings.worker.clone(),
                worker_outbound,
                queue_signal.local(),
                Some(database_url.clone()),
                queue_signal.other_workers(),
            )
        });
        // Ingest hands what this worker can send at once straight to it (see `handoff`).
        let handoff = worker.as_ref().map(|worker| {
            crate::delivery::handoff::Handoff::new(worker.clone(), queue_signal.clone())
        });
        let worker = worker.map(|worker| tokio::spawn(worker.run(stop_worker.clone())));
        let stop_monitor = CancellationToken::new();
        let (database, monitor) =
            crate::db::monitor::start(&database_url, stop_monitor.clone()).await;
        // Ingest writes in groups on `ingest_concurrency` connections; many more requests
        // may wait for a group than there are connections (each costs no database work).
        let ingest_admission = crate::ingest::admission::Admission::new(
            settings.ingest_concurrency * crate::ingest::committer::ADMITTED_PER_WRITER,
            settings.ingest_wait,
        );
        let ingest_committer = {
            let (pool, database) = (pool.clone(), database.clone());
            crate::ingest::committer::Committer::start(
                pool.clone(),
                Default::default(),
                settings.ingest_concurrency,
                Arc::new(move |pool| {
                    crate::web::state::checkout(pool, &database).map_err(|err| match err {
                        crate::error::AppError::Unavailable(reason) => reason,
                        other => crate::error::Unavailable::Database(other.to_string()),
                    })
                }),
                handoff,
            )
        };
        let api_rate_limit = crate::web::api::rate_limit::ApiRateLimit::new(
            settings.api_rate_per_second,
            settings.api_burst,
        );
        let session_store = crate::auth::session_store::PgSessionStore::new(
            pool.clone(),
            database.clone(),
            crate::auth::session_store::SessionLifetimes {
                idle: settings.session_idle_timeout,
                absolute: settings.session_lifetime,
            },
        );
        let state = web::Data::new(AppState {
            pool,
            database,
            ingest_admission: ingest_admission.clone(),
            settings: Arc::new(settings),
            secrets,
            outbound,
            queue_signal,
            ingest_committer,
            api_rate_limit,
            inbox_rate_limit: Default::default(),
            known_clients: crate::auth::known_client::KnownClients::new(
                secret.derive("known-client"),
            ),
        });

        let on_connect_limit = connection_limit.clone();
        let server =
            HttpServer::new(move || {
                let connection_limit = connection_limit.clone();
                App::new()
                    .wrap(from_fn(verify_csrf))
                    // Outside the CSRF check, which reads console form bodies.
                    .wrap(from_fn(crate::web::body_deadline::within_deadline))
                    // Inside the session (it may read the user), outside the CSRF check (so
                    // a refused form also keeps the navigation).
                    .wrap(from_fn(crate::web::error_layout::in_layout))
                    .wrap(
                        SessionMiddleware::builder(session_store.clone(), session_key.clone())
                            .cookie_name(SESSION_COOKIE.into())
                            .cookie_secure(cookie_secure)
                            .cookie_http_only(true)
                            .cookie_same_site(SameSite::Strict)
                            .cookie_content_security(CookieContentSecurity::Signed)
                            .session_lifecycle(BrowserSession::default())
                            .build(),
                    )
                    .wrap(from_fn(crate::auth::session_outage::unavailable_page))
                    .wrap(security_headers(cookie_secure))
                    .wrap(TracingLogger::<RequestSpan>::new())
                    // Outermost, so every answer (errors included) can make room.
                    .wrap_fn(move |request, service| {
                        let limit = connection_limit.clone();
                        let response = service.call(request);
                        async move {
                            let mut response = response.await?;
                            if limit.should_close() {
                                response
                                    .response_mut()
                                    .head_mut()
                                    .set_connection_type(ConnectionType::Close);
                            }
                            Ok(response)
                        }
                    })
                    .app_data(state.clone())
                    .app_data(web::FormConfig::default().limit(64 * 1024))
                    .app_data(web::JsonConfig::default().limit(64 * 1024).error_handler(
                        |err, _| crate::web::api::error::json_body_error(err).into(),
                    ))
                    .app_data(
                        web::PathConfig::default().error_handler(|_, request| not_found(request)),
                    )
                    .app_data(
                        web::QueryConfig::default()
                            .error_handler(|err, request| bad_query(&err.to_string(), request)),
                    )
                    .configure(routes)
                    .default_service(web::to(|request: actix_web::HttpRequest| async move {
                        not_found(&request).error_response()
                    }))
            })
            .on_connect(move |_, data| on_connect_limit.connected(data))
            .listen(listener)?
            .workers(workers)
            .max_connections(connections_per_worker)
            .shutdown_timeout(30)
            // The caller owns signal handling (see `stop_on_signal`), installed before it
            // announces readiness, so an early SIGTERM is never missed.
            .disable_signals()
            .run();
        Ok(Self {
            port,
            server,
            worker,
            stop_worker,
            monitor,
            stop_monitor,
            ingest_admission,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Ingest's admission control, shared with the running server (tests watch its slots).
    pub fn ingest_admission(&self) -> crate::ingest::admission::Admission {
        self.ingest_admission.clone()
    }

    /// On SIGINT or SIGTERM, stop accepting and finish in-flight requests (up to 30 s).
    pub fn stop_on_signal(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let handle = self.server.handle();
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            tracing::info!("stop requested; finishing in-flight requests");
            handle.stop(true).await;
        });
        Ok(())
    }

    /// Serves until SIGINT/SIGTERM, then finishes in-flight requests (up to 30 s) and stops
    /// the delivery worker gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.stop_worker.cancel();
        if let Some(worker) = self.worker {
            let _ = worker.await;
        }
        self.stop_monitor.cancel();
        let _ = self.monitor.await;
        served
    }
}

/// 404 as JSON under `/api/`, as the error page elsewhere.
fn not_found(request: &actix_web::HttpRequest) -> actix_web::Error {
    if crate::web::is_machine_path(request.path()) {
        crate::web::api::error::ApiError::NotFound("There is nothing at this address.".into())
            .into()
    } else {
        AppError::NotFound.into()
    }
}

/// A query string no handler could read (handlers parse theirs with `web::input`; this is the
/// fallback for `web::Query`): 400, as JSON under `/api/`.
fn bad_query(problem: &str, request: &actix_web::HttpRequest) -> actix_web::Error {
    if crate::web::is_machine_path(request.path()) {
        crate::web::api::error::ApiError::BadParameters {
            message: "The query string has a value Herald cannot read.".into(),
            errors: [("query".to_owned(), vec![problem.to_owned()])].into(),
        }
        .into()
    } else {
        AppError::BadRequest(format!(
            "The address has a value Herald cannot read ({problem})."
        ))
        .into()
    }
}

/// On every answer that does not set its own: no caching (pages and API answers may show
/// secrets, new tokens or personal data; only static files say otherwise), and HSTS when the
/// session cookie is `Secure`, i.e. Herald is served over https.
fn security_headers(cookie_secure: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cache-Control", "no-store"));
    if cookie_secure {
        headers.add(("Strict-Transport-Security", HSTS))
    } else {
        headers
    }
}
