//! Sends one signed request and captures what happened: the request headers (secrets masked),
//! the response's status, headers and first 16 KiB, or the kind of failure.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::outbound::{GuardedResolver, TargetPolicy, refusal_in};
use super::signature::signature_header;
use super::target::{MASK, Target};

pub const USER_AGENT_VALUE: &str = concat!("Herald/", env!("CARGO_PKG_VERSION"));
/// How much of a response body the attempt history keeps.
pub const BODY_EXCERPT_BYTES: usize = 16 * 1024;
const MAX_RECORDED_HEADERS: usize = 64;

/// The one HTTP client every delivery shares: keep-alive, rustls, no redirects, and the
/// guarded resolver.
pub fn build_client(policy: &TargetPolicy, max_idle_per_host: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(std::sync::Arc::new(GuardedResolver {
            policy: policy.clone(),
        }))
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(max_idle_per_host)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .build()
        .expect("the HTTP client configuration is static and valid")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Dns,
    Connect,
    Tls,
    Timeout,
    /// The receiver broke the HTTP exchange (bad response, connection reset mid-way).
    Http,
    RefusedTarget,
    /// Herald could not prepare the request (for example an undecryptable secret).
    Io,
    /// The event cannot be written in the webhook's payload format (an xAPI statement needs
    /// a learner, say): never sent, dead at once.
    Unmappable,
}

impl ErrorKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Http => "http",
            ErrorKind::RefusedTarget => "refused_target",
            ErrorKind::Io => "io",
            ErrorKind::Unmappable => "unmappable",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Value,
    pub body_excerpt: String,
    pub retry_after: Option<Duration>,
}

/// What one attempt produced.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub request_headers: Value,
    pub result: Result<Answer, Failure>,
}

impl Exchange {
    /// An attempt that never left Herald.
    pub fn not_sent(kind: ErrorKind, message: String) -> Self {
        Self {
            started_at: Utc::now(),
            duration: Duration::ZERO,
            request_headers: Value::Object(Map::new()),
            result: Err(Failure { kind, message }),
        }
    }
}

/// Posts `body` to the target as delivery `delivery_id`, signed for `now`.
pub async fn send(
    client: &reqwest::Client,
    policy: &TargetPolicy,
    target: &Target,
    delivery_id: Uuid,
    body: Vec<u8>,
) -> Exchange {
    let started_at = Utc::now();
    let (headers, recorded) = request_headers(target, delivery_id, &body, started_at);
    if let Err(refused) = policy.check_url(&target.url) {
        return Exchange {
            started_at,
            duration: Duration::ZERO,
            request_headers: recorded,
            result: Err(Failure {
                kind: ErrorKind::RefusedTarget,
                message: refused.to_string(),
            }),
        };
    }
    let clock = Instant::now();
    let result = async {
        let response = client
            .post(target.url.clone())
            .headers(headers)
            .timeout(target.timeout)
            .body(body)
            .send()
            .await?;
        read_answer(response).await
    }
    .await
    .map(|mut answer| {
        super::echo_redaction::redact_answer(
            &mut answer,
            &super::echo_redaction::secrets_of(target),
        );
        answer
    })
    .map_err(|err| classify(&err));
    Exchange {
        started_at,
        duration: clock.elapsed(),
        request_headers: recorded,
        result,
    }
}

/// The headers a request to `target` carries, as the history shows them (secrets masked,
/// signature in clear): what the built-in inbox stores.
pub fn recorded_request_headers(
    target: &Target,
    delivery_id: Uuid,
    body: &[u8],
    now: DateTime<Utc>,
) -> Value {
    request_headers(target, delivery_id, body, now).1
}

/// The headers to send, and the same headers as the history shows them (secrets masked).
fn request_headers(
    target: &Target,
    delivery_id: Uuid,
    body: &[u8],
    now: DateTime<Utc>,
) -> (HeaderMap, Value) {
    let mut headers = HeaderMap::with_capacity(8 + target.headers.len());
    let mut recorded = Map::new();
    let mut put = |name: &str, value: HeaderValue, shown: String| {
        recorded.insert(name.to_owned(), Value::String(shown));
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("static names"),
            value,
        );
    };
    put(
        CONTENT_TYPE.as_str(),
        HeaderValue::from_static("application/json"),
        "application/json".into(),
    );
    put(
        USER_AGENT.as_str(),
        HeaderValue::from_static(USER_AGENT_VALUE),
        USER_AGENT_VALUE.into(),
    );
    let message_id = delivery_id.hyphenated().to_string();
    let timestamp = now.timestamp();
    put(
        "webhook-id",
        HeaderValue::from_str(&message_id).expect("a uuid is a valid header"),
        message_id.clone(),
    );
    put(
        "webhook-timestamp",
        HeaderValue::from(timestamp),
        timestamp.to_string(),
    );
    if target.format == crate::standards::PayloadFormat::Xapi {
        put(
            "x-experience-api-version",
            HeaderValue::from_static(crate::standards::xapi_out::VERSION),
            crate::standards::xapi_out::VERSION.into(),
        );
    }
    let secrets = target.signing_secrets(now);
    if !secrets.is_empty() {
        let signature = signature_header(&secrets, &message_id, timestamp, body);
        put(
            "webhook-signature",
            HeaderValue::from_str(&signature).expect("base64 is a valid header"),
            signature,
        );
    }
    for (name, value) in &target.headers {
        recorded.insert(name.as_str().to_owned(), Value::String(MASK.into()));
        headers.insert(name.clone(), value.clone());
    }
    if let Some(value) = &target.authorization {
        recorded.insert(
            AUTHORIZATION.as_str().to_owned(),
            Value::String(target.authorization_masked.clone().unwrap_or(MASK.into())),
        );
        headers.insert(AUTHORIZATION, value.clone());
    }
    (headers, Value::Object(recorded))
}

async fn read_answer(mut response: reqwest::Response) -> Result<Answer, reqwest::Error> {
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in response.headers().iter().take(MAX_RECORDED_HEADERS) {
        let text: String = String::from_utf8_lossy(value.as_bytes())
            .chars()
            .take(1024)
            .collect();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&text);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(text));
            }
        }
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Utc::now()));
    let mut excerpt = Vec::new();
    while excerpt.len() < BODY_EXCERPT_BYTES {
        match response.chunk().await? {
            Some(chunk) => excerpt.extend_from_slice(&chunk),
            None => break,
        }
    }
    excerpt.truncate(BODY_EXCERPT_BYTES);
    Ok(Answer {
        status,
        headers: Value::Object(headers),
        body_excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
        retry_after,
    })
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

fn classify(err: &reqwest::Error) -> Failure {
    if let Some(refused) = refusal_in(err) {
        return Failure {
            kind: ErrorKind::RefusedTarget,
            message: refused.to_string(),
        };
    }
    let message = describe(err);
    let lower = message.to_ascii_lowercase();
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup")
        || lower.contains("has no addresses")
        || lower.contains("name or service not known")
    {
        ErrorKind::Dns
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        ErrorKind::Tls
    } else if err.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Http
    };
    Failure { kind, message }
}

/// The error and its causes, without the URL (which may carry a token in its query).
fn describe(err: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        let text = text.split(" for url (").next().unwrap_or(&text).to_owned();
        if !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
