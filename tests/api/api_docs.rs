//! `/api-docs`: the management API's reference rendered in the console from the OpenAPI
//! document — every operation with its summary, parameters, request fields and responses —
//! with no script and nothing from another site.

use herald::domain::role::Role;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_redirects_to, spawn_app};

#[tokio::test]
async fn the_reference_shows_every_operation_of_the_openapi_document() {
    let app = spawn_app().await;
    app.login_as(Role::Viewer).await;
    let document: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let response = app.get("/api-docs").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();

    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let summary = operation["summary"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no summary"));
            let heading = format!(
                r#"{}</span> <code class="api-path">{path}</code></h3>"#,
                method.to_uppercase()
            );
            assert!(html.contains(&heading), "{method} {path} is missing");
            assert!(html.contains(summary), "{method} {path}: no summary");
            for status in operation["responses"].as_object().unwrap().keys() {
                assert!(html.contains(&format!(">{status}</span>")), "{status}");
            }
        }
    }
    // Parameters, request body fields (with `required`) and schemas with their fields.
    assert!(html.contains("<code>per_page</code>"), "{html}");
    assert!(html.contains("<code>endpoint_url</code>"));
    assert!(html.contains("<code>idempotency_key</code>"));
    assert!(html.contains(r#"<code>type</code> <span class="api-required">required</span>"#));
    for schema in document["components"]["schemas"]
        .as_object()
        .unwrap()
        .keys()
    {
        assert!(html.contains(&format!("<code>{schema}</code>")), "{schema}");
    }
    assert!(html.contains(r##"href="#schema-webhookrequest""##));
    // The layout, and nothing that runs or loads from elsewhere beyond the console's own script.
    assert!(html.contains(r#"class="mainnav""#));
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the layout's own script"
    );
    assert!(!html.contains("https://cdn") && !html.contains("src=\"http"));
}

#[tokio::test]
async fn the_footer_links_the_reference_and_the_raw_document() {
    let app = spawn_app().await;
    app.login_as(Role::Viewer).await;
    let html = app.get_html("/").await;
    assert!(
        html.contains(r#"<a href="/api-docs">API reference</a>"#),
        "{html}"
    );
    assert!(html.contains(r#"href="/api/v1/openapi.json""#));
}

#[tokio::test]
async fn the_reference_needs_a_session() {
    let app = spawn_app().await;
    assert_redirects_to(&app.get("/api-docs").await, "/login?next=%2Fapi-docs");
}
