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
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let checked = state
        .run(move |conn| tokens::authenticate(conn, header.as_deref(), scope))
        .await?;
    checked.map_err(|failure| match failure {
        AuthFailure::Unauthenticated(message) => ApiError::Unauthorized(message.to_owned()),
        AuthFailure::WrongScope => ApiError::Forbidden(scope.as_str()),
    })
}
