//! Structured logs through `tracing`; `RUST_LOG` sets the level (default `info`).
//!
//! Every failed request logs one line, at a level chosen by its status ([`level_for`]): a 4xx
//! at debug — anyone can cause one, as often as they like, so at the default level they cost
//! no log space — and a 5xx at error, once, with its cause (logged where the error is turned
//! into a response: `error::log_unexpected`, `Unavailable::log`).
//!
//! Two libraries log what any anonymous client can cause, at levels that would pass the
//! default filter: actix-session (a forged or stale session cookie: WARN "failed to pass
//! cryptographic checks", INFO "No session state has been found") and actix-http's connection
//! dispatcher (a malformed request, a URI too long: ERROR "stream error"). Unless `RUST_LOG`
//! names them, they are filtered ([`QUIET_TARGETS`]), so no one can grow the log by sending
//! such requests.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use tracing::{Level, Span};
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

/// Targets that log what anonymous clients cause (see the module docs), and the level each is
/// kept at unless `RUST_LOG` names the target.
pub const QUIET_TARGETS: [(&str, &str); 2] = [
    ("actix_session", "error"),
    ("actix_http::h1::dispatcher", "off"),
];

/// The filter directives for a `RUST_LOG` value (`None`: unset): that value, or `info`, with
/// [`QUIET_TARGETS`] added unless the value names them.
pub fn directives(rust_log: Option<&str>) -> String {
    let base = rust_log
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .unwrap_or("info");
    let mut directives = base.to_owned();
    for (target, level) in QUIET_TARGETS {
        let root = target.split("::").next().unwrap_or(target);
        if !base.contains(root) {
            directives.push_str(&format!(",{target}={level}"));
        }
    }
    directives
}

pub fn init() {
    let rust_log = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let filter = EnvFilter::try_new(directives(rust_log.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(directives(None)));
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
        match key_path(request.path()) {
            // The path is a secret (a test inbox's, a Caliper ingest URL's token): the span,
            // whose fields every log line of the request carries, names it without the key.
            Some(shown) => tracing::info_span!(
                "HTTP request",
                http.method = %request.method(),
                http.target = %shown,
                http.status_code = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
                exception.message = tracing::field::Empty,
            ),
            None => DefaultRootSpanBuilder::on_request_start(request),
        }
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
                let path = response.request().path();
                let shown = key_path(path).unwrap_or_else(|| path.to_owned());
                tracing::debug!(
                    status = response.status().as_u16(),
                    path = %shown,
                    "refused: {error}"
                );
            });
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Addresses whose last segment is a key: what logs show instead.
fn key_path(path: &str) -> Option<String> {
    ["/inbox/", "/caliper/"]
        .iter()
        .find(|prefix| path.starts_with(**prefix))
        .map(|prefix| format!("{prefix}[key]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_paths_stay_out_of_the_logs() {
        assert_eq!(
            key_path("/caliper/hrld_abc").as_deref(),
            Some("/caliper/[key]")
        );
        assert_eq!(key_path("/inbox/xyz?a=1").as_deref(), Some("/inbox/[key]"));
        assert_eq!(key_path("/caliper"), None);
    }

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

    #[test]
    fn what_anonymous_clients_cause_in_libraries_is_filtered_unless_asked_for() {
        let quiet = "actix_session=error,actix_http::h1::dispatcher=off";
        assert_eq!(directives(None), format!("info,{quiet}"));
        assert_eq!(directives(Some("")), format!("info,{quiet}"));
        assert_eq!(directives(Some("debug")), format!("debug,{quiet}"));
        assert_eq!(
            directives(Some("info,actix_session=debug")),
            "info,actix_session=debug,actix_http::h1::dispatcher=off"
        );
        assert_eq!(
            directives(Some("actix_http=trace")),
            "actix_http=trace,actix_session=error"
        );
        for value in [None, Some("warn,herald=debug")] {
            assert!(EnvFilter::try_new(directives(value)).is_ok());
        }
    }
}
