//! Webhooks as JSON: the request body (turned into the same `WebhookInput` the console form
//! fills, so every rule is checked by one parser) and the response (secrets never included).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::webhook::Webhook;
use crate::webhooks::flow_state::{Flow, FlowState};
use crate::webhooks::input::WebhookInput;

/// A webhook as sent by an API client. Absent fields take the defaults on create and PUT, and
/// keep the stored value on PATCH; secrets are write-only. A blank or absent secret keeps the
/// stored one only while the endpoint keeps its scheme, host and port: a change that would carry
/// a stored secret to another origin gets 422 naming `basic_password`, `auth_header` or
/// `headers`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub endpoint_url: Option<String>,
    pub enabled: Option<bool>,
    pub all_events: Option<bool>,
    pub events: Option<Vec<String>>,
    pub dispatch_mode: Option<String>,
    pub batch_window_minutes: Option<i64>,
    pub batch_max_events: Option<i64>,
    pub auth_kind: Option<String>,
    pub basic_username: Option<String>,
    pub basic_password: Option<String>,
    pub auth_header: Option<String>,
    pub headers: Option<Vec<HeaderRequest>>,
    pub signing_enabled: Option<bool>,
    pub retry_policy: Option<String>,
    pub retry_initial_seconds: Option<i64>,
    pub retry_factor: Option<f64>,
    pub retry_max_delay_seconds: Option<i64>,
    pub retry_max_attempts: Option<i64>,
    pub on_client_error: Option<String>,
    pub disable_when_exhausted: Option<bool>,
    pub timeout_seconds: Option<i64>,
    /// Requests in flight at once toward the receiver, across all workers: 1 to 256 (default 8).
    pub max_in_flight: Option<i64>,
    /// Requests per second toward the receiver: 1 to 10000; `null` = no limit (the default).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub rate_limit_per_second: Option<Option<i64>>,
    /// `herald` (default), `xapi`, `caliper_1_1` or `caliper_1_2`.
    pub payload_format: Option<String>,
    /// With xAPI or Caliper: the LMS home page of learner accounts (`https://lms.example.edu`).
    pub actor_home_page: Option<String>,
    /// With xAPI or Caliper: the base of activity IRIs (`https://lms.example.edu/xapi`).
    pub activity_base_iri: Option<String>,
}

/// A field that may be sent as `null`: `Some(None)` then, and `None` only when absent (with
/// `#[serde(default)]`), so PATCH can tell "clear it" from "keep it".
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderRequest {
    pub name: String,
    /// Blank keeps the stored value of a header with this name (not across an origin change).
    #[serde(default)]
    pub value: String,
}

impl WebhookRequest {
    /// Overlays the fields present onto `base` (the defaults, or the stored webhook).
    pub fn apply_to(self, mut base: WebhookInput) -> WebhookInput {
        let flag = |on: bool| on.then(|| "on".to_owned());
        if let Some(v) = self.name {
            base.name = v;
        }
        if let Some(v) = self.description {
            base.description = v;
        }
        if let Some(v) = self.endpoint_url {
            base.endpoint_url = v;
        }
        if let Some(v) = self.enabled {
            base.enabled = flag(v);
        }
        if let Some(v) = self.all_events {
            base.all_events = flag(v);
        }
        if let Some(v) = self.events {
            base.events = v;
        }
        if let Some(v) = self.dispatch_mode {
            base.dispatch_mode = v;
        }
        if let Some(v) = self.batch_window_minutes {
            base.batch_window_minutes = v.to_string();
        }
        if let Some(v) = self.batch_max_events {
            base.batch_max_events = v.to_string();
        }
        if let Some(v) = self.auth_kind {
            base.auth_kind = v;
        }
        if let Some(v) = self.basic_username {
            base.basic_username = v;
        }
        if let Some(v) = self.basic_password {
            base.basic_password = v;
        }
        if let Some(v) = self.auth_header {
            base.auth_header = v;
        }
        if let Some(headers) = self.headers {
            base.header_name = headers.iter().map(|h| h.name.clone()).collect();
            base.header_value = headers.into_iter().map(|h| h.value).collect();
        }
        if let Some(v) = self.signing_enabled {
            base.signing_enabled = flag(v);
        }
        if let Some(v) = self.retry_policy {
            base.retry_policy = v;
        }
        if let Some(v) = self.retry_initial_seconds {
            base.retry_initial_seconds = v.to_string();
        }
        if let Some(v) = self.retry_factor {
            base.retry_factor = v.to_string();
        }
        if let Some(v) = self.retry_max_delay_seconds {
            base.retry_max_delay_seconds = v.to_string();
        }
        if let Some(v) = self.retry_max_attempts {
            base.retry_max_attempts = v.to_string();
        }
        if let Some(v) = self.on_client_error {
            base.on_client_error = v;
        }
        if let Some(v) = self.disable_when_exhausted {
            base.disable_when_exhausted = flag(v);
        }
        if let Some(v) = self.timeout_seconds {
            base.timeout_seconds = v.to_string();
        }
        if let Some(v) = self.max_in_flight {
            base.max_in_flight = v.to_string();
        }
        if let Some(v) = self.rate_limit_per_second {
            base.rate_limit_per_second = v.map(|v| v.to_string()).unwrap_or_default();
        }
        if let Some(v) = self.payload_format {
            base.payload_format = v;
        }
        if let Some(v) = self.actor_home_page {
            base.actor_home_page = v;
        }
        if let Some(v) = self.activity_base_iri {
            base.activity_base_iri = v;
        }
        base
    }
}

/// A webhook as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub endpoint_url: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_automatically: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub all_events: bool,
    pub events: Vec<String>,
    pub dispatch_mode: String,
    pub batch_window_minutes: Option<i32>,
    pub batch_max_events: Option<i32>,
    pub auth_kind: String,
    pub basic_username: Option<String>,
    /// Names only: values are write-only.
    pub header_names: Vec<String>,
    pub signing_enabled: bool,
    /// `whsec_••••••••abcd`; the whole secret only in the answer that created it.
    pub signing_secret_masked: Option<String>,
    pub retry_policy: String,
    pub retry_initial_seconds: i32,
    pub retry_factor: f64,
    pub retry_max_delay_seconds: i32,
    pub retry_max_attempts: i32,
    pub on_client_error: String,
    pub disable_when_exhausted: bool,
    pub timeout_seconds: i32,
    /// Requests in flight at once toward the receiver, across all workers.
    pub max_in_flight: i32,
    /// Requests per second toward the receiver; `null` = no limit.
    pub rate_limit_per_second: Option<i32>,
    /// `herald`, `xapi`, `caliper_1_1` or `caliper_1_2`.
    pub payload_format: String,
    pub actor_home_page: Option<String>,
    pub activity_base_iri: Option<String>,
    /// How deliveries flow to the receiver right now.
    pub flow: FlowView,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookView {
    pub fn new(
        hook: Webhook,
        events: Vec<String>,
        header_names: Vec<String>,
        signing_secret_masked: Option<String>,
        flow: &Flow,
    ) -> Self {
        Self {
            id: hook.id,
            disabled_automatically: hook.disabled_automatically(),
            name: hook.name,
            description: hook.description,
            endpoint_url: hook.endpoint_url,
            enabled: hook.enabled,
            disabled_reason: hook.disabled_reason,
            disabled_at: hook.disabled_at,
            all_events: hook.all_events,
            events,
            dispatch_mode: hook.dispatch_mode,
            batch_window_minutes: hook.batch_window_minutes,
            batch_max_events: hook.batch_max_events,
            auth_kind: hook.auth_kind,
            basic_username: hook.basic_username,
            header_names,
            signing_enabled: hook.signing_enabled,
            signing_secret_masked,
            retry_policy: hook.retry_policy,
            retry_initial_seconds: hook.retry_initial_seconds,
            retry_factor: hook.retry_factor,
            retry_max_delay_seconds: hook.retry_max_delay_seconds,
            retry_max_attempts: hook.retry_max_attempts,
            on_client_error: hook.on_client_error,
            disable_when_exhausted: hook.disable_when_exhausted,
            timeout_seconds: hook.timeout_seconds,
            max_in_flight: hook.max_in_flight,
            rate_limit_per_second: hook.rate_limit_per_second,
            payload_format: crate::standards::PayloadFormat::from_column(&hook.payload_format)
                .as_str()
                .to_owned(),
            actor_home_page: hook.actor_home_page,
            activity_base_iri: hook.activity_base_iri,
            flow: FlowView::from(flow),
            created_by: hook.created_by,
            updated_by: hook.updated_by,
            created_at: hook.created_at,
            updated_at: hook.updated_at,
        }
    }
}

/// `healthy`: sending normally. `failing`: the receiver failed too often in a row; queued
/// deliveries are held (uncharged, in order) while one probe goes out at growing intervals.
/// `paused`: the receiver answered 429 with Retry-After; nothing is sent before `paused_until`.
/// `recovering`: a probe got through; sending ramps up from one request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FlowStateName {
    Healthy,
    Failing,
    Paused,
    Recovering,
}

/// A webhook's delivery flow now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlowView {
    pub state: FlowStateName,
    /// Failed attempts in a row (network errors, timeouts, 5xx, 408).
    pub consecutive_failures: i32,
    /// When it went failing (only while `failing`).
    pub failing_since: Option<DateTime<Utc>>,
    /// When the next probe may go out (only while `failing`; a past time means with the next
    /// due delivery).
    pub next_probe_at: Option<DateTime<Utc>>,
    /// Nothing is sent before this time (the receiver's Retry-After); `null` when not paused.
    pub paused_until: Option<DateTime<Utc>>,
    /// While `recovering`: how many requests may be in flight now (doubling with each success
    /// up to `max_in_flight`).
    pub recovering_in_flight: Option<i32>,
}

impl From<&Flow> for FlowView {
    fn from(flow: &Flow) -> Self {
        let (state, recovering_in_flight) = match flow.state {
            FlowState::Healthy => (FlowStateName::Healthy, None),
            FlowState::Failing { .. } => (FlowStateName::Failing, None),
            FlowState::Paused { .. } => (FlowStateName::Paused, None),
            FlowState::Recovering { in_flight } => (FlowStateName::Recovering, Some(in_flight)),
        };
        Self {
            state,
            consecutive_failures: flow.consecutive_failures,
            failing_since: flow.failing_since(),
            next_probe_at: flow.next_probe_at(),
            paused_until: flow.paused_until,
            recovering_in_flight,
        }
    }
}
