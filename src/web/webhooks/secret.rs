//! `/webhooks/{id}/secret`: where creating a webhook with signing, switching signing on, and
//! rotating or revealing the secret redirect to. It shows the secret once (`web::shown_once`);
//! loaded again, it says the value is no longer available.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::session::TypedSession;
use crate::error::AppError;
use crate::model::webhook::Webhook;
use crate::web::page::{PageContext, render};
use crate::web::shown_once::{self, Occasion, Shown, Target};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "webhooks/secret.html")]
struct SecretPage {
    ctx: PageContext,
    webhook: Webhook,
    /// `None`: it was shown already (or never kept here).
    shown: Option<Shown>,
}

impl SecretPage {
    fn headline(&self) -> &'static str {
        match self.shown.as_ref().map(|s| &s.occasion) {
            Some(Occasion::WebhookCreated) => "Webhook created",
            Some(Occasion::SigningSwitchedOn) => "Signing switched on",
            Some(Occasion::SecretRotated { .. }) => "Signing secret rotated",
            Some(Occasion::SecretRevealed) => "Signing secret",
            Some(Occasion::TokenCreated) | None => "Signing secret no longer shown",
        }
    }

    fn explanation(&self) -> String {
        match self.shown.as_ref().map(|s| &s.occasion) {
            Some(Occasion::WebhookCreated) => "Give this signing secret to the receiver so it can verify that requests come from Herald. It is shown only now: reloading this page will not show it again. Later it is masked (managers can reveal it, which is recorded in the audit log).".into(),
            Some(Occasion::SigningSwitchedOn) => "Herald generated a signing secret for this webhook. Give it to the receiver; it is shown only now: reloading this page will not show it again.".into(),
            Some(Occasion::SecretRotated { previous_signs_until }) => format!(
                "Requests are now signed with this new secret and, until {}, also with the previous one (the webhook-signature header carries both), so the receiver can switch without losing a delivery. It is shown only now: reloading this page will not show it again.",
                previous_signs_until.format("%Y-%m-%d %H:%M UTC")
            ),
            Some(Occasion::SecretRevealed) => "This reveal has been recorded in the audit log. It is shown only now: reloading this page will not show it again. Do not leave this page open.".into(),
            Some(Occasion::TokenCreated) | None => "This value was shown once and is no longer available: reloading or going back does not show it again, and it is never shown to another session. If you did not copy it, use Reveal secret on the webhook's page (recorded in the audit log) or rotate the secret.".into(),
        }
    }

    fn secret(&self) -> Option<&str> {
        self.shown.as_ref().map(|s| s.value.as_str())
    }
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: PageContext,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let found = super::load_webhook(&state, id).await?;
    let shown = shown_once::take(&session, &state.secrets, Target::WebhookSecret(id))
        .filter(|shown| shown.occasion != Occasion::TokenCreated);
    render(&SecretPage {
        ctx: ctx.in_section("webhooks"),
        webhook: found,
        shown,
    })
}
