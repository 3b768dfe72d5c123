//! An `Authorization` value in the attempt history keeps its first word only when that word is a
//! known scheme (`Bearer ••••••••`); anything else is masked whole, as stored and as shown to
//! viewers and `read` tokens. Attempts stored before the rule are masked by a migration.

use diesel::RunQueryDsl;
use diesel::sql_types::{Integer, Jsonb};
use diesel_migrations::MigrationHarness;
use herald::db::MIGRATIONS;
use herald::delivery::masking::MASK;
use herald::domain::role::Role;
use herald::tokens::Scope;
use serde_json::{Value, json};

use crate::delivery_helpers::{attempts_of, create_webhook, delivery_reaches, emit, token};
use crate::helpers::{TestDatabase, spawn_app_with};
use crate::receiver::Receiver;

/// Posts one event (both webhooks are subscribed) and waits for webhook `id`'s delivery.
async fn delivered_to(app: &crate::helpers::TestApp, id: i64) -> uuid::Uuid {
    delivery_reaches(app, id, "delivered").await.id
}

#[tokio::test]
async fn a_value_without_a_known_scheme_is_stored_and_shown_masked_whole() {
    let app = spawn_app_with(|_| {}).await;
    let receiver = Receiver::start(vec![]).await;
    let (opaque, _) = create_webhook(&app, &receiver.url, |i| {
        i.auth_kind = "header".into();
        i.auth_header = "APIKEY123 secret-part".into();
    })
    .await;
    let (bearer, _) = create_webhook(&app, &receiver.url, |i| {
        i.auth_kind = "header".into();
        i.auth_header = "bearer tok-456".into();
    })
    .await;

    let ingest = token(&app, Scope::Ingest).await;
    emit(&app, &ingest, json!({ "user": { "id": 1 } })).await;
    let opaque_delivery = delivered_to(&app, opaque.id).await;
    let bearer_delivery = delivered_to(&app, bearer.id).await;
    // The receiver gets the values exactly as written.
    let received = receiver.wait_for(2).await;
    let mut sent: Vec<&str> = received.iter().map(|r| r.header("authorization")).collect();
    sent.sort();
    assert_eq!(sent, ["APIKEY123 secret-part", "bearer tok-456"]);

    // As stored with the attempts.
    let stored = attempts_of(&app, opaque_delivery).await;
    assert_eq!(stored[0].request_headers["authorization"], MASK);
    let stored = attempts_of(&app, bearer_delivery).await;
    assert_eq!(
        stored[0].request_headers["authorization"],
        "Bearer ••••••••"
    );

    // As a read token sees the history.
    let read = token(&app, Scope::Read).await;
    let history: Value = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/deliveries/{opaque_delivery}",
            app.address
        ))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        history["history"][0]["request_headers"]["authorization"],
        MASK
    );
    assert!(!history.to_string().contains("APIKEY123"), "{history}");

    // As a viewer sees the delivery page.
    app.login_as(Role::Viewer).await;
    let page = app
        .get_html(&format!("/deliveries/{opaque_delivery}"))
        .await;
    assert!(page.contains(&format!("authorization: {MASK}")), "{page}");
    assert!(!page.contains("APIKEY123") && !page.contains("secret-part"));
}

#[derive(diesel::QueryableByName)]
struct StoredHeaders {
    #[diesel(sql_type = Integer)]
    number: i32,
    #[diesel(sql_type = Jsonb)]
    request_headers: Value,
}

#[test]
fn attempts_stored_before_the_rule_are_masked_by_the_migration() {
    let database = TestDatabase::empty();
    let mut conn = database.connect();
    // Up to the migration before the masking one, then history as the old rule stored it.
    for migration in conn.pending_migrations(MIGRATIONS).unwrap() {
        if migration
            .name()
            .to_string()
            .ends_with("_mask_stored_authorization")
        {
            break;
        }
        conn.run_migration(&*migration).unwrap();
    }
    diesel::sql_query(
        "WITH hook AS (
             INSERT INTO webhooks (name, endpoint_url, created_by, updated_by)
             VALUES ('old', 'https://hooks.example.com/h', 'test', 'test') RETURNING id
         ), delivery AS (
             INSERT INTO deliveries (id, webhook_id, event_type)
             SELECT gen_random_uuid(), id, 'webhook.ping' FROM hook RETURNING id, webhook_id
         )
         INSERT INTO delivery_attempts (delivery_id, webhook_id, number, started_at, duration_ms,
                                        request_headers, outcome)
         SELECT delivery.id, delivery.webhook_id, v.n, now(), 1, v.h::jsonb, 'delivered'
         FROM delivery, (VALUES
             (1, '{\"authorization\": \"APIKEY123 ••••••••\", \"x-tenant\": \"••••••••\"}'),
             (2, '{\"authorization\": \"Bearer ••••••••\"}'),
             (3, '{\"authorization\": \"bearer ••••••••\"}'),
             (4, '{\"authorization\": \"Basic •••••••• (user lms)\"}'),
             (5, '{\"authorization\": \"••••••••\"}'),
             (6, '{\"content-type\": \"application/json\"}')
         ) AS v(n, h)",
    )
    .execute(&mut conn)
    .unwrap();

    herald::db::run_migrations(&mut conn).unwrap();

    let rows: Vec<StoredHeaders> =
        diesel::sql_query("SELECT number, request_headers FROM delivery_attempts ORDER BY number")
            .load(&mut conn)
            .unwrap();
    let shown: Vec<(i32, Value)> = rows
        .into_iter()
        .map(|r| (r.number, r.request_headers))
        .collect();
    assert_eq!(
        shown,
        vec![
            (1, json!({"authorization": MASK, "x-tenant": MASK})),
            (2, json!({"authorization": "Bearer ••••••••"})),
            (3, json!({"authorization": "bearer ••••••••"})),
            (4, json!({"authorization": "Basic •••••••• (user lms)"})),
            (5, json!({"authorization": MASK})),
            (6, json!({"content-type": "application/json"})),
        ]
    );

    // From now on the table refuses an Authorization value without its mask.
    let unmasked = diesel::sql_query(
        "INSERT INTO delivery_attempts (delivery_id, webhook_id, number, started_at, duration_ms,
                                        request_headers, outcome)
         SELECT delivery_id, webhook_id, 7, now(), 1,
                '{\"authorization\": \"APIKEY123 secret\"}'::jsonb, 'delivered'
         FROM delivery_attempts LIMIT 1",
    )
    .execute(&mut conn);
    let err = unmasked
        .expect_err("an unmasked value is refused")
        .to_string();
    assert!(
        err.contains("delivery_attempts_authorization_masked"),
        "{err}"
    );
}

#[tokio::test]
async fn credentials_a_receiver_echoes_back_are_masked_in_the_history() {
    let app = spawn_app_with(|_| {}).await;
    let receiver = Receiver::start(vec![
        crate::receiver::Reply::status(400)
            .header("X-Echo-Key", "key-material-456")
            .body("you sent: Authorization: Token abcdef-secret-123, X-Api-Key: key-material-456"),
    ])
    .await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| {
        i.auth_kind = "header".into();
        i.auth_header = "Token abcdef-secret-123".into();
        i.header_name = vec!["X-Api-Key".into()];
        i.header_value = vec!["key-material-456".into()];
    })
    .await;
    let ingest = token(&app, Scope::Ingest).await;
    emit(&app, &ingest, json!({ "user": { "id": 1 } })).await;
    let dead = delivery_reaches(&app, hook.id, "dead").await;
    let stored = attempts_of(&app, dead.id).await;
    let body = stored[0].response_body.clone().unwrap();
    assert!(
        !body.contains("abcdef-secret-123") && !body.contains("key-material-456"),
        "{body}"
    );
    assert!(body.contains(MASK), "{body}");
    let headers = stored[0].response_headers.clone().unwrap().to_string();
    assert!(!headers.contains("key-material-456"), "{headers}");
}
