//! API tokens: created by admins (console or CLI), shown once, stored as a hash, revocable.
//! `authenticate` turns a presented bearer token into the token row, or says why not.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::api_token::{self, ApiToken, NewApiToken};
use crate::model::audit::{self, Actor, Change};

pub const PREFIX: &str = "hrld_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// May post events.
    Ingest,
    /// May manage webhooks and dead letters through the API (and read them).
    Manage,
    /// May read webhooks, deliveries and dead letters through the API.
    Read,
}

impl Scope {
    pub const ALL: [(Scope, &'static str); 3] = [
        (Scope::Ingest, "post events to /api/v1/events"),
        (
            Scope::Read,
            "read webhooks, event types, deliveries and dead letters through the API",
        ),
        (
            Scope::Manage,
            "manage webhooks, deliveries and dead letters through the API",
        ),
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Manage => "manage",
            Scope::Read => "read",
        }
    }

    /// Whether a token of this scope may do what `needed` allows (manage includes read).
    pub fn grants(&self, needed: Scope) -> bool {
        *self == needed || (*self == Scope::Manage && needed == Scope::Read)
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "ingest" => Ok(Scope::Ingest),
            "manage" => Ok(Scope::Manage),
            "read" => Ok(Scope::Read),
            other => Err(format!(
                "unknown scope {other:?}: choose ingest, read or manage"
            )),
        }
    }
}

/// A token in clear: exists only between creation and the page (or terminal) that shows it.
pub struct PlainToken(String);

impl std::fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlainToken([REDACTED])")
    }
}

impl PlainToken {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub fn parse_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err("Enter a name of 1 to 120 characters, for example \"LMS production\".".into());
    }
    Ok(name.to_owned())
}

/// The part of a token the console keeps showing (`hrld_` and six more characters): also
/// the "key" of an LRS client's key and secret.
pub fn shown_prefix(token: &str) -> &str {
    let end = token
        .char_indices()
        .nth(PREFIX.len() + 6)
        .map_or(token.len(), |(at, _)| at);
    &token[..end]
}

pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    name: &str,
    scope: Scope,
) -> QueryResult<(ApiToken, PlainToken)> {
    let plain = PlainToken::generate();
    let prefix: String = shown_prefix(plain.expose()).to_owned();
    conn.transaction(|conn| {
        let token = api_token::insert(
            conn,
            &NewApiToken {
                name,
                scope: scope.as_str(),
                token_prefix: &prefix,
                token_hash: &hash(plain.expose()),
                created_by: &actor.name,
            },
        )?;
        audit::record(
            conn,
            actor,
            change("api_token.created", &token, json!({ "scope": token.scope })),
        )?;
        Ok((token, plain))
    })
}

/// Tokens revoked by this process so far: what ingest remembers of accepted tokens is
/// forgotten when it moves (see `ingest::recent_tokens`).
static REVOCATIONS: AtomicU64 = AtomicU64::new(0);

pub fn revocations() -> u64 {
    REVOCATIONS.load(Ordering::SeqCst)
}

/// Revokes the token; `None` when there is no such active token.
pub fn revoke(conn: &mut PgConnection, actor: &Actor, id: i64) -> QueryResult<Option<ApiToken>> {
    let revoked = conn.transaction(|conn| {
        let revoked = api_token::revoke(conn, id, &actor.name).optional()?;
        if let Some(token) = &revoked {
            audit::record(conn, actor, change("api_token.revoked", token, json!({})))?;
        }
        Ok::<_, diesel::result::Error>(revoked)
    })?;
    // After the commit: a lookup from now on sees the revocation.
    REVOCATIONS.fetch_add(1, Ordering::SeqCst);
    Ok(revoked)
}

/// The token of an `Authorization: Bearer <token>` header value, whatever the case of the
/// scheme (HTTP's scheme names are case-insensitive).
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No token, an unknown one, or a revoked one: 401.
    Unauthenticated(&'static str),
    /// A valid token without the scope: 403.
    WrongScope,
}

/// Checks a presented `Authorization` header value for `scope`, recording the use.
pub fn authenticate(
    conn: &mut PgConnection,
    header: Option<&str>,
    scope: Scope,
) -> QueryResult<Result<ApiToken, AuthFailure>> {
    let Some(presented) = bearer(header) else {
        return Ok(Err(AuthFailure::Unauthenticated(
            "Send the API token as: Authorization: Bearer <token>.",
        )));
    };
    let Some(token) = api_token::find_by_hash(conn, &hash(presented))? else {
        return Ok(Err(AuthFailure::Unauthenticated(
            "This API token is not known.",
        )));
    };
    if token.revoked_at.is_some() {
        return Ok(Err(AuthFailure::Unauthenticated(
            "This API token has been revoked.",
        )));
    }
    if !Scope::parse(&token.scope).is_ok_and(|held| held.grants(scope)) {
        return Ok(Err(AuthFailure::WrongScope));
    }
    // "Last used" to the minute: no write (and no row lock) on every request of a busy client.
    if token
        .last_used_at
        .is_none_or(|at| chrono::Utc::now() - at > chrono::Duration::minutes(1))
    {
        api_token::touch(conn, token.id)?;
    }
    Ok(Ok(token))
}

fn change<'a>(action: &'a str, token: &ApiToken, details: serde_json::Value) -> Change<'a> {
    Change {
        action,
        target_type: "api_token",
        target_id: Some(token.id.to_string()),
        target_label: Some(token.name.clone()),
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn the_bearer_scheme_is_read_in_any_case_and_the_token_trimmed() {
        assert_eq!(bearer(Some("Bearer hrld_x")), Some("hrld_x"));
        assert_eq!(bearer(Some("bearer hrld_x")), Some("hrld_x"));
        assert_eq!(bearer(Some("BEARER   hrld_x  ")), Some("hrld_x"));
        assert_eq!(bearer(Some("Bearer")), None);
        assert_eq!(bearer(Some("Bearer   ")), None);
        assert_eq!(bearer(Some("Basic aGk6dGhlcmU=")), None);
        assert_eq!(bearer(Some("Bearerhrld_x")), None);
        assert_eq!(bearer(None), None);
    }
}
