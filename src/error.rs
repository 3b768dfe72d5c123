//! `AppError`: what a page handler can fail with. Each variant renders the error page with the
//! right status; unexpected errors are logged with their cause chain and shown to the user
//! only as a generic message. A database that cannot be reached, or no pooled connection in
//! time, is `Unavailable`: 503 with `Retry-After`, never 500. Every failed request logs one
//! line (here or in the API's error), and nothing else logs it again.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::domain::role::Role;
use crate::web::page::PageContext;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// The signed-in user's role is below what the page (or, for `action`, the button) needs.
    #[error("needs the {needed} role (has {current})")]
    NeedsRole {
        needed: Role,
        current: Role,
        action: bool,
    },
    #[error("missing or wrong CSRF token")]
    Csrf,
    /// A form came back without any session cookie: the browser did not keep it.
    #[error("no session cookie")]
    NoSessionCookie,
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
pub struct ErrorPage<'a> {
    pub ctx: PageContext,
    pub status: u16,
    pub title: &'a str,
    pub message: &'a str,
}

/// What an error page says, kept in the response's extensions so that
/// `web::error_layout` can render it again inside the layout once it knows the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorContent {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
}

impl ErrorContent {
    /// The page for `ctx` (with the navigation when it has a user).
    pub fn render(&self, ctx: PageContext) -> askama::Result<String> {
        ErrorPage {
            ctx,
            status: self.status.as_u16(),
            title: &self.title,
            message: &self.message,
        }
        .render()
    }
}

/// "This page needs the manager role; you are a viewer."
fn needs_role_message(needed: Role, current: Role, action: bool) -> String {
    let article = |role: Role| if role == Role::Admin { "an" } else { "a" };
    let what = if action { "This action" } else { "This page" };
    format!(
        "{what} needs the {needed} role; you are {} {current}. Ask an admin if you need access.",
        article(current)
    )
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden
            | AppError::NeedsRole { .. }
            | AppError::Csrf
            | AppError::NoSessionCookie => StatusCode::FORBIDDEN,
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
            AppError::NeedsRole {
                needed,
                current,
                action,
            } => {
                return error_page(
                    self.status_code(),
                    "Not allowed",
                    &needs_role_message(*needed, *current, *action),
                );
            }
            AppError::NoSessionCookie => (
                "Your browser did not keep Herald's session cookie",
                "This form was sent without Herald's session cookie, so it cannot be trusted. Over plain http from another machine, browsers refuse Herald's cookie because it is marked Secure: use https, or for a trial set HERALD_COOKIE_SECURE=false. Cookies may also be blocked for this site. Then reload the page and try again.",
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

/// Renders the error page as an anonymous visitor sees it (no navigation), and keeps what it
/// says in the response so `web::error_layout` can put it inside the layout when the request
/// has a signed-in user. Falls back to plain text if even that fails.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let content = ErrorContent {
        status,
        title: title.to_owned(),
        message: message.to_owned(),
    };
    let mut response = match content.render(PageContext::anonymous()) {
        Ok(html) => HttpResponse::build(status)
            .content_type(ContentType::html())
            .body(html),
        Err(_) => HttpResponse::build(status)
            .content_type(ContentType::plaintext())
            .body(format!("{title}\n\n{message}")),
    };
    response.extensions_mut().insert(content);
    response
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
    fn a_refused_role_is_named_with_the_one_needed() {
        assert_eq!(
            needs_role_message(Role::Manager, Role::Viewer, false),
            "This page needs the manager role; you are a viewer. Ask an admin if you need access."
        );
        assert!(
            needs_role_message(Role::Admin, Role::Manager, true)
                .starts_with("This action needs the admin role; you are a manager.")
        );
        let response = AppError::NeedsRole {
            needed: Role::Admin,
            current: Role::Viewer,
            action: false,
        }
        .error_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let content = response
            .extensions()
            .get::<ErrorContent>()
            .cloned()
            .unwrap();
        assert_eq!(content.title, "Not allowed");
        assert!(
            content
                .message
                .contains("needs the admin role; you are a viewer")
        );
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
