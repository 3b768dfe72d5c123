//! The delivery worker against real receivers on 127.0.0.1: the request, its signature,
//! retries, dead letters, disabling, batches.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald::tokens::Scope;
use herald::webhooks::signing::SigningSecret;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::delivery_helpers::{
    attempts_of, create_webhook, deliveries_of, delivery_reaches, emit, post_events, token, webhook,
};
use crate::helpers::spawn_app;
use crate::receiver::{Receiver, Reply};

/// Verifies a `webhook-signature` header the way the Standard Webhooks specification says a
/// receiver must: HMAC-SHA256 over "{id}.{timestamp}.{body}" with the base64-decoded secret.
fn signed_by(secret: &SigningSecret, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let key = STANDARD
        .decode(secret.expose().strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header.split(' ').any(|candidate| candidate == expected)
}

#[tokio::test]
async fn a_delivery_carries_every_header_basic_auth_and_a_valid_signature() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, secret) = create_webhook(&app, &receiver.url, |i| {
        i.auth_kind = "basic".into();
        i.basic_username = "lms".into();
        i.basic_password = "s3cret-pass".into();
        i.header_name = vec!["X-Tenant".into()];
        i.header_value = vec!["acme-university".into()];
    })
    .await;
    let secret = secret.expect("signing is on by default");
    let token = token(&app, Scope::Ingest).await;
    let event_id = emit(&app, &token, json!({ "user": { "id": 42 } })).await;

    let request = receiver.wait_for(1).await.remove(0);
    assert_eq!(request.header("content-type"), "application/json");
    assert!(request.header("user-agent").starts_with("Herald/"));
    let body = request.json();
    let delivery = delivery_reaches(&app, hook.id, "delivered").await;
    assert_eq!(body["id"], delivery.id.to_string());
    assert_eq!(body["event"], "course.completed");
    assert_eq!(body["attempt"], 1);
    assert_eq!(body["webhook_id"], hook.id);
    assert_eq!(body["body"]["user"]["id"], 42);
    assert!(body["time_created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(delivery.event_id.unwrap().to_string(), event_id);

    assert_eq!(request.header("webhook-id"), delivery.id.to_string());
    let timestamp = request.header("webhook-timestamp");
    let sent_at: i64 = timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
    let signature = request.header("webhook-signature");
    assert!(signature.starts_with("v1,"));
    assert!(signed_by(
        &secret,
        request.header("webhook-id"),
        timestamp,
        &request.body,
        signature
    ));
    assert!(!signed_by(
        &SigningSecret::generate(),
        request.header("webhook-id"),
        timestamp,
        &request.body,
        signature
    ));

    let basic = STANDARD.encode("lms:s3cret-pass");
    assert_eq!(request.header("authorization"), format!("Basic {basic}"));
    assert_eq!(request.header("x-tenant"), "acme-university");

    // The attempt history has the request headers, with every secret masked.
    let attempts = attempts_of(&app, delivery.id).await;
    assert_eq!(attempts.len(), 1);
    let recorded = attempts[0].request_headers.to_string();
    assert!(!recorded.contains(&basic), "{recorded}");
    assert!(!recorded.contains("acme-university"), "{recorded}");
    assert!(recorded.contains("webhook-signature"));
    assert_eq!(attempts[0].response_status, Some(200));
    assert_eq!(attempts[0].response_body.as_deref(), Some("ok"));
    assert_eq!(attempts[0].outcome, "delivered");
}

#[tokio::test]
async fn an_authorization_header_is_sent_verbatim() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| {
        i.auth_kind = "header".into();
        i.auth_header = "Bearer receiver-token-123".into();
        i.signing_enabled = None;
    })
    .await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    let request = receiver.wait_for(1).await.remove(0);
    assert_eq!(request.header("authorization"), "Bearer receiver-token-123");
    assert!(
        !request.headers.contains_key("webhook-signature"),
        "signing is off"
    );
    let delivery = delivery_reaches(&app, hook.id, "delivered").await;
    let recorded = attempts_of(&app, delivery.id).await[0]
        .request_headers
        .clone();
    assert_eq!(recorded["authorization"], "Bearer ••••••••");
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, old) = create_webhook(&app, &receiver.url, |_| {}).await;
    let secrets = app.secrets.clone();
    let (_, new, _) = app
        .with_conn(move |conn| {
            herald::webhooks::service::rotate_secret(
                conn,
                &herald::model::audit::Actor::system(),
                hook.id,
                Duration::from_secs(3600),
                &secrets,
            )
            .unwrap()
        })
        .await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    let request = receiver.wait_for(1).await.remove(0);
    let signature = request.header("webhook-signature");
    assert_eq!(signature.split(' ').count(), 2, "{signature}");
    let (id, timestamp) = (
        request.header("webhook-id"),
        request.header("webhook-timestamp"),
    );
    assert!(signed_by(&new, id, timestamp, &request.body, signature));
    assert!(signed_by(
        &old.unwrap(),
        id,
        timestamp,
        &request.body,
        signature
    ));
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_id_and_time_created() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(500).body("database down")]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({ "n": 1 })).await;

    let requests = receiver.wait_for(2).await;
    let (first, second) = (requests[0].json(), requests[1].json());
    assert_eq!(first["attempt"], 1);
    assert_eq!(second["attempt"], 2);
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["time_created"], second["time_created"]);
    assert_eq!(
        requests[0].header("webhook-id"),
        requests[1].header("webhook-id")
    );
    // The retry waited for the schedule (1 s, with at most 10% jitter).
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(850));

    let delivery = delivery_reaches(&app, hook.id, "delivered").await;
    assert_eq!(delivery.attempts, 2);
    let attempts = attempts_of(&app, delivery.id).await;
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect::<Vec<_>>(),
        ["retry", "delivered"]
    );
    assert_eq!(attempts[0].response_status, Some(500));
    assert_eq!(attempts[0].response_body.as_deref(), Some("database down"));
}

#[tokio::test]
async fn a_400_is_dead_lettered_at_once() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(400).body("unknown field")]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    let delivery = delivery_reaches(&app, hook.id, "dead").await;
    assert_eq!(delivery.dead_reason.as_deref(), Some("receiver_4xx"));
    assert_eq!(delivery.last_status, Some(400));
    assert_eq!(delivery.attempts, 1);
    assert!(
        webhook(&app, hook.id).await.enabled,
        "the webhook stays enabled by default"
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_4xx_disables_the_webhook_when_it_is_set_so() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(401)]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| {
        i.on_client_error = "disable".into()
    })
    .await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    delivery_reaches(&app, hook.id, "dead").await;
    let disabled = webhook(&app, hook.id).await;
    assert!(!disabled.enabled);
    assert!(disabled.disabled_automatically());
    assert!(
        disabled
            .disabled_reason
            .unwrap()
            .contains("receiver answered 4xx")
    );
    // Nothing more is queued for it.
    emit(&app, &token, json!({})).await;
    assert_eq!(deliveries_of(&app, hook.id).await.len(), 1);
}

#[tokio::test]
async fn a_timeout_is_recorded_and_retried() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(200).after(Duration::from_secs(4))]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| i.timeout_seconds = "1".into()).await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    let delivery = delivery_reaches(&app, hook.id, "delivered").await;
    let attempts = attempts_of(&app, delivery.id).await;
    assert_eq!(attempts[0].error_kind.as_deref(), Some("timeout"));
    assert_eq!(attempts[0].outcome, "retry");
    assert!(
        attempts[0].duration_ms >= 900,
        "{}",
        attempts[0].duration_ms
    );
    assert_eq!(attempts[1].outcome, "delivered");
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_dead_lettered_and_may_disable() {
    let app = spawn_app().await;
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (hook, _) = create_webhook(&app, &format!("http://127.0.0.1:{port}/hook"), |i| {
        i.disable_when_exhausted = Some("on".into());
    })
    .await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    let delivery = delivery_reaches(&app, hook.id, "dead").await;
    assert_eq!(delivery.dead_reason.as_deref(), Some("retries_exhausted"));
    assert_eq!(delivery.attempts, 3);
    assert_eq!(delivery.last_error_kind.as_deref(), Some("connect"));
    let attempts = attempts_of(&app, delivery.id).await;
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect::<Vec<_>>(),
        ["retry", "retry", "disabled"]
    );
    let disabled = webhook(&app, hook.id).await;
    assert!(!disabled.enabled);
    let reason = disabled.disabled_reason.unwrap();
    assert!(
        reason.contains("retries exhausted after 3 attempts"),
        "{reason}"
    );
    assert!(reason.contains("connect"), "{reason}");
}

#[tokio::test]
async fn exhausted_retries_dead_letter_without_disabling_by_default() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![
        Reply::status(503),
        Reply::status(502),
        Reply::status(500),
    ])
    .await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    let delivery = delivery_reaches(&app, hook.id, "dead").await;
    assert_eq!(delivery.dead_reason.as_deref(), Some("retries_exhausted"));
    assert_eq!(delivery.last_status, Some(500));
    assert_eq!(receiver.received().len(), 3);
    assert!(webhook(&app, hook.id).await.enabled);
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_asks() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(429).header("Retry-After", "2")]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    let requests = receiver.wait_for(2).await;
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}, not the 2 s asked"
    );
    delivery_reaches(&app, hook.id, "delivered").await;
}

#[tokio::test]
async fn a_webhook_disabled_while_deliveries_wait_receives_nothing_more() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(503)]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| {
        i.retry_initial_seconds = "3".into();
        i.retry_max_delay_seconds = "3".into();
    })
    .await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    receiver.wait_for(1).await;
    // The retry is now waiting; a manager disables the webhook.
    let pending = delivery_reaches(&app, hook.id, "pending").await;
    let manager = app
        .add_user("mia", herald::domain::role::Role::Manager)
        .await;
    app.with_conn(move |conn| {
        herald::webhooks::service::set_enabled(
            conn,
            &herald::model::audit::Actor::user(manager.id, "mia"),
            hook.id,
            false,
            Some("receiver maintenance"),
        )
        .unwrap()
    })
    .await;
    let dead = delivery_reaches(&app, hook.id, "dead").await;
    assert_eq!(dead.id, pending.id);
    assert_eq!(dead.dead_reason.as_deref(), Some("webhook_disabled"));
    emit(&app, &token, json!({})).await;
    wait_past(pending.next_attempt_at).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "nothing was sent after disabling"
    );
    assert_eq!(
        deliveries_of(&app, hook.id).await.len(),
        1,
        "nothing was queued after disabling"
    );
}

#[tokio::test]
async fn a_batched_webhook_receives_its_events_together() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| {
        i.dispatch_mode = "batched".into();
        i.batch_window_minutes = "60".into();
        i.batch_max_events = "3".into();
    })
    .await;
    let token = token(&app, Scope::Ingest).await;
    // Three events fill the batch: it goes at once.
    let events: Vec<_> = (1..=4)
        .map(|n| json!({ "type": "course.completed", "data": { "n": n } }))
        .collect();
    assert_eq!(
        post_events(&app, &token, &json!(events)).await.status(),
        202
    );
    let request = receiver.wait_for(1).await.remove(0);
    let body = request.json();
    assert_eq!(body["webhook_id"], hook.id);
    assert_eq!(body["attempt"], 1);
    let ns: Vec<i64> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["body"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, [1, 2, 3]);
    assert_eq!(body["events"][0]["event"], "course.completed");

    // The fourth waits for its window; when the window closes it goes alone.
    let open = delivery_reaches(&app, hook.id, "pending").await;
    assert!(open.batch_open);
    assert_eq!(open.event_count, 1);
    assert!(open.next_attempt_at > chrono::Utc::now() + chrono::Duration::minutes(59));
    assert_eq!(receiver.received().len(), 1);
    app.with_conn(move |conn| {
        use diesel::prelude::*;
        use herald::db::schema::deliveries;
        diesel::update(deliveries::table.find(open.id))
            .set(deliveries::next_attempt_at.eq(diesel::dsl::now))
            .execute(conn)
            .unwrap()
    })
    .await;
    let second = receiver.wait_for(2).await.remove(1).json();
    assert_eq!(second["events"].as_array().unwrap().len(), 1);
    assert_eq!(second["events"][0]["body"]["n"], 4);
}

#[tokio::test]
async fn internal_addresses_are_refused_unless_allowed() {
    let app = crate::helpers::spawn_app_with(|s| s.worker.allow_private_targets = vec![]).await;
    let receiver = Receiver::start(vec![]).await;
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let token = token(&app, Scope::Ingest).await;
    for (url, expected) in [
        (receiver.url.clone(), "loopback"),
        (format!("http://localhost:{port}/hook"), "loopback"),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "cloud metadata",
        ),
        ("http://[::ffff:10.0.0.1]/hook".to_owned(), "private"),
    ] {
        let (hook, _) = create_webhook(&app, &url, |_| {}).await;
        emit(&app, &token, json!({})).await;
        let delivery = delivery_reaches(&app, hook.id, "dead").await;
        assert_eq!(
            delivery.dead_reason.as_deref(),
            Some("refused_target"),
            "{url}"
        );
        let attempts = attempts_of(&app, delivery.id).await;
        assert_eq!(attempts.len(), 1, "{url}");
        assert_eq!(attempts[0].error_kind.as_deref(), Some("refused_target"));
        let message = attempts[0].error_message.clone().unwrap();
        assert!(message.contains(expected), "{url}: {message}");
        assert!(
            message.contains("HERALD_ALLOW_PRIVATE_TARGETS"),
            "{message}"
        );
        // Each event reached every webhook created so far; clear them for the next round.
        app.with_conn(move |conn| {
            herald::webhooks::service::delete(conn, &herald::model::audit::Actor::system(), hook.id)
                .unwrap()
        })
        .await;
    }
    assert!(
        receiver.received().is_empty(),
        "no request reached the loopback receiver"
    );
}

#[tokio::test]
async fn a_webhook_deleted_while_a_retry_waits_receives_nothing_more() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(500)]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| {
        i.retry_initial_seconds = "2".into();
        i.retry_max_delay_seconds = "2".into();
    })
    .await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    receiver.wait_for(1).await;
    let pending = delivery_reaches(&app, hook.id, "pending").await;
    app.with_conn(move |conn| {
        herald::webhooks::service::delete(conn, &herald::model::audit::Actor::system(), hook.id)
            .unwrap()
    })
    .await;
    assert!(deliveries_of(&app, hook.id).await.is_empty());
    wait_past(pending.next_attempt_at).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn the_attempt_keeps_the_first_16_kib_of_the_response() {
    let app = spawn_app().await;
    let long = "é".repeat(12 * 1024); // 24 KiB of two-byte characters
    let receiver = Receiver::start(vec![Reply::status(400).body(&long)]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    let delivery = delivery_reaches(&app, hook.id, "dead").await;
    let attempt = attempts_of(&app, delivery.id).await.remove(0);
    let body = attempt.response_body.unwrap();
    assert!(body.len() <= 16 * 1024 + 3, "{}", body.len());
    assert!(body.len() >= 16 * 1024 - 3, "{}", body.len());
    assert!(body.starts_with("éé"));
    assert_eq!(attempt.response_status, Some(400));
    assert!(attempt.response_headers.unwrap()["content-length"].is_string());
}

/// "Nothing arrives" cannot be awaited: wait until a second after the retry was due.
async fn wait_past(due: chrono::DateTime<chrono::Utc>) {
    let due_in = (due - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(due_in + Duration::from_secs(1)).await;
}
