//! What a person (or, later, an API client) submits for a webhook, as plain strings, and its
//! parsing into a [`WebhookSpec`]: every rule lives here so no entry point can differ.

use serde::Deserialize;
use validator::Validate;

use super::dispatch::DispatchTiming;
use super::endpoint::EndpointUrl;
use super::headers::{self, CustomHeader};
use super::limits::DeliveryLimits;
use super::payload_format::FormatChoice;
use super::receiver_auth::ReceiverAuth;
use super::retry::RetryPolicy;
use crate::model::webhook::Webhook;
use crate::validation::FieldErrors;

/// `Debug` is written by hand below so that typed secrets never reach a log.
#[derive(Clone, Default, Deserialize, Validate)]
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
    /// A checkbox of the console form: saving with no event chosen was meant.
    pub no_events_ok: Option<String>,
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
    /// `herald` (blank), `xapi`, `caliper_1_1` or `caliper_1_2`.
    pub payload_format: String,
    pub actor_home_page: String,
    pub activity_base_iri: String,
    pub enabled: Option<String>,
}

impl std::fmt::Debug for WebhookInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |secret: &str| if secret.is_empty() { "" } else { "[redacted]" };
        f.debug_struct("WebhookInput")
            .field("name", &self.name)
            .field("endpoint_url", &self.endpoint_url)
            .field("auth_kind", &self.auth_kind)
            .field("basic_username", &self.basic_username)
            .field("basic_password", &masked(&self.basic_password))
            .field("auth_header", &masked(&self.auth_header))
            .field("header_name", &self.header_name)
            .field(
                "header_value",
                &self
                    .header_value
                    .iter()
                    .map(|v| masked(v))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// What the console says when neither "all events" nor any event is chosen.
pub const NO_EVENTS: &str = "Choose at least one event, or \"All events\": with none, this webhook receives nothing. To save it without events for now, tick \"Save without events for now\".";

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
    pub format: FormatChoice,
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

/// Records a parse failure under `field` whatever else that field already has.
fn keep_all<T>(errors: &mut FieldErrors, field: &str, parsed: Result<T, String>) -> Option<T> {
    parsed.map_err(|message| errors.add(field, message)).ok()
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
            payload_format: "herald".into(),
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
            // Stored without events: that was confirmed when it was saved.
            no_events_ok: on(!webhook.all_events && events.is_empty()),
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
            payload_format: webhook.payload_format().as_str().into(),
            actor_home_page: webhook.actor_home_page.clone().unwrap_or_default(),
            activity_base_iri: webhook.activity_base_iri.clone().unwrap_or_default(),
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
            "no_events_ok" => checked(&self.no_events_ok),
            _ => false,
        }
    }

    /// The console's rule: no events at all must be meant (the API keeps accepting it).
    pub fn missing_events(&self) -> Option<&'static str> {
        let none_chosen =
            !self.wants_all_events() && self.events.iter().all(|e| e.trim().is_empty());
        (none_chosen && !checked(&self.no_events_ok)).then_some(NO_EVENTS)
    }

    pub fn has_event(&self, name: &str) -> bool {
        self.events.iter().any(|e| e == name)
    }

    /// The custom-header rows as (name, value): the entered ones plus blank rows to add more.
    /// A value is only what was typed in this submission (re-shown when the form comes back
    /// with errors); stored values are write-only and never sent back to the browser.
    pub fn header_rows(&self) -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = self
            .header_name
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let value = self.header_value.get(i).cloned().unwrap_or_default();
                (name.clone(), value)
            })
            .filter(|(name, value)| !name.trim().is_empty() || !value.is_empty())
            .collect();
        rows.extend(std::iter::repeat_n((String::new(), String::new()), 3));
        rows
    }

    /// Checks every field, collecting a message per bad field.
    pub fn parse(&self, ctx: &ParseContext<'_>) -> Result<WebhookSpec, FieldErrors> {
        let mut errors = self.validate().map_or_else(
            |e| FieldErrors::from_validation(&e),
            |_| FieldErrors::default(),
        );
        // Every problem of a field is reported, so these run even after a length error.
        let name = keep_all(
            &mut errors,
            "name",
            crate::validation::single_line(&self.name).map(str::to_owned),
        );
        let description = keep_all(
            &mut errors,
            "description",
            crate::validation::multi_line(&self.description).map(str::to_owned),
        );
        let endpoint = match crate::validation::single_line(&self.endpoint_url) {
            Err(message) => {
                errors.add("endpoint_url", message);
                None
            }
            Ok(url) => match EndpointUrl::parse(url, ctx.allow_http) {
                Ok(url) => Some(url),
                Err(problems) => {
                    for message in problems {
                        errors.add("endpoint_url", message);
                    }
                    None
                }
            },
        };
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
            let unknown: Vec<&String> =
                chosen.iter().filter(|e| !ctx.catalog.contains(e)).collect();
            for name in &unknown {
                errors.add("events", format!("{name} is not in the event catalog."));
            }
            unknown.is_empty().then_some(EventSelection::Only(chosen))
        };
        let dispatch = match DispatchTiming::parse(
            &self.dispatch_mode,
            &self.batch_window_minutes,
            &self.batch_max_events,
        ) {
            Ok(dispatch) => Some(dispatch),
            Err(problems) => {
                for (field, message) in problems {
                    errors.add(field, message);
                }
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
            Err(problems) => {
                for (field, message) in problems {
                    errors.add(field, message);
                }
                None
            }
        };
        let custom_headers =
            match headers::parse_rows(&self.header_name, &self.header_value, ctx.header_names) {
                Ok(headers) => Some(headers),
                Err(problems) => {
                    for message in problems {
                        errors.add("headers", message);
                    }
                    None
                }
            };
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
        let format = match FormatChoice::parse(
            &self.payload_format,
            &self.actor_home_page,
            &self.activity_base_iri,
        ) {
            Ok(format) => Some(format),
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
            format,
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
                Some(format),
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
                format,
                enabled: checked(&self.enabled),
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_typed_secrets() {
        let input = WebhookInput {
            basic_password: "typed-basic-password".into(),
            auth_header: "Bearer typed-value".into(),
            header_name: vec!["X-Api-Key".into()],
            header_value: vec!["typed-header-value".into()],
            ..WebhookInput::defaults()
        };
        let debug = format!("{input:?}");
        for secret in ["typed-basic-password", "typed-value", "typed-header-value"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("X-Api-Key") && debug.contains("[redacted]"));
    }

    #[test]
    fn no_events_must_be_confirmed_unless_all_events_or_some_are_chosen() {
        let mut input = WebhookInput::defaults();
        assert_eq!(input.missing_events(), Some(NO_EVENTS));
        input.no_events_ok = Some("on".into());
        assert_eq!(input.missing_events(), None);
        let chosen = WebhookInput {
            events: vec!["course.completed".into()],
            ..WebhookInput::defaults()
        };
        assert_eq!(chosen.missing_events(), None);
        let all = WebhookInput {
            all_events: Some("on".into()),
            ..WebhookInput::defaults()
        };
        assert_eq!(all.missing_events(), None);
    }
}
