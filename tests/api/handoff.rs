//! Ingest handing a new delivery straight to this process's worker (no claim): it is stored
//! already `delivering`, leased to the worker, and sent even while no claim could run; and
//! handoffs stop as soon as a worker in another process announces itself.

use diesel::prelude::*;
use herald::tokens::Scope;
use serde_json::json;

use crate::delivery_helpers::{create_webhook, deliveries_of, emit, token};
use crate::helpers::{TestApp, eventually, spawn_app};
use crate::receiver::Receiver;

/// A test connection holding the webhook's flow row, as a claim in progress would: every
/// claim for the webhook waits for it.
async fn hold_claims(app: &TestApp, webhook_id: i64) -> PgConnection {
    let mut conn = app.database.connect();
    tokio::task::spawn_blocking(move || {
        diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
        diesel::sql_query("SELECT 1 FROM webhook_flow WHERE webhook_id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::BigInt, _>(webhook_id)
            .execute(&mut conn)
            .unwrap();
        conn
    })
    .await
    .unwrap()
}

async fn release(mut conn: PgConnection) {
    tokio::task::spawn_blocking(move || diesel::sql_query("ROLLBACK").execute(&mut conn).unwrap())
        .await
        .unwrap();
}

/// The delivery of `event_id` for `webhook_id`, as stored.
async fn delivery_of_event(
    app: &TestApp,
    webhook_id: i64,
    event_id: &str,
) -> herald::model::delivery::Delivery {
    let event_id: uuid::Uuid = event_id.parse().unwrap();
    deliveries_of(app, webhook_id)
        .await
        .into_iter()
        .find(|d| d.event_id == Some(event_id))
        .expect("no delivery for the event")
}

/// Two events delivered through claims: the worker now knows the webhook as clean, and
/// ingest knows no other worker listens.
async fn warmed_up(app: &TestApp, receiver: &Receiver, token: &str) {
    for n in 1..=2 {
        emit(app, token, json!({ "n": n })).await;
        receiver.wait_for(n).await;
    }
}

#[tokio::test]
async fn a_new_event_for_a_clean_webhook_is_sent_without_waiting_for_a_claim() {
    let app = spawn_app().await;
    let receiver = Receiver::start(Vec::new()).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    warmed_up(&app, &receiver, &token).await;

    let held = hold_claims(&app, hook.id).await;
    let event_id = emit(&app, &token, json!({ "n": 3 })).await;
    // Committed with the 202: already leased to this process's worker, not waiting in the
    // queue for a claim.
    let stored = delivery_of_event(&app, hook.id, &event_id).await;
    assert_ne!(stored.status, "pending", "{stored:?}");
    assert!(stored.leased_by.is_some() || stored.status == "delivered");
    // Sent while every claim for the webhook would wait on the held row.
    let requests = receiver.wait_for(3).await;
    let body = requests[2].json();
    assert_eq!(body["id"], stored.id.to_string());
    assert_eq!(body["attempt"], 1);
    assert_eq!(body["body"], json!({ "n": 3 }));
    release(held).await;

    let delivered = eventually(
        std::time::Duration::from_secs(15),
        "the handed delivery recorded as delivered",
        || async {
            let delivery = delivery_of_event(&app, hook.id, &event_id).await;
            (delivery.status == "delivered").then_some(delivery)
        },
    )
    .await;
    assert_eq!(delivered.attempts, 1);
    assert_eq!(delivered.leased_by, None);
    assert_eq!(receiver.received().len(), 3, "sent once");
}

#[tokio::test]
async fn handoffs_stop_when_a_worker_in_another_process_announces_itself() {
    let app = spawn_app().await;
    let receiver = Receiver::start(Vec::new()).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    warmed_up(&app, &receiver, &token).await;

    // Another process's listener connects and announces itself, as `herald worker` does.
    let mut other = app.database.connect();
    let other = tokio::task::spawn_blocking(move || {
        use diesel::connection::SimpleConnection;
        other
            .batch_execute(
                "SET application_name = 'herald-listener-999999-0000beef';
                 LISTEN herald_deliveries;
                 SELECT pg_notify('herald_deliveries', 'joined:herald-listener-999999-0000beef')",
            )
            .unwrap();
        other
    })
    .await
    .unwrap();

    // From the moment the announcement is heard, new deliveries wait for a claim: with the
    // claims held, one stays pending.
    let held = hold_claims(&app, hook.id).await;
    let mut n = 3;
    let queued = eventually(
        std::time::Duration::from_secs(10),
        "a new delivery left pending for a claim",
        || {
            n += 1;
            let (app, token) = (&app, &token);
            async move {
                let event_id = emit(app, token, json!({ "n": n })).await;
                let stored = delivery_of_event(app, hook.id, &event_id).await;
                (stored.status == "pending").then_some(stored)
            }
        },
    )
    .await;
    assert_eq!(queued.leased_by, None);
    release(held).await;

    eventually(
        std::time::Duration::from_secs(15),
        "every delivery delivered once claims run again",
        || async {
            let all = deliveries_of(&app, hook.id).await;
            all.iter().all(|d| d.status == "delivered").then_some(())
        },
    )
    .await;
    let count = deliveries_of(&app, hook.id).await.len();
    assert_eq!(receiver.received().len(), count, "each sent once");
    drop(other);
}
