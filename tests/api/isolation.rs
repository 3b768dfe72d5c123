//! Delivery isolation against real receivers: per-webhook in-flight limits, a healthy webhook
//! served while a slow one times out, the circuit breaker (opens, probes, closes, no attempts
//! charged while open), the rate limit, and a receiver's 429 + Retry-After pausing its webhook.

use std::time::Duration;

use diesel::prelude::*;
use herald::db::schema::{audit_log, webhook_flow, webhooks};
use herald::tokens::Scope;
use serde_json::json;

use crate::delivery_helpers::{create_webhook, deliveries_of, flow_of, post_events, token};
use crate::helpers::{TestApp, eventually, spawn_app_with};
use crate::receiver::{Receiver, Reply};

async fn set_limits(app: &TestApp, webhook_id: i64, in_flight: i32, per_second: Option<i32>) {
    app.with_conn(move |conn| {
        diesel::update(webhooks::table.find(webhook_id))
            .set((
                webhooks::max_in_flight.eq(in_flight),
                webhooks::rate_limit_per_second.eq(per_second),
            ))
            .execute(conn)
            .unwrap()
    })
    .await;
}

/// Posts `count` events of `event_type` in one call.
async fn post_many(app: &TestApp, token: &str, event_type: &str, count: usize) {
    let events: Vec<_> = (0..count)
        .map(|i| json!({ "type": event_type, "data": { "n": i } }))
        .collect();
    let response = post_events(app, token, &json!(events)).await;
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
}

async fn delivered_count(app: &TestApp, webhook_id: i64) -> usize {
    deliveries_of(app, webhook_id)
        .await
        .iter()
        .filter(|d| d.status == "delivered")
        .count()
}

#[tokio::test]
async fn a_webhook_never_has_more_requests_in_flight_than_its_limit() {
    let app = spawn_app_with(|_| {}).await;
    let receiver = Receiver::start(Vec::new()).await;
    receiver.answer_from_now_on(Reply::status(200).after(Duration::from_millis(300)));
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    set_limits(&app, hook.id, 3, None).await;
    let token = token(&app, Scope::Ingest).await;
    post_many(&app, &token, "course.completed", 24).await;

    eventually(Duration::from_secs(30), "24 deliveries", || async {
        (delivered_count(&app, hook.id).await == 24).then_some(())
    })
    .await;
    assert_eq!(
        receiver.most_at_once(),
        3,
        "the receiver saw up to its limit at once, never more"
    );
}

#[tokio::test]
async fn a_healthy_webhook_is_served_while_a_slow_one_times_out() {
    let app = spawn_app_with(|settings| settings.worker.concurrency = 16).await;
    let slow = Receiver::start(Vec::new()).await;
    slow.answer_from_now_on(Reply::status(200).after(Duration::from_secs(60)));
    let healthy = Receiver::start(Vec::new()).await;
    let (slow_hook, _) = create_webhook(&app, &slow.url, |input| {
        input.events = vec!["course.completed".into()];
        input.timeout_seconds = "30".into();
    })
    .await;
    let (healthy_hook, _) = create_webhook(&app, &healthy.url, |input| {
        input.events = vec!["lesson.completed".into()];
    })
    .await;
    set_limits(&app, slow_hook.id, 4, None).await;
    let token = token(&app, Scope::Ingest).await;
    // A deep backlog for the slow receiver first, then work for the healthy one.
    post_many(&app, &token, "course.completed", 100).await;
    slow.wait_for(4).await;
    post_many(&app, &token, "lesson.completed", 20).await;

    eventually(
        Duration::from_secs(10),
        "the healthy webhook's 20",
        || async { (delivered_count(&app, healthy_hook.id).await == 20).then_some(()) },
    )
    .await;
    // All of it arrived while the slow receiver still held its first requests: the backlog
    // and the hanging requests took no slot of the healthy webhook's.
    assert_eq!(healthy.received().len(), 20);
    assert_eq!(
        slow.received().len(),
        4,
        "the slow webhook kept to its limit"
    );
    let slow_deliveries = deliveries_of(&app, slow_hook.id).await;
    assert_eq!(
        slow_deliveries
            .iter()
            .filter(|d| d.status == "delivering")
            .count(),
        4
    );
}

#[tokio::test]
async fn the_breaker_opens_probes_and_closes_without_charging_held_deliveries() {
    let app = spawn_app_with(|settings| {
        settings.worker.breaker.threshold = 3;
        settings.worker.breaker.first_probe = Duration::from_secs(1);
        settings.worker.breaker.max_probe = Duration::from_secs(2);
    })
    .await;
    let receiver = Receiver::start(Vec::new()).await;
    receiver.answer_from_now_on(Reply::status(503));
    let (hook, _) = create_webhook(&app, &receiver.url, |input| {
        input.retry_max_attempts = "50".into();
    })
    .await;
    set_limits(&app, hook.id, 1, None).await;
    let token = token(&app, Scope::Ingest).await;
    post_many(&app, &token, "course.completed", 10).await;

    let opened = eventually(Duration::from_secs(15), "the breaker to open", || async {
        let flow = flow_of(&app, hook.id).await;
        flow.failing().then_some(flow)
    })
    .await;
    assert!(opened.failing_since.is_some() && opened.next_probe_at.is_some());
    assert!(opened.consecutive_failures >= 3);
    // While it is open, deliveries never sent have no attempt charged.
    let held = deliveries_of(&app, hook.id)
        .await
        .iter()
        .filter(|d| d.attempts == 0)
        .count();
    assert!(held >= 5, "most deliveries were held back: {held}");

    receiver.answer_from_now_on(Reply::status(200));
    eventually(Duration::from_secs(20), "all 10 delivered", || async {
        (delivered_count(&app, hook.id).await == 10).then_some(())
    })
    .await;
    let deliveries = deliveries_of(&app, hook.id).await;
    let charged: i32 = deliveries.iter().map(|d| d.attempts).sum();
    assert_eq!(
        charged as usize,
        receiver.received().len(),
        "an attempt is charged for each request made, and for nothing else"
    );
    let flow = flow_of(&app, hook.id).await;
    assert!(!flow.failing());
    assert_eq!(flow.consecutive_failures, 0);

    let actions: Vec<String> = app
        .with_conn(move |conn| {
            audit_log::table
                .filter(audit_log::target_id.eq(hook.id.to_string()))
                .filter(audit_log::action.like("webhook.circuit_%"))
                .order(audit_log::id)
                .select(audit_log::action)
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(
        actions,
        vec!["webhook.circuit_opened", "webhook.circuit_closed"]
    );
}

#[tokio::test]
async fn a_failed_probe_keeps_the_breaker_open_and_waits_longer() {
    let app = spawn_app_with(|settings| {
        settings.worker.breaker.threshold = 2;
        settings.worker.breaker.first_probe = Duration::from_secs(1);
        settings.worker.breaker.max_probe = Duration::from_secs(8);
    })
    .await;
    let receiver = Receiver::start(Vec::new()).await;
    receiver.answer_from_now_on(Reply::status(500));
    let (hook, _) = create_webhook(&app, &receiver.url, |input| {
        input.retry_initial_seconds = "3600".into();
        input.retry_max_delay_seconds = "3600".into();
    })
    .await;
    set_limits(&app, hook.id, 1, None).await;
    let token = token(&app, Scope::Ingest).await;
    post_many(&app, &token, "course.completed", 5).await;
    // Two failures open it; then a probe goes out, fails, and the next waits twice as long.
    let flow = eventually(Duration::from_secs(10), "a failed probe", || async {
        let flow = flow_of(&app, hook.id).await;
        (flow.probe_interval_seconds == 2).then_some(flow)
    })
    .await;
    assert!(flow.failing());
    let deliveries = deliveries_of(&app, hook.id).await;
    let requests = receiver.received().len();
    let charged: i32 = deliveries.iter().map(|d| d.attempts).sum();
    assert_eq!(charged as usize, requests, "only requests made are charged");
    let held = deliveries.iter().filter(|d| d.attempts == 0).count();
    assert!(
        held >= 1 && held == 5 - requests.min(5),
        "{held} held, {requests} requests"
    );
}

#[tokio::test]
async fn the_rate_limit_spaces_requests() {
    let app = spawn_app_with(|_| {}).await;
    let receiver = Receiver::start(Vec::new()).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    set_limits(&app, hook.id, 8, Some(4)).await;
    let token = token(&app, Scope::Ingest).await;
    post_many(&app, &token, "course.completed", 9).await;
    let received = eventually(Duration::from_secs(20), "9 requests", || async {
        let received = receiver.received();
        (received.len() == 9).then_some(received)
    })
    .await;
    // 4 per second: 8 gaps of at least 250 ms (less a little for timer slack).
    let span = received[8].at - received[0].at;
    assert!(span >= Duration::from_millis(1900), "{span:?}");
    for pair in received.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(200));
    }
}

#[tokio::test]
async fn a_429_with_retry_after_pauses_the_whole_webhook() {
    let app = spawn_app_with(|_| {}).await;
    let receiver = Receiver::start(vec![Reply::status(429).header("Retry-After", "2")]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    set_limits(&app, hook.id, 1, None).await;
    let token = token(&app, Scope::Ingest).await;
    post_many(&app, &token, "course.completed", 3).await;
    let received = eventually(Duration::from_secs(20), "4 requests", || async {
        let received = receiver.received();
        (received.len() == 4).then_some(received)
    })
    .await;
    // Nothing went to the receiver while it had asked to wait.
    let waited = received[1].at - received[0].at;
    assert!(waited >= Duration::from_millis(1900), "{waited:?}");
    eventually(Duration::from_secs(10), "3 delivered", || async {
        (delivered_count(&app, hook.id).await == 3).then_some(())
    })
    .await;
    assert!(flow_of(&app, hook.id).await.paused_until.is_some());
}

#[tokio::test]
async fn re_enabling_a_webhook_clears_its_breaker() {
    let app = spawn_app_with(|_| {}).await;
    let (hook, _) = create_webhook(&app, "http://127.0.0.1:9/hook", |_| {}).await;
    let id = hook.id;
    app.with_conn(move |conn| {
        diesel::update(webhook_flow::table.find(id))
            .set((
                webhook_flow::circuit.eq("failing"),
                webhook_flow::consecutive_failures.eq(12),
                webhook_flow::failing_since.eq(diesel::dsl::now),
                webhook_flow::next_probe_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .unwrap();
        let actor = herald::model::audit::Actor::system();
        herald::webhooks::service::set_enabled(conn, &actor, id, false, Some("fixing")).unwrap();
        herald::webhooks::service::set_enabled(conn, &actor, id, true, None).unwrap();
    })
    .await;
    let flow = flow_of(&app, id).await;
    assert!(!flow.failing());
    assert_eq!(flow.consecutive_failures, 0);
    assert_eq!(flow.next_probe_at, None);
}

#[tokio::test]
async fn worker_connections_commit_without_waiting_for_the_flush_and_web_ones_keep_the_server_setting()
 {
    let app = spawn_app_with(|_| {}).await;
    let url = app.database.url.clone();
    let settings = tokio::task::spawn_blocking(move || {
        #[derive(QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Text)]
            synchronous_commit: String,
        }
        let show = |conn: &mut PgConnection, query: &str| {
            diesel::sql_query(query)
                .get_result::<Setting>(conn)
                .unwrap()
                .synchronous_commit
        };
        const NOW: &str = "SHOW synchronous_commit";
        // What the server is configured with (the test cluster may run without it).
        const SERVER: &str = "SELECT reset_val AS synchronous_commit FROM pg_settings
                              WHERE name = 'synchronous_commit'";
        let worker = herald::db::build_worker_pool(&url, 1).unwrap();
        let web = herald::db::build_pool(&url, 1).unwrap();
        let (mut worker, mut web) = (worker.get().unwrap(), web.get().unwrap());
        const PLANS: &str = "SELECT setting AS synchronous_commit FROM pg_settings
                             WHERE name = 'plan_cache_mode'";
        (
            show(&mut worker, NOW),
            show(&mut web, NOW),
            show(&mut web, SERVER),
            show(&mut worker, PLANS),
        )
    })
    .await
    .unwrap();
    let (worker, web, server, worker_plans) = settings;
    assert_eq!(worker, "off");
    assert_eq!(
        worker_plans, "force_generic_plan",
        "worker statements keep their plan"
    );
    assert_eq!(web, server, "ingest commits as the server is configured");
}

/// Claims as worker "w" would, naming `answered` as answered but not yet recorded; returns
/// the ids taken.
async fn claim_naming(app: &TestApp, answered: Vec<uuid::Uuid>) -> Vec<uuid::Uuid> {
    use herald::delivery::claim::{self, ClaimLimits, Holdings};
    app.with_conn(move |conn| {
        let limits = ClaimLimits {
            slots: 10,
            concurrency: 64,
            lease_seconds: 60,
        };
        claim::claim(conn, "w", limits, &Holdings::default(), || answered.clone())
            .unwrap()
            .deliveries
            .into_iter()
            .map(|row| row.id)
            .collect()
    })
    .await
}

#[tokio::test]
async fn a_claim_counts_answered_deliveries_as_no_longer_in_flight() {
    // Answered deliveries stay `delivering` until the recorder commits their outcome; a claim
    // meanwhile must see their slots free (or a busy webhook starves while outcomes are
    // written), and must still count every delivery not named as answered.
    let app = spawn_app_with(|settings| settings.worker.enabled = false).await;
    let (hook, _) = create_webhook(&app, "https://receiver.example.com/hook", |_| {}).await;
    set_limits(&app, hook.id, 2, None).await;
    let token = token(&app, Scope::Ingest).await;
    post_many(&app, &token, "course.completed", 5).await;

    let first = claim_naming(&app, vec![]).await;
    assert_eq!(first.len(), 2, "the in-flight limit");
    assert!(
        claim_naming(&app, vec![]).await.is_empty(),
        "both still on the wire"
    );
    let second = claim_naming(&app, vec![first[0]]).await;
    assert_eq!(second.len(), 1, "one answered: one slot free");
    let unrelated = uuid::Uuid::now_v7();
    assert!(
        claim_naming(&app, vec![first[0], unrelated])
            .await
            .is_empty(),
        "an id that is not in flight frees nothing"
    );
    let third = claim_naming(&app, vec![first[0], first[1], second[0]]).await;
    assert_eq!(third.len(), 2, "three answered: both slots free");
    assert_eq!(
        deliveries_of(&app, hook.id)
            .await
            .iter()
            .filter(|d| d.status == "delivering")
            .count(),
        5
    );
}
