//! Herald as an LRS for LMS plugins that speak xAPI: `POST /xapi/statements` (one statement or
//! an array), `PUT /xapi/statements?statementId=…`, `GET /xapi/about`. Basic authentication:
//! the key is an ingest token's prefix (as the tokens page shows it, `hrld_xxxxxx`), the
//! secret the whole token; Bearer works too. Every answer carries the version header.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

use super::error::ApiError;
use super::record_ingest::{self, MAX_RECORDS, Record, bad};
use crate::standards::record::{self as learning_record, Standard};
use crate::standards::xapi_in::{self, Incoming};
use crate::standards::xapi_out::VERSION;
use crate::web::state::AppState;

const VERSION_HEADER: &str = "X-Experience-API-Version";

/// `GET /xapi/about`: the versions Herald speaks (no authentication, as the spec says).
pub async fn about() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((VERSION_HEADER, VERSION))
        .json(json!({"version": [VERSION], "extensions": {}}))
}

#[derive(serde::Deserialize)]
pub struct PutQuery {
    #[serde(rename = "statementId")]
    statement_id: Option<String>,
}

/// `POST /xapi/statements`: 200 with the ids of the statements, in order.
pub async fn post(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let answer = async {
        let authorization = bearer_of(&request)?;
        check_version(&request)?;
        let body = record_ingest::read_json(&request, payload).await?;
        let statements = xapi_in::statements_of(&body).map_err(|m| bad(m.to_string()))?;
        let ids = store(&state, authorization, statements).await?;
        Ok::<_, ApiError>(HttpResponse::Ok().json(ids))
    }
    .await;
    versioned(answer)
}

/// `PUT /xapi/statements?statementId=…`: 204 once stored.
pub async fn put(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<PutQuery>,
    payload: web::Payload,
) -> HttpResponse {
    let answer = async {
        let authorization = bearer_of(&request)?;
        check_version(&request)?;
        let id = query
            .statement_id
            .as_deref()
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
            .ok_or_else(|| bad("PUT needs the statementId parameter, a UUID.".into()))?;
        let mut statement = record_ingest::read_json(&request, payload).await?;
        let Value::Object(members) = &mut statement else {
            return Err(bad("PUT takes one statement object.".into()));
        };
        match members
            .get("id")
            .and_then(Value::as_str)
            .map(uuid::Uuid::parse_str)
        {
            None => {
                members.insert("id".into(), id.to_string().into());
            }
            Some(Ok(given)) if given == id => {}
            Some(_) => {
                return Err(bad(
                    "The statement's id differs from the statementId parameter.".into(),
                ));
            }
        }
        store(&state, authorization, vec![statement]).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await;
    versioned(answer)
}

/// Checks, conflicts, stores; the statements' ids in order.
async fn store(
    state: &AppState,
    authorization: Option<String>,
    statements: Vec<Value>,
) -> Result<Vec<String>, ApiError> {
    // The token first: whether an id is taken is nobody else's business.
    record_ingest::authenticate(state, authorization.clone()).await?;
    if statements.len() > MAX_RECORDS {
        return Err(bad(format!(
            "Send at most {MAX_RECORDS} statements per request (got {}).",
            statements.len()
        )));
    }
    let mut checked: Vec<Incoming> = Vec::with_capacity(statements.len());
    for (index, statement) in statements.into_iter().enumerate() {
        let incoming = xapi_in::check(statement)
            .map_err(|problem| bad(format!("statement {index}: {problem}")))?;
        checked.push(incoming);
    }
    let mut seen = HashSet::new();
    if let Some(twice) = checked.iter().find(|s| !seen.insert(s.id)) {
        return Err(bad(format!(
            "The statement id {} appears twice in this request.",
            twice.id
        )));
    }
    let keys: Vec<String> = checked.iter().map(|s| key(&s.id)).collect();
    let stored: HashMap<String, Value> = record_ingest::already_stored(state, keys)
        .await?
        .into_iter()
        .collect();
    for incoming in &checked {
        let Some(payload) = stored.get(&key(&incoming.id)) else {
            continue;
        };
        let same = learning_record::original(payload).is_some_and(|(standard, kept)| {
            standard == Standard::Xapi && *kept == incoming.statement
        });
        if !same {
            return Err(ApiError::Conflict(format!(
                "A different statement with the id {} is already stored.",
                incoming.id
            )));
        }
    }
    let ids: Vec<String> = checked.iter().map(|s| s.id.to_string()).collect();
    let now = chrono::Utc::now();
    let records = checked
        .into_iter()
        .map(|s| Record {
            key: key(&s.id),
            event_type: s.event_type.to_owned(),
            data: s.data,
            occurred_at: s.occurred_at.unwrap_or(now),
        })
        .collect();
    record_ingest::store(state, authorization, records).await?;
    Ok(ids)
}

fn key(id: &uuid::Uuid) -> String {
    format!("xapi:{id}")
}

/// The version header is required: 400 without it, or for a version other than 1.0.x.
fn check_version(request: &HttpRequest) -> Result<(), ApiError> {
    match request
        .headers()
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        Some(version) if version.trim().starts_with("1.0") => Ok(()),
        Some(other) => Err(bad(format!(
            "Herald speaks xAPI {VERSION}; {VERSION_HEADER} was \"{}\".",
            other.chars().take(20).collect::<String>()
        ))),
        None => Err(bad(format!(
            "Send the {VERSION_HEADER} header (for example {VERSION})."
        ))),
    }
}

/// Basic `key:secret` (the key is the token's prefix, the secret the token) or Bearer, as
/// the Bearer header value the token check reads.
fn bearer_of(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(header) = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized(
            "Send the LRS key and secret with Basic authentication.",
        ));
    };
    if header.starts_with("Bearer ") {
        return Ok(Some(header.to_owned()));
    }
    let Some(encoded) = header.strip_prefix("Basic ") else {
        return Err(unauthorized(
            "Send the LRS key and secret with Basic authentication.",
        ));
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| unauthorized("The Basic credentials are not valid base64 text."))?;
    let (key, secret) = decoded
        .split_once(':')
        .ok_or_else(|| unauthorized("Basic credentials are key:secret."))?;
    if key.is_empty() || crate::tokens::shown_prefix(secret) != key {
        return Err(unauthorized(
            "The key must be the ingest token's prefix (as the tokens page shows it) and the secret the whole token.",
        ));
    }
    Ok(Some(format!("Bearer {secret}")))
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::Unauthorized(message.to_owned())
}

/// Every answer carries the version header; a 401 asks for Basic credentials.
fn versioned(answer: Result<HttpResponse, ApiError>) -> HttpResponse {
    let mut response = match answer {
        Ok(response) => response,
        Err(err) => {
            let mut response = err.error_response();
            if matches!(err, ApiError::Unauthorized(_)) {
                response.headers_mut().insert(
                    actix_web::http::header::WWW_AUTHENTICATE,
                    actix_web::http::header::HeaderValue::from_static(
                        "Basic realm=\"Herald xAPI\"",
                    ),
                );
            }
            response
        }
    };
    response.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("x-experience-api-version"),
        actix_web::http::header::HeaderValue::from_static(VERSION),
    );
    response
}
