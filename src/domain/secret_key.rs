//! The master key from `HERALD_SECRET_KEY` (or the data dir's `secret.key`), and the
//! purpose-bound subkeys derived from it with HKDF, so one secret never serves two jobs.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

const MIN_KEY_LEN: usize = 32;
pub const KEY_FILE_NAME: &str = "secret.key";

#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
}

impl SecretKey {
    /// Accepts any string of at least 32 bytes (for example 32+ random characters or base64).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.len() < MIN_KEY_LEN {
            return Err(format!(
                "must be at least {MIN_KEY_LEN} characters (generate one with `openssl rand -base64 48`)"
            ));
        }
        Ok(Self(raw.as_bytes().to_vec()))
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; 48];
        rand::rng().fill_bytes(&mut bytes);
        Self(STANDARD.encode(bytes).into_bytes())
    }

    /// Reads `dir/secret.key`, creating it (mode 0600) with a fresh key on first use.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let path = dir.join(KEY_FILE_NAME);
        if path.exists() {
            let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("could not restrict {} to 0600", path.display()))?;
            }
            let raw = std::fs::read_to_string(&path)
                .with_context(|| format!("could not read {}", path.display()))?;
            return Self::parse(&raw)
                .map_err(|problem| anyhow::anyhow!("{}: {problem}", path.display()));
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let key = Self::generate();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("could not create {}", path.display()))?;
        file.write_all(&key.0)?;
        file.sync_all()?;
        Ok(key)
    }

    /// A 64-byte key for one purpose (`"session-cookie"`, `"secret-encryption"`…).
    pub fn derive(&self, purpose: &str) -> [u8; 64] {
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"herald"), &self.0);
        let mut out = [0u8; 64];
        hkdf.expand(purpose.as_bytes(), &mut out)
            .expect("64 bytes is a valid HKDF-SHA256 output length");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let first = SecretKey::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = SecretKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.derive("x"), second.derive("x"));
    }

    #[test]
    fn different_purposes_get_different_keys() {
        let key = SecretKey::generate();
        assert_ne!(
            key.derive("session-cookie"),
            key.derive("secret-encryption")
        );
    }
}
