//! `/`: how delivery is going — the last 24 hours by status, the queue and its oldest entry,
//! dead letters waiting, webhooks disabled automatically, and the latest failures.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};

use super::page::{PageContext, render};
use super::state::AppState;
use crate::auth::current_user::CurrentUser;
use crate::error::AppError;
use crate::model::dashboard::{self, Overview};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    ctx: PageContext,
    me: CurrentUser,
    overview: Overview,
    rendered_at: DateTime<Utc>,
}

impl DashboardPage {
    fn count_of(&self, status: &str) -> i64 {
        self.overview
            .last_day
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    }

    fn total_last_day(&self) -> i64 {
        self.overview.last_day.iter().map(|(_, n)| n).sum()
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
) -> Result<HttpResponse, AppError> {
    let overview = state.run(dashboard::overview).await?;
    render(&DashboardPage {
        ctx: ctx.in_section("dashboard"),
        me,
        overview,
        rendered_at: Utc::now(),
    })
}
