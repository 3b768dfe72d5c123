//! `/dead-letters`: every dead delivery with why it died; managers replay one, the selected
//! ones or all that match the filters, or discard the selected ones — each bulk action after a
//! confirmation page (GET) that says how many.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::list::build;
use super::query::DeliveryQuery;
use crate::auth::current_user::CurrentUser;
use crate::auth::session::{FlashLevel, TypedSession};
use crate::error::AppError;
use crate::model::delivery_list;
use crate::replay::{self, Replayed};
use crate::web::counting::counted;
use crate::web::input::Query;
use crate::web::page::{PageContext, render, see_other};
use crate::web::state::AppState;

pub async fn list(
    state: web::Data<AppState>,
    ctx: PageContext,
    query: Query<DeliveryQuery>,
) -> Result<HttpResponse, AppError> {
    render(&build(&state, ctx, query.into_inner(), true).await?)
}

#[derive(Template)]
#[template(path = "deliveries/confirm_replay.html")]
struct ConfirmPage {
    ctx: PageContext,
    query: DeliveryQuery,
    count: i64,
    disabled: i64,
    filters: String,
    /// The filters in words ("Webhook: HR sync"), empty when every dead letter matches.
    described_filters: Vec<(&'static str, String)>,
    /// Webhooks among the matches whose receiver is still failing: name, dead letters of
    /// theirs that match, failed attempts in a row.
    still_failing: Vec<(String, i64, i64)>,
}

impl ConfirmPage {
    /// "1,204 dead letters".
    fn how_many(&self) -> String {
        counted(self.count, "dead letter", "dead letters")
    }

    /// What the button replays: those of enabled webhooks, with thousands separated.
    fn to_replay(&self) -> String {
        crate::web::counting::thousands(self.count - self.disabled)
    }
}

/// "Replay all that match": first a page that says how many.
pub async fn confirm_replay_all(
    state: web::Data<AppState>,
    ctx: PageContext,
    query: Query<DeliveryQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let mut filter = checked_filter(&query)?;
    filter.status = Some("dead".into());
    let (count, disabled, still_failing, webhook_name) = state
        .run(move |conn| {
            let ids = delivery_list::ids(conn, &filter)?;
            let disabled = count_of_disabled_webhooks(conn, &ids)?;
            let still_failing = still_failing_among(conn, &ids)?;
            let webhook_name = match filter.webhook_id {
                Some(id) => crate::model::webhook::find(conn, id)?.map(|w| w.name),
                None => None,
            };
            Ok::<_, diesel::result::Error>((
                ids.len() as i64,
                disabled,
                still_failing,
                webhook_name,
            ))
        })
        .await?;
    let filters = query.filters_query();
    let described_filters = describe_filters(&query, webhook_name);
    render(&ConfirmPage {
        ctx: ctx.in_section("dead-letters"),
        query,
        count,
        disabled,
        filters,
        described_filters,
        still_failing,
    })
}

pub async fn replay_all(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let query: DeliveryQuery = crate::web::input::parse_form(&body)?;
    let filter = checked_filter(&query)?;
    let actor = me.actor();
    let replayed = state
        .run(move |conn| replay::replay_matching(conn, &actor, &filter))
        .await?;
    finish(&state, &session, replayed);
    Ok(see_other(&format!(
        "/dead-letters?{}",
        query.filters_query()
    )))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Selection {
    ids: Vec<String>,
    /// Where to go back to (the list with its filters).
    back: String,
}

impl Selection {
    fn parse(body: &[u8]) -> Result<(Vec<Uuid>, String), AppError> {
        let selection: Selection = crate::web::input::parse_form(body)?;
        Ok(selection.checked())
    }

    /// The ids that are ids (the rest are dropped) and a safe way back.
    fn checked(&self) -> (Vec<Uuid>, String) {
        let ids = self
            .ids
            .iter()
            .filter_map(|id| Uuid::parse_str(id).ok())
            .collect();
        let back = crate::web::page::local_path(&self.back)
            .filter(|back| back.starts_with("/dead-letters"))
            .unwrap_or("/dead-letters")
            .to_owned();
        (ids, back)
    }
}

/// Which bulk action a selection's confirmation page asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BulkAction {
    Replay,
    Discard,
}

#[derive(Template)]
#[template(path = "deliveries/confirm_selected.html")]
struct ConfirmSelectedPage {
    ctx: PageContext,
    action: BulkAction,
    /// The selected ids that are still dead letters (what the form posts).
    ids: Vec<Uuid>,
    /// How many were selected but are no longer dead letters (replayed or discarded since).
    gone: usize,
    /// Of `ids`, how many belong to a disabled webhook (replay leaves them alone).
    disabled: i64,
    back: String,
}

impl ConfirmSelectedPage {
    fn replay(&self) -> bool {
        self.action == BulkAction::Replay
    }

    /// "3 dead letters", with thousands separated.
    fn how_many(&self) -> String {
        counted(self.ids.len() as i64, "dead letter", "dead letters")
    }

    /// Replayed = those of enabled webhooks.
    fn to_replay(&self) -> String {
        counted(
            self.ids.len() as i64 - self.disabled,
            "dead letter",
            "dead letters",
        )
    }
}

async fn confirm_selected(
    state: web::Data<AppState>,
    ctx: PageContext,
    selection: Selection,
    action: BulkAction,
) -> Result<HttpResponse, AppError> {
    let (selected, back) = selection.checked();
    let asked = selected.len();
    let (ids, disabled) = state
        .run(move |conn| {
            let dead = replay::dead_among(conn, &selected)?;
            let disabled = count_of_disabled_webhooks(conn, &dead)?;
            Ok::<_, diesel::result::Error>((dead, disabled))
        })
        .await?;
    render(&ConfirmSelectedPage {
        ctx: ctx.in_section("dead-letters"),
        action,
        gone: asked - ids.len(),
        ids,
        disabled,
        back,
    })
}

/// "Replay selected": first a page that says how many, and how many are left alone.
pub async fn confirm_replay_selected(
    state: web::Data<AppState>,
    ctx: PageContext,
    query: Query<Selection>,
) -> Result<HttpResponse, AppError> {
    confirm_selected(state, ctx, query.into_inner(), BulkAction::Replay).await
}

/// "Discard selected": first a page that says how many will be discarded.
pub async fn confirm_discard_selected(
    state: web::Data<AppState>,
    ctx: PageContext,
    query: Query<Selection>,
) -> Result<HttpResponse, AppError> {
    confirm_selected(state, ctx, query.into_inner(), BulkAction::Discard).await
}

pub async fn replay_selected(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (ids, back) = Selection::parse(&body)?;
    if ids.is_empty() {
        session.flash(
            FlashLevel::Error,
            "Select the dead letters to replay first.",
        );
        return Ok(see_other(&back));
    }
    let actor = me.actor();
    let replayed = state
        .run(move |conn| replay::replay_many(conn, &actor, &ids, "selected"))
        .await?;
    finish(&state, &session, replayed);
    Ok(see_other(&back))
}

pub async fn discard_selected(
    state: web::Data<AppState>,
    me: CurrentUser,
    session: TypedSession,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let (ids, back) = Selection::parse(&body)?;
    if ids.is_empty() {
        session.flash(
            FlashLevel::Error,
            "Select the dead letters to discard first.",
        );
        return Ok(see_other(&back));
    }
    let actor = me.actor();
    let discarded = state
        .run(move |conn| replay::discard(conn, &actor, &ids))
        .await?;
    session.flash(
        FlashLevel::Success,
        format!(
            "Discarded {discarded} dead letter{}; they stay in the history.",
            plural(discarded)
        ),
    );
    Ok(see_other(&back))
}

/// The filters of "replay all that match", refused when one cannot be read: dropping it would
/// replay more dead letters than the manager asked for.
fn checked_filter(
    query: &DeliveryQuery,
) -> Result<crate::model::delivery_list::DeliveryFilter, AppError> {
    let mut errors = crate::validation::FieldErrors::default();
    let filter = query.filter(&mut errors);
    match errors.to_map().into_iter().next() {
        None => Ok(filter),
        Some((field, messages)) => Err(AppError::BadRequest(format!(
            "The filter {field} is not valid: {}",
            messages.join(" ")
        ))),
    }
}

/// Wakes the worker and says what happened.
fn finish(state: &AppState, session: &TypedSession, replayed: Replayed) {
    if replayed.replayed > 0 {
        state.queue_signal.queued();
    }
    let mut message = format!(
        "Replaying {} dead letter{}.",
        replayed.replayed,
        plural(replayed.replayed)
    );
    if replayed.skipped_disabled > 0 {
        message.push_str(&format!(
            " {} left alone: their webhook is disabled — enable it first, then replay.",
            replayed.skipped_disabled
        ));
    }
    let level = if replayed.replayed == 0 {
        FlashLevel::Error
    } else {
        FlashLevel::Success
    };
    session.flash(level, message);
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// How many of these deliveries belong to disabled webhooks.
/// The filters of a replay-all in words, in the order of the filter form.
fn describe_filters(
    query: &DeliveryQuery,
    webhook_name: Option<String>,
) -> Vec<(&'static str, String)> {
    let mut described = Vec::new();
    if !query.webhook.trim().is_empty() {
        described.push((
            "Webhook",
            webhook_name.unwrap_or_else(|| query.webhook.clone()),
        ));
    }
    for (label, value) in [
        ("Event type", &query.event_type),
        ("From (UTC)", &query.from),
        ("Until (UTC)", &query.to),
        ("Delivery or event id", &query.q),
    ] {
        if !value.trim().is_empty() {
            described.push((label, value.trim().replace('T', " ")));
        }
    }
    described
}

/// Enabled webhooks among the deliveries `ids` whose last attempts failed (a replay would
/// likely fail again): name, how many of `ids` are theirs, failures in a row.
fn still_failing_among(
    conn: &mut diesel::PgConnection,
    ids: &[Uuid],
) -> diesel::QueryResult<Vec<(String, i64, i64)>> {
    use crate::db::schema::{deliveries, webhooks};
    use diesel::prelude::*;
    let per_webhook: Vec<(i64, String, i64)> = deliveries::table
        .inner_join(webhooks::table)
        .filter(deliveries::id.eq_any(ids))
        .filter(webhooks::enabled.eq(true))
        .group_by((webhooks::id, webhooks::name))
        .select((webhooks::id, webhooks::name, diesel::dsl::count_star()))
        .load(conn)?;
    let webhook_ids: Vec<i64> = per_webhook.iter().map(|(id, _, _)| *id).collect();
    let health = crate::model::health::for_webhooks(conn, &webhook_ids)?;
    Ok(per_webhook
        .into_iter()
        .filter_map(|(id, name, matching)| {
            let failures = health.get(&id).map_or(0, |h| h.consecutive_failures);
            (failures > 0).then_some((name, matching, failures))
        })
        .collect())
}

fn count_of_disabled_webhooks(
    conn: &mut diesel::PgConnection,
    ids: &[Uuid],
) -> diesel::QueryResult<i64> {
    use crate::db::schema::{deliveries, webhooks};
    use diesel::prelude::*;
    deliveries::table
        .inner_join(webhooks::table)
        .filter(deliveries::id.eq_any(ids))
        .filter(webhooks::enabled.eq(false))
        .count()
        .get_result(conn)
}
