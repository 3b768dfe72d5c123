//! argon2id password hashing. Both functions are slow on purpose: call them on the blocking
//! pool (`web::block` / `spawn_blocking`), never on an async worker thread.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};

use crate::domain::password::NewPassword;

/// Checked when the username is unknown, so that case costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password(&NewPassword::generate()));

pub fn hash_password(password: &NewPassword) -> String {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .expect("argon2id with default parameters and a random salt cannot fail")
        .to_string()
}

/// Whether `candidate` matches `stored`; with no stored hash it still does the full work
/// against a dummy hash and answers false.
pub fn verify_password(candidate: &str, stored: Option<&str>) -> bool {
    let (hash, real) = match stored {
        Some(hash) => (hash, true),
        None => (DUMMY_HASH.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(candidate.as_bytes(), &parsed)
        .is_ok();
    matches && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let password = NewPassword::parse("correct horse battery").unwrap();
        let hash = hash_password(&password);
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("wrong horse battery", Some(&hash)));
    }

    #[test]
    fn an_unknown_user_never_verifies() {
        assert!(!verify_password("anything", None));
        assert!(!verify_password("anything", Some("not a phc string")));
    }
}
