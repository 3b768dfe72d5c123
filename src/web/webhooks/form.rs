//! Create and edit forms. An invalid submission comes back with what was typed (secrets
//! included, in that answer only), a summary at the top linking to each bad field and every
//! problem listed beside its field; stored secrets are write-only (blank on edit keeps them).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::current_user::CurrentUser;
use crate::auth::session::{FlashLevel, TypedSession};
use crate::error::AppError;
use crate::model::event_type::{self, EventType};
use crate::model::webhook;
use crate::validation::FieldErrors;
use crate::web::page::{PageContext, render, render_with, see_other};
use crate::web::shown_once::{self, Occasion, Target};
use crate::web::state::AppState;
use crate::webhooks::input::{ParseContext, WebhookInput, WebhookSpec};
use crate::webhooks::receiver_auth::ReceiverAuth;
use crate::webhooks::retry::RetryPolicy;
use crate::webhooks::service::{self, WebhookError};

#[derive(Template)]
#[template(path = "webhooks/form.html")]
pub struct FormPage {
    pub ctx: PageContext,
    /// `None` = creating.
    pub webhook_id: Option<i64>,
    pub input: WebhookInput,
    pub errors: FieldErrors,
    pub groups: Vec<(String, Vec<EventType>)>,
    pub auth_kinds: [(&'static str, &'static str); 3],
    pub formats: [(&'static str, &'static str); 4],
    pub retry_kinds: [(&'static str, &'static str); 4],
    /// On edit: which write-only secrets are stored (so the form can say "leave blank to keep").
    pub has_basic_password: bool,
    pub has_auth_header: bool,
}

/// The form's fields in page order: the error key, the id its summary link goes to, and the
/// label the summary names it by.
const FIELDS: [(&str, &str, &str); 25] = [
    ("name", "name", "Name"),
    ("description", "description", "Description"),
    ("endpoint_url", "endpoint_url", "Endpoint URL"),
    ("events", "all_events", "Events"),
    (
        "dispatch_mode",
        "dispatch_mode_immediate",
        "Dispatch timing",
    ),
    (
        "batch_window_minutes",
        "batch_window_minutes",
        "Batch window",
    ),
    (
        "batch_max_events",
        "batch_max_events",
        "Max events per batch",
    ),
    ("payload_format", "payload_format_herald", "Payload format"),
    (
        "actor_home_page",
        "actor_home_page",
        "Learner accounts' home page",
    ),
    (
        "activity_base_iri",
        "activity_base_iri",
        "Activity base IRI",
    ),
    ("auth_kind", "auth_kind_none", "Authentication"),
    ("basic_username", "basic_username", "Basic username"),
    ("basic_password", "basic_password", "Basic password"),
    ("auth_header", "auth_header", "Authorization value"),
    ("headers", "header_name_1", "Custom headers"),
    ("retry_policy", "retry_policy_exponential", "Retry policy"),
    (
        "retry_initial_seconds",
        "retry_initial_seconds",
        "First delay",
    ),
    ("retry_factor", "retry_factor", "Growth factor"),
    (
        "retry_max_delay_seconds",
        "retry_max_delay_seconds",
        "Longest delay",
    ),
    (
        "retry_max_attempts",
        "retry_max_attempts",
        "Attempts in all",
    ),
    (
        "on_client_error",
        "on_client_error_dead_letter",
        "On a 4xx answer",
    ),
    ("timeout_seconds", "timeout_seconds", "Request timeout"),
    ("max_in_flight", "max_in_flight", "Max requests in flight"),
    (
        "rate_limit_per_second",
        "rate_limit_per_second",
        "Rate limit",
    ),
    ("enabled", "enabled", "Enabled"),
];

/// One line of the error summary.
pub struct Problem {
    pub anchor: String,
    pub label: String,
    pub message: String,
}

impl FormPage {
    fn action(&self) -> String {
        match self.webhook_id {
            Some(id) => format!("/webhooks/{id}/edit"),
            None => "/webhooks/new".into(),
        }
    }

    fn password_hint(&self) -> &'static str {
        if self.has_basic_password {
            "Stored encrypted. Leave blank to keep the current one. If you change the endpoint's host, scheme or port, enter it again: stored secrets are never sent to a new host."
        } else {
            "Stored encrypted; never shown again."
        }
    }

    fn auth_header_hint(&self) -> &'static str {
        if self.has_auth_header {
            "Sent exactly as written. Leave blank to keep the current value. If you change the endpoint's host, scheme or port, enter it again: stored secrets are never sent to a new host."
        } else {
            "Sent exactly as written, for example: Bearer 3f9c…"
        }
    }

    /// Every problem, in the order of the fields on the page (unknown keys last).
    fn summary(&self) -> Vec<Problem> {
        let known = FIELDS.iter().map(|(f, a, l)| (*f, *a, *l));
        let unknown = self
            .errors
            .fields()
            .filter(|f| !FIELDS.iter().any(|(known, _, _)| known == f))
            .map(|f| (f, f, f));
        known
            .chain(unknown)
            .flat_map(|(field, anchor, label)| {
                self.errors.all(field).iter().map(move |message| Problem {
                    anchor: anchor.to_owned(),
                    label: label.to_owned(),
                    message: message.clone(),
                })
            })
            .collect()
    }

    /// Whether the "save without events" confirmation is offered: when nothing is chosen.
    /// The payload formats (space-separated keys) that skip `event_type`, for the marks beside
    /// the event checkboxes (herald.js shows those of the format chosen).
    fn skipped_by(&self, event_type: &str) -> String {
        crate::standards::PayloadFormat::CHOICES
            .iter()
            .filter_map(|(key, _)| crate::standards::PayloadFormat::parse(key))
            .filter(|format| !crate::standards::mapping::carries(*format, event_type))
            .map(|format| format.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether the format in the form (as rendered) skips `event_type`: its mark shows then,
    /// with or without JavaScript.
    fn skipped_now(&self, event_type: &str) -> bool {
        let format =
            crate::standards::PayloadFormat::parse(&self.input.payload_format).unwrap_or_default();
        !crate::standards::mapping::carries(format, event_type)
    }

    fn offers_no_events(&self) -> bool {
        self.input.is_checked("no_events_ok")
            || self.errors.has("events")
            || self.input.events.is_empty()
    }

    fn cancel(&self) -> String {
        match self.webhook_id {
            Some(id) => format!("/webhooks/{id}"),
            None => "/webhooks".into(),
        }
    }
}

fn parse_body(body: &[u8]) -> Result<WebhookInput, AppError> {
    Ok(crate::web::input::parse_form(body)?)
}

/// The shared parsing plus the console's own rule: a webhook without events must be meant.
fn check(input: &WebhookInput, ctx: &ParseContext<'_>) -> Result<WebhookSpec, FieldErrors> {
    let parsed = input.parse(ctx);
    let Some(message) = input.missing_events() else {
        return parsed;
    };
    let mut errors = parsed.err().unwrap_or_default();
    errors.add("events", message);
    Err(errors)
}

async fn catalog(state: &AppState) -> Result<Vec<EventType>, AppError> {
    state.run(event_type::all).await
}

fn form_page(
    ctx: PageContext,
    webhook_id: Option<i64>,
    input: WebhookInput,
    errors: FieldErrors,
    types: Vec<EventType>,
) -> FormPage {
    FormPage {
        ctx: ctx.in_section("webhooks"),
        webhook_id,
        input,
        errors,
        groups: event_type::grouped(types),
        auth_kinds: ReceiverAuth::KINDS,
        formats: crate::standards::PayloadFormat::CHOICES,
        retry_kinds: RetryPolicy::KINDS,
        has_basic_password: false,
        has_auth_header: false,
    }
}

pub async fn new_form(
    state: web::Data<AppState>,
    ctx: PageContext,
) -> Result<HttpResponse, AppError> {
    let types = catalog(&state).await?;
    render(&form_page(
        ctx,
        None,
        WebhookInput::defaults(),
        FieldErrors::default(),
        types,
    ))
}

pub async fn create(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let input = parse_body(&body)?;
    let types = catalog(&state).await?;
    let names: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
    let parsed = check(
        &input,
        &ParseContext {
            allow_http: state.settings.allow_http_targets,
            catalog: &names,
            has_auth_header: false,
            header_names: &[],
        },
    );
    let spec = match parsed {
        Ok(spec) => spec,
        Err(errors) => {
            return render_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(ctx, None, input, errors, types),
            );
        }
    };
    let actor = me.actor();
    let secrets = state.secrets.clone();
    match state
        .attempt(move |conn| service::create(conn, &actor, &spec, &secrets))
        .await?
    {
        Ok((created, Some(secret))) => {
            // Post/redirect/get: the secret waits in the session for the page that shows it.
            shown_once::keep(
                &session,
                &state.secrets,
                Target::WebhookSecret(created.id),
                Occasion::WebhookCreated,
                secret.expose(),
            );
            // No flash: the secret page's headline says it (and a flash left unread by a
            // script would pile up).
            Ok(see_other(&format!("/webhooks/{}/secret", created.id)))
        }
        Ok((created, None)) => {
            session.flash(FlashLevel::Success, format!("Created {}.", created.name));
            Ok(see_other(&format!("/webhooks/{}", created.id)))
        }
        Err(WebhookError::NameTaken) => {
            let mut errors = FieldErrors::default();
            errors.add("name", WebhookError::NameTaken.to_string());
            render_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(ctx, None, input, errors, types),
            )
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn edit_form(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let (found, events, headers) = state
        .run(move |conn| {
            Ok::<_, diesel::result::Error>((
                webhook::find(conn, id)?,
                webhook::events_of(conn, id)?,
                webhook::headers_of(conn, id)?,
            ))
        })
        .await?;
    let found = found.ok_or(AppError::NotFound)?;
    let types = catalog(&state).await?;
    let input = WebhookInput::from_webhook(
        &found,
        events,
        headers.into_iter().map(|h| h.name).collect(),
    );
    let mut page = form_page(ctx, Some(id), input, FieldErrors::default(), types);
    page.has_basic_password = found.basic_password_enc.is_some();
    page.has_auth_header = found.auth_header_enc.is_some();
    render(&page)
}

pub async fn update(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let input = parse_body(&body)?;
    let (found, headers) = state
        .run(move |conn| {
            Ok::<_, diesel::result::Error>((
                webhook::find(conn, id)?,
                webhook::headers_of(conn, id)?,
            ))
        })
        .await?;
    let found = found.ok_or(AppError::NotFound)?;
    let header_names: Vec<String> = headers.into_iter().map(|h| h.name).collect();
    let types = catalog(&state).await?;
    let names: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
    let parsed = check(
        &input,
        &ParseContext {
            allow_http: state.settings.allow_http_targets,
            catalog: &names,
            has_auth_header: found.auth_header_enc.is_some(),
            header_names: &header_names,
        },
    );
    let rerender =
        |ctx: PageContext, input: WebhookInput, errors: FieldErrors, types: Vec<EventType>| {
            let mut page = form_page(ctx, Some(id), input, errors, types);
            page.has_basic_password = found.basic_password_enc.is_some();
            page.has_auth_header = found.auth_header_enc.is_some();
            render_with(StatusCode::UNPROCESSABLE_ENTITY, &page)
        };
    let spec = match parsed {
        Ok(spec) => spec,
        Err(errors) => return rerender(ctx, input, errors, types),
    };
    let actor = me.actor();
    let secrets = state.secrets.clone();
    match state
        .attempt(move |conn| service::update(conn, &actor, id, &spec, &secrets))
        .await?
    {
        Ok((updated, Some(secret))) => {
            shown_once::keep(
                &session,
                &state.secrets,
                Target::WebhookSecret(updated.id),
                Occasion::SigningSwitchedOn,
                secret.expose(),
            );
            Ok(see_other(&format!("/webhooks/{id}/secret")))
        }
        Ok((updated, None)) => {
            session.flash(FlashLevel::Success, format!("Saved {}.", updated.name));
            Ok(see_other(&format!("/webhooks/{id}")))
        }
        Err(WebhookError::NameTaken) => {
            let mut errors = FieldErrors::default();
            errors.add("name", WebhookError::NameTaken.to_string());
            rerender(ctx, input, errors, types)
        }
        Err(WebhookError::SecretsNotCarriedOver(refusals)) => {
            let mut errors = FieldErrors::default();
            for (field, message) in refusals {
                errors.add(field, message);
            }
            rerender(ctx, input, errors, types)
        }
        Err(other) => Err(other.into()),
    }
}
