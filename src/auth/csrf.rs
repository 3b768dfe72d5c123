//! CSRF protection for every state-changing request of the console: the form field
//! `csrf_token` (or the `X-CSRF-Token` header) must equal the session's token. The token is
//! per session and compared in constant time. The JSON API under `/api/` authenticates with
//! bearer tokens, not cookies, and is exempt; so is the built-in test receiver's public
//! `POST /inbox/{token}`, which uses no session at all.

use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use subtle::ConstantTimeEq;

use super::session::TypedSession;
use crate::error::AppError;

pub const FORM_FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";

pub async fn verify_csrf(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let safe_method = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe_method || crate::web::is_machine_path(req.path()) || req.path().starts_with("/inbox/") {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let expected = TypedSession::of(&req).existing_csrf_token();
    let provided = match req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        Some(token) => Some(token.to_owned()),
        None => {
            // A body too large, or cut off, is answered here (413, 400): as an `Err` it would
            // reach the layer outside the session, which takes any error for the store's and
            // answers "database unavailable".
            let body = match req.extract::<Bytes>().await {
                Ok(body) => body,
                Err(err) => {
                    // The console's error page (in the layout), with the status actix chose.
                    let status = err.as_response_error().status_code();
                    let problem = if status == StatusCode::PAYLOAD_TOO_LARGE {
                        "The form is larger than Herald accepts. Shorten what you entered and try again."
                    } else {
                        "The form did not arrive in full. Try again."
                    };
                    let mut refused = req.error_response(AppError::BadRequest(problem.into()));
                    refused.response_mut().head_mut().status = status;
                    return Ok(refused);
                }
            };
            let token = form_token(&body);
            // Hand the body back so the handler can read the form.
            req.set_payload(Payload::from(body));
            token
        }
    };
    let valid = match (expected, provided) {
        (Some(expected), Some(provided)) => {
            bool::from(expected.as_bytes().ct_eq(provided.as_bytes()))
        }
        _ => false,
    };
    if !valid {
        // Logged once, at debug, with the request (see `telemetry`): anyone can send these.
        // Without any session cookie the browser dropped it (a Secure cookie over plain http
        // from another machine, blocked cookies): say that rather than "expired".
        let refusal = if req.cookie(crate::startup::SESSION_COOKIE).is_none() {
            AppError::NoSessionCookie
        } else {
            AppError::Csrf
        };
        return Ok(req.error_response(refusal));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

fn form_token(body: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(name, _)| name == FORM_FIELD)
        .map(|(_, value)| value)
}
