//! `Authorization: Bearer <token>` for the API: a missing, unknown or revoked token is 401,
//! a token without the needed scope 403, both as JSON.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

use super::error::ApiError;
use crate::model::api_token::ApiToken;
use crate::tokens::{self, AuthFailure, Scope};
use crate::web::state::AppState;

pub async fn require(
    state: &AppState,
    request: &HttpRequest,
    scope: Scope,
) -> Result<ApiToken, ApiError> {
    let header = presented(request);
    state
        .attempt(move |conn| check(conn, header.as_deref(), scope))
        .await?
}

/// The `Authorization` header as sent, if it is text.
pub fn presented(request: &HttpRequest) -> Option<String> {
    request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Checks a presented header on a connection the caller already holds (blocking), so a
/// handler can authenticate and do its work in one trip to the blocking pool.
pub fn check(
    conn: &mut diesel::PgConnection,
    header: Option<&str>,
    scope: Scope,
) -> Result<ApiToken, ApiError> {
    tokens::authenticate(conn, header, scope)?.map_err(|failure| match failure {
        AuthFailure::Unauthenticated(message) => ApiError::Unauthorized(message.to_owned()),
        AuthFailure::WrongScope => ApiError::Forbidden(scope.as_str()),
    })
}

/// A management API request: a `read` or `manage` token (as `scope` needs), within its rate.
pub async fn management(
    state: &AppState,
    request: &HttpRequest,
    scope: Scope,
) -> Result<ApiToken, ApiError> {
    let token = require(state, request, scope).await?;
    state
        .api_rate_limit
        .check(token.id)
        .map_err(ApiError::TooManyRequests)?;
    Ok(token)
}
