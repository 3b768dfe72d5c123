//! `/healthz`: 200 when the database answers, 503 when it does not. Public, for load balancers.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;
use serde_json::json;

use super::state::AppState;

pub async fn check(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let database_ok = web::block(move || {
        let mut conn = pool.get_timeout(Duration::from_secs(2)).ok()?;
        diesel::sql_query("SELECT 1").execute(&mut conn).ok()
    })
    .await
    .ok()
    .flatten()
    .is_some();
    if database_ok {
        HttpResponse::Ok().json(json!({ "status": "ok", "database": "ok" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "database": "unreachable" }))
    }
}
