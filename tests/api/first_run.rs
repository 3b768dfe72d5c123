//! The dashboard's first-run checklist: each step ticks from real data (a webhook, a test
//! event sent, an ingest token, an event received) and the list goes away once all are done;
//! a user who cannot create tokens is told which administrators can.

use herald::domain::role::Role;
use herald::tokens::Scope;

use crate::delivery_helpers::{create_webhook, emit, token};
use crate::helpers::{PASSWORD, spawn_app_with};
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn each_step_ticks_from_real_data_and_the_checklist_goes_away_when_all_are_done() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    app.login_as(Role::Admin).await;

    let page = app.get_html("/").await;
    assert!(page.contains("Get started"), "{page}");
    assert!(page.contains("0 of 4 done"));
    assert!(
        page.contains("href=\"/inboxes\""),
        "the test receiver is offered"
    );
    assert!(
        page.contains("href=\"/tokens\""),
        "admins create the token themselves"
    );
    // The example posts to the address this console was reached at.
    assert!(page.contains(&format!("curl -s {}/api/v1/events", app.address)));

    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    assert!(app.get_html("/").await.contains("1 of 4 done"));

    let response = app
        .post_form(&format!("/webhooks/{}/test", hook.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert!(app.get_html("/").await.contains("2 of 4 done"));

    let ingest = token(&app, Scope::Ingest).await;
    let page = app.get_html("/").await;
    assert!(page.contains("3 of 4 done"));
    assert_eq!(page.matches("✓ Done").count(), 3);

    emit(&app, &ingest, serde_json::json!({ "user": { "id": 1 } })).await;
    let page = app.get_html("/").await;
    assert!(!page.contains("Get started"), "{page}");
    assert!(page.contains("Last 24 hours"), "the dashboard itself stays");
}

#[tokio::test]
async fn a_token_of_another_scope_does_not_tick_the_ingest_step() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    app.login_as(Role::Admin).await;
    token(&app, Scope::Read).await;
    let page = app.get_html("/").await;
    assert!(page.contains("0 of 4 done"), "{page}");
}

#[tokio::test]
async fn users_who_cannot_create_tokens_are_told_whom_to_ask() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    app.add_user("first-admin", Role::Admin).await;
    let viewer = app.add_user("new-viewer", Role::Viewer).await;
    app.login(&viewer.username, PASSWORD).await;

    let page = app.get_html("/").await;
    assert!(page.contains("Get started"));
    assert!(page.contains("ask <strong>first-admin</strong>"), "{page}");
    assert!(!page.contains("href=\"/tokens\""));
    assert!(
        !page.contains("href=\"/webhooks/new\""),
        "viewers do not create webhooks"
    );
}
