//! `AppError`: what a page handler can fail with. Each variant renders the error page with the
//! right status; unexpected errors are logged with their cause chain and shown to the user
//! only as a generic message.

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
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        AppError::Unexpected(anyhow::Error::new(err).context("database query failed"))
    }
}

impl From<r2d2::Error> for AppError {
    fn from(err: r2d2::Error) -> Self {
        AppError::Unexpected(anyhow::Error::new(err).context("no database connection available"))
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
            AppError::Unexpected(err) => {
                tracing::error!(error = ?err, "request failed");
                (
                    "Something went wrong",
                    "Herald could not complete this request. The error has been logged; try again in a moment.",
                )
            }
        };
        error_page(self.status_code(), title, message)
    }
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
