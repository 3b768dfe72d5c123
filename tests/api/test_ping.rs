//! "Send test event" on the webhook page: sent at once, answer shown, recorded, manager-only.

use herald::domain::role::Role;

use crate::delivery_helpers::{attempts_of, create_webhook, deliveries_of, webhook};
use crate::helpers::spawn_app_with;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn a_manager_sends_a_ping_and_sees_the_answer() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let receiver = Receiver::start(vec![
        Reply::status(200)
            .header("X-Receiver", "hr-system")
            .body("{\"received\": true}"),
    ])
    .await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    app.login_as(Role::Manager).await;

    let response = app
        .post_form(&format!("/webhooks/{}/test", hook.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("/webhooks/{}?test=", hook.id)),
        "{location}"
    );

    let request = receiver.wait_for(1).await.remove(0);
    assert_eq!(request.json()["event"], "webhook.ping");
    assert!(request.headers.contains_key("webhook-signature"));

    let page = app.get_html(&location).await;
    assert!(page.contains("Test event:"), "{page}");
    assert!(page.contains("delivered"));
    assert!(page.contains("HTTP 200"));
    assert!(page.contains("x-receiver: hr-system"));
    assert!(
        page.contains("{&#34;received&#34;: true}")
            || page.contains("{&quot;received&quot;: true}"),
        "{page}"
    );

    let deliveries = deliveries_of(&app, hook.id).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, "delivered");
    assert_eq!(attempts_of(&app, deliveries[0].id).await.len(), 1);
}

#[tokio::test]
async fn a_failed_ping_is_shown_and_changes_nothing_else() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let receiver = Receiver::start(vec![Reply::status(401).body("bad credentials")]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| {
        i.on_client_error = "disable".into()
    })
    .await;
    app.login_as(Role::Manager).await;
    let response = app
        .post_form(&format!("/webhooks/{}/test", hook.id), &[])
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let page = app.get_html(&location).await;
    assert!(page.contains("failed"));
    assert!(page.contains("HTTP 401"));
    assert!(page.contains("bad credentials"));
    assert!(
        webhook(&app, hook.id).await.enabled,
        "a test never disables the webhook"
    );
    let deliveries = deliveries_of(&app, hook.id).await;
    assert_eq!(deliveries[0].status, "dead");
    assert_eq!(deliveries[0].dead_reason.as_deref(), Some("test"));
}

#[tokio::test]
async fn an_unreachable_receiver_shows_the_error() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (hook, _) = create_webhook(&app, &format!("http://127.0.0.1:{port}/x"), |_| {}).await;
    app.login_as(Role::Manager).await;
    let response = app
        .post_form(&format!("/webhooks/{}/test", hook.id), &[])
        .await;
    let page = app
        .get_html(response.headers()["location"].to_str().unwrap())
        .await;
    assert!(page.contains("connect"), "{page}");
    assert!(page.contains("failed"));
}

#[tokio::test]
async fn viewers_cannot_send_tests() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    app.login_as(Role::Viewer).await;
    let page = app.get_html(&format!("/webhooks/{}", hook.id)).await;
    assert!(!page.contains("Send test event"));
    let response = app
        .post_form(&format!("/webhooks/{}/test", hook.id), &[])
        .await;
    assert_eq!(response.status(), 403);
    assert!(receiver.received().is_empty());
    assert!(deliveries_of(&app, hook.id).await.is_empty());
}
