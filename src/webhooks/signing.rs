//! Standard Webhooks signing secrets: `whsec_` + base64 of 32 random bytes. Shown in full only
//! right after creation or rotation and on an explicit, audited reveal.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

pub const PREFIX: &str = "whsec_";

#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([REDACTED])")
    }
}

impl SigningSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{PREFIX}{}", STANDARD.encode(bytes)))
    }

    /// A stored secret (already validated when it was generated).
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key bytes the HMAC uses.
    pub fn key_bytes(&self) -> Vec<u8> {
        STANDARD
            .decode(self.0.trim_start_matches(PREFIX))
            .unwrap_or_default()
    }

    /// `whsec_••••••••abcd`: enough to tell two secrets apart, useless to an attacker.
    pub fn masked(&self) -> String {
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{PREFIX}••••••••{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_32_random_bytes_behind_the_prefix() {
        let secret = SigningSecret::generate();
        assert!(secret.expose().starts_with("whsec_"));
        assert_eq!(secret.key_bytes().len(), 32);
        assert_ne!(secret, SigningSecret::generate());
        assert!(!secret.masked().contains(&secret.expose()[6..20]));
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }
}
