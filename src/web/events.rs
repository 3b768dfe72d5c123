//! `/events`: the event catalog, grouped by category, with an example payload for each type.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::page::{PageContext, render};
use super::state::AppState;
use crate::error::AppError;
use crate::model::event_type::{self, EventType};

#[derive(Template)]
#[template(path = "events/catalog.html")]
struct CatalogPage {
    ctx: PageContext,
    groups: Vec<(String, Vec<EventType>)>,
    total: usize,
}

pub async fn catalog(
    state: web::Data<AppState>,
    ctx: PageContext,
) -> Result<HttpResponse, AppError> {
    let types = state.run(event_type::all).await?;
    let total = types.len();
    render(&CatalogPage {
        ctx: ctx.in_section("events"),
        groups: event_type::grouped(types),
        total,
    })
}
