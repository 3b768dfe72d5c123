//! "Send test event" on the webhook page: any catalog type with its example or an edited
//! payload, sent at once, answer shown and kept in the webhook's own list of tests — never a
//! delivery, a dead letter or part of the webhook's health; manager-only.

use herald::domain::role::Role;

use crate::delivery_helpers::{create_webhook, deliveries_of, webhook};
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

    // Kept as a test, not as a delivery.
    assert!(deliveries_of(&app, hook.id).await.is_empty());
    assert!(page.contains("Earlier tests"));
    assert_eq!(page.matches("?test=").count(), 1, "one earlier test listed");
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
    // No dead letter, no failure streak, nothing on the dashboard.
    assert!(deliveries_of(&app, hook.id).await.is_empty());
    let health = app
        .with_conn(move |conn| herald::model::health::for_webhooks(conn, &[hook.id]).unwrap())
        .await
        .remove(&hook.id)
        .unwrap();
    assert_eq!(health.consecutive_failures, 0);
    assert_eq!(health.attempts_24h, 0);
    assert_eq!(health.dead, 0);
    let dashboard = app.get_html("/").await;
    assert!(dashboard.contains("No failed attempts."), "{dashboard}");
    let list = app.get_html("/webhooks").await;
    assert!(list.contains(">no deliveries yet</span>"), "{list}");
}

#[tokio::test]
async fn a_chosen_event_type_goes_with_its_example_or_the_edited_payload() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let receiver = Receiver::start(vec![Reply::status(202)]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    app.login_as(Role::Manager).await;

    // "Load its example" fills the payload with the catalog's example for that type.
    let page = app
        .get_html(&format!("/webhooks/{}?test_type=course.completed", hook.id))
        .await;
    assert!(
        page.contains("<option value=\"course.completed\" selected>"),
        "{page}"
    );
    assert!(
        page.contains("<input type=\"hidden\" name=\"event_type\" value=\"course.completed\">")
    );
    assert!(
        page.contains("&#34;course&#34;"),
        "the example payload is in the textarea"
    );

    let response = app
        .post_form(
            &format!("/webhooks/{}/test", hook.id),
            &[
                ("event_type", "course.completed"),
                (
                    "payload",
                    "{\"user\": {\"id\": 42}, \"course\": {\"id\": 7, \"name\": \"Fire safety\"}}",
                ),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let sent = receiver.wait_for(1).await.remove(0).json();
    assert_eq!(sent["event"], "course.completed");
    assert_eq!(sent["body"]["course"]["name"], "Fire safety");
    let page = app
        .get_html(response.headers()["location"].to_str().unwrap())
        .await;
    assert!(page.contains("HTTP 202"), "{page}");
    assert!(page.contains("Fire safety"), "the request body is shown");
}

#[tokio::test]
async fn a_bad_payload_comes_back_beside_the_field_as_typed() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    app.login_as(Role::Manager).await;
    let response = app
        .post_form(
            &format!("/webhooks/{}/test", hook.id),
            &[
                ("event_type", "course.completed"),
                ("payload", "{\"user\": "),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("The payload is not valid JSON"), "{page}");
    assert!(
        page.contains("{&#34;user&#34;: </textarea>"),
        "what was typed is kept: {page}"
    );
    let response = app
        .post_form(
            &format!("/webhooks/{}/test", hook.id),
            &[("event_type", "no.such.type"), ("payload", "{}")],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("is not one"));
    assert!(receiver.received().is_empty());
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
