//! The webhook list: search, filters, sort and pagination; links keep the filters.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::error::AppError;
use crate::model::event_type;
use crate::model::webhook::{self, ListFilter, Sort, Webhook};
use crate::model::webhook_flow;
use crate::model::{PageRequest, Paged};
use crate::web::input::Query;
use crate::web::page::{PageContext, render};
use crate::web::state::AppState;
use crate::webhooks::flow_state::Flow;

use super::list_row::Row;

/// How many subscribed events a row names before "and N more".
const EVENTS_SHOWN: usize = 3;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    status: String,
    event: String,
    sort: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "webhooks/list.html")]
struct ListPage {
    ctx: PageContext,
    rows: Vec<Row>,
    page: Paged<Webhook>,
    query: ListQuery,
    event_names: Vec<String>,
    sorts: [(Sort, &'static str, &'static str); 5],
    /// The current filters as a query string prefix, for pagination links.
    base: String,
    rendered_at: String,
    now: chrono::DateTime<chrono::Utc>,
}

impl ListPage {
    fn ago(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::when::relative(*at, self.now)
    }

    fn exact(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::when::exact(*at)
    }

    fn filtered(&self) -> bool {
        !self.query.q.is_empty() || !self.query.status.is_empty() || !self.query.event.is_empty()
    }
}

pub async fn list(
    state: web::Data<AppState>,
    ctx: PageContext,
    query: Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let filter = ListFilter::from_params(&query.q, &query.status, &query.event, &query.sort);
    let page_request = PageRequest::new(query.page, PageRequest::DEFAULT_PER_PAGE);
    let (page, subscriptions, event_names, mut health, flows) = state
        .run(move |conn| {
            let page = webhook::list(conn, &filter, page_request)?;
            let ids: Vec<i64> = page.items.iter().map(|w| w.id).collect();
            let subscriptions = webhook::events_of_many(conn, &ids)?;
            let health = crate::model::health::for_webhooks(conn, &ids)?;
            let flows = webhook_flow::of_webhooks(conn, &ids)?;
            Ok::<_, diesel::result::Error>((
                page,
                subscriptions,
                event_type::names(conn)?,
                health,
                flows,
            ))
        })
        .await?;
    let now = chrono::Utc::now();
    let flows: HashMap<i64, _> = flows.into_iter().map(|f| (f.webhook_id, f)).collect();
    let mut by_webhook: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, event) in subscriptions {
        by_webhook.entry(id).or_default().push(event);
    }
    let rows = page
        .items
        .iter()
        .map(|webhook| {
            let all = by_webhook.remove(&webhook.id).unwrap_or_default();
            Row {
                webhook: webhook.clone(),
                more_events: all.len().saturating_sub(EVENTS_SHOWN),
                events: all.into_iter().take(EVENTS_SHOWN).collect(),
                health: health.remove(&webhook.id).unwrap_or_default(),
                flow: Flow::of(flows.get(&webhook.id), now),
            }
        })
        .collect();
    // Pagination links carry only the filters in use.
    let sort = if query.sort.is_empty() {
        ""
    } else {
        Sort::parse(&query.sort).key()
    };
    let base = crate::web::query_string::page_base(
        "/webhooks",
        &[
            ("q", &query.q),
            ("status", &query.status),
            ("event", &query.event),
            ("sort", sort),
        ],
    );
    render(&ListPage {
        ctx: ctx.in_section("webhooks"),
        rows,
        page,
        query,
        event_names,
        sorts: Sort::ALL,
        base,
        rendered_at: now.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        now,
    })
}
