//! `/inboxes` (managers): the built-in test receiver. Create an inbox, point a webhook at it
//! (or let "Create a webhook that sends here" do it), and read every request it received with
//! its headers, pretty-printed body and signature verdict. `POST /inbox/{token}` is the
//! public receiving end, for requests from outside Herald.

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use super::page::{PageContext, render, see_other};
use super::shown_once::{self, Occasion, Target};
use super::state::AppState;
use crate::auth::current_user::CurrentUser;
use crate::auth::session::{FlashLevel, TypedSession};
use crate::error::AppError;
use crate::inbox::InboxToken;
use crate::inbox::receive::{Via, receive};
use crate::model::audit::{self, Change};
use crate::model::test_inbox::{self, Inbox, InboxRequest};
use crate::validation::FieldErrors;
use crate::web::input::Form;
use crate::webhooks::input::{ParseContext, WebhookInput};
use crate::webhooks::service::{self, WebhookError};

/// The address the browser reached the console at, for the URLs and examples shown.
pub fn base_url(request: &HttpRequest) -> String {
    let info = request.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

#[derive(Template)]
#[template(path = "inboxes/list.html")]
struct ListPage {
    ctx: PageContext,
    inboxes: Vec<Inbox>,
    form: InboxForm,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InboxForm {
    name: String,
}

fn parse_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok("Test inbox".into());
    }
    if name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err("Use at most 80 characters on one line.".into());
    }
    Ok(name.to_owned())
}

pub async fn list(state: web::Data<AppState>, ctx: PageContext) -> Result<HttpResponse, AppError> {
    render(&ListPage {
        ctx: ctx.in_section("inboxes"),
        inboxes: state.run(test_inbox::list).await?,
        form: InboxForm::default(),
        errors: FieldErrors::default(),
    })
}

pub async fn create(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    form: Form<InboxForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let mut errors = FieldErrors::default();
    let Some(name) = errors.check("name", || parse_name(&form.name)) else {
        let inboxes = state.run(test_inbox::list).await?;
        return super::page::render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ListPage {
                ctx: ctx.in_section("inboxes"),
                inboxes,
                form,
                errors,
            },
        );
    };
    let actor = me.actor();
    let inbox = state
        .run(move |conn| {
            conn.transaction(|conn| {
                let token = InboxToken::generate();
                let inbox = test_inbox::create(conn, token.as_str(), &name, &actor.name)?;
                audit::record(conn, &actor, change("inbox.created", &inbox))?;
                Ok::<_, diesel::result::Error>(inbox)
            })
        })
        .await?;
    Ok(see_other(&format!("/inboxes/{}", inbox.id)))
}

/// The audit entry of an inbox change (never its token: that is the inbox's only key).
fn change<'a>(action: &'a str, inbox: &Inbox) -> Change<'a> {
    Change {
        action,
        target_type: "inbox",
        target_id: Some(inbox.id.to_string()),
        target_label: Some(inbox.name.clone()),
        details: json!({}),
    }
}

/// One received request as the page shows it.
pub struct RequestView {
    pub request: InboxRequest,
    pub headers: Vec<(String, String)>,
    /// JSON pretty-printed, anything else as received.
    pub body: String,
}

impl RequestView {
    fn of(request: InboxRequest) -> Self {
        let headers = request
            .headers
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let body = serde_json::from_str::<serde_json::Value>(&request.body)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| request.body.clone());
        Self {
            request,
            headers,
            body,
        }
    }

    /// "verified", "failed", "unsigned", "not checked".
    pub fn verdict_label(&self) -> &'static str {
        match self.request.signature.as_str() {
            "verified" => "signature verified",
            "failed" => "signature failed",
            "unsigned" => "unsigned",
            _ => "signature not checked",
        }
    }

    pub fn verdict_class(&self) -> &'static str {
        match self.request.signature.as_str() {
            "verified" => "status-on",
            "failed" | "unsigned" => "status-bad",
            _ => "status-off",
        }
    }
}

#[derive(Template)]
#[template(path = "inboxes/show.html")]
struct ShowPage {
    ctx: PageContext,
    inbox: Inbox,
    webhook_url: String,
    public_url: String,
    senders: Vec<(i64, String)>,
    requests: Vec<RequestView>,
    kept: i64,
    rendered_at: DateTime<Utc>,
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: PageContext,
    request: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let (inbox, senders, requests) = state
        .run(move |conn| {
            let Some(inbox) = test_inbox::find(conn, id)? else {
                return Ok(None);
            };
            let url = token_of(&inbox).webhook_url();
            let senders = test_inbox::webhooks_sending_to(conn, &url)?;
            let requests = test_inbox::requests(conn, id)?;
            Ok::<_, diesel::result::Error>(Some((inbox, senders, requests)))
        })
        .await?
        .ok_or(AppError::NotFound)?;
    let token = token_of(&inbox);
    render(&ShowPage {
        ctx: ctx.in_section("inboxes"),
        webhook_url: token.webhook_url(),
        public_url: format!("{}/inbox/{}", base_url(&request), token.as_str()),
        inbox,
        senders,
        requests: requests.into_iter().map(RequestView::of).collect(),
        kept: test_inbox::KEPT,
        rendered_at: Utc::now(),
    })
}

/// Tokens are generated in this format; a stored one that is not would find no inbox.
fn token_of(inbox: &Inbox) -> InboxToken {
    InboxToken::parse(&inbox.token).expect("inbox tokens are generated valid")
}

#[derive(Template)]
#[template(path = "inboxes/delete.html")]
struct DeletePage {
    ctx: PageContext,
    inbox: Inbox,
    senders: Vec<(i64, String)>,
    received: usize,
}

/// "Delete…": a page that names what sends to the inbox and what is lost.
pub async fn confirm_delete(
    state: web::Data<AppState>,
    ctx: PageContext,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let (inbox, senders, received) = state
        .run(move |conn| {
            let Some(inbox) = test_inbox::find(conn, id)? else {
                return Ok(None);
            };
            let senders = test_inbox::webhooks_sending_to(conn, &token_of(&inbox).webhook_url())?;
            let received = test_inbox::requests(conn, id)?.len();
            Ok::<_, diesel::result::Error>(Some((inbox, senders, received)))
        })
        .await?
        .ok_or(AppError::NotFound)?;
    render(&DeletePage {
        ctx: ctx.in_section("inboxes"),
        inbox,
        senders,
        received,
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
        .run(move |conn| {
            conn.transaction(|conn| {
                let Some(inbox) = test_inbox::find(conn, id)? else {
                    return Ok(None);
                };
                test_inbox::delete(conn, id)?;
                audit::record(conn, &actor, change("inbox.deleted", &inbox))?;
                Ok::<_, diesel::result::Error>(Some(inbox))
            })
        })
        .await?
        .ok_or(AppError::NotFound)?;
    session.flash(
        FlashLevel::Success,
        format!("Deleted inbox {}.", deleted.name),
    );
    Ok(see_other("/inboxes"))
}

/// "Create a webhook that sends here": every event, signed, default retries; then the
/// secret page (shown once), as after creating a webhook in the form.
pub async fn create_webhook(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let inbox = state
        .run(move |conn| test_inbox::find(conn, id))
        .await?
        .ok_or(AppError::NotFound)?;
    let token = token_of(&inbox);
    let mut input = WebhookInput::defaults();
    // The token's start keeps the name unique per inbox without showing the whole key.
    input.name = format!("{} ({})", inbox.name, &token.as_str()[..6]);
    input.description = "Sends every event to Herald's built-in test receiver.".into();
    input.endpoint_url = token.webhook_url();
    input.all_events = Some("on".into());
    let actor = me.actor();
    let secrets = state.secrets.clone();
    let created = state
        .attempt(move |conn| {
            let catalog = crate::model::event_type::names(conn)?;
            // Built from fixed values, so it always parses; a failure would be a bug here.
            let spec = input
                .parse(&ParseContext {
                    allow_http: false,
                    catalog: &catalog,
                    has_auth_header: false,
                    header_names: &[],
                })
                .map_err(|errors| {
                    AppError::Unexpected(anyhow::anyhow!(
                        "the test webhook is not valid: {errors:?}"
                    ))
                })?;
            Ok::<_, AppError>(service::create(conn, &actor, &spec, &secrets))
        })
        .await??;
    match created {
        Ok((webhook, Some(secret))) => {
            shown_once::keep(
                &session,
                &state.secrets,
                Target::WebhookSecret(webhook.id),
                Occasion::WebhookCreated,
                secret.expose(),
            );
            Ok(see_other(&format!("/webhooks/{}/secret", webhook.id)))
        }
        Ok((webhook, None)) => Ok(see_other(&format!("/webhooks/{}", webhook.id))),
        Err(WebhookError::NameTaken) => {
            session.flash(
                FlashLevel::Error,
                "A webhook sending to this inbox exists already: it is listed on this page.",
            );
            Ok(see_other(&format!("/inboxes/{id}")))
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /inbox/{token}`: stores the request (body at most `inbox::MAX_BODY_BYTES`, larger is
/// 413 before this runs) and answers 200 with the signature verdict; 404 for a token that
/// names no inbox; 429 with `Retry-After` beyond the per-inbox rate.
pub async fn receive_public(
    state: web::Data<AppState>,
    request: HttpRequest,
    token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let not_found =
        || HttpResponse::NotFound().json(json!({ "error": "There is no inbox at this address." }));
    let Some(token) = InboxToken::parse(&token) else {
        return Ok(not_found());
    };
    if let Err(wait) = state.inbox_rate_limit.check(&token) {
        return Ok(HttpResponse::TooManyRequests()
            .insert_header((RETRY_AFTER, wait.as_secs().max(1).to_string()))
            .json(json!({ "error": "This inbox takes at most 5 requests a second." })));
    }
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let secrets = state.secrets.clone();
    let verdict = state
        .run(move |conn| {
            receive(
                conn,
                &secrets,
                &token,
                Via::Http,
                &headers,
                &body,
                Utc::now(),
            )
        })
        .await?;
    Ok(match verdict {
        Some(verdict) => HttpResponse::Ok().json(json!({
            "received": true,
            "signature": verdict.code(),
            "detail": verdict.detail(),
        })),
        None => not_found(),
    })
}
