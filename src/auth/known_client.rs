//! Browsers that signed in before. After a successful sign-in the browser gets a
//! `herald_known` cookie (HttpOnly, path `/login`): an HMAC over the normalised username and
//! an expiry, under a key derived from `HERALD_SECRET_KEY`. A sign-in attempt that presents a
//! valid one for the username typed is exempt from the per-username ceiling (see
//! `auth::throttle`): guesses spread over many addresses slow that username for strangers
//! only, so they can no longer keep its owner out by taking every slot. The pair and address
//! counters still apply to it, and a stranger cannot make one without the password.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "herald_known";
/// How long a browser stays known after its last sign-in.
pub const LIFETIME: chrono::Duration = chrono::Duration::days(90);

#[derive(Clone)]
pub struct KnownClients {
    key: [u8; 64],
}

impl KnownClients {
    pub fn new(key: [u8; 64]) -> Self {
        Self { key }
    }

    /// The cookie value marking this browser as known for `username` (normalised as the
    /// throttle keys it) until `now + LIFETIME`.
    pub fn issue(&self, username: &str, now: DateTime<Utc>) -> String {
        let expires = (now + LIFETIME).timestamp();
        format!(
            "{expires}.{}",
            URL_SAFE_NO_PAD.encode(self.mac(username, expires))
        )
    }

    /// Whether `value` marks a browser known for `username` at `now`.
    pub fn verify(&self, value: &str, username: &str, now: DateTime<Utc>) -> bool {
        let Some((expires, mac)) = value.split_once('.') else {
            return false;
        };
        let (Ok(expires), Ok(mac)) = (expires.parse::<i64>(), URL_SAFE_NO_PAD.decode(mac)) else {
            return false;
        };
        expires > now.timestamp() && bool::from(self.mac(username, expires).ct_eq(&mac[..]))
    }

    fn mac(&self, username: &str, expires: i64) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(b"herald-known-client\0");
        mac.update(crate::auth::throttle::normalise_username(username).as_bytes());
        mac.update(b"\0");
        mac.update(expires.to_string().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_holds_for_its_username_until_it_expires() {
        let known = KnownClients::new([7; 64]);
        let now = Utc::now();
        let mark = known.issue("Alice", now);
        assert!(known.verify(&mark, "alice", now));
        assert!(known.verify(&mark, " ALICE ", now + chrono::Duration::days(89)));
        assert!(!known.verify(&mark, "bob", now));
        assert!(!known.verify(&mark, "alice", now + chrono::Duration::days(91)));
        assert!(!KnownClients::new([8; 64]).verify(&mark, "alice", now));
        // A later expiry cannot be written in: it is under the MAC.
        let (_, mac) = mark.split_once('.').unwrap();
        let stretched = format!("{}.{mac}", (now + chrono::Duration::days(900)).timestamp());
        assert!(!known.verify(&stretched, "alice", now));
        for garbage in ["", ".", "x.y", "1.", &format!("{}.", i64::MAX)] {
            assert!(!known.verify(garbage, "alice", now), "{garbage:?}");
        }
    }
}
