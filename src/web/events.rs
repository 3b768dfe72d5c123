//! `/events`: the event catalog, grouped by category, with an example payload for each type;
//! `?q=` narrows it to the types whose name, category or description mention the words.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::page::{PageContext, render};
use super::state::AppState;
use crate::error::AppError;
use crate::model::event_type::{self, EventType};
use crate::web::input::Query;

#[derive(Template)]
#[template(path = "events/catalog.html")]
struct CatalogPage {
    ctx: PageContext,
    groups: Vec<(String, Vec<EventType>)>,
    total: usize,
    shown: usize,
    q: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct CatalogQuery {
    q: String,
}

pub async fn catalog(
    state: web::Data<AppState>,
    ctx: PageContext,
    query: Query<CatalogQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner().q.trim().to_owned();
    let types = state.run(event_type::all).await?;
    let total = types.len();
    let types: Vec<EventType> = types.into_iter().filter(|t| matches(t, &q)).collect();
    render(&CatalogPage {
        ctx: ctx.in_section("events"),
        shown: types.len(),
        groups: event_type::grouped(types),
        total,
        q,
    })
}

/// Whether every word of `q` appears in the type's name, category or description (any case).
fn matches(event_type: &EventType, q: &str) -> bool {
    let haystack = format!(
        "{} {} {}",
        event_type.name, event_type.category, event_type.description
    )
    .to_lowercase();
    q.to_lowercase()
        .split_whitespace()
        .all(|word| haystack.contains(word))
}
