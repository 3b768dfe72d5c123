use diesel::r2d2::Pool;
use herald::config::Settings;
use herald::db::CheckedManager;
use herald::domain::secret_key::SecretKey;
use herald::startup::Application;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{spawn_app, with_database};

#[tokio::test]
async fn healthz_reports_ok_with_a_reachable_database() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "status": "ok", "database": "ok" }));
}

#[tokio::test]
async fn healthz_reports_503_when_the_database_is_unreachable() {
    let app = spawn_app().await;
    // A pool whose database does not exist: every checkout fails.
    let missing = with_database(&app.database.url, "herald_no_such_database");
    let pool = Pool::builder()
        .max_size(1)
        .connection_timeout(std::time::Duration::from_secs(1))
        .build_unchecked(CheckedManager::new(&missing));
    let pools = herald::db::Pools {
        web: pool.clone(),
        worker: pool,
        url: missing.clone(),
    };
    let broken = Application::build(
        Settings::for_database(&missing),
        pools,
        SecretKey::generate(),
    )
    .await
    .unwrap();
    let address = format!("http://127.0.0.1:{}", broken.port());
    tokio::spawn(broken.run_until_stopped());

    let response = reqwest::get(format!("{address}/healthz")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], "unreachable");
}
