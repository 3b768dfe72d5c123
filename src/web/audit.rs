//! `/audit`: who changed what and when, newest first, with filters.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{PageContext, render};
use super::state::AppState;
use crate::error::AppError;
use crate::model::audit::{self, AuditEntry, AuditFilter};
use crate::model::{PageRequest, Paged};
use crate::web::input::Query;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    target_type: String,
    action: String,
    actor: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "audit/list.html")]
struct AuditPage {
    ctx: PageContext,
    entries: Paged<AuditEntry>,
    query: AuditQuery,
    base: String,
    now: chrono::DateTime<chrono::Utc>,
}

impl AuditPage {
    fn sentence(&self, entry: &AuditEntry) -> crate::web::audit_sentence::Sentence {
        crate::web::audit_sentence::describe(entry)
    }

    fn ago(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::when::relative(*at, self.now)
    }

    fn exact(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::when::exact(*at)
    }

    /// The details, indented, for the collapsed "details" view.
    fn pretty(&self, details: &serde_json::Value) -> String {
        serde_json::to_string_pretty(details).unwrap_or_default()
    }

    fn has_details(&self, details: &serde_json::Value) -> bool {
        details.as_object().is_some_and(|o| !o.is_empty())
    }
}

pub async fn list(
    state: web::Data<AppState>,
    ctx: PageContext,
    query: Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let filter = AuditFilter {
        target_type: Some(query.target_type.clone()),
        action: Some(query.action.clone()),
        actor: Some(query.actor.clone()),
    };
    let page = PageRequest::new(query.page, PageRequest::DEFAULT_PER_PAGE);
    let entries = state
        .run(move |conn| audit::list_filtered(conn, &filter, page))
        .await?;
    let base = crate::web::query_string::page_base(
        "/audit",
        &[
            ("target_type", &query.target_type),
            ("action", &query.action),
            ("actor", &query.actor),
        ],
    );
    render(&AuditPage {
        ctx: ctx.in_section("audit"),
        entries,
        query,
        base,
        now: chrono::Utc::now(),
    })
}
