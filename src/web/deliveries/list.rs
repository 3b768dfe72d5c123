//! The deliveries list (and, filtered to dead ones, the dead-letter queue): newest first,
//! filters, keyset pages, the time it was rendered, optional auto-refresh.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};

use super::query::DeliveryQuery;
use crate::error::AppError;
use crate::model::delivery_list::{self, DeliveryPage, STATUSES};
use crate::model::event_type;
use crate::validation::FieldErrors;
use crate::web::input::Query;
use crate::web::page::{PageContext, render};
use crate::web::state::AppState;

pub const PER_PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "deliveries/list.html")]
pub struct ListPage {
    pub ctx: PageContext,
    pub dead_letters: bool,
    pub path: &'static str,
    pub query: DeliveryQuery,
    pub errors: FieldErrors,
    pub page: DeliveryPage,
    pub webhooks: Vec<(i64, String)>,
    pub event_types: Vec<String>,
    pub statuses: &'static [&'static str],
    pub rendered_at: DateTime<Utc>,
    pub filters: String,
    /// Dead letters matching the filters (for "replay all"), counted up to 10,000.
    pub matching: delivery_list::UpTo,
}

pub async fn list(
    state: web::Data<AppState>,
    ctx: PageContext,
    query: Query<DeliveryQuery>,
) -> Result<HttpResponse, AppError> {
    render(&build(&state, ctx, query.into_inner(), false).await?)
}

/// The page for `/deliveries` or, with `dead_letters`, `/dead-letters`.
pub async fn build(
    state: &AppState,
    ctx: PageContext,
    query: DeliveryQuery,
    dead_letters: bool,
) -> Result<ListPage, AppError> {
    let mut errors = FieldErrors::default();
    let mut filter = query.filter(&mut errors);
    if dead_letters {
        filter.status = Some("dead".into());
    }
    let cursor = query.cursor();
    let (page, webhooks, event_types, matching) = state
        .run(move |conn| {
            let matching = if dead_letters {
                delivery_list::count_up_to(conn, &filter, delivery_list::COUNT_CAP)?
            } else {
                delivery_list::UpTo {
                    count: 0,
                    capped: false,
                }
            };
            Ok::<_, diesel::result::Error>((
                delivery_list::page(conn, &filter, cursor, PER_PAGE)?,
                webhook_names(conn)?,
                event_type::names(conn)?,
                matching,
            ))
        })
        .await?;
    let filters = query.filters_query();
    Ok(ListPage {
        ctx: ctx.in_section(if dead_letters {
            "dead-letters"
        } else {
            "deliveries"
        }),
        dead_letters,
        path: if dead_letters {
            "/dead-letters"
        } else {
            "/deliveries"
        },
        query,
        errors,
        page,
        webhooks,
        event_types,
        statuses: &STATUSES,
        rendered_at: Utc::now(),
        filters,
        matching,
    })
}

/// `(id, name)` of every webhook, for the filter.
pub fn webhook_names(conn: &mut diesel::PgConnection) -> diesel::QueryResult<Vec<(i64, String)>> {
    use crate::db::schema::webhooks;
    use diesel::prelude::*;
    webhooks::table
        .select((webhooks::id, webhooks::name))
        .order(webhooks::name)
        .load(conn)
}

impl ListPage {
    fn ago(&self, at: &DateTime<Utc>) -> String {
        crate::web::when::relative(*at, self.rendered_at)
    }

    fn exact(&self, at: &DateTime<Utc>) -> String {
        crate::web::when::exact(*at)
    }

    /// This list with auto-refresh switched on or off.
    pub fn auto_link(&self, on: bool) -> String {
        let mut query = self.query.clone();
        query.auto = if on { "on".into() } else { String::new() };
        format!("{}?{}", self.path, query.filters_query())
    }

    pub fn older_link(&self) -> Option<String> {
        let last = self.page.items.last()?;
        self.page
            .has_older
            .then(|| format!("{}?{}&before={}", self.path, self.filters, last.id))
    }

    pub fn newer_link(&self) -> Option<String> {
        let first = self.page.items.first()?;
        self.page
            .has_newer
            .then(|| format!("{}?{}&after={}", self.path, self.filters, first.id))
    }
}
