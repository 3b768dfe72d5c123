//! The signed session cookie, behind typed accessors so keys are spelled in one place.
//! It holds the user id, the account's session version, the CSRF token, when the session was
//! last used (for the idle timeout) and pending flash messages.

use actix_session::{Session, SessionExt};
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::{FromRequest, HttpRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::future::{Ready, ready};

const USER_ID: &str = "uid";
const SESSION_VERSION: &str = "ver";
const CSRF_TOKEN: &str = "csrf";
const LAST_SEEN: &str = "seen";
const FLASHES: &str = "flash";

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

    /// Unix seconds of the last request in this session.
    pub fn last_seen(&self) -> Option<i64> {
        self.0.get(LAST_SEEN).ok().flatten()
    }

    pub fn touch(&self, now: i64) {
        let _ = self.0.insert(LAST_SEEN, now);
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

    /// Starts an authenticated session under a new id with a new CSRF token, so nothing an
    /// attacker planted before sign-in survives it.
    pub fn log_in(
        &self,
        user_id: i64,
        session_version: i32,
        now: i64,
    ) -> Result<(), actix_session::SessionInsertError> {
        let flashes = self.take_flashes();
        self.0.clear();
        self.0.renew();
        self.0.insert(USER_ID, user_id)?;
        self.0.insert(SESSION_VERSION, session_version)?;
        self.0.insert(CSRF_TOKEN, new_token())?;
        self.0.insert(LAST_SEEN, now)?;
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
