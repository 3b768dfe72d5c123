//! Request bodies of the management API, read by the handler *after* it checked the token: an
//! unauthenticated request is 401 whatever its body, and only then does the body get its 413,
//! 415, 400 or 422. (`web::Json` would read and judge the body before the handler runs.)

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The body, refused with 413 once it grows past `limit` bytes.
pub async fn read(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| ApiError::BadRequest {
            message: format!("The request body could not be read: {err}"),
            line: None,
            column: None,
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The `Content-Type` without parameters, lower-case (`""` when absent or unreadable).
pub fn media_type(request: &HttpRequest) -> String {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A JSON body: 415 for another content type, 400 with the position for broken JSON, 422
/// for the wrong fields.
pub async fn json<T: DeserializeOwned>(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let media_type = media_type(request);
    if media_type != "application/json" && !media_type.ends_with("+json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = read(payload, limit).await?;
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|err| ApiError::BadRequest {
            message: format!("The body is not valid JSON: {err}"),
            line: Some(err.line()),
            column: Some(err.column()),
        })?;
    serde_json::from_value(value).map_err(|err| ApiError::Unprocessable {
        message: "The body does not have the expected fields.".into(),
        errors: [("body".to_owned(), vec![err.to_string()])].into(),
    })
}
