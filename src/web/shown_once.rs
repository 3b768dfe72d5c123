//! Values shown once — a new API token, a webhook's new, rotated or revealed signing secret —
//! by post/redirect/get: the action keeps the value in the session and redirects, and the page
//! it redirects to takes the value out as it renders it. A reload (or a second tab) finds
//! nothing and says so; another session never sees it; it never travels in a URL.
//!
//! Between the redirect and that page the value sits in the session row (PostgreSQL, as
//! text), so it is sealed there with the server's key and dropped after [`KEPT_FOR`] even if
//! its page is never loaded; signing out or signing in again drops it too.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::session::TypedSession;
use crate::domain::secret_box::SecretBox;

/// How long a value waits for its page (which normally loads right after the redirect).
pub const KEPT_FOR: chrono::Duration = chrono::Duration::minutes(10);
/// At most this many values wait at once (several tabs); the oldest gives way.
const MAX_WAITING: usize = 4;
/// Associated data of the seal, so no other sealed value opens as one of these.
const SEAL_PURPOSE: &str = "session.shown_once";

/// What a value belongs to: the page that shows it answers for exactly one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Token(i64),
    WebhookSecret(i64),
}

impl Target {
    fn key(self) -> String {
        match self {
            Self::Token(id) => format!("token:{id}"),
            Self::WebhookSecret(id) => format!("webhook:{id}"),
        }
    }
}

/// Why the value is shown, which sets the page's headline and explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Occasion {
    TokenCreated,
    WebhookCreated,
    SigningSwitchedOn,
    SecretRotated { previous_signs_until: DateTime<Utc> },
    SecretRevealed,
}

/// A value taken out of the session to be rendered now.
pub struct Shown {
    pub occasion: Occasion,
    pub value: String,
}

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shown")
            .field("occasion", &self.occasion)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

/// One waiting value, as stored in the session.
#[derive(Serialize, Deserialize)]
struct Waiting {
    target: String,
    #[serde(flatten)]
    occasion: Occasion,
    /// base64 of the sealed value.
    sealed: String,
    kept_at: DateTime<Utc>,
}

/// Keeps `value` for the next load of `target`'s page (replacing one already waiting there).
pub fn keep(
    session: &TypedSession,
    secrets: &SecretBox,
    target: Target,
    occasion: Occasion,
    value: &str,
) {
    let key = target.key();
    let now = Utc::now();
    let mut waiting: Vec<Waiting> = session.shown_once();
    waiting.retain(|w| w.target != key && now - w.kept_at < KEPT_FOR);
    if waiting.len() >= MAX_WAITING {
        waiting.drain(..=waiting.len() - MAX_WAITING);
    }
    waiting.push(Waiting {
        target: key,
        occasion,
        sealed: STANDARD.encode(secrets.seal(SEAL_PURPOSE, value)),
        kept_at: now,
    });
    session.set_shown_once(&waiting);
}

/// Takes out what waits for `target` (so it is never shown again), dropping anything expired.
pub fn take(session: &TypedSession, secrets: &SecretBox, target: Target) -> Option<Shown> {
    let mut waiting: Vec<Waiting> = session.shown_once();
    if waiting.is_empty() {
        return None;
    }
    let key = target.key();
    let now = Utc::now();
    let mut found = None;
    waiting.retain(|w| {
        if now - w.kept_at >= KEPT_FOR {
            return false;
        }
        if w.target == key {
            found = Some((w.occasion.clone(), w.sealed.clone()));
            return false;
        }
        true
    });
    session.set_shown_once(&waiting);
    let (occasion, sealed) = found?;
    let value = STANDARD
        .decode(sealed)
        .ok()
        .and_then(|bytes| secrets.open(SEAL_PURPOSE, &bytes).ok())?;
    Some(Shown { occasion, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_have_distinct_keys() {
        assert_ne!(Target::Token(3).key(), Target::WebhookSecret(3).key());
        assert_eq!(Target::Token(12).key(), "token:12");
    }

    #[test]
    fn the_stored_form_carries_the_occasion_but_not_the_value_in_clear() {
        let key = crate::domain::secret_key::SecretKey::parse(
            "a-test-key-of-at-least-thirty-two-characters",
        )
        .unwrap();
        let secrets = SecretBox::new(&key);
        let waiting = Waiting {
            target: Target::WebhookSecret(1).key(),
            occasion: Occasion::SecretRotated {
                previous_signs_until: Utc::now(),
            },
            sealed: STANDARD.encode(secrets.seal(SEAL_PURPOSE, "whsec_plain")),
            kept_at: Utc::now(),
        };
        let text = serde_json::to_string(&waiting).unwrap();
        assert!(text.contains("secret_rotated"), "{text}");
        assert!(!text.contains("whsec_plain"), "{text}");
        let back: Waiting = serde_json::from_str(&text).unwrap();
        let opened = secrets
            .open(SEAL_PURPOSE, &STANDARD.decode(back.sealed).unwrap())
            .unwrap();
        assert_eq!(opened, "whsec_plain");
        assert!(
            !format!(
                "{:?}",
                Shown {
                    occasion: back.occasion,
                    value: opened
                }
            )
            .contains("whsec_plain")
        );
    }
}
