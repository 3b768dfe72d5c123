//! A new password chosen by a person: long enough to resist guessing, short enough that
//! hashing it cannot be abused. Never printed: `Debug` is redacted.

use std::fmt;

use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 256;

#[derive(Clone)]
pub struct NewPassword(SecretString);

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword([REDACTED])")
    }
}

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, String> {
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
    fn generated_passwords_are_valid_and_hidden_from_debug() {
        let password = NewPassword::generate();
        assert!(NewPassword::parse(password.expose()).is_ok());
        assert!(!format!("{password:?}").contains(password.expose()));
    }
}
