//! The built-in test receiver ("inbox"): somewhere a webhook can send to without an outside
//! service, that keeps each request it gets and says whether its Standard Webhooks signature
//! verified against the signing secret of the webhook(s) pointing at it.
//!
//! Webhooks point at `https://inbox.herald.invalid/{token}`. `.invalid` is reserved (RFC 6761)
//! and never resolves, so that URL can only ever mean Herald's own inbox: the delivery path
//! recognises it and hands the request over inside the process (see [`local`]), with no
//! network connection and no exception to the outbound guard. Anything else (curl, another
//! tool, a tampered copy) can post to the public `POST /inbox/{token}` of the console.

pub mod local;
pub mod rate;
pub mod receive;
pub mod verify;

use rand::RngCore;

/// The reserved host of inbox URLs.
pub const HOST: &str = "inbox.herald.invalid";

/// Largest request body an inbox takes (larger: 413).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An inbox's token: 24 random bytes as 48 lowercase hex digits (nothing a SQL `LIKE` or a
/// URL would treat specially).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxToken(String);

impl InboxToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A token as it appears in a path; anything else is no inbox.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 48 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The endpoint URL a webhook uses to send to this inbox.
    pub fn webhook_url(&self) -> String {
        format!("https://{HOST}/{}", self.0)
    }
}

/// The inbox a webhook URL points at, when it is an inbox URL.
pub fn token_in(url: &url::Url) -> Option<InboxToken> {
    if url.host_str() != Some(HOST) {
        return None;
    }
    InboxToken::parse(url.path().trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = InboxToken::generate();
        assert_eq!(InboxToken::parse(a.as_str()), Some(a.clone()));
        assert_ne!(a, InboxToken::generate());
    }

    #[test]
    fn only_the_reserved_host_with_a_token_is_an_inbox_url() {
        let token = InboxToken::generate();
        let url = url::Url::parse(&token.webhook_url()).unwrap();
        assert_eq!(token_in(&url), Some(token.clone()));
        let elsewhere =
            url::Url::parse(&format!("https://example.com/{}", token.as_str())).unwrap();
        assert_eq!(token_in(&elsewhere), None);
        let bad = url::Url::parse(&format!("https://{HOST}/not-a-token")).unwrap();
        assert_eq!(token_in(&bad), None);
        assert_eq!(InboxToken::parse("../etc"), None);
    }
}
