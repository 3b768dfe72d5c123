//! Herald as an LRS for LMS plugins that speak xAPI: `POST /xapi/statements` (one statement or
//! an array), `PUT /xapi/statements?statementId=…`, `GET /xapi/about`. Basic authentication:
//! the key is an ingest token's prefix (as the tokens page shows it, `hrld_xxxxxx`), the
//! secret the whole token; Bearer works too. Every answer carries the version header.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashSet;

use super::error::ApiError;
use super::record_ingest::{self, MAX_RECORDS, Record, bad};
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
        let authorization = admitted(&state, &request).await?;
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
        let authorization = admitted(&state, &request).await?;
        let id = query
            .statement_id
            .as_deref()
            .and_then(xapi_in::statement_id)
            .ok_or_else(|| bad("PUT needs the statementId parameter, a UUID.".into()))?;
        let mut statement = record_ingest::read_json(&request, payload).await?;
        let Value::Object(members) = &mut statement else {
            return Err(bad("PUT takes one statement object.".into()));
        };
        match members
            .get("id")
            .map(|given| given.as_str().and_then(xapi_in::statement_id))
        {
            None => {
                members.insert("id".into(), id.to_string().into());
            }
            Some(Some(given)) if given == id => {}
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

/// The client's token, checked for the ingest scope, and the version header — before anything
/// of the body is read: an unknown client gets 401 whatever it sends.
async fn admitted(state: &AppState, request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let authorization = bearer_of(request)?;
    record_ingest::authenticate(state, authorization.clone()).await?;
    check_version(request)?;
    Ok(authorization)
}

/// Checks, conflicts, stores; the statements' ids in order.
async fn store(
    state: &AppState,
    authorization: Option<String>,
    statements: Vec<Value>,
) -> Result<Vec<String>, ApiError> {
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
    let given: Vec<(String, Value)> = checked
        .iter()
        .map(|s| (key(&s.id), s.statement.clone()))
        .collect();
    if let Some(taken) = record_ingest::conflicting(state, given.clone())
        .await?
        .first()
    {
        return Err(conflict(taken));
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
    let accepted = record_ingest::store(state, authorization, records).await?;
    // Two clients sending different statements under one id at once: both passed the check
    // above, one was stored; the other learns it here.
    let raced: Vec<(String, Value)> = given
        .into_iter()
        .zip(&accepted)
        .filter(|(_, a)| a.duplicate)
        .map(|(g, _)| g)
        .collect();
    if let Some(taken) = record_ingest::conflicting(state, raced).await?.first() {
        return Err(conflict(taken));
    }
    Ok(ids)
}

fn conflict(key: &str) -> ApiError {
    ApiError::Conflict(format!(
        "A different statement with the id {} is already stored.",
        key.trim_start_matches("xapi:")
    ))
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
        Some(version) if crate::standards::xapi_rules::is_1_0_x(version.trim()) => Ok(()),
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
    if let Some(bearer) = record_ingest::bearer_value(header) {
        return Ok(Some(bearer));
    }
    // Scheme names are case-insensitive (RFC 9110).
    let encoded = match header.trim().split_once(' ') {
        Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => encoded,
        _ => {
            return Err(unauthorized(
                "Send the LRS key and secret with Basic authentication.",
            ));
        }
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
