//! Sessions kept in PostgreSQL, behind actix-session's `SessionStore`: the cookie carries a
//! random 256-bit key, the `sessions` row (found by the key's SHA-256) holds the state.
//! A row ends when it is deleted (sign-out, "end session", password change…), when it was not
//! used for the idle limit, or at its absolute end, whichever comes first.
//!
//! A session without a user (the sign-in form's CSRF token, a flash message) has no row: its
//! state travels in the key itself (`a.` + base64url JSON with its end), inside the signed
//! cookie, so anonymous requests — any number of them — never write to the database. There is
//! nothing in it to end or to hide from its own client.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::web;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::session::state_keys;
use crate::db::PgPool;
use crate::db::monitor::DatabaseStatus;
use crate::model::session::{self as rows, SessionColumns};

type SessionState = HashMap<String, String>;

/// A session without a user (the sign-in form's CSRF token) lasts at most this long, so
/// anonymous visitors cannot fill the table for days.
const ANONYMOUS_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// `last_seen_at` is refreshed at most this often (or a quarter of the idle limit, if that
/// is shorter), so most requests only read.
const SEEN_RESOLUTION: Duration = Duration::from_secs(60);
/// Expired rows are swept at most this often, by whichever request creates a session.
const PURGE_INTERVAL_SECS: i64 = 300;
/// Keys of anonymous sessions (their state inside) start with this; row keys never contain a dot.
const ANONYMOUS_PREFIX: &str = "a.";
/// The longest anonymous key kept in the cookie; a larger state (many flash messages) gets a
/// row like a signed-in session.
const MAX_ANONYMOUS_KEY: usize = 3000;

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionLifetimes {
    /// Ended after this long without a request.
    pub idle: Duration,
    /// Ended this long after sign-in, however active.
    pub absolute: Duration,
}

#[derive(Clone)]
pub struct PgSessionStore {
    pool: PgPool,
    database: DatabaseStatus,
    lifetimes: SessionLifetimes,
    last_purge: Arc<AtomicI64>,
}

impl PgSessionStore {
    pub fn new(pool: PgPool, database: DatabaseStatus, lifetimes: SessionLifetimes) -> Self {
        Self {
            pool,
            database,
            lifetimes,
            last_purge: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Runs `query` on the blocking pool with a web-pool connection.
    async fn with_conn<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut PgConnection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let pool = self.pool.clone();
        let database = self.database.clone();
        web::block(move || {
            let mut conn = crate::web::state::checkout(&pool, &database)
                .map_err(|err| anyhow::anyhow!("no connection: {}", describe(&err)))?;
            query(&mut conn)
        })
        .await
        .map_err(|err| anyhow::anyhow!("blocking task failed: {err}"))?
    }

    fn seen_since(&self) -> DateTime<Utc> {
        Utc::now() - to_chrono(self.lifetimes.idle)
    }

    async fn create(&self, state: SessionState) -> anyhow::Result<SessionKey> {
        let (key, key_hash) = new_key();
        let columns = columns_of(&state);
        let lifetime = if columns.user_id.is_some() {
            self.lifetimes.absolute
        } else {
            ANONYMOUS_LIFETIME.min(self.lifetimes.absolute)
        };
        let expires_at = Utc::now() + to_chrono(lifetime);
        if columns.user_id.is_none()
            && let Some(key) = anonymous_key(&state, expires_at)
        {
            return Ok(key);
        }
        let text = serde_json::to_string(&state)?;
        let purge_before = self.purge_due().then(|| self.seen_since());
        self.with_conn(move |conn| {
            rows::insert(conn, &key_hash, &text, &columns, expires_at)?;
            if let Some(seen_since) = purge_before {
                rows::purge_expired(conn, seen_since)?;
            }
            Ok(())
        })
        .await?;
        Ok(key)
    }

    /// Whether this call should sweep expired rows (at most one caller per interval).
    fn purge_due(&self) -> bool {
        let now = Utc::now().timestamp();
        let last = self.last_purge.load(Ordering::Relaxed);
        now - last >= PURGE_INTERVAL_SECS
            && self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

impl SessionStore for PgSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        if is_anonymous(session_key) {
            return Ok(read_anonymous(session_key, Utc::now()));
        }
        let key_hash = hash_key(session_key);
        let seen_since = self.seen_since();
        let resolution = to_chrono(SEEN_RESOLUTION.min(self.lifetimes.idle / 4));
        let loaded = self
            .with_conn(move |conn| {
                let Some(found) = rows::find_live(conn, &key_hash, seen_since)? else {
                    return Ok(None);
                };
                if Utc::now() - found.last_seen_at >= resolution {
                    rows::mark_seen(conn, &key_hash)?;
                }
                Ok(Some(found.state))
            })
            .await
            .map_err(LoadError::Other)?;
        loaded
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|err| LoadError::Deserialization(err.into()))
    }

    async fn save(
        &self,
        session_state: SessionState,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, SaveError> {
        self.create(session_state).await.map_err(SaveError::Other)
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: SessionState,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        if is_anonymous(&session_key) {
            // The state is the key: a changed state is a new key (or a row, once signed in).
            return self.create(session_state).await.map_err(UpdateError::Other);
        }
        let key_hash = hash_key(&session_key);
        let text = serde_json::to_string(&session_state)
            .map_err(|err| UpdateError::Serialization(err.into()))?;
        let seen_since = self.seen_since();
        let updated = self
            .with_conn(move |conn| Ok(rows::update_state(conn, &key_hash, &text, seen_since)?))
            .await
            .map_err(UpdateError::Other)?;
        if updated {
            return Ok(session_key);
        }
        // The session ended while this request ran (signed out elsewhere, ended by an admin):
        // keep what is harmless (flash messages, CSRF token) in a new anonymous session, never
        // the sign-in.
        let mut anonymous = session_state;
        for key in state_keys::SIGNED_IN {
            anonymous.remove(*key);
        }
        self.create(anonymous).await.map_err(UpdateError::Other)
    }

    async fn update_ttl(
        &self,
        _session_key: &SessionKey,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<(), anyhow::Error> {
        // Lifetimes are kept in the row (`last_seen_at`, `expires_at`), refreshed by `load`.
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        if is_anonymous(session_key) {
            return Ok(());
        }
        let key_hash = hash_key(session_key);
        self.with_conn(move |conn| Ok(rows::delete_by_key(conn, &key_hash)?))
            .await
    }
}

/// A new random key for the cookie and the hash stored in its place.
fn new_key() -> (SessionKey, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = URL_SAFE_NO_PAD.encode(bytes);
    let key_hash = Sha256::digest(key.as_bytes()).to_vec();
    let key = SessionKey::try_from(key).expect("a 43-character key fits in a cookie");
    (key, key_hash)
}

/// An anonymous session's state as a key: its end and state, as base64url JSON. `None` when
/// it would not fit in a cookie.
fn anonymous_key(state: &SessionState, expires_at: DateTime<Utc>) -> Option<SessionKey> {
    let body = serde_json::json!({ "exp": expires_at.timestamp(), "state": state });
    let key = format!(
        "{ANONYMOUS_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(body.to_string())
    );
    if key.len() > MAX_ANONYMOUS_KEY {
        return None;
    }
    SessionKey::try_from(key).ok()
}

fn is_anonymous(key: &SessionKey) -> bool {
    key.as_ref().starts_with(ANONYMOUS_PREFIX)
}

/// The state of a live anonymous key; `None` once it ended (or if it is not one: the cookie is
/// signed, so only Herald wrote it).
fn read_anonymous(key: &SessionKey, now: DateTime<Utc>) -> Option<SessionState> {
    #[derive(serde::Deserialize)]
    struct Anonymous {
        exp: i64,
        state: SessionState,
    }
    let encoded = key.as_ref().strip_prefix(ANONYMOUS_PREFIX)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    let anonymous: Anonymous = serde_json::from_slice(&bytes).ok()?;
    // Never a signed-in state, whatever the key says.
    let signed_in = state_keys::SIGNED_IN
        .iter()
        .any(|name| anonymous.state.contains_key(*name));
    (anonymous.exp > now.timestamp() && !signed_in).then_some(anonymous.state)
}

fn hash_key(key: &SessionKey) -> Vec<u8> {
    Sha256::digest(key.as_ref().as_bytes()).to_vec()
}

/// The columns a new row takes from the state the sign-in wrote (values are JSON text).
fn columns_of(state: &SessionState) -> SessionColumns {
    fn read<T: serde::de::DeserializeOwned>(state: &SessionState, key: &str) -> Option<T> {
        state
            .get(key)
            .and_then(|raw| serde_json::from_str(raw).ok())
    }
    SessionColumns {
        user_id: read(state, state_keys::USER_ID),
        handle: read(state, state_keys::HANDLE),
        client_address: read(state, state_keys::CLIENT_ADDRESS),
        user_agent: read(state, state_keys::USER_AGENT),
    }
}

/// The cause of a failed checkout, for the one log line the outage middleware writes.
fn describe(err: &crate::error::AppError) -> String {
    match err {
        crate::error::AppError::Unavailable(crate::error::Unavailable::Database(cause)) => {
            cause.clone()
        }
        other => other.to_string(),
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::days(7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_only_their_hash_is_kept() {
        let (first, first_hash) = new_key();
        let (second, _) = new_key();
        assert_ne!(first, second);
        assert_eq!(first.as_ref().len(), 43);
        assert_eq!(hash_key(&first), first_hash);
        assert!(!first_hash.is_empty() && first_hash != first.as_ref().as_bytes());
    }

    #[test]
    fn an_anonymous_state_lives_in_its_key_until_its_end() {
        let now = Utc::now();
        let state: SessionState = [("csrf".to_owned(), "\"tok\"".to_owned())]
            .into_iter()
            .collect();
        let key = anonymous_key(&state, now + chrono::Duration::hours(1)).unwrap();
        assert!(is_anonymous(&key));
        assert_eq!(read_anonymous(&key, now), Some(state.clone()));
        assert_eq!(read_anonymous(&key, now + chrono::Duration::hours(2)), None);
        // A row's key is never read as one, and a state too large for a cookie gets a row.
        let (row_key, _) = new_key();
        assert!(!is_anonymous(&row_key));
        let big: SessionState = [("flash".to_owned(), "x".repeat(4000))]
            .into_iter()
            .collect();
        assert!(anonymous_key(&big, now).is_none());
        // A signed-in state is never taken from a key.
        let signed_in: SessionState = [(state_keys::USER_ID.to_owned(), "1".to_owned())]
            .into_iter()
            .collect();
        let forged = anonymous_key(&signed_in, now + chrono::Duration::hours(1)).unwrap();
        assert_eq!(read_anonymous(&forged, now), None);
    }

    #[test]
    fn sign_in_values_become_columns() {
        let handle = uuid::Uuid::now_v7();
        let state: SessionState = [
            (state_keys::USER_ID.to_owned(), "42".to_owned()),
            (state_keys::HANDLE.to_owned(), format!("\"{handle}\"")),
            (
                state_keys::CLIENT_ADDRESS.to_owned(),
                "\"192.0.2.7\"".to_owned(),
            ),
            (state_keys::USER_AGENT.to_owned(), "\"Firefox\"".to_owned()),
        ]
        .into_iter()
        .collect();
        let columns = columns_of(&state);
        assert_eq!(columns.user_id, Some(42));
        assert_eq!(columns.handle, Some(handle));
        assert_eq!(columns.client_address.as_deref(), Some("192.0.2.7"));
        assert_eq!(columns.user_agent.as_deref(), Some("Firefox"));
        assert_eq!(columns_of(&SessionState::new()).user_id, None);
    }
}
