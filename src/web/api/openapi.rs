//! The OpenAPI 3 document of the API, generated from the handlers' annotations and the types
//! they serialise, so it cannot drift from what the API does. Served at
//! `/api/v1/openapi.json`.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{deliveries, events, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald API",
        description = "Post learning-platform events, and manage webhooks, deliveries and dead letters. Authenticate with `Authorization: Bearer <token>` (scopes: ingest, read, manage)."
    ),
    paths(
        events::ingest,
        webhooks::list,
        webhooks::create,
        webhooks::show,
        webhooks::replace,
        webhooks::patch,
        webhooks::delete,
        webhooks::enable,
        webhooks::disable,
        webhooks::send_ping,
        webhooks::rotate_secret,
        webhooks::event_types,
        deliveries::list,
        deliveries::show,
        deliveries::redeliver,
        deliveries::dead_letters,
        deliveries::replay,
        deliveries::discard,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json` (public: it describes, it does not grant).
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
