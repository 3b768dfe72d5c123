//! A webhook as the sender needs it: URL, timeout, decrypted credentials and signing secrets,
//! and what to do on failure. Built once per webhook version and cached by the worker, so the
//! hot path never decrypts or queries settings.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use reqwest::header::{HeaderName, HeaderValue};

use super::masking;
use crate::domain::secret_box::SecretBox;
use crate::model::webhook::{self, Webhook};
use crate::standards::{PayloadFormat, StandardsSettings};
use crate::webhooks::retry::RetryPolicy;
use crate::webhooks::service::{
    SEAL_AUTH_HEADER, SEAL_BASIC_PASSWORD, SEAL_HEADER_VALUE, SEAL_SIGNING_SECRET,
};
use crate::webhooks::signing::SigningSecret;

pub use super::masking::MASK;

#[derive(Debug, Clone)]
pub struct Target {
    pub webhook_id: i64,
    pub name: String,
    pub updated_at: DateTime<Utc>,
    pub url: url::Url,
    pub timeout: Duration,
    /// The `Authorization` value (Basic or verbatim), marked sensitive.
    pub authorization: Option<HeaderValue>,
    /// How the Authorization header appears in the attempt history (see `masking`).
    pub authorization_masked: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub secret: Option<SigningSecret>,
    /// The rotated-out secret and when it stops signing.
    pub previous_secret: Option<(SigningSecret, DateTime<Utc>)>,
    pub retry: RetryPolicy,
    pub disable_on_client_error: bool,
    pub disable_when_exhausted: bool,
    pub batched: bool,
    /// Requests in flight at once toward this receiver (for the ramp after recovery).
    pub max_in_flight: i32,
    /// The body's format; xAPI targets post to `{endpoint}/statements`.
    pub format: PayloadFormat,
    /// Set when `format` is a standard.
    pub standards: Option<StandardsSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    /// Stored settings that cannot be used (a secret sealed with another key, a bad URL).
    #[error("{0}")]
    Unusable(String),
}

impl Target {
    /// Loads and decrypts a webhook's settings; `None` when it no longer exists.
    pub fn load(
        conn: &mut PgConnection,
        webhook_id: i64,
        secrets: &SecretBox,
    ) -> Result<Option<Self>, TargetError> {
        let Some(hook) = webhook::find(conn, webhook_id)? else {
            return Ok(None);
        };
        let headers = webhook::headers_of(conn, webhook_id)?;
        let open = |purpose: &str, sealed: &[u8]| {
            secrets.open(purpose, sealed).map_err(|_| {
                TargetError::Unusable(
                    "a stored secret of this webhook cannot be decrypted: HERALD_SECRET_KEY differs from the key it was saved with".into(),
                )
            })
        };
        let (authorization, authorization_masked) = match hook.auth_kind.as_str() {
            "basic" => {
                use base64::Engine;
                let password = match &hook.basic_password_enc {
                    Some(sealed) => open(SEAL_BASIC_PASSWORD, sealed)?,
                    None => String::new(),
                };
                let username = hook.basic_username.clone().unwrap_or_default();
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                (
                    Some(sensitive(&format!("Basic {encoded}"))?),
                    Some(masking::basic(&username)),
                )
            }
            "header" => match &hook.auth_header_enc {
                Some(sealed) => {
                    let value = open(SEAL_AUTH_HEADER, sealed)?;
                    let masked = masking::authorization(&value);
                    (Some(sensitive(&value)?), Some(masked))
                }
                None => (None, None),
            },
            _ => (None, None),
        };
        let mut custom = Vec::with_capacity(headers.len());
        for header in &headers {
            let name = HeaderName::from_bytes(header.name.as_bytes())
                .map_err(|_| TargetError::Unusable(format!("bad header name {:?}", header.name)))?;
            let value = sensitive(&open(SEAL_HEADER_VALUE, &header.value_enc)?)?;
            custom.push((name, value));
        }
        let secret = match (&hook.signing_enabled, &hook.signing_secret_enc) {
            (true, Some(sealed)) => Some(SigningSecret::from_stored(open(
                SEAL_SIGNING_SECRET,
                sealed,
            )?)),
            _ => None,
        };
        let previous_secret = match (
            hook.signing_enabled,
            &hook.previous_signing_secret_enc,
            hook.previous_secret_expires_at,
        ) {
            (true, Some(sealed), Some(until)) => Some((
                SigningSecret::from_stored(open(SEAL_SIGNING_SECRET, sealed)?),
                until,
            )),
            _ => None,
        };
        Ok(Some(Self::from_parts(
            &hook,
            authorization,
            authorization_masked,
            custom,
            secret,
            previous_secret,
        )?))
    }

    fn from_parts(
        hook: &Webhook,
        authorization: Option<HeaderValue>,
        authorization_masked: Option<String>,
        headers: Vec<(HeaderName, HeaderValue)>,
        secret: Option<SigningSecret>,
        previous_secret: Option<(SigningSecret, DateTime<Utc>)>,
    ) -> Result<Self, TargetError> {
        let format = hook.payload_format();
        let standards = hook.standards_settings();
        if format.is_standard() && standards.is_none() {
            return Err(TargetError::Unusable(
                "the payload format needs the actor home page and the activity base IRI".into(),
            ));
        }
        let endpoint = url::Url::parse(&hook.endpoint_url).map_err(|err| {
            TargetError::Unusable(format!("the endpoint URL is not valid: {err}"))
        })?;
        let url = if format == PayloadFormat::Xapi {
            statements_resource(&endpoint)
        } else {
            endpoint
        };
        Ok(Self {
            webhook_id: hook.id,
            name: hook.name.clone(),
            updated_at: hook.updated_at,
            url,
            timeout: Duration::from_secs(hook.timeout_seconds.max(1) as u64),
            authorization,
            authorization_masked,
            headers,
            secret,
            previous_secret,
            retry: hook.retry(),
            disable_on_client_error: hook.on_client_error == "disable",
            disable_when_exhausted: hook.disable_when_exhausted,
            batched: hook.dispatch_mode == "batched",
            max_in_flight: hook.max_in_flight,
            format,
            standards,
        })
    }

    /// The secrets that sign a request sent at `now`: the current one, and the rotated-out
    /// one while its overlap lasts.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<SigningSecret> {
        let mut secrets: Vec<SigningSecret> = self.secret.iter().cloned().collect();
        if let Some((previous, until)) = &self.previous_secret
            && *until > now
        {
            secrets.push(previous.clone());
        }
        secrets
    }
}

/// An LRS's Statement Resource: `{endpoint}/statements` (the endpoint is the LRS's base,
/// as LRS products and LMS plugins name it).
pub fn statements_resource(endpoint: &url::Url) -> url::Url {
    let mut url = endpoint.clone();
    let path = format!("{}/statements", endpoint.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

fn sensitive(value: &str) -> Result<HeaderValue, TargetError> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| TargetError::Unusable("a stored header value is not valid".into()))?;
    value.set_sensitive(true);
    Ok(value)
}
