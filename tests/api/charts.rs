//! The dashboard and webhook pages chart attempts per hour and name the webhooks with the most
//! failures, from real deliveries to real receivers.

use herald::domain::role::Role;
use herald::tokens::Scope;

use crate::delivery_helpers::{create_webhook, delivery_reaches, emit, token};
use crate::helpers::spawn_app;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn charts_and_the_most_failures_list_count_real_attempts() {
    let app = spawn_app().await;
    let fine = Receiver::start(vec![Reply::status(200)]).await;
    let broken = Receiver::start(vec![Reply::status(422)]).await;
    let (healthy, _) = create_webhook(&app, &fine.url, |i| i.name = "Grades export".into()).await;
    let (failing, _) =
        create_webhook(&app, &broken.url, |i| i.name = "Student records".into()).await;
    let ingest = token(&app, Scope::Ingest).await;
    emit(
        &app,
        &ingest,
        serde_json::json!({ "user": { "id": 1 }, "course": { "id": 2 } }),
    )
    .await;
    delivery_reaches(&app, healthy.id, "delivered").await;
    delivery_reaches(&app, failing.id, "dead").await;
    app.login_as(Role::Viewer).await;

    let dashboard = app.get_html("/").await;
    assert!(
        dashboard.contains("aria-label=\"Delivery attempts per hour, all webhooks: 2 attempts, 1 failed, in the last 24 hours\""),
        "{dashboard}"
    );
    assert!(
        dashboard.contains("1 delivered, 1 failed, 50 % delivered</title>"),
        "{dashboard}"
    );
    assert!(dashboard.contains("50 % delivered in 24 h"));
    let most = &dashboard[dashboard.find("Most failures").unwrap()..];
    let most = &most[..most.find("</section>").unwrap()];
    assert!(
        most.contains("Student records") && most.contains("1 of 1 failed"),
        "{most}"
    );
    assert!(!most.contains("Grades export"), "{most}");

    let page = app.get_html(&format!("/webhooks/{}", failing.id)).await;
    assert!(
        page.contains("aria-label=\"Delivery attempts per hour for this webhook: 1 attempt, 1 failed, in the last 24 hours\""),
        "{page}"
    );
    let page = app.get_html(&format!("/webhooks/{}", healthy.id)).await;
    assert!(
        page.contains("for this webhook: 1 attempt, 0 failed"),
        "{page}"
    );
}
