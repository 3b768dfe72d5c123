//! What a person (or, later, an API client) submits for a webhook, as plain strings, and its
//! parsing into a [`WebhookSpec`]: every rule lives here so no entry point can differ.

use serde::Deserialize;
use validator::Validate;

use super::dispatch::DispatchTiming;
use super::endpoint::EndpointUrl;
use super::headers::{self, CustomHeader};
use super::limits::DeliveryLimits;
use super::receiver_auth::ReceiverAuth;
use super::retry::RetryPolicy;
use crate::model::webhook::Webhook;
use crate::validation::FieldErrors;

#[derive(Debug, Clone, Default, Deserialize, Validate)]
#[serde(default)]
pub struct WebhookInput {
    #[validate(length(min = 1, max = 120, message = "Enter a name of 1 to 120 characters."))]
    pub name: String,
    #[validate(length(max = 2000, message = "Use at most 2000 characters."))]
    pub description: String,
    pub endpoint_url: String,
    /// A checkbox: present ("on") when every event, including future ones, is wanted.
    pub all_events: Option<String>,
    pub events: Vec<String>,
    pub dispatch_mode: String,
    pub batch_window_minutes: String,
    pub batch_max_events: String,
    pub auth_kind: String,
    pub basic_username: String,
    pub basic_password: String,
    pub auth_header: String,
    pub header_name: Vec<String>,
    pub header_value: Vec<String>,
    pub signing_enabled: Option<String>,
    pub retry_policy: String,
    pub retry_initial_seconds: String,
    pub retry_factor: String,
    pub retry_max_delay_seconds: String,
    pub retry_max_attempts: String,
    pub on_client_error: String,
    pub disable_when_exhausted: Option<String>,
    pub timeout_seconds: String,
    /// Blank = the default (8).
    pub max_in_flight: String,
    /// Blank = no limit.
    pub rate_limit_per_second: String,
    pub enabled: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSelection {
    All,
    Only(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientErrorAction {
    DeadLetter,
    Disable,
}

impl ClientErrorAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::DeadLetter => "dead_letter",
            Self::Disable => "disable",
        }
    }
}

/// A complete, valid set of webhook settings.
#[derive(Debug, Clone)]
pub struct WebhookSpec {
    pub name: String,
    pub description: String,
    pub endpoint: EndpointUrl,
    pub events: EventSelection,
    pub dispatch: DispatchTiming,
    pub auth: ReceiverAuth,
    pub headers: Vec<CustomHeader>,
    pub signing_enabled: bool,
    pub retry: RetryPolicy,
    pub on_client_error: ClientErrorAction,
    pub disable_when_exhausted: bool,
    pub timeout_seconds: i32,
    pub limits: DeliveryLimits,
    pub enabled: bool,
}

/// What parsing needs to know besides the input.
pub struct ParseContext<'a> {
    pub allow_http: bool,
    /// Every event type name in the catalog.
    pub catalog: &'a [String],
    /// Secrets already stored (on edit), which blank fields keep.
    pub has_auth_header: bool,
    pub header_names: &'a [String],
}

fn checked(flag: &Option<String>) -> bool {
    flag.as_deref()
        .is_some_and(|v| matches!(v, "on" | "true" | "1" | "yes"))
}

impl WebhookInput {
    /// The form a new webhook starts from: the documented defaults.
    pub fn defaults() -> Self {
        Self {
            dispatch_mode: "immediate".into(),
            batch_window_minutes: "15".into(),
            batch_max_events: "100".into(),
            auth_kind: "none".into(),
            signing_enabled: Some("on".into()),
            retry_policy: "exponential".into(),
            retry_initial_seconds: "2".into(),
            retry_factor: "2".into(),
            retry_max_delay_seconds: "3600".into(),
            retry_max_attempts: "60".into(),
            on_client_error: "dead_letter".into(),
            timeout_seconds: "15".into(),
            max_in_flight: DeliveryLimits::DEFAULT_MAX_IN_FLIGHT.to_string(),
            rate_limit_per_second: String::new(),
            enabled: Some("on".into()),
            ..Default::default()
        }
    }

    /// The edit form of a stored webhook; secret fields stay blank (blank = keep).
    pub fn from_webhook(webhook: &Webhook, events: Vec<String>, header_names: Vec<String>) -> Self {
        let on = |flag: bool| flag.then(|| "on".to_owned());
        let retry = webhook.retry().columns();
        Self {
            name: webhook.name.clone(),
            description: webhook.description.clone(),
            endpoint_url: webhook.endpoint_url.clone(),
            all_events: on(webhook.all_events),
            events,
            dispatch_mode: webhook.dispatch_mode.clone(),
            batch_window_minutes: webhook.batch_window_minutes.unwrap_or(15).to_string(),
            batch_max_events: webhook.batch_max_events.unwrap_or(100).to_string(),
            auth_kind: webhook.auth_kind.clone(),
            basic_username: webhook.basic_username.clone().unwrap_or_default(),
            basic_password: String::new(),
            auth_header: String::new(),
            header_value: vec![String::new(); header_names.len()],
            header_name: header_names,
            signing_enabled: on(webhook.signing_enabled),
            retry_policy: retry.kind.into(),
            retry_initial_seconds: retry.initial_seconds.to_string(),
            retry_factor: retry.factor.to_string(),
            retry_max_delay_seconds: retry.max_delay_seconds.to_string(),
            retry_max_attempts: retry.max_attempts.to_string(),
            on_client_error: webhook.on_client_error.clone(),
            disable_when_exhausted: on(webhook.disable_when_exhausted),
            timeout_seconds: webhook.timeout_seconds.to_string(),
            max_in_flight: webhook.max_in_flight.to_string(),
            rate_limit_per_second: webhook
                .rate_limit_per_second
                .map(|r| r.to_string())
                .unwrap_or_default(),
            enabled: on(webhook.enabled),
        }
    }

    pub fn wants_all_events(&self) -> bool {
        checked(&self.all_events)
    }

    pub fn is_checked(&self, field: &str) -> bool {
        match field {
            "signing_enabled" => checked(&self.signing_enabled),
            "disable_when_exhausted" => checked(&self.disable_when_exhausted),
            "enabled" => checked(&self.enabled),
            "all_events" => checked(&self.all_events),
            _ => false,
        }
    }

    pub fn has_event(&self, name: &str) -> bool {
        self.events.iter().any(|e| e == name)
    }

    /// Names for the custom-header rows: the entered ones plus blank rows to add more.
    /// Values are write-only and never sent back to the browser.
    pub fn header_rows(&self) -> Vec<String> {
        let mut rows: Vec<String> = self
            .header_name
            .iter()
            .filter(|n| !n.trim().is_empty())
            .cloned()
            .collect();
        rows.extend(std::iter::repeat_n(String::new(), 3));
        rows
    }

    /// Checks every field, collecting a message per bad field.
    pub fn parse(&self, ctx: &ParseContext<'_>) -> Result<WebhookSpec, FieldErrors> {
        let mut errors = self.validate().map_or_else(
            |e| FieldErrors::from_validation(&e),
            |_| FieldErrors::default(),
        );
        let name = errors.check("name", || {
            crate::validation::single_line(&self.name).map(str::to_owned)
        });
        let description = errors.check("description", || {
            crate::validation::multi_line(&self.description).map(str::to_owned)
        });
        let endpoint = errors.check("endpoint_url", || {
            crate::validation::single_line(&self.endpoint_url)
                .and_then(|url| EndpointUrl::parse(url, ctx.allow_http))
        });
        let events = if self.wants_all_events() {
            Some(EventSelection::All)
        } else {
            let mut chosen: Vec<String> = self
                .events
                .iter()
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty())
                .collect();
            chosen.sort();
            chosen.dedup();
            match chosen.iter().find(|e| !ctx.catalog.contains(e)) {
                Some(unknown) => {
                    errors.add("events", format!("{unknown} is not in the event catalog."));
                    None
                }
                None => Some(EventSelection::Only(chosen)),
            }
        };
        let dispatch = match DispatchTiming::parse(
            &self.dispatch_mode,
            &self.batch_window_minutes,
            &self.batch_max_events,
        ) {
            Ok(dispatch) => Some(dispatch),
            Err((field, message)) => {
                errors.add(field, message);
                None
            }
        };
        let auth = match ReceiverAuth::parse(
            &self.auth_kind,
            &self.basic_username,
            &self.basic_password,
            &self.auth_header,
            ctx.has_auth_header,
        ) {
            Ok(auth) => Some(auth),
            Err((field, message)) => {
                errors.add(field, message);
                None
            }
        };
        let custom_headers = errors.check("headers", || {
            headers::parse_rows(&self.header_name, &self.header_value, ctx.header_names)
        });
        let retry = match RetryPolicy::parse(
            &self.retry_policy,
            &self.retry_initial_seconds,
            &self.retry_factor,
            &self.retry_max_delay_seconds,
            &self.retry_max_attempts,
        ) {
            Ok(retry) => Some(retry),
            Err(problems) => {
                for (field, message) in problems {
                    errors.add(field, message);
                }
                None
            }
        };
        let on_client_error =
            errors.check("on_client_error", || match self.on_client_error.trim() {
                "" | "dead_letter" => Ok(ClientErrorAction::DeadLetter),
                "disable" => Ok(ClientErrorAction::Disable),
                _ => Err("Choose what a 4xx answer does.".into()),
            });
        let timeout_seconds = errors.check("timeout_seconds", || {
            super::dispatch::parse_in_range(&self.timeout_seconds, 1, 30)
                .ok_or_else(|| "Enter 1 to 30 seconds.".to_owned())
        });
        let limits = match DeliveryLimits::parse(&self.max_in_flight, &self.rate_limit_per_second) {
            Ok(limits) => Some(limits),
            Err(problems) => {
                for (field, message) in problems {
                    errors.add(field, message);
                }
                None
            }
        };

        match (
            name,
            description,
            endpoint,
            events,
            dispatch,
            auth,
            custom_headers,
            retry,
            on_client_error,
            timeout_seconds,
            limits,
        ) {
            (
                Some(name),
                Some(description),
                Some(endpoint),
                Some(events),
                Some(dispatch),
                Some(auth),
                Some(headers),
                Some(retry),
                Some(on_client_error),
                Some(timeout_seconds),
                Some(limits),
            ) if errors.is_empty() => Ok(WebhookSpec {
                name,
                description,
                endpoint,
                events,
                dispatch,
                auth,
                headers,
                signing_enabled: checked(&self.signing_enabled),
                retry,
                on_client_error,
                disable_when_exhausted: checked(&self.disable_when_exhausted),
                timeout_seconds,
                limits,
                enabled: checked(&self.enabled),
            }),
            _ => Err(errors),
        }
    }
}
