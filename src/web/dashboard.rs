//! `/`: how delivery is going — the last 24 hours by status, the queue and its oldest entry,
//! dead letters waiting, webhooks failing or paused now, webhooks disabled automatically, and
//! the latest failures. While the first setup is incomplete, a checklist on top (see
//! [`FirstRun`]).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};

use super::charts;
use super::page::{PageContext, render};
use super::state::AppState;
use crate::auth::current_user::CurrentUser;
use crate::error::AppError;
use crate::model::activity::{self, FailureCount};
use crate::model::dashboard::{self, Overview};
use crate::model::first_run::{self, Progress};
use crate::webhooks::flow_state::Flow;

/// A webhook held back now (breaker open, or paused by its receiver).
struct HeldBackRow {
    id: i64,
    name: String,
    enabled: bool,
    flow: Flow,
}

/// The first-run checklist: shown until every step is done (then it is gone for everyone;
/// each tick comes from the data, so there is nothing to dismiss or to get out of step).
pub struct FirstRun {
    pub progress: Progress,
    /// Who can create an ingest token, for users who cannot.
    pub admins: Vec<String>,
    /// A first event for `POST /api/v1/events` at the address the browser used.
    pub curl_example: String,
}

impl FirstRun {
    fn new(progress: Progress, admins: Vec<String>, base_url: &str) -> Self {
        let curl_example = format!(
            r#"curl -s {base_url}/api/v1/events \
  -H "Authorization: Bearer $HERALD_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{{"type": "course.completed", "data": {{"user": {{"id": 42}}, "course": {{"id": 7}}}}}}'"#
        );
        Self {
            progress,
            admins,
            curl_example,
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    ctx: PageContext,
    me: CurrentUser,
    overview: Overview,
    /// Attempts of the 24 hours the chart shows.
    last_day: dashboard::DayCounts,
    held_back: Vec<HeldBackRow>,
    rendered_at: DateTime<Utc>,
    /// Attempts per hour over the last 24 h (inline SVG made by `charts`).
    activity_svg: String,
    success_rate: String,
    most_failures: Vec<FailureCount>,
    /// `None` once the first setup is complete.
    first_run: Option<FirstRun>,
}

impl DashboardPage {
    /// Whether more webhooks are held back than the list shows.
    fn more_held_back(&self) -> bool {
        self.overview.failing + self.overview.paused > self.held_back.len() as i64
    }

    /// "3 min" for the oldest delivery still queued.
    fn oldest_queued_age(&self) -> Option<String> {
        self.overview.oldest_queued_at.map(|at| {
            let seconds = (self.rendered_at - at).num_seconds().max(0) as u64;
            super::deliveries::detail::humanize(seconds)
        })
    }
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: PageContext,
    me: CurrentUser,
    request: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let now = Utc::now();
    let since = now - chrono::Duration::hours(24);
    let (mut overview, hourly, most_failures, first_run) = state
        .run(move |conn| {
            let progress = first_run::progress(conn)?;
            let first_run = if progress.complete() {
                None
            } else {
                Some((progress, first_run::admin_names(conn)?))
            };
            Ok::<_, diesel::result::Error>((
                dashboard::overview(conn)?,
                activity::hourly(conn, None, since)?,
                activity::most_failures(conn, since, 5)?,
                first_run,
            ))
        })
        .await?;
    let base_url = super::inboxes::base_url(&request);
    let first_run = first_run.map(|(progress, admins)| FirstRun::new(progress, admins, &base_url));
    let hours = charts::last_day(&hourly, now);
    // The same 24 hours the chart shows.
    let last_day = dashboard::DayCounts::of(&hours);
    let held_back = std::mem::take(&mut overview.held_back)
        .into_iter()
        .map(|h| HeldBackRow {
            id: h.flow.webhook_id,
            name: h.name,
            enabled: h.enabled,
            flow: Flow::of(Some(&h.flow), now),
        })
        .collect();
    render(&DashboardPage {
        ctx: ctx.in_section("dashboard"),
        me,
        overview,
        last_day,
        held_back,
        rendered_at: now,
        activity_svg: charts::hourly_svg(&hours, "Delivery attempts per hour, all webhooks"),
        success_rate: charts::success_rate(&hours),
        most_failures,
        first_run,
    })
}
