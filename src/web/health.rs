//! `/healthz`: 200 when the database answered the monitor's last ping (at most 3 s ago), 503
//! otherwise. Public, for load balancers. It reads the monitor's cached result and never
//! waits for the database, so it answers at once under any load.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::state::AppState;

pub async fn check(state: web::Data<AppState>) -> HttpResponse {
    if state.database.is_reachable() {
        HttpResponse::Ok().json(json!({ "status": "ok", "database": "ok" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(json!({ "status": "unavailable", "database": "unreachable" }))
    }
}
