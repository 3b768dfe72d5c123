//! Structured logs through `tracing`; `RUST_LOG` sets the level (default `info`).
//!
//! Every failed request logs one line, at a level chosen by its status ([`level_for`]): a 4xx
//! at debug — anyone can cause one, as often as they like, so at the default level they cost
//! no log space — and a 5xx at error, once, with its cause (logged where the error is turned
//! into a response: `error::log_unexpected`, `Unavailable::log`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use tracing::{Level, Span};
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// The level a finished request is logged at, by its status: `None` for successes and
/// redirects (the request span says enough), debug for client errors, error for server errors.
pub fn level_for(status: StatusCode) -> Option<Level> {
    if status.is_server_error() {
        Some(Level::ERROR)
    } else if status.is_client_error() {
        Some(Level::DEBUG)
    } else {
        None
    }
}

/// The request span of `tracing-actix-web`, plus the one debug line of a 4xx (its status and
/// error message; a 5xx is logged by the error itself, with its cause).
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        DefaultRootSpanBuilder::on_request_start(request)
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        if let Ok(response) = outcome
            && level_for(response.status()) == Some(Level::DEBUG)
        {
            span.in_scope(|| {
                let error = response
                    .response()
                    .error()
                    .map(|err| crate::db::one_line(&err.to_string()))
                    .unwrap_or_default();
                tracing::debug!(
                    status = response.status().as_u16(),
                    path = %response.request().path(),
                    "refused: {error}"
                );
            });
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_debug_and_server_errors_are_error() {
        for status in [400, 401, 403, 404, 405, 413, 422, 429] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(level_for(status), Some(Level::DEBUG), "{status}");
        }
        for status in [500, 503] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(level_for(status), Some(Level::ERROR), "{status}");
        }
        for status in [200, 202, 204, 303] {
            assert_eq!(level_for(StatusCode::from_u16(status).unwrap()), None);
        }
    }
}
