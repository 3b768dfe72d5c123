//! Manage actions on one webhook: enable; disable, delete and rotate the signing secret, each
//! after a confirmation page (GET) that says what will happen; reveal the signing secret.
//! Rotate and reveal redirect to the page that shows the secret once (`web::shown_once`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::current_user::CurrentUser;
use crate::auth::session::{FlashLevel, TypedSession};
use crate::error::AppError;
use crate::model::webhook::{self, Webhook};
use crate::validation::{FieldErrors, single_line};
use crate::web::counting::counted;
use crate::web::input::{Form, Query};
use crate::web::page::{PageContext, render, render_with, see_other};
use crate::web::shown_once::{self, Occasion, Target};
use crate::web::state::AppState;
use crate::webhooks::service::{self, WebhookError};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ToggleForm {
    /// Where to go back to (the list or the detail page); only local paths.
    back: String,
    reason: String,
}

fn back_to(raw: &str, id: i64) -> String {
    crate::web::page::local_path(raw)
        .filter(|back| back.starts_with("/webhooks"))
        .map_or_else(|| format!("/webhooks/{id}"), str::to_owned)
}

pub async fn enable(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
    form: Form<ToggleForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let back = back_to(&form.back, id);
    let actor = me.actor();
    let updated = state
        .run(move |conn| service::set_enabled(conn, &actor, id, true, None))
        .await?;
    session.flash(FlashLevel::Success, format!("{} is enabled.", updated.name));
    Ok(see_other(&back))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BackQuery {
    back: String,
}

#[derive(Template)]
#[template(path = "webhooks/disable.html")]
struct DisablePage {
    ctx: PageContext,
    webhook: Webhook,
    back: String,
    reason: String,
    errors: FieldErrors,
    /// "moves 1,204 queued deliveries to the dead-letter queue", or `None` when none wait.
    moved: Option<String>,
    /// "2 requests already on their way finish", or `None`.
    in_flight: Option<String>,
}

/// What disabling webhook `id` would do, for its confirmation page.
async fn disable_page(
    state: &AppState,
    ctx: PageContext,
    id: i64,
    back: String,
    reason: String,
    errors: FieldErrors,
) -> Result<DisablePage, AppError> {
    let (found, pending, queued) = state
        .run(move |conn| {
            Ok::<_, diesel::result::Error>((
                webhook::find(conn, id)?,
                crate::model::delivery::count_pending(conn, id)?,
                crate::model::delivery::count_queued(conn, id)?,
            ))
        })
        .await?;
    let delivering = (queued - pending).max(0);
    Ok(DisablePage {
        ctx: ctx.in_section("webhooks"),
        webhook: found.ok_or(AppError::NotFound)?,
        back,
        reason,
        errors,
        moved: (pending > 0).then(|| {
            format!(
                "moves {} to the dead-letter queue",
                counted(pending, "queued delivery", "queued deliveries")
            )
        }),
        in_flight: (delivering > 0).then(|| {
            format!(
                "{} already on {} way finish{}",
                counted(delivering, "request", "requests"),
                if delivering == 1 { "its" } else { "their" },
                if delivering == 1 { "es" } else { "" }
            )
        }),
    })
}

/// "Disable": first a page that says what happens, in numbers, and takes an optional reason.
pub async fn confirm_disable(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<i64>,
    query: Query<BackQuery>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let back = back_to(&query.back, id);
    render(&disable_page(&state, ctx, id, back, String::new(), FieldErrors::default()).await?)
}

pub async fn disable(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
    form: Form<ToggleForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let back = back_to(&form.back, id);
    let actor = me.actor();
    let reason: String = match single_line(&form.reason) {
        Ok(reason) => reason.chars().take(500).collect(),
        Err(_) => {
            // Back to the confirmation with the message beside the field; nothing changed.
            let mut errors = FieldErrors::default();
            errors.add(
                "reason",
                "Not disabled: the reason has control characters (such as NUL or line breaks). Write it on one line.",
            );
            let page = disable_page(&state, ctx, id, back, form.reason.clone(), errors).await?;
            return render_with(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let reason = if reason.is_empty() {
        format!("Disabled by {}", me.username)
    } else {
        reason
    };
    let updated = state
        .run(move |conn| service::set_enabled(conn, &actor, id, false, Some(&reason)))
        .await?;
    session.flash(
        FlashLevel::Success,
        format!(
            "{} is disabled: it receives nothing until enabled again.",
            updated.name
        ),
    );
    Ok(see_other(&back))
}

#[derive(Template)]
#[template(path = "webhooks/delete.html")]
struct DeletePage {
    ctx: PageContext,
    webhook: Webhook,
    event_count: usize,
    queued: i64,
}

pub async fn confirm_delete(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let (found, events, queued) = state
        .run(move |conn| {
            Ok::<_, diesel::result::Error>((
                webhook::find(conn, id)?,
                webhook::events_of(conn, id)?,
                crate::model::delivery::count_queued(conn, id)?,
            ))
        })
        .await?;
    render(&DeletePage {
        ctx: ctx.in_section("webhooks"),
        webhook: found.ok_or(AppError::NotFound)?,
        event_count: events.len(),
        queued,
    })
}

pub async fn delete(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = me.actor();
    let deleted = state
        .run(move |conn| service::delete(conn, &actor, id))
        .await?;
    session.flash(FlashLevel::Success, format!("Deleted {}.", deleted.name));
    Ok(see_other("/webhooks"))
}

#[derive(Template)]
#[template(path = "webhooks/rotate.html")]
struct RotatePage {
    ctx: PageContext,
    webhook: Webhook,
    /// "24 hours": how long the old secret keeps signing.
    overlap: String,
    /// When the old secret would stop signing if rotated now.
    overlap_ends: String,
    /// A rotation still in its overlap: when that older secret was to stop (it stops at once).
    older_until: Option<String>,
    /// The overlaps to choose from (hours, label), the configured one first selected.
    overlap_choices: Vec<(u64, String)>,
    default_overlap_hours: u64,
}

/// "Rotate secret": first a page that says how long the old secret keeps signing.
pub async fn confirm_rotate(
    state: web::Data<AppState>,
    ctx: PageContext,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let found = super::load_webhook(&state, id).await?;
    if !found.signing_enabled {
        session.flash(
            FlashLevel::Error,
            "Signing is off for this webhook: switch it on in Edit first.",
        );
        return Ok(see_other(&format!("/webhooks/{id}")));
    }
    let overlap = state.settings.secret_rotation_overlap;
    let now = chrono::Utc::now();
    let ends = now + chrono::Duration::from_std(overlap).unwrap_or(chrono::Duration::hours(24));
    let older_until = found
        .previous_secret_active(now)
        .then_some(found.previous_secret_expires_at)
        .flatten()
        .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string());
    render(&RotatePage {
        ctx: ctx.in_section("webhooks"),
        webhook: found,
        overlap: overlap_text(overlap),
        overlap_ends: ends.format("%Y-%m-%d %H:%M UTC").to_string(),
        older_until,
        overlap_choices: overlap_choices(overlap),
        default_overlap_hours: overlap.as_secs() / 3600,
    })
}

/// Overlaps offered when rotating, in hours: none, an hour, a day, three days, a week, and the
/// configured default.
fn overlap_choices(default: std::time::Duration) -> Vec<(u64, String)> {
    let mut hours: Vec<u64> = vec![0, 1, 24, 72, 168, default.as_secs() / 3600];
    hours.sort_unstable();
    hours.dedup();
    hours
        .into_iter()
        .map(|h| {
            let label = match h {
                0 => "none: the old secret stops at once".to_owned(),
                h => overlap_text(std::time::Duration::from_secs(h * 3600)),
            };
            (h, label)
        })
        .collect()
}

/// The overlap chosen on the rotate page: one of [`overlap_choices`], else the default.
fn chosen_overlap(raw: Option<&str>, default: std::time::Duration) -> std::time::Duration {
    raw.and_then(|r| r.trim().parse::<u64>().ok())
        .filter(|h| overlap_choices(default).iter().any(|(c, _)| c == h))
        .map_or(default, |h| std::time::Duration::from_secs(h * 3600))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct RotateForm {
    overlap_hours: Option<String>,
}

/// "24 hours", "1 hour", "90 minutes".
fn overlap_text(overlap: std::time::Duration) -> String {
    let minutes = overlap.as_secs() / 60;
    if minutes >= 60 && minutes.is_multiple_of(60) {
        let hours = (minutes / 60) as i64;
        counted(hours, "hour", "hours")
    } else {
        counted(minutes as i64, "minute", "minutes")
    }
}

pub async fn rotate_secret(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
    form: crate::web::input::Form<RotateForm>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = me.actor();
    let secrets = state.secrets.clone();
    let overlap = chosen_overlap(
        form.into_inner().overlap_hours.as_deref(),
        state.settings.secret_rotation_overlap,
    );
    let (_, secret, until) = match state
        .attempt(move |conn| service::rotate_secret(conn, &actor, id, overlap, &secrets))
        .await?
    {
        Ok(rotated) => rotated,
        Err(WebhookError::SigningOff) => {
            session.flash(
                FlashLevel::Error,
                "Signing is off for this webhook: switch it on in Edit first.",
            );
            return Ok(see_other(&format!("/webhooks/{id}")));
        }
        Err(other) => return Err(other.into()),
    };
    shown_once::keep(
        &session,
        &state.secrets,
        Target::WebhookSecret(id),
        Occasion::SecretRotated {
            previous_signs_until: until,
        },
        secret.expose(),
    );
    Ok(see_other(&format!("/webhooks/{id}/secret")))
}

#[derive(Template)]
#[template(path = "webhooks/expire_previous.html")]
struct ExpirePreviousPage {
    ctx: PageContext,
    webhook: Webhook,
    until: String,
}

/// "Stop the old secret now", asked first: the receiver must already check the new one.
pub async fn confirm_expire_previous(
    state: web::Data<AppState>,
    ctx: PageContext,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let found = super::load_webhook(&state, id).await?;
    let until = found
        .previous_secret_active(chrono::Utc::now())
        .then_some(found.previous_secret_expires_at)
        .flatten();
    let Some(until) = until else {
        session.flash(FlashLevel::Info, "No previous secret is signing any more.");
        return Ok(see_other(&format!("/webhooks/{id}")));
    };
    render(&ExpirePreviousPage {
        ctx: ctx.in_section("webhooks"),
        webhook: found,
        until: until.format("%Y-%m-%d %H:%M UTC").to_string(),
    })
}

pub async fn expire_previous(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = me.actor();
    let expired = state
        .attempt(move |conn| service::expire_previous_secret(conn, &actor, id))
        .await??;
    session.flash(
        if expired {
            FlashLevel::Success
        } else {
            FlashLevel::Info
        },
        if expired {
            "The previous secret has stopped signing: requests carry only the current one."
        } else {
            "No previous secret was signing."
        },
    );
    Ok(see_other(&format!("/webhooks/{id}")))
}

pub async fn reveal_secret(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let actor = me.actor();
    let secrets = state.secrets.clone();
    let (_, secret) = match state
        .attempt(move |conn| service::reveal_secret(conn, &actor, id, &secrets))
        .await?
    {
        Ok(found) => found,
        Err(WebhookError::SigningOff) => {
            session.flash(FlashLevel::Error, "This webhook has no signing secret.");
            return Ok(see_other(&format!("/webhooks/{id}")));
        }
        Err(other) => return Err(other.into()),
    };
    shown_once::keep(
        &session,
        &state.secrets,
        Target::WebhookSecret(id),
        Occasion::SecretRevealed,
        secret.expose(),
    );
    Ok(see_other(&format!("/webhooks/{id}/secret")))
}
