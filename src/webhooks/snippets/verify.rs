// Verify a request from Herald (Standard Webhooks signature).
// Cargo.toml: hmac = "0.13", sha2 = "0.11", base64 = "0.22"
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// `secret`: the webhook's `whsec_...` signing secret; `id`, `timestamp`, `signatures`: the
/// `webhook-id`, `webhook-timestamp` and `webhook-signature` headers; `body`: the raw bytes
/// received, before any JSON parsing; `now`: the current Unix time in seconds.
pub fn verify(secret: &str, id: &str, timestamp: &str, signatures: &str, body: &[u8], now: i64) -> bool {
    // Refuse old or future timestamps, so a captured request cannot be replayed later.
    let Ok(sent) = timestamp.parse::<i64>() else { return false };
    if (now - sent).abs() > 300 {
        return false;
    }
    let Ok(key) = STANDARD.decode(secret.trim_start_matches("whsec_")) else { return false };
    // During a secret rotation the header carries one "v1,<signature>" per secret.
    signatures.split(' ').any(|candidate| {
        let Some(Ok(given)) = candidate.strip_prefix("v1,").map(|s| STANDARD.decode(s)) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&given).is_ok() // constant-time comparison
    })
}
