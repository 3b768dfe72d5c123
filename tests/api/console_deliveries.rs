//! The deliveries console: lists with filters and keyset pages, the delivery page, dead-letter
//! replay (one, selected, all by filter after a counted confirmation), discard, redeliver,
//! refusal for disabled webhooks, health, the dashboard, retention, and permissions.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use herald::db::schema::{audit_log, deliveries, events};
use herald::domain::role::Role;
use herald::ingest::event_data::EventData;
use herald::model::delivery::NewDelivery;
use herald::model::event::NewEvent;
use herald::tokens::Scope;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::delivery_helpers::{
    attempts_of, create_webhook, deliveries_of, delivery_reaches, emit, token, webhook,
};
use crate::helpers::{TestApp, eventually, spawn_app, spawn_app_with};
use crate::receiver::{Receiver, Reply};

/// Stores `n` events of `event_type` with one delivery each to `webhook_id` in `status`;
/// returns (event id, delivery id) pairs, oldest first.
pub(crate) async fn seed(
    app: &TestApp,
    webhook_id: i64,
    n: usize,
    status: &'static str,
    event_type: &'static str,
) -> Vec<(Uuid, Uuid)> {
    seed_at(app, webhook_id, n, status, event_type, Utc::now()).await
}

/// Like `seed`, with event and delivery ids (UUID v7, which carry their creation time) made
/// at `at`.
async fn seed_at(
    app: &TestApp,
    webhook_id: i64,
    n: usize,
    status: &'static str,
    event_type: &'static str,
    at: chrono::DateTime<Utc>,
) -> Vec<(Uuid, Uuid)> {
    let id_at = move || {
        let ts = uuid::Timestamp::from_unix(
            uuid::NoContext,
            at.timestamp() as u64,
            at.timestamp_subsec_nanos(),
        );
        let random = Uuid::new_v4().as_u128() & ((1u128 << 62) - 1);
        Uuid::from_u128((Uuid::new_v7(ts).as_u128() & !((1u128 << 62) - 1)) | random)
    };
    app.with_conn(move |conn| {
        let mut pairs = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
            let new_events: Vec<NewEvent> = chunk
                .iter()
                .map(|i| NewEvent {
                    id: id_at(),
                    event_type: event_type.into(),
                    occurred_at: Utc::now(),
                    payload: EventData::from_value(&json!({ "n": i })),
                    idempotency_key: None,
                    source: "test".into(),
                })
                .collect();
            diesel::insert_into(events::table)
                .values(&new_events)
                .execute(conn)
                .unwrap();
            let new_deliveries: Vec<NewDelivery> = new_events
                .iter()
                .map(|e| NewDelivery {
                    id: id_at(),
                    webhook_id,
                    event_id: Some(e.id),
                    event_type: event_type.into(),
                    status,
                    batch_open: false,
                    event_count: 1,
                    next_attempt_at: Utc::now() + chrono::Duration::days(1),
                    lease_until: None,
                    leased_by: None,
                })
                .collect();
            diesel::insert_into(deliveries::table)
                .values(&new_deliveries)
                .execute(conn)
                .unwrap();
            if status == "dead" {
                diesel::update(deliveries::table.filter(deliveries::status.eq("dead")))
                    .set((
                        deliveries::dead_reason.eq("retries_exhausted"),
                        deliveries::attempts.eq(3),
                        deliveries::last_error.eq("HTTP 503"),
                    ))
                    .execute(conn)
                    .unwrap();
            }
            pairs.extend(
                new_events
                    .iter()
                    .zip(&new_deliveries)
                    .map(|(e, d)| (e.id, d.id)),
            );
        }
        pairs
    })
    .await
}

fn rows_in(html: &str) -> usize {
    html.matches("href=\"/deliveries/").count()
}

/// The cursor of the "Older →" link, if any.
fn older_cursor(html: &str) -> Option<String> {
    let at = html.find("before=")?;
    Some(html[at + 7..at + 7 + 36].to_owned())
}

#[tokio::test]
async fn the_list_filters_and_pages_through_thousands_of_deliveries() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let (first, _) = create_webhook(&app, "http://127.0.0.1:9/a", |_| {}).await;
    let (second, _) = create_webhook(&app, "http://127.0.0.1:9/b", |_| {}).await;
    seed(&app, first.id, 1800, "delivered", "course.completed").await;
    let dead = seed(&app, second.id, 400, "dead", "badge.awarded").await;
    seed(&app, second.id, 300, "pending", "course.completed").await;
    app.login_as(Role::Viewer).await;

    // Every row exactly once, newest first, 50 a page.
    let mut seen = std::collections::HashSet::new();
    let mut path = "/deliveries".to_owned();
    let mut pages = 0;
    loop {
        let html = app.get_html(&path).await;
        pages += 1;
        for part in html.split("href=\"/deliveries/").skip(1) {
            assert!(seen.insert(part[..36].to_owned()), "a row was shown twice");
        }
        match older_cursor(&html) {
            Some(cursor) => path = format!("/deliveries?before={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2500);
    assert_eq!(pages, 50);

    let html = app.get_html("/deliveries?status=dead").await;
    assert_eq!(rows_in(&html), 50);
    assert!(!html.contains("st-delivered\">delivered"));
    let html = app
        .get_html(&format!("/deliveries?webhook={}&status=pending", second.id))
        .await;
    assert_eq!(rows_in(&html), 50);
    assert!(html.contains("st-pending"));
    let html = app
        .get_html("/deliveries?event_type=badge.awarded&status=delivered")
        .await;
    assert!(html.contains("No deliveries match these filters"));
    let (event_id, delivery_id) = dead[7];
    for id in [event_id, delivery_id] {
        let html = app.get_html(&format!("/deliveries?q={id}")).await;
        assert_eq!(rows_in(&html), 1, "search by {id}");
        assert!(html.contains(&delivery_id.to_string()));
    }
    let html = app.get_html("/deliveries?from=2099-01-01").await;
    assert_eq!(rows_in(&html), 0);
    let html = app.get_html("/deliveries?q=not-an-id&from=yesterday").await;
    assert!(html.contains("Paste a whole delivery or event id"));
    assert!(html.contains("Use a date like"));

    let html = app.get_html("/dead-letters").await;
    assert_eq!(rows_in(&html), 50);
    assert!(html.contains("retries exhausted"));
    assert!(html.contains("of 400"));
}

#[tokio::test]
async fn the_delivery_page_shows_payload_body_attempts_with_secrets_masked_and_the_schedule() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![
        Reply::status(503)
            .header("X-Receiver", "busy")
            .body("try later <b>please</b>"),
    ])
    .await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| {
        i.auth_kind = "basic".into();
        i.basic_username = "lms".into();
        i.basic_password = "top-secret-pw".into();
        i.retry_initial_seconds = "600".into();
        i.retry_max_delay_seconds = "3600".into();
        i.retry_factor = "2".into();
        i.retry_max_attempts = "5".into();
    })
    .await;
    let token = token(&app, Scope::Ingest).await;
    emit(
        &app,
        &token,
        json!({ "learner": "<script>alert(1)</script>" }),
    )
    .await;
    let delivery = eventually(
        Duration::from_secs(10),
        "a failed first attempt",
        || async {
            deliveries_of(&app, hook.id)
                .await
                .into_iter()
                .find(|d| d.attempts == 1 && d.status == "pending")
        },
    )
    .await;
    app.login_as(Role::Viewer).await;
    let html = app.get_html(&format!("/deliveries/{}", delivery.id)).await;
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "payload escaped"
    );
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("Body of attempt 2"));
    assert!(html.contains("&#34;attempt&#34;: 2"));
    assert!(html.contains("Attempt 1"));
    assert!(html.contains("HTTP 503"));
    assert!(html.contains("x-receiver: busy"));
    assert!(html.contains("try later &#60;b&#62;please&#60;/b&#62;"));
    assert!(html.contains("authorization: Basic ••••••••"));
    assert!(!html.contains("top-secret-pw"));
    assert!(!html.contains(&base64_of("lms:top-secret-pw")));
    assert!(html.contains("Attempt 2 is due"));
    assert!(html.contains("4 attempts remain"));
    assert!(html.contains("attempt 3 after 20 min"));
    // A viewer sees no action buttons.
    assert!(!html.contains("/redeliver\""));
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn a_dead_letter_is_replayed_after_the_receiver_is_fixed() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(400).body("missing field")]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    let dead = delivery_reaches(&app, hook.id, "dead").await;
    app.login_as(Role::Manager).await;

    let html = app.get_html("/dead-letters").await;
    assert!(html.contains("receiver 4xx"));
    let response = app
        .post_form(&format!("/deliveries/{}/replay", dead.id), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let delivered = delivery_reaches(&app, hook.id, "delivered").await;
    assert_eq!(delivered.attempts, 2, "the attempt count continues");
    let second = receiver.wait_for(2).await.remove(1).json();
    assert_eq!(second["attempt"], 2);
    assert_eq!(attempts_of(&app, dead.id).await.len(), 2);
    let html = app.get_html(&format!("/deliveries/{}", dead.id)).await;
    assert!(html.contains("Queued again"));
    // The newest attempt comes first, before the event and the body.
    let (second, first) = (
        html.find("id=\"attempt-2\"").unwrap(),
        html.find("id=\"attempt-1\"").unwrap(),
    );
    assert!(second < first, "attempt 2 is listed before attempt 1");
    assert!(first < html.find("<h2>Body of attempt").unwrap());
    assert_eq!(
        audit_actions(&app)
            .await
            .iter()
            .filter(|a| *a == "delivery.replayed")
            .count(),
        1
    );
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    app.with_conn(|conn| {
        audit_log::table
            .select(audit_log::action)
            .load::<String>(conn)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn replay_all_warns_when_the_receiver_still_fails() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(400).body("still broken")]).await;
    let (hook, _) =
        create_webhook(&app, &receiver.url, |i| i.name = "Student records".into()).await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    delivery_reaches(&app, hook.id, "dead").await;
    app.login_as(Role::Manager).await;
    let html = app.get_html("/dead-letters/replay").await;
    assert!(
        html.contains("The receiver still fails for some of them."),
        "{html}"
    );
    assert!(
        html.contains("<li>Student records: 1 dead letter here; 1 failed attempt in a row</li>"),
        "{html}"
    );
    // Links carry only the filters in use.
    let list = app
        .get_html(&format!("/dead-letters?webhook={}", hook.id))
        .await;
    assert!(
        list.contains(&format!(
            "href=\"/dead-letters/replay?webhook={}\"",
            hook.id
        )),
        "{list}"
    );
}

#[tokio::test]
async fn replay_all_matching_says_how_many_first_and_skips_nothing_it_promised() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let (other, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    seed(&app, hook.id, 3, "dead", "course.completed").await;
    seed(&app, other.id, 2, "dead", "course.completed").await;
    app.login_as(Role::Manager).await;

    let html = app
        .get_html(&format!("/dead-letters/replay?webhook={}", hook.id))
        .await;
    assert!(html.contains("Replay 3 dead letters?"), "{html}");
    assert!(html.contains("<strong>3 dead letters</strong> match"));
    // It names the filters, and warns only when a receiver still fails (these never ran).
    assert!(
        html.contains(&format!("<dt>Webhook</dt><dd>{}</dd>", hook.name)),
        "{html}"
    );
    assert!(!html.contains("The receiver still fails"));
    let everything = app.get_html("/dead-letters/replay").await;
    assert!(
        everything.contains("<strong>Every dead letter</strong> (5 dead letters)"),
        "{everything}"
    );
    let response = app
        .post_form("/dead-letters/replay", &[("webhook", &hook.id.to_string())])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    eventually(Duration::from_secs(10), "3 replayed deliveries", || async {
        let all = deliveries_of(&app, hook.id).await;
        all.iter().all(|d| d.status == "delivered").then_some(())
    })
    .await;
    assert_eq!(receiver.received().len(), 3);
    assert!(
        deliveries_of(&app, other.id)
            .await
            .iter()
            .all(|d| d.status == "dead")
    );
    assert!(
        audit_actions(&app)
            .await
            .contains(&"dead_letters.replayed".to_owned())
    );
}

#[tokio::test]
async fn selected_dead_letters_are_replayed_or_discarded() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let seeded = seed(&app, hook.id, 4, "dead", "course.completed").await;
    app.login_as(Role::Manager).await;
    let (a, b, c) = (
        seeded[0].1.to_string(),
        seeded[1].1.to_string(),
        seeded[2].1.to_string(),
    );

    let response = app
        .post_form(
            "/dead-letters/replay-selected",
            &[("ids", &a), ("ids", &b), ("back", "/dead-letters")],
        )
        .await;
    assert_eq!(response.headers()["location"], "/dead-letters");
    let html = app.get_html("/dead-letters").await;
    assert!(html.contains("Replaying 2 dead letters."), "{html}");
    receiver.wait_for(2).await;

    app.post_form(
        "/dead-letters/discard-selected",
        &[("ids", &c), ("back", "/dead-letters")],
    )
    .await;
    let html = app.get_html("/dead-letters").await;
    assert!(html.contains("Discarded 1 dead letter"));
    assert_eq!(rows_in(&html), 1, "only the fourth is still dead");
    let statuses: Vec<String> = deliveries_of(&app, hook.id)
        .await
        .into_iter()
        .map(|d| d.status)
        .collect();
    assert_eq!(statuses.iter().filter(|s| *s == "discarded").count(), 1);
    assert!(
        audit_actions(&app)
            .await
            .contains(&"dead_letters.discarded".to_owned())
    );
    let html = app.get_html("/deliveries?status=discarded").await;
    assert_eq!(rows_in(&html), 1, "discarded stays in the history");
}

#[tokio::test]
async fn a_delivered_delivery_can_be_redelivered() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({ "k": 1 })).await;
    let delivered = delivery_reaches(&app, hook.id, "delivered").await;
    receiver.wait_for(1).await;
    app.login_as(Role::Manager).await;
    let html = app.get_html(&format!("/deliveries/{}", delivered.id)).await;
    assert!(html.contains("Redeliver"));
    app.post_form(&format!("/deliveries/{}/redeliver", delivered.id), &[])
        .await;
    let second = receiver.wait_for(2).await.remove(1);
    assert_eq!(second.json()["attempt"], 2);
    assert_eq!(second.header("webhook-id"), delivered.id.to_string());
    assert!(
        audit_actions(&app)
            .await
            .contains(&"delivery.redelivered".to_owned())
    );
}

#[tokio::test]
async fn replaying_to_a_disabled_webhook_is_refused_with_a_way_forward() {
    let app = spawn_app().await;
    let (hook, _) = create_webhook(&app, "http://127.0.0.1:9/x", |i| i.enabled = None).await;
    let seeded = seed(&app, hook.id, 2, "dead", "course.completed").await;
    app.login_as(Role::Manager).await;
    let id = seeded[0].1;
    app.post_form(&format!("/deliveries/{id}/replay"), &[])
        .await;
    let html = app.get_html(&format!("/deliveries/{id}")).await;
    assert!(html.contains("is disabled: enable it first"), "{html}");
    let html = app
        .get_html(&format!("/dead-letters/replay?webhook={}", hook.id))
        .await;
    assert!(html.contains("2 of them belong to a disabled webhook"));
    app.post_form(
        "/dead-letters/replay-selected",
        &[("ids", &seeded[1].1.to_string())],
    )
    .await;
    let html = app.get_html("/dead-letters").await;
    assert!(html.contains("enable it first"));
    assert!(
        deliveries_of(&app, hook.id)
            .await
            .iter()
            .all(|d| d.status == "dead")
    );
}

#[tokio::test]
async fn health_figures_and_the_dashboard_tell_how_delivery_goes() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![
        Reply::status(200),
        Reply::status(500),
        Reply::status(410),
    ])
    .await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| {
        i.name = "HR system".into();
        i.retry_initial_seconds = "600".into();
        i.retry_max_delay_seconds = "600".into();
    })
    .await;
    let token = token(&app, Scope::Ingest).await;
    for n in 0..3 {
        emit(&app, &token, json!({ "n": n })).await;
        receiver.wait_for(n + 1).await;
    }
    eventually(
        Duration::from_secs(10),
        "three recorded attempts",
        || async {
            let all = deliveries_of(&app, hook.id).await;
            (all.iter().filter(|d| d.attempts == 1).count() == 3).then_some(())
        },
    )
    .await;
    let health = app
        .with_conn(move |conn| herald::model::health::for_webhooks(conn, &[hook.id]).unwrap())
        .await
        .remove(&hook.id)
        .unwrap();
    assert_eq!((health.attempts_24h, health.delivered_24h), (3, 1));
    assert_eq!(health.consecutive_failures, 2);
    assert_eq!((health.pending, health.dead), (1, 1));
    assert_eq!(health.last_result(), "HTTP 410");
    assert_eq!(health.success_rate_text(), "33 %");

    app.login_as(Role::Viewer).await;
    let html = app.get_html("/webhooks").await;
    assert!(html.contains("failing · 2 in a row"));
    assert!(html.contains("1 dead"));
    let html = app.get_html(&format!("/webhooks/{}", hook.id)).await;
    assert!(html.contains("failed attempts in a row"));
    assert!(html.contains("1 delivery of this webhook is in the dead-letter queue"));
    let html = app.get_html("/").await;
    assert!(html.contains("Recent failures"));
    assert!(html.contains("HTTP 410"));
    assert!(html.contains("HR system"));
    assert!(html.contains("1 waiting"), "dead letters waiting");
}

#[tokio::test]
async fn retention_deletes_old_delivered_history_and_keeps_dead_letters() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let (hook, _) = create_webhook(&app, "http://127.0.0.1:9/x", |_| {}).await;
    let long_ago = Utc::now() - chrono::Duration::days(40);
    let delivered = seed_at(
        &app,
        hook.id,
        1500,
        "delivered",
        "course.completed",
        long_ago,
    )
    .await;
    let dead = seed_at(&app, hook.id, 3, "dead", "course.completed", long_ago).await;
    let pending = seed_at(&app, hook.id, 2, "pending", "course.completed", long_ago).await;
    let recent = seed(&app, hook.id, 5, "delivered", "course.completed").await;
    let old: Vec<Uuid> = delivered
        .iter()
        .chain(&dead)
        .chain(&pending)
        .map(|(_, d)| *d)
        .collect();
    let old_events: Vec<Uuid> = delivered
        .iter()
        .chain(&dead)
        .chain(&pending)
        .map(|(e, _)| *e)
        .collect();
    app.with_conn(move |conn| {
        let long_ago = Utc::now() - chrono::Duration::days(40);
        diesel::update(deliveries::table.filter(deliveries::id.eq_any(&old)))
            .set(deliveries::created_at.eq(long_ago))
            .execute(conn)
            .unwrap();
        diesel::update(events::table.filter(events::id.eq_any(&old_events)))
            .set(events::received_at.eq(long_ago))
            .execute(conn)
            .unwrap();
        let removed =
            herald::retention::run_once(conn, Duration::from_secs(30 * 86_400), 400).unwrap();
        assert_eq!(removed.deliveries, 1500);
        assert_eq!(removed.events, 1500);
    })
    .await;
    let left = deliveries_of(&app, hook.id).await;
    assert_eq!(left.len(), 3 + 2 + 5);
    assert_eq!(
        left.iter().filter(|d| d.status == "dead").count(),
        3,
        "dead letters stay"
    );
    let events_left: i64 = app
        .with_conn(|conn| events::table.count().get_result(conn).unwrap())
        .await;
    assert_eq!(events_left, 10);
    assert!(recent.iter().all(|(_, d)| left.iter().any(|l| l.id == *d)));
}

#[tokio::test]
async fn retention_drops_whole_weeks_and_keeps_their_dead_letters_with_attempts_and_events() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let (hook, _) = create_webhook(&app, "http://127.0.0.1:9/x", |_| {}).await;
    let long_ago = Utc::now() - chrono::Duration::days(60);
    let week = app
        .with_conn(move |conn| {
            assert_eq!(
                herald::db::partitions::ensure_covering(conn, long_ago, long_ago).unwrap(),
                1
            );
            herald::db::partitions::weeks(conn).unwrap()[0]
        })
        .await;
    assert!(week.starts <= long_ago && long_ago < week.ends());
    let delivered = seed_at(
        &app,
        hook.id,
        300,
        "delivered",
        "course.completed",
        long_ago,
    )
    .await;
    let dead = seed_at(&app, hook.id, 2, "dead", "course.completed", long_ago).await;
    let recent = seed(&app, hook.id, 3, "delivered", "course.completed").await;
    let (dead_event, dead_delivery) = dead[0];
    let hook_id = hook.id;
    app.with_conn(move |conn| {
        for delivery in [dead_delivery, delivered[0].1] {
            diesel::sql_query(
                "INSERT INTO delivery_attempts (delivery_id, webhook_id, number, started_at,
                                                duration_ms, request_headers, outcome)
                 VALUES ($1, $2, 1, now() - interval '60 days', 5, '{}', 'dead')",
            )
            .bind::<diesel::sql_types::Uuid, _>(delivery)
            .bind::<diesel::sql_types::BigInt, _>(hook_id)
            .execute(conn)
            .unwrap();
        }
        let partition = week.partition_of("deliveries");
        let in_week: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "(SELECT count(*) FROM {partition})"
        )))
        .get_result(conn)
        .unwrap();
        assert_eq!(
            in_week, 302,
            "the old deliveries are in their week's partition"
        );

        let removed =
            herald::retention::run_once(conn, Duration::from_secs(30 * 86_400), 1000).unwrap();
        assert_eq!(removed.weeks, 1);
        assert_eq!(removed.deliveries, 300);
        assert_eq!(removed.events, 300);
        assert!(!herald::db::partitions::weeks(conn).unwrap().contains(&week));
        for table in herald::db::partitions::TABLES {
            let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                &format!("to_regclass('{}') IS NOT NULL", week.partition_of(table)),
            ))
            .get_result(conn)
            .unwrap();
            assert!(!exists, "{table}'s week is dropped");
        }
    })
    .await;
    let left = deliveries_of(&app, hook.id).await;
    assert_eq!(
        left.len(),
        2 + 3,
        "the dead letters and the recent deliveries stay"
    );
    assert_eq!(
        attempts_of(&app, dead_delivery).await.len(),
        1,
        "with their attempts"
    );
    assert!(recent.iter().all(|(_, d)| left.iter().any(|l| l.id == *d)));
    let dead_event_kept = app
        .with_conn(move |conn| {
            events::table
                .find(dead_event)
                .count()
                .get_result::<i64>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(dead_event_kept, 1, "and their events");
    // The dead letter still opens, with its event and attempt, and can be replayed.
    app.login_as(Role::Admin).await;
    let page = app.get(&format!("/deliveries/{dead_delivery}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("retries exhausted"), "{page}");
    assert!(page.contains(&dead_event.to_string()), "the event is shown");
}

#[tokio::test]
async fn lists_count_up_to_a_cap_and_say_when_there_are_more() {
    use herald::model::delivery_list::{DeliveryFilter, UpTo, count_up_to};
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let (hook, _) = create_webhook(&app, "http://127.0.0.1:9/x", |_| {}).await;
    seed(&app, hook.id, 5, "dead", "course.completed").await;
    let dead = DeliveryFilter {
        status: Some("dead".into()),
        ..Default::default()
    };
    let (capped, exact) = app
        .with_conn(move |conn| {
            (
                count_up_to(conn, &dead, 3).unwrap(),
                count_up_to(conn, &dead, 5).unwrap(),
            )
        })
        .await;
    assert_eq!(
        capped,
        UpTo {
            count: 3,
            capped: true
        }
    );
    assert_eq!(capped.to_string(), "3+");
    assert_eq!(
        exact,
        UpTo {
            count: 5,
            capped: false
        }
    );
    assert_eq!(exact.to_string(), "5");
    app.login_as(Role::Manager).await;
    let page = app.get("/dead-letters").await.text().await.unwrap();
    assert!(page.contains("Replay all 5…"), "{page}");
}

#[tokio::test]
async fn viewers_read_every_page_and_change_nothing() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let (hook, _) = create_webhook(&app, "http://127.0.0.1:9/x", |_| {}).await;
    let seeded = seed(&app, hook.id, 2, "dead", "course.completed").await;
    app.login_as(Role::Viewer).await;
    let id = seeded[0].1;
    for path in [
        "/".to_owned(),
        "/deliveries".to_owned(),
        "/dead-letters".to_owned(),
        format!("/deliveries/{id}"),
        format!("/webhooks/{}", hook.id),
    ] {
        assert_eq!(app.get(&path).await.status(), StatusCode::OK, "GET {path}");
    }
    let html = app.get_html("/dead-letters").await;
    assert!(!html.contains("Replay selected"));
    assert!(!html.contains("Replay all"));
    assert_eq!(
        app.get(&format!("/dead-letters/replay?webhook={}", hook.id))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let ids = id.to_string();
    for path in [
        format!("/deliveries/{id}/replay"),
        format!("/deliveries/{id}/redeliver"),
        format!("/deliveries/{id}/discard"),
        "/dead-letters/replay".to_owned(),
        "/dead-letters/replay-selected".to_owned(),
        "/dead-letters/discard-selected".to_owned(),
    ] {
        let response = app.post_form(&path, &[("ids", &ids)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "POST {path}");
    }
    assert!(
        deliveries_of(&app, hook.id)
            .await
            .iter()
            .all(|d| d.status == "dead")
    );
    assert!(webhook(&app, hook.id).await.enabled);
}
