//! `AppError`: what a page handler can fail with. Each variant renders the error page with the
//! right status; unexpected errors are logged with their cause chain and shown to the user
//! only as a generic message. A database that cannot be reached, or no pooled connection in
//! time, is `Unavailable`: 503 with `Retry-After`, never 500. Every failed request logs one
//! line (here or in the API's error), and nothing else logs it again.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("missing or wrong CSRF token")]
    Csrf,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A method the address does not answer; the methods it does, for `Allow`.
    #[error("method not allowed (allowed: {0})")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Unavailable(Unavailable),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

/// Why a request is answered 503 Service Unavailable; the client should retry later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The database cannot be reached; the cause (one line) is for the log.
    Database(String),
    /// Too many requests wait for the database: what was full, for the log.
    Busy(&'static str),
}

impl Unavailable {
    /// The `Retry-After` header, in seconds.
    pub fn retry_after_seconds(&self) -> u64 {
        match self {
            Unavailable::Database(_) => 5,
            Unavailable::Busy(_) => 1,
        }
    }

    /// The one log line for a request refused for this reason (a 5xx: at error, see
    /// `telemetry::level_for`).
    pub fn log(&self) {
        match self {
            Unavailable::Database(cause) => {
                tracing::error!("503: database unavailable: {cause}")
            }
            Unavailable::Busy(what) => tracing::error!("503: busy: {what}"),
        }
    }

    /// A pool checkout that failed: the database is away when r2d2 saw connections fail,
    /// else the pool was merely full.
    pub fn from_pool(err: &r2d2::Error) -> Self {
        let text = err.to_string();
        if text.contains(": ") {
            Unavailable::Database(crate::db::one_line(&text))
        } else {
            Unavailable::Busy("no database connection was free in time")
        }
    }

    /// `err` (or an error it wraps) says the database connection failed or is gone.
    pub fn find_in(err: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut next = Some(err);
        while let Some(err) = next {
            if let Some(err) = err.downcast_ref::<r2d2::Error>() {
                return Some(Self::from_pool(err));
            }
            if let Some(err) = err.downcast_ref::<diesel::result::Error>()
                && connection_lost(err)
            {
                return Some(Unavailable::Database(crate::db::one_line(&err.to_string())));
            }
            if let Some(err) = err.downcast_ref::<diesel::ConnectionError>() {
                return Some(Unavailable::Database(crate::db::one_line(&err.to_string())));
            }
            next = err.source();
        }
        None
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::Database(_) => f.write_str(
                "The database is unavailable, so Herald cannot complete this request. Try again shortly.",
            ),
            Unavailable::Busy(_) => f.write_str(
                "Herald is busy: too many requests are waiting for the database. Try again shortly.",
            ),
        }
    }
}

/// Whether a query failed because the connection to the database failed, not the query.
fn connection_lost(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match err {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | Error::BrokenTransactionManager => true,
        Error::RollbackErrorOnCommit { rollback_error, .. } => connection_lost(rollback_error),
        _ => false,
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        match Unavailable::find_in(err.as_ref()) {
            Some(reason) => AppError::Unavailable(reason),
            None => AppError::Unexpected(err),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        anyhow::Error::new(err)
            .context("database query failed")
            .into()
    }
}

impl From<r2d2::Error> for AppError {
    fn from(err: r2d2::Error) -> Self {
        AppError::Unavailable(Unavailable::from_pool(&err))
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        AppError::Unexpected(anyhow::anyhow!("blocking task failed: {err}"))
    }
}

impl From<askama::Error> for AppError {
    fn from(err: askama::Error) -> Self {
        AppError::Unexpected(anyhow::Error::new(err).context("template rendering failed"))
    }
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            AppError::NotFound => (
                "Page not found",
                "There is nothing at this address. It may have been deleted, or the link is mistyped.",
            ),
            AppError::Forbidden => (
                "Not allowed",
                "Your role does not allow this. Ask an admin if you need access.",
            ),
            AppError::Csrf => (
                "This form has expired",
                "The form was not sent from this Herald session, or your session changed since it was shown. Go back, reload the page and try again.",
            ),
            AppError::BadRequest(problem) => ("This request could not be read", problem.as_str()),
            AppError::MethodNotAllowed(allowed) => {
                let mut response = error_page(
                    self.status_code(),
                    "Not available this way",
                    &format!(
                        "This address answers {allowed} only. Use the links and buttons of the console."
                    ),
                );
                if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allowed) {
                    response
                        .headers_mut()
                        .insert(actix_web::http::header::ALLOW, value);
                }
                return response;
            }
            AppError::Unavailable(reason) => {
                reason.log();
                let (title, message) = match reason {
                    Unavailable::Database(_) => (
                        "The database is unavailable",
                        "The database is unavailable, so Herald cannot show this page right now. This is usually brief: try again shortly.",
                    ),
                    Unavailable::Busy(_) => (
                        "Herald is busy",
                        "Too many requests are waiting for the database. Try again shortly.",
                    ),
                };
                let mut response = error_page(self.status_code(), title, message);
                response.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    reason.retry_after_seconds().into(),
                );
                return response;
            }
            AppError::Unexpected(err) => {
                log_unexpected(err);
                (
                    "Something went wrong",
                    "Herald could not complete this request. The error has been logged; try again in a moment.",
                )
            }
        };
        error_page(self.status_code(), title, message)
    }
}

/// The one line an unexpected failure logs: the cause chain, without a backtrace.
pub fn log_unexpected(err: &anyhow::Error) {
    tracing::error!(
        "request failed: {}",
        crate::db::one_line(&format!("{err:#}"))
    );
}

/// Renders the error page; falls back to plain text if even that fails.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let page = ErrorPage {
        status: status.as_u16(),
        title,
        message,
    };
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type(ContentType::html())
            .body(html),
        Err(_) => HttpResponse::build(status)
            .content_type(ContentType::plaintext())
            .body(format!("{title}\n\n{message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    fn database_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_lost_connection_is_unavailable_and_a_failed_query_is_not() {
        let lost = database_error(
            DatabaseErrorKind::ClosedConnection,
            "server closed the connection unexpectedly\n\tThis probably means…",
        );
        assert!(matches!(
            AppError::from(lost),
            AppError::Unavailable(Unavailable::Database(cause))
                if cause == "server closed the connection unexpectedly This probably means…"
        ));
        let unique = database_error(DatabaseErrorKind::UniqueViolation, "duplicate key");
        assert!(matches!(AppError::from(unique), AppError::Unexpected(_)));
        assert!(matches!(
            AppError::from(DieselError::NotFound),
            AppError::Unexpected(_)
        ));
    }

    #[test]
    fn a_lost_connection_is_found_under_context() {
        let wrapped = anyhow::Error::new(database_error(
            DatabaseErrorKind::UnableToSendCommand,
            "no connection to the server",
        ))
        .context("loading the webhook")
        .context("rendering the page");
        assert_eq!(
            Unavailable::find_in(wrapped.as_ref()),
            Some(Unavailable::Database("no connection to the server".into()))
        );
        assert!(matches!(AppError::from(wrapped), AppError::Unavailable(_)));
    }

    #[test]
    fn unavailable_pages_say_so_with_retry_after() {
        let response =
            AppError::Unavailable(Unavailable::Database("refused".into())).error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get("retry-after").unwrap(), "5");
        let busy = AppError::Unavailable(Unavailable::Busy("full")).error_response();
        assert_eq!(busy.headers().get("retry-after").unwrap(), "1");
    }
}
