//! A new password chosen by a person: long enough, not easy to guess (judged by the zxcvbn
//! estimator, which knows common passwords, words, names, keyboard patterns and dates), and
//! short enough that hashing it cannot be abused. Never printed: `Debug` is redacted.

use std::fmt;

use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};

use super::password_strength;

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 256;
/// Words the estimator should treat as known to an attacker, besides the username.
const SITE_WORDS: [&str; 2] = ["herald", "webhook"];

#[derive(Clone)]
pub struct NewPassword(SecretString);

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword([REDACTED])")
    }
}

impl NewPassword {
    /// A password whose owner is not known yet (e.g. `HERALD_ADMIN_PASSWORD`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::parse_for(raw, "")
    }

    /// A password for `username`: one built on the username counts as easy to guess.
    pub fn parse_for(raw: &str, username: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if len < MIN_LEN {
            return Err(format!("Use at least {MIN_LEN} characters."));
        }
        if len > MAX_LEN {
            return Err(format!("Use at most {MAX_LEN} characters."));
        }
        if raw.trim().is_empty() {
            return Err("A password cannot be only spaces.".into());
        }
        let mut known = SITE_WORDS.to_vec();
        let username = username.trim();
        if !username.is_empty() {
            known.push(username);
        }
        password_strength::judge(raw, &known)?;
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    /// A random 24-character password for the first admin.
    pub fn generate() -> Self {
        let value: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        Self(SecretString::from(value))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_huge_passwords_are_rejected() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse(&"x".repeat(MAX_LEN + 1)).is_err());
        assert!(NewPassword::parse("            ").is_err());
        assert!(NewPassword::parse("correct horse battery").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_with_the_estimators_advice() {
        let err = NewPassword::parse("password1234").unwrap_err();
        assert!(
            err.starts_with("This password is too easy to guess."),
            "{err}"
        );
        assert!(err.contains("This is a very common password."), "{err}");
        assert!(err.contains("Add another word or two"), "{err}");
        for weak in ["qwertyuiopasdf", "aaaaaaaaaaaaaaaa", "abcdefghijkl1"] {
            assert!(NewPassword::parse(weak).is_err(), "{weak} was accepted");
        }
    }

    #[test]
    fn a_password_built_on_the_username_is_refused() {
        assert!(NewPassword::parse("margarethe2026").is_ok());
        let err = NewPassword::parse_for("margarethe2026", "Margarethe").unwrap_err();
        assert!(err.contains("too easy to guess"), "{err}");
    }

    /// The integration tests set these passwords for these users: they must stay acceptable.
    #[test]
    fn the_test_suites_passwords_are_strong_enough() {
        for (password, username) in [
            ("a-long-test-password", "alice"),
            ("another-long-password", "viewer-abc123"),
            ("brand-new-password", "viewer.one"),
            ("brand-new-password", "target"),
            ("carols-long-password", "carol"),
            ("long-enough-password", "dave"),
            ("erins-long-password", "erin"),
            ("franks-long-password", "frank"),
            ("franks-new-password", "frank"),
            ("vera-long-password", "vera"),
            ("chosen-admin-password", "admin"),
        ] {
            if let Err(err) = NewPassword::parse_for(password, username) {
                panic!("{password} for {username}: {err}");
            }
        }
    }

    #[test]
    fn generated_passwords_are_valid_and_hidden_from_debug() {
        let password = NewPassword::generate();
        assert!(NewPassword::parse(password.expose()).is_ok());
        assert!(!format!("{password:?}").contains(password.expose()));
    }
}
