//! The Standard Webhooks signature: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")),
//! one per active secret, space-separated in the `webhook-signature` header (several during a
//! secret rotation, so receivers holding either secret can verify).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::webhooks::signing::SigningSecret;

/// One `v1,<signature>` for `secret`.
pub fn sign(secret: &SigningSecret, message_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&secret.key_bytes()).expect("HMAC takes keys of any length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header value for every active secret, newest first.
pub fn signature_header(
    secrets: &[SigningSecret],
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, message_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification.
    #[test]
    fn signs_the_specification_test_vector() {
        let secret = SigningSecret::from_stored("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let signature = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_rotation_carries_one_signature_per_secret() {
        let old = SigningSecret::generate();
        let new = SigningSecret::generate();
        let header = signature_header(&[new.clone(), old.clone()], "msg_1", 1700000000, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [
                sign(&new, "msg_1", 1700000000, b"{}"),
                sign(&old, "msg_1", 1700000000, b"{}")
            ]
        );
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn any_change_to_the_message_changes_the_signature() {
        let secret = SigningSecret::generate();
        let base = sign(&secret, "msg_1", 1700000000, b"{\"a\":1}");
        assert_ne!(base, sign(&secret, "msg_2", 1700000000, b"{\"a\":1}"));
        assert_ne!(base, sign(&secret, "msg_1", 1700000001, b"{\"a\":1}"));
        assert_ne!(base, sign(&secret, "msg_1", 1700000000, b"{\"a\":2}"));
    }
}
