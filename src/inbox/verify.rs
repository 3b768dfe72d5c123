//! Checking a received request's Standard Webhooks signature the way a careful receiver does:
//! `webhook-id`, `webhook-timestamp` within five minutes, and one of the `v1,` signatures in
//! `webhook-signature` equal (in constant time) to the HMAC made with a known secret.

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use crate::delivery::signature::sign;
use crate::webhooks::signing::SigningSecret;

/// How far a `webhook-timestamp` may be from now (the specification's suggestion).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// The secrets one webhook signs with now (current, and the previous one during an overlap).
pub struct Signer {
    pub webhook_name: String,
    pub secrets: Vec<SigningSecret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Verified {
        webhook_name: String,
    },
    Failed(String),
    Unsigned,
    /// No webhook with a signing secret points at this inbox, so there is nothing to check.
    NoSecret,
}

impl Verdict {
    /// The stored word.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Verified { .. } => "verified",
            Verdict::Failed(_) => "failed",
            Verdict::Unsigned => "unsigned",
            Verdict::NoSecret => "no_secret",
        }
    }

    /// The sentence shown beside it.
    pub fn detail(&self) -> String {
        match self {
            Verdict::Verified { webhook_name } => {
                format!("The signature matches the signing secret of webhook {webhook_name}.")
            }
            Verdict::Failed(why) => why.clone(),
            Verdict::Unsigned => "The request carries no webhook-signature header.".into(),
            Verdict::NoSecret => {
                "No webhook with a signing secret sends to this inbox, so there is nothing to check the signature against.".into()
            }
        }
    }
}

/// The verdict for a request with these (lower-case) headers and body.
pub fn verify(
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    signers: &[Signer],
    now: DateTime<Utc>,
) -> Verdict {
    let signers: Vec<&Signer> = signers.iter().filter(|s| !s.secrets.is_empty()).collect();
    let Some(signatures) = header("webhook-signature") else {
        return if signers.is_empty() {
            Verdict::NoSecret
        } else {
            Verdict::Unsigned
        };
    };
    if signers.is_empty() {
        return Verdict::NoSecret;
    }
    let (Some(id), Some(timestamp)) = (header("webhook-id"), header("webhook-timestamp")) else {
        return Verdict::Failed(
            "A webhook-id or webhook-timestamp header is missing, so the signature cannot be checked.".into(),
        );
    };
    let Ok(timestamp) = timestamp.trim().parse::<i64>() else {
        return Verdict::Failed("The webhook-timestamp header is not a number of seconds.".into());
    };
    let skew = (now.timestamp() - timestamp).abs();
    if skew > TOLERANCE_SECONDS {
        return Verdict::Failed(format!(
            "The webhook-timestamp is {skew} seconds away from now (at most {TOLERANCE_SECONDS} are accepted), so the request may be a replay."
        ));
    }
    for signer in &signers {
        for secret in &signer.secrets {
            let expected = sign(secret, &id, timestamp, body);
            let matches = signatures
                .split(' ')
                .any(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())));
            if matches {
                return Verdict::Verified {
                    webhook_name: signer.webhook_name.clone(),
                };
            }
        }
    }
    let names: Vec<&str> = signers.iter().map(|s| s.webhook_name.as_str()).collect();
    Verdict::Failed(format!(
        "No signature matches the signing secret of {} (the body, id or timestamp was changed, or another secret signed it).",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(secret: &SigningSecret) -> Vec<Signer> {
        vec![Signer {
            webhook_name: "HR sync".into(),
            secrets: vec![secret.clone()],
        }]
    }

    fn headers<'a>(pairs: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn a_request_signed_with_the_secret_verifies_and_a_changed_body_fails() {
        let secret = SigningSecret::generate();
        let now = Utc::now();
        let signature = sign(&secret, "msg_1", now.timestamp(), b"{}");
        let pairs = [
            ("webhook-id", "msg_1".to_owned()),
            ("webhook-timestamp", now.timestamp().to_string()),
            ("webhook-signature", format!("v1,other {signature}")),
        ];
        assert_eq!(
            verify(headers(&pairs), b"{}", &signer(&secret), now),
            Verdict::Verified {
                webhook_name: "HR sync".into()
            }
        );
        let tampered = verify(headers(&pairs), b"{\"a\":1}", &signer(&secret), now);
        assert_eq!(tampered.code(), "failed");
    }

    #[test]
    fn old_timestamps_unsigned_requests_and_missing_secrets_are_told_apart() {
        let secret = SigningSecret::generate();
        let now = Utc::now();
        let old = now.timestamp() - TOLERANCE_SECONDS - 1;
        let pairs = [
            ("webhook-id", "msg_1".to_owned()),
            ("webhook-timestamp", old.to_string()),
            ("webhook-signature", sign(&secret, "msg_1", old, b"{}")),
        ];
        let verdict = verify(headers(&pairs), b"{}", &signer(&secret), now);
        assert!(verdict.detail().contains("replay"), "{verdict:?}");
        assert_eq!(
            verify(headers(&[]), b"{}", &signer(&secret), now),
            Verdict::Unsigned
        );
        assert_eq!(verify(headers(&pairs), b"{}", &[], now), Verdict::NoSecret);
    }
}
