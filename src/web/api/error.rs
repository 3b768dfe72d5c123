//! API errors are JSON: `{ "error": "...", "errors"?: { field: [messages] } }` with a 4xx
//! status, never an HTML page; 503 with `Retry-After` when the database is unavailable or
//! ingest is at its limit, 500 for anything unexpected (logged once, on one line).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::error::{AppError, Unavailable};

/// Every API error: a message, and for 422 the messages by field; for 400 the JSON position.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// For a batch of events: the positions of the events refused (nothing was stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Vec<usize>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("This API token does not have the {0} scope.")]
    Forbidden(&'static str),
    #[error("{message}")]
    BadRequest {
        message: String,
        line: Option<usize>,
        column: Option<usize>,
    },
    /// Query parameters that cannot be read: 400 with messages by parameter.
    #[error("{message}")]
    BadParameters {
        message: String,
        errors: BTreeMap<String, Vec<String>>,
    },
    #[error("The request body is larger than {0} bytes.")]
    PayloadTooLarge(usize),
    #[error("Send the body as application/json.")]
    UnsupportedMediaType,
    #[error("{message}")]
    Unprocessable {
        message: String,
        errors: BTreeMap<String, Vec<String>>,
    },
    /// Events of a batch that cannot be stored: 422 naming each one; the batch is not stored.
    #[error("{message}")]
    RefusedEvents {
        message: String,
        errors: BTreeMap<String, Vec<String>>,
        refused: Vec<usize>,
    },
    #[error("Too many requests for this token: slow down and retry after the time in Retry-After.")]
    TooManyRequests(std::time::Duration),
    #[error("{0}")]
    NotFound(String),
    /// The methods the address answers, for `Allow`.
    #[error("This address answers {0} only.")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(Unavailable),
    #[error("internal error")]
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        match Unavailable::find_in(err.as_ref()) {
            Some(reason) => ApiError::Unavailable(reason),
            None => ApiError::Internal(err),
        }
    }
}

impl From<crate::web::input::InputError> for ApiError {
    fn from(err: crate::web::input::InputError) -> Self {
        ApiError::BadParameters {
            message: "The query string has a value Herald cannot read.".into(),
            errors: [(
                err.field.unwrap_or_else(|| "query".into()),
                vec![err.message],
            )]
            .into(),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Unavailable(reason) => ApiError::Unavailable(reason),
            AppError::Unexpected(err) => err.into(),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        anyhow::Error::new(err)
            .context("database query failed")
            .into()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest { .. } | ApiError::BadParameters { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } | ApiError::RefusedEvents { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let plain = |error: String| ErrorBody {
            error,
            errors: None,
            line: None,
            column: None,
            refused: None,
        };
        let body = match self {
            ApiError::BadRequest {
                message,
                line,
                column,
            } => ErrorBody {
                line: *line,
                column: *column,
                ..plain(message.clone())
            },
            ApiError::Unprocessable { message, errors }
            | ApiError::BadParameters { message, errors } => ErrorBody {
                errors: Some(errors.clone()),
                ..plain(message.clone())
            },
            ApiError::RefusedEvents {
                message,
                errors,
                refused,
            } => ErrorBody {
                errors: Some(errors.clone()),
                refused: Some(refused.clone()),
                ..plain(message.clone())
            },
            ApiError::Unavailable(reason) => {
                reason.log();
                plain(reason.to_string())
            }
            ApiError::Internal(err) => {
                crate::error::log_unexpected(err);
                plain("Herald could not complete this request; it has been logged.".into())
            }
            other => plain(other.to_string()),
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header(("WWW-Authenticate", "Bearer realm=\"herald\""));
            }
            ApiError::TooManyRequests(wait) => {
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                response.insert_header(("Retry-After", seconds.max(1).to_string()));
            }
            ApiError::Unavailable(reason) => {
                response.insert_header(("Retry-After", reason.retry_after_seconds().to_string()));
            }
            ApiError::MethodNotAllowed(allowed) => {
                response.insert_header((actix_web::http::header::ALLOW, allowed.as_str()));
            }
            _ => {}
        }
        response.json(body)
    }
}

/// JSON bodies the API could not read: 415 for another content type, 413 when too large,
/// 400 with the position for broken JSON, 422 for the wrong shape.
pub fn json_body_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError;
    match err {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::PayloadTooLarge(limit),
        JsonPayloadError::Deserialize(err) if err.is_data() => ApiError::Unprocessable {
            message: "The body does not have the expected fields.".into(),
            errors: [("body".to_owned(), vec![err.to_string()])].into(),
        },
        JsonPayloadError::Deserialize(err) => ApiError::BadRequest {
            message: format!("The body is not valid JSON: {err}"),
            line: Some(err.line()),
            column: Some(err.column()),
        },
        other => ApiError::BadRequest {
            message: other.to_string(),
            line: None,
            column: None,
        },
    }
}
