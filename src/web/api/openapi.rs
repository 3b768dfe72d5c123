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
    tags(
        (name = "events", description = "What the learning platform posts: one event or a batch, queued for every subscribed webhook."),
        (name = "webhooks", description = "Receivers: their settings, enabling and disabling, test events and signing secrets."),
        (name = "event types", description = "The event catalog webhooks subscribe to."),
        (name = "deliveries", description = "Deliveries with their attempts, dead letters, replay, redelivery and discard.")
    ),
    modifiers(&BearerToken, &ServiceUnavailable)
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

/// Every endpoint may answer 503 with `Retry-After` (the database is unavailable, or ingest
/// is at its limit), documented once here rather than on each handler.
struct ServiceUnavailable;

impl Modify for ServiceUnavailable {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, ResponseBuilder};
        let response = ResponseBuilder::new()
            .description(
                "The database is unavailable, or Herald is busy (ingest at its limit): retry after the seconds in Retry-After",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("Seconds to wait before retrying"))
                    .build(),
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("503".into())
                    .or_insert_with(|| response.clone().into());
            }
        }
    }
}

/// `GET /api/v1/openapi.json` (public: it describes, it does not grant).
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
