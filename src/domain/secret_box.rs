//! Encryption of stored secrets (receiver passwords, Authorization values, custom header
//! values, signing secrets) with XChaCha20-Poly1305 under a key derived from
//! `HERALD_SECRET_KEY`. A sealed value is `nonce (24 bytes) || ciphertext`; the column name is
//! bound in as associated data, so a value copied into another column does not open.

use std::fmt;

use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::secret_key::SecretKey;

const NONCE_LEN: usize = 24;

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox([REDACTED])")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be decrypted (was HERALD_SECRET_KEY changed?)")]
pub struct OpenError;

impl SecretBox {
    pub fn new(key: &SecretKey) -> Self {
        let derived = key.derive("secret-encryption");
        let cipher = XChaCha20Poly1305::new_from_slice(&derived[..32])
            .expect("32 bytes is an XChaCha20 key");
        Self { cipher }
    }

    /// Encrypts `plain` for the column `purpose`.
    pub fn seal(&self, purpose: &str, plain: &str) -> Vec<u8> {
        let nonce = XNonce::generate();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            .expect("encryption with a valid key cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<String, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| OpenError)?;
        let plain = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| OpenError)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_key_and_purpose_only() {
        let key = SecretKey::generate();
        let secrets = SecretBox::new(&key);
        let sealed = secrets.seal("basic_password", "hunter2-and-more");
        assert!(!String::from_utf8_lossy(&sealed).contains("hunter2"));
        assert_eq!(
            secrets.open("basic_password", &sealed).unwrap(),
            "hunter2-and-more"
        );
        assert!(secrets.open("auth_header", &sealed).is_err());
        assert!(
            SecretBox::new(&SecretKey::generate())
                .open("basic_password", &sealed)
                .is_err()
        );
        assert!(secrets.open("basic_password", b"short").is_err());
    }

    #[test]
    fn the_same_value_seals_differently_each_time() {
        let secrets = SecretBox::new(&SecretKey::generate());
        assert_ne!(secrets.seal("x", "same"), secrets.seal("x", "same"));
    }
}
