//! The session, behind typed accessors so keys are spelled in one place. Its state lives in
//! PostgreSQL (`auth::session_store`); it holds the user id, the account's session version,
//! the session's public handle, where it was signed in from, the CSRF token, pending flash
//! messages and values waiting to be shown once (`web::shown_once`).

use actix_session::{Session, SessionExt};
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::{FromRequest, HttpRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::future::{Ready, ready};

use state_keys::{CLIENT_ADDRESS, HANDLE, SESSION_VERSION, SHOWN_ONCE, USER_AGENT, USER_ID};

const CSRF_TOKEN: &str = "csrf";
const FLASHES: &str = "flash";

/// Keys the session store also reads, to fill the row's columns.
pub mod state_keys {
    pub const USER_ID: &str = "uid";
    pub const SESSION_VERSION: &str = "ver";
    pub const HANDLE: &str = "sid";
    pub const CLIENT_ADDRESS: &str = "addr";
    pub const USER_AGENT: &str = "ua";
    /// Values waiting for the page that shows them once (sealed; see `web::shown_once`).
    pub const SHOWN_ONCE: &str = "once";
    /// What a session loses when it is no longer signed in.
    pub const SIGNED_IN: &[&str] = &[
        USER_ID,
        SESSION_VERSION,
        HANDLE,
        CLIENT_ADDRESS,
        USER_AGENT,
        SHOWN_ONCE,
    ];
}

/// Where a sign-in came from, shown in the user's list of sessions.
#[derive(Debug, Clone)]
pub struct SignInClient {
    pub address: String,
    pub user_agent: String,
}

impl SignInClient {
    /// The longest user agent kept; longer ones are cut (they are only shown).
    const MAX_USER_AGENT: usize = 256;

    /// The request's client address (see `web::client_address`) and user agent.
    pub fn of(req: &HttpRequest) -> Self {
        let address = crate::web::client_address::ClientAddress::extract(req)
            .into_inner()
            .map(|client| client.to_string())
            .unwrap_or_else(|_| "unknown".into());
        Self::new(
            address,
            req.headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|value| value.to_str().ok()),
        )
    }

    pub fn new(address: String, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(Self::MAX_USER_AGENT)
            .collect();
        Self {
            address,
            user_agent,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashLevel {
    Success,
    Info,
    Error,
}

/// A one-time message shown on the next page (after a redirect).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub level: FlashLevel,
    pub text: String,
}

impl Flash {
    pub fn css_class(&self) -> &'static str {
        match self.level {
            FlashLevel::Success => "flash-success",
            FlashLevel::Info => "flash-info",
            FlashLevel::Error => "flash-error",
        }
    }
}

pub struct TypedSession(Session);

impl TypedSession {
    pub fn of(req: &ServiceRequest) -> Self {
        Self(req.get_session())
    }

    pub fn user_id(&self) -> Option<i64> {
        self.0.get(USER_ID).ok().flatten()
    }

    pub fn session_version(&self) -> Option<i32> {
        self.0.get(SESSION_VERSION).ok().flatten()
    }

    /// The public handle of this signed-in session (to tell it apart in the sessions list).
    pub fn handle(&self) -> Option<uuid::Uuid> {
        self.0.get(HANDLE).ok().flatten()
    }

    /// The session's CSRF token, created on first use (anonymous sessions get one too, so the
    /// sign-in form is protected).
    pub fn csrf_token(&self) -> String {
        if let Some(token) = self.existing_csrf_token() {
            return token;
        }
        let token = new_token();
        let _ = self.0.insert(CSRF_TOKEN, &token);
        token
    }

    pub fn existing_csrf_token(&self) -> Option<String> {
        self.0.get(CSRF_TOKEN).ok().flatten()
    }

    /// Starts an authenticated session under a new key with a new CSRF token, so nothing an
    /// attacker planted before sign-in survives it.
    pub fn log_in(
        &self,
        user_id: i64,
        session_version: i32,
        client: &SignInClient,
    ) -> Result<(), actix_session::SessionInsertError> {
        let flashes = self.take_flashes();
        self.0.clear();
        self.0.renew();
        self.0.insert(USER_ID, user_id)?;
        self.0.insert(SESSION_VERSION, session_version)?;
        self.0.insert(HANDLE, uuid::Uuid::now_v7())?;
        self.0.insert(CLIENT_ADDRESS, &client.address)?;
        self.0.insert(USER_AGENT, &client.user_agent)?;
        self.0.insert(CSRF_TOKEN, new_token())?;
        if !flashes.is_empty() {
            self.0.insert(FLASHES, flashes)?;
        }
        Ok(())
    }

    pub fn log_out(&self) {
        self.0.purge();
    }

    pub fn flash(&self, level: FlashLevel, text: impl Into<String>) {
        let mut flashes = self
            .0
            .get::<Vec<Flash>>(FLASHES)
            .ok()
            .flatten()
            .unwrap_or_default();
        flashes.push(Flash {
            level,
            text: text.into(),
        });
        let _ = self.0.insert(FLASHES, flashes);
    }

    /// The values waiting to be shown once (an empty list when there are none).
    pub fn shown_once<T: serde::de::DeserializeOwned>(&self) -> Vec<T> {
        self.0
            .get::<Vec<T>>(SHOWN_ONCE)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Replaces the values waiting to be shown once; an empty list leaves no trace in the row.
    pub fn set_shown_once<T: Serialize>(&self, pending: &[T]) {
        if pending.is_empty() {
            self.0.remove(SHOWN_ONCE);
        } else {
            let _ = self.0.insert(SHOWN_ONCE, pending);
        }
    }

    pub fn take_flashes(&self) -> Vec<Flash> {
        self.0
            .remove_as::<Vec<Flash>>(FLASHES)
            .and_then(Result::ok)
            .unwrap_or_default()
    }
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(req.get_session())))
    }
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
