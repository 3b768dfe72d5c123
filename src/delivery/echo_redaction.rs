//! A receiver that echoes its request (debug endpoints, some gateways' error pages) would put
//! the webhook's credentials into the attempt history, which viewers and `read` tokens see.
//! Before an answer is kept, every credential Herald sent — the `Authorization` value, a Basic
//! password, custom header values — is masked wherever it appears in the response headers and
//! body excerpt.

use base64::Engine;
use serde_json::Value;

use super::masking::MASK;
use super::sender::Answer;
use super::target::Target;

/// Credentials shorter than this are not searched for: they would mask ordinary words.
const SHORTEST: usize = 6;

/// The secret strings of `target` as they could appear in an echo.
pub fn secrets_of(target: &Target) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(value) = target.authorization.as_ref().and_then(|v| v.to_str().ok()) {
        found.push(value.to_owned());
        if let Some(encoded) = value.strip_prefix("Basic ") {
            if let Some(password) = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|pair| pair.split_once(':').map(|(_, p)| p.to_owned()))
            {
                found.push(password);
            }
            found.push(encoded.trim().to_owned());
        } else if let Some((_, credential)) = value.split_once(' ') {
            found.push(credential.trim().to_owned());
        }
    }
    for (_, value) in &target.headers {
        if let Ok(text) = value.to_str() {
            found.push(text.to_owned());
        }
    }
    found.retain(|s| s.len() >= SHORTEST);
    // Longest first, so a value containing another is masked whole.
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found.dedup();
    found
}

/// `text` with every occurrence of a secret masked.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

/// Masks `secrets` in the answer's headers and body excerpt.
pub fn redact_answer(answer: &mut Answer, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    answer.body_excerpt = redact(&answer.body_excerpt, secrets);
    if let Value::Object(headers) = &mut answer.headers {
        for value in headers.values_mut() {
            if let Value::String(text) = value {
                *text = redact(text, secrets);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_of_every_secret_is_masked() {
        let secrets = vec!["s3cr3t-token-value".to_owned(), "hunter22".to_owned()];
        let echoed = "{\"authorization\": \"Bearer s3cr3t-token-value\", \"x-key\": \"hunter22\", \"again\": \"hunter22\"}";
        let clean = redact(echoed, &secrets);
        assert!(
            !clean.contains("s3cr3t") && !clean.contains("hunter22"),
            "{clean}"
        );
        assert_eq!(clean.matches(MASK).count(), 3);
        assert_eq!(redact("nothing to hide", &secrets), "nothing to hide");
    }
}
