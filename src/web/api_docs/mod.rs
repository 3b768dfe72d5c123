//! `/api-docs`: the management API's reference as a console page, rendered on the server
//! from the same OpenAPI document that `/api/v1/openapi.json` serves (no script, nothing from
//! another site). Everyone signed in may read it.

pub mod reference;

use std::sync::LazyLock;

use actix_web::HttpResponse;
use askama::Template;
use utoipa::OpenApi;

use super::api::openapi::ApiDoc;
use super::page::{PageContext, render};
use crate::error::AppError;
use reference::Reference;

/// Built once: the document is fixed at compile time.
static REFERENCE: LazyLock<Reference> = LazyLock::new(|| {
    let document =
        serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises to JSON");
    reference::build(&document)
});

#[derive(Template)]
#[template(path = "api_docs/page.html")]
struct ApiDocsPage {
    ctx: PageContext,
    doc: &'static Reference,
}

pub async fn show(ctx: PageContext) -> Result<HttpResponse, AppError> {
    render(&ApiDocsPage {
        ctx: ctx.in_section("api-docs"),
        doc: &REFERENCE,
    })
}
