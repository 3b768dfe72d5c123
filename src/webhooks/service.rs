//! Storing webhooks: create, edit, enable/disable, delete, rotate and reveal the signing secret.
//! Each runs in one transaction and writes its audit entry there; secrets are sealed here and
//! never reach the audit log.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::json;

use super::carry_over::{self, Refusal, StoredSecrets};
use super::input::{EventSelection, WebhookSpec};
use super::receiver_auth::{ReceiverAuth, SecretInput};
use super::signing::SigningSecret;
use crate::domain::secret_box::SecretBox;
use crate::model::audit::{self, Actor, Change};
use crate::model::webhook::{self, Webhook, WebhookValues};

pub const SEAL_BASIC_PASSWORD: &str = "webhooks.basic_password";
pub const SEAL_AUTH_HEADER: &str = "webhooks.auth_header";
pub const SEAL_SIGNING_SECRET: &str = "webhooks.signing_secret";
pub const SEAL_HEADER_VALUE: &str = "webhook_headers.value";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("A webhook with this name exists already.")]
    NameTaken,
    #[error("No such webhook.")]
    NotFound,
    #[error("Signing is off for this webhook.")]
    SigningOff,
    /// The endpoint's origin changed and blank fields would carry stored secrets to it: the
    /// form fields to fill in again, with their messages.
    #[error("The endpoint's host, scheme or port changed: enter the stored secrets again.")]
    SecretsNotCarriedOver(Vec<Refusal>),
    #[error(transparent)]
    Secret(#[from] crate::domain::secret_box::OpenError),
    #[error(transparent)]
    Database(#[from] DieselError),
}

fn name_taken(err: DieselError) -> WebhookError {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            WebhookError::NameTaken
        }
        other => other.into(),
    }
}

fn change<'a>(action: &'a str, webhook: &Webhook, details: serde_json::Value) -> Change<'a> {
    Change {
        action,
        target_type: "webhook",
        target_id: Some(webhook.id.to_string()),
        target_label: Some(webhook.name.clone()),
        details,
    }
}

/// The columns for `spec`, keeping stored secrets where the input left them blank.
fn values_for(
    spec: &WebhookSpec,
    existing: Option<&Webhook>,
    secrets: &SecretBox,
    actor: &Actor,
) -> WebhookValues {
    let retry = spec.retry.columns();
    let (batch_window_minutes, batch_max_events) = match spec.dispatch {
        super::dispatch::DispatchTiming::Batched {
            window_minutes,
            max_events,
        } => (Some(window_minutes), Some(max_events)),
        super::dispatch::DispatchTiming::Immediate => (None, None),
    };
    let (basic_username, basic_password_enc, auth_header_enc) = match &spec.auth {
        ReceiverAuth::None => (None, None, None),
        ReceiverAuth::Basic { username, password } => {
            let sealed = match password {
                SecretInput::Set(value) => Some(secrets.seal(SEAL_BASIC_PASSWORD, value)),
                SecretInput::Keep => existing
                    .and_then(|w| w.basic_password_enc.clone())
                    .or_else(|| Some(secrets.seal(SEAL_BASIC_PASSWORD, ""))),
            };
            (Some(username.clone()), sealed, None)
        }
        ReceiverAuth::Header { value } => {
            let sealed = match value {
                SecretInput::Set(value) => Some(secrets.seal(SEAL_AUTH_HEADER, value)),
                SecretInput::Keep => existing.and_then(|w| w.auth_header_enc.clone()),
            };
            (None, None, sealed)
        }
    };
    let (format_column, actor_home_page, activity_base_iri) = spec.format.columns();
    WebhookValues {
        name: spec.name.clone(),
        description: spec.description.clone(),
        endpoint_url: spec.endpoint.to_string(),
        all_events: spec.events == EventSelection::All,
        dispatch_mode: spec.dispatch.mode().into(),
        batch_window_minutes,
        batch_max_events,
        auth_kind: spec.auth.kind().into(),
        basic_username,
        basic_password_enc,
        auth_header_enc,
        signing_enabled: spec.signing_enabled,
        signing_secret_enc: existing.and_then(|w| w.signing_secret_enc.clone()),
        retry_policy: retry.kind.into(),
        retry_initial_seconds: retry.initial_seconds,
        retry_factor: retry.factor,
        retry_max_delay_seconds: retry.max_delay_seconds,
        retry_max_attempts: retry.max_attempts,
        on_client_error: spec.on_client_error.as_str().into(),
        disable_when_exhausted: spec.disable_when_exhausted,
        timeout_seconds: spec.timeout_seconds,
        max_in_flight: spec.limits.max_in_flight(),
        rate_limit_per_second: spec.limits.rate_limit_per_second(),
        payload_format: format_column,
        actor_home_page,
        activity_base_iri,
        updated_by: actor.name.clone(),
    }
}

fn store_subscriptions_and_headers(
    conn: &mut PgConnection,
    id: i64,
    spec: &WebhookSpec,
    existing_headers: &[webhook::StoredHeader],
    secrets: &SecretBox,
) -> QueryResult<()> {
    let events = match &spec.events {
        EventSelection::All => Vec::new(),
        EventSelection::Only(events) => events.clone(),
    };
    webhook::replace_events(conn, id, &events)?;
    let headers: Vec<(String, Vec<u8>)> = spec
        .headers
        .iter()
        .filter_map(|header| {
            let sealed = match &header.value {
                SecretInput::Set(value) => secrets.seal(SEAL_HEADER_VALUE, value),
                SecretInput::Keep => existing_headers
                    .iter()
                    .find(|h| h.name == header.name)?
                    .value_enc
                    .clone(),
            };
            Some((header.name.clone(), sealed))
        })
        .collect();
    webhook::replace_headers(conn, id, &headers)
}

/// Creates the webhook; returns the new signing secret (shown once) when signing is on.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    spec: &WebhookSpec,
    secrets: &SecretBox,
) -> Result<(Webhook, Option<SigningSecret>), WebhookError> {
    conn.transaction(|conn| {
        let mut values = values_for(spec, None, secrets, actor);
        let secret = spec.signing_enabled.then(SigningSecret::generate);
        values.signing_secret_enc = secret
            .as_ref()
            .map(|s| secrets.seal(SEAL_SIGNING_SECRET, s.expose()));
        let mut created = webhook::insert(conn, &values, &actor.name).map_err(name_taken)?;
        store_subscriptions_and_headers(conn, created.id, spec, &[], secrets)?;
        if !spec.enabled {
            created = webhook::set_enabled(
                conn,
                created.id,
                false,
                Some("Created disabled"),
                Some(&actor.name),
            )?;
        }
        audit::record(
            conn,
            actor,
            change(
                "webhook.created",
                &created,
                json!({ "endpoint_url": created.endpoint_url, "enabled": created.enabled }),
            ),
        )?;
        Ok((created, secret))
    })
}

/// Saves an edit; returns a signing secret when signing was switched on and none existed.
/// Blank secret fields keep the stored values, except when the endpoint's origin changes: then
/// [`WebhookError::SecretsNotCarriedOver`] names each one to enter again (see `carry_over`).
/// The audit entry says which secrets were set, replaced or cleared, never their values.
pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    spec: &WebhookSpec,
    secrets: &SecretBox,
) -> Result<(Webhook, Option<SigningSecret>), WebhookError> {
    conn.transaction(|conn| {
        let before = webhook::find_for_update(conn, id)?.ok_or(WebhookError::NotFound)?;
        let events_before = webhook::events_of(conn, id)?;
        let headers_before = webhook::headers_of(conn, id)?;
        // Checked against the locked row: what is stored now, not what the form was built from.
        let origin_changed = !carry_over::same_origin(&before.endpoint_url, &spec.endpoint);
        let secret_changes = carry_over::review(
            &stored_secrets(&before, &headers_before, secrets),
            origin_changed,
            spec,
        )
        .map_err(WebhookError::SecretsNotCarriedOver)?;
        let mut values = values_for(spec, Some(&before), secrets, actor);
        let mut new_secret = None;
        if spec.signing_enabled && before.signing_secret_enc.is_none() {
            let secret = SigningSecret::generate();
            values.signing_secret_enc = Some(secrets.seal(SEAL_SIGNING_SECRET, secret.expose()));
            new_secret = Some(secret);
        }
        let mut after = webhook::update(conn, id, &values).map_err(name_taken)?;
        store_subscriptions_and_headers(conn, id, spec, &headers_before, secrets)?;
        if spec.enabled != after.enabled {
            after = if spec.enabled {
                webhook::set_enabled(conn, id, true, None, None)?
            } else {
                webhook::set_enabled(
                    conn,
                    id,
                    false,
                    Some("Disabled while editing"),
                    Some(&actor.name),
                )?
            };
        }
        let events_after = webhook::events_of(conn, id)?;
        let headers_after = webhook::headers_of(conn, id)?;
        let changed = changed_fields(
            &before,
            &after,
            &events_before,
            &events_after,
            &headers_before,
            &headers_after,
            spec,
        );
        let mut details = json!({ "changed": changed });
        if origin_changed {
            details["endpoint_origin_changed"] = json!(true);
        }
        if !secret_changes.is_empty() {
            details["secrets"] = json!(secret_changes);
        }
        audit::record(conn, actor, change("webhook.updated", &after, details))?;
        Ok((after, new_secret))
    })
}

/// Which receiver credentials `webhook` has stored. A Basic password that cannot be opened
/// counts as stored: only a known-empty one gives nothing away.
fn stored_secrets(
    webhook: &Webhook,
    headers: &[webhook::StoredHeader],
    secrets: &SecretBox,
) -> StoredSecrets {
    StoredSecrets {
        basic_password: webhook.basic_password_enc.as_deref().is_some_and(|sealed| {
            secrets
                .open(SEAL_BASIC_PASSWORD, sealed)
                .map_or(true, |password| !password.is_empty())
        }),
        auth_header: webhook.auth_header_enc.is_some(),
        header_names: headers.iter().map(|h| h.name.clone()).collect(),
    }
}

/// Names of what an edit changed; for secrets only that they changed, never their values.
fn changed_fields(
    before: &Webhook,
    after: &Webhook,
    events_before: &[String],
    events_after: &[String],
    headers_before: &[webhook::StoredHeader],
    headers_after: &[webhook::StoredHeader],
    spec: &WebhookSpec,
) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |field: &'static str, differs: bool| {
        if differs {
            changed.push(field);
        }
    };
    check("name", before.name != after.name);
    check("description", before.description != after.description);
    check("endpoint_url", before.endpoint_url != after.endpoint_url);
    check(
        "events",
        before.all_events != after.all_events || events_before != events_after,
    );
    check(
        "dispatch",
        before.dispatch_mode != after.dispatch_mode
            || before.batch_window_minutes != after.batch_window_minutes
            || before.batch_max_events != after.batch_max_events,
    );
    check("auth_kind", before.auth_kind != after.auth_kind);
    check(
        "basic_username",
        before.basic_username != after.basic_username,
    );
    check(
        "basic_password",
        matches!(
            &spec.auth,
            ReceiverAuth::Basic {
                password: SecretInput::Set(_),
                ..
            }
        ),
    );
    check(
        "auth_header",
        matches!(
            &spec.auth,
            ReceiverAuth::Header {
                value: SecretInput::Set(_)
            }
        ),
    );
    let names = |headers: &[webhook::StoredHeader]| {
        headers.iter().map(|h| h.name.clone()).collect::<Vec<_>>()
    };
    check(
        "headers",
        names(headers_before) != names(headers_after)
            || spec
                .headers
                .iter()
                .any(|h| matches!(h.value, SecretInput::Set(_))),
    );
    check(
        "signing_enabled",
        before.signing_enabled != after.signing_enabled,
    );
    check(
        "retry_policy",
        before.retry_policy != after.retry_policy
            || before.retry_initial_seconds != after.retry_initial_seconds
            || before.retry_factor != after.retry_factor
            || before.retry_max_delay_seconds != after.retry_max_delay_seconds
            || before.retry_max_attempts != after.retry_max_attempts,
    );
    check(
        "on_client_error",
        before.on_client_error != after.on_client_error,
    );
    check(
        "disable_when_exhausted",
        before.disable_when_exhausted != after.disable_when_exhausted,
    );
    check(
        "timeout_seconds",
        before.timeout_seconds != after.timeout_seconds,
    );
    check("max_in_flight", before.max_in_flight != after.max_in_flight);
    check(
        "rate_limit_per_second",
        before.rate_limit_per_second != after.rate_limit_per_second,
    );
    check(
        "payload_format",
        before.payload_format != after.payload_format,
    );
    check(
        "actor_home_page",
        before.actor_home_page != after.actor_home_page,
    );
    check(
        "activity_base_iri",
        before.activity_base_iri != after.activity_base_iri,
    );
    check("enabled", before.enabled != after.enabled);
    changed
}

/// Enables, or disables with a reason. `by` = `None` for the automatic disabling the
/// delivery worker does. Enabling clears the reason.
pub fn set_enabled(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    enabled: bool,
    reason: Option<&str>,
) -> Result<Webhook, WebhookError> {
    conn.transaction(|conn| {
        let before = webhook::find_for_update(conn, id)?.ok_or(WebhookError::NotFound)?;
        if before.enabled == enabled {
            return Ok(before);
        }
        let by = actor.user_id.map(|_| actor.name.as_str());
        let after =
            webhook::set_enabled(conn, id, enabled, reason.or(Some("Disabled manually")), by)?;
        let (action, details) = if enabled {
            crate::model::webhook_flow::reset(conn, id)?;
            (
                "webhook.enabled",
                json!({ "previous_reason": before.disabled_reason }),
            )
        } else {
            // Nothing more is sent to a disabled webhook: what was queued goes to the
            // dead-letter queue, from where it can be replayed once the receiver is fixed.
            let dead_lettered = crate::model::delivery::dead_letter_queued(
                conn,
                id,
                after
                    .disabled_reason
                    .as_deref()
                    .unwrap_or("webhook disabled"),
            )?;
            (
                "webhook.disabled",
                json!({ "reason": after.disabled_reason, "dead_lettered": dead_lettered }),
            )
        };
        audit::record(conn, actor, change(action, &after, details))?;
        Ok(after)
    })
}

pub fn delete(conn: &mut PgConnection, actor: &Actor, id: i64) -> Result<Webhook, WebhookError> {
    conn.transaction(|conn| {
        let webhook = webhook::find_for_update(conn, id)?.ok_or(WebhookError::NotFound)?;
        webhook::delete(conn, id)?;
        audit::record(
            conn,
            actor,
            change(
                "webhook.deleted",
                &webhook,
                json!({ "endpoint_url": webhook.endpoint_url }),
            ),
        )?;
        Ok(webhook)
    })
}

/// A new signing secret; the old one keeps signing until `now + overlap`.
pub fn rotate_secret(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    overlap: std::time::Duration,
    secrets: &SecretBox,
) -> Result<(Webhook, SigningSecret, DateTime<Utc>), WebhookError> {
    conn.transaction(|conn| {
        let before = webhook::find_for_update(conn, id)?.ok_or(WebhookError::NotFound)?;
        if !before.signing_enabled {
            return Err(WebhookError::SigningOff);
        }
        let secret = SigningSecret::generate();
        let until =
            Utc::now() + chrono::Duration::from_std(overlap).unwrap_or(chrono::Duration::hours(24));
        let sealed = secrets.seal(SEAL_SIGNING_SECRET, secret.expose());
        // No overlap: the old secret is dropped rather than kept with an end in the past.
        let keep_previous = !overlap.is_zero();
        let after = webhook::set_secrets(
            conn,
            id,
            &sealed,
            before
                .signing_secret_enc
                .as_deref()
                .filter(|_| keep_previous),
            keep_previous.then_some(until),
        )?;
        audit::record(
            conn,
            actor,
            change(
                "webhook.secret_rotated",
                &after,
                json!({ "previous_secret_signs_until": until }),
            ),
        )?;
        Ok((after, secret, until))
    })
}

/// Ends a rotation's overlap now: the previous secret stops signing at once (audited).
/// `false` when no previous secret was signing.
pub fn expire_previous_secret(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
) -> Result<bool, WebhookError> {
    conn.transaction(|conn| {
        let before = webhook::find_for_update(conn, id)?.ok_or(WebhookError::NotFound)?;
        let Some(current) = before.signing_secret_enc.as_deref() else {
            return Ok(false);
        };
        if !before.previous_secret_active(Utc::now()) {
            return Ok(false);
        }
        let was_until = before.previous_secret_expires_at;
        let after = webhook::set_secrets(conn, id, current, None, None)?;
        audit::record(
            conn,
            actor,
            change(
                "webhook.previous_secret_expired",
                &after,
                json!({ "was_to_sign_until": was_until }),
            ),
        )?;
        Ok(true)
    })
}

/// The current signing secret in clear, for a manager who asked to see it (audited).
pub fn reveal_secret(
    conn: &mut PgConnection,
    actor: &Actor,
    id: i64,
    secrets: &SecretBox,
) -> Result<(Webhook, SigningSecret), WebhookError> {
    conn.transaction(|conn| {
        let webhook = webhook::find(conn, id)?.ok_or(WebhookError::NotFound)?;
        let sealed = webhook
            .signing_secret_enc
            .as_deref()
            .ok_or(WebhookError::SigningOff)?;
        let secret = SigningSecret::from_stored(secrets.open(SEAL_SIGNING_SECRET, sealed)?);
        audit::record(
            conn,
            actor,
            change("webhook.secret_revealed", &webhook, json!({})),
        )?;
        Ok((webhook, secret))
    })
}

/// The masked form of the current secret, for display.
pub fn masked_secret(webhook: &Webhook, secrets: &SecretBox) -> Option<String> {
    let sealed = webhook.signing_secret_enc.as_deref()?;
    secrets
        .open(SEAL_SIGNING_SECRET, sealed)
        .ok()
        .map(|s| SigningSecret::from_stored(s).masked())
}
