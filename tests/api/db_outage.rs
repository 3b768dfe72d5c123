//! The database going away and coming back, and ingest under overload: 503 with `Retry-After`
//! (JSON on the API, the clear error page in the console), `/healthz` from the monitor's
//! cached result, and recovery without a restart. The outage runs on a private cluster this
//! test starts, stops and starts again; the shared test cluster is never touched.

use std::path::PathBuf;
use std::time::Duration;

use diesel::prelude::*;
use herald::accounts;
use herald::auth::password::hash_password;
use herald::config::Settings;
use herald::db::embedded::{ClusterOptions, EmbeddedPostgres};
use herald::db::{self, Pools};
use herald::domain::password::NewPassword;
use herald::domain::role::Role;
use herald::domain::secret_key::SecretKey;
use herald::domain::username::Username;
use herald::model::audit::Actor;
use herald::startup::Application;
use herald::tokens::{self, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::delivery_helpers::token;
use crate::helpers::{Browser, PASSWORD, assert_redirects_to, eventually, spawn_app_with};

const CLUSTER: ClusterOptions = ClusterOptions {
    durable: false,
    max_connections: 50,
    track_statements: false,
    tls_port: None,
};

/// How long the API may take to refuse while the database is down.
const API_BOUND: Duration = Duration::from_secs(2);
/// How long `/healthz` may take, whatever happens.
const HEALTH_BOUND: Duration = Duration::from_secs(1);

fn cluster_root() -> (tempfile::TempDir, PathBuf) {
    crate::helpers::private_cluster_root("herald-outage-")
}

async fn start_cluster(root: PathBuf) -> EmbeddedPostgres {
    tokio::task::spawn_blocking(move || {
        EmbeddedPostgres::start(&root, CLUSTER).expect("could not start the private cluster")
    })
    .await
    .unwrap()
}

/// The 503 the API gives when it cannot serve: `Retry-After` in seconds and a JSON error.
async fn assert_api_unavailable(response: reqwest::Response, what: &str) {
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{what} while the database is down"
    );
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is a number of seconds");
    assert!(retry_after >= 1, "{what}: Retry-After {retry_after}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{what} answers JSON"
    );
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_str().expect("an error message");
    assert!(error.contains("database"), "{what}: {error}");
}

#[tokio::test]
async fn while_the_database_is_down_everything_answers_503_and_recovers_when_it_is_back() {
    let (_dir, root) = cluster_root();
    let mut cluster = start_cluster(root.clone()).await;
    let url = cluster.url("herald");

    let (ingest_token, read_token) = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            db::run_migrations(&mut conn).unwrap();
            let (_, ingest) = tokens::create(&mut conn, &Actor::system(), "lms", Scope::Ingest)
                .expect("an ingest token");
            let (_, read) =
                tokens::create(&mut conn, &Actor::system(), "ops", Scope::Read).expect("a token");
            let hash = hash_password(&NewPassword::parse(PASSWORD).unwrap());
            accounts::create_user(
                &mut conn,
                &Actor::system(),
                &Username::parse("admin").unwrap(),
                Role::Admin,
                &hash,
            )
            .unwrap();
            (ingest.expose().to_owned(), read.expose().to_owned())
        })
        .await
        .unwrap()
    };

    // Production timeouts: a second for a pooled connection and for an ingest slot.
    let mut settings = Settings::for_database(&url);
    settings.db_pool_timeout = Duration::from_secs(1);
    settings.ingest_wait = Duration::from_secs(1);
    let pools = Pools::connect(&url, &settings).unwrap();
    let application = Application::build(settings, pools, SecretKey::generate())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());

    let api = reqwest::Client::builder()
        .timeout(API_BOUND)
        .build()
        .unwrap();
    let health = reqwest::Client::builder()
        .timeout(HEALTH_BOUND)
        .build()
        .unwrap();
    let ingest = || {
        api.post(format!("{address}/api/v1/events"))
            .bearer_auth(&ingest_token)
            .json(&json!({ "type": "course.completed", "data": { "user_id": 7 } }))
            .send()
    };
    let list_webhooks = || {
        api.get(format!("{address}/api/v1/webhooks"))
            .bearer_auth(&read_token)
            .send()
    };
    let healthz = || health.get(format!("{address}/healthz")).send();
    let browser = Browser::new_for(&address);
    assert_redirects_to(&browser.login("admin", PASSWORD).await, "/");

    assert_eq!(ingest().await.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(list_webhooks().await.unwrap().status(), StatusCode::OK);
    assert_eq!(healthz().await.unwrap().status(), StatusCode::OK);
    assert_eq!(browser.get("/webhooks").await.status(), StatusCode::OK);

    let mut cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .unwrap();

    // At once, before the monitor has noticed: refused within the bound, not queued.
    let refused = ingest().await.expect("ingest answers within 2 s");
    assert_api_unavailable(refused, "ingest").await;

    let unhealthy = eventually(
        Duration::from_secs(10),
        "/healthz to report 503",
        || async {
            let response = healthz().await.expect("/healthz answers within 1 s");
            (response.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(response)
        },
    )
    .await;
    assert!(unhealthy.headers().contains_key("retry-after"));
    let body: Value = unhealthy.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "status": "unavailable", "database": "unreachable" })
    );

    let refused = ingest().await.expect("ingest answers within 2 s");
    assert_api_unavailable(refused, "ingest").await;
    let refused = list_webhooks()
        .await
        .expect("the management API answers within 2 s");
    assert_api_unavailable(refused, "the management API").await;

    let page = tokio::time::timeout(API_BOUND, browser.get("/webhooks"))
        .await
        .expect("the console answers within 2 s");
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.headers().contains_key("retry-after"));
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("The database is unavailable") && html.contains("try again shortly"),
        "{html}"
    );

    drop(cluster);
    cluster = start_cluster(root.clone()).await;

    // Back by itself: no restart, no operator.
    let recovery = Duration::from_secs(30);
    eventually(recovery, "/healthz to report 200 again", || async {
        let response = healthz().await.expect("/healthz answers within 1 s");
        (response.status() == StatusCode::OK).then_some(())
    })
    .await;
    eventually(recovery, "ingest to accept events again", || async {
        let response = ingest().await.ok()?;
        (response.status() == StatusCode::ACCEPTED).then_some(())
    })
    .await;
    eventually(recovery, "the management API to answer again", || async {
        let response = list_webhooks().await.ok()?;
        (response.status() == StatusCode::OK).then_some(())
    })
    .await;
    eventually(recovery, "the console to show pages again", || async {
        (browser.get("/webhooks").await.status() == StatusCode::OK).then_some(())
    })
    .await;
    drop(cluster);
}

#[tokio::test]
async fn ingest_answers_503_with_retry_after_when_its_admission_limit_is_full() {
    let app = spawn_app_with(|settings| {
        settings.worker.enabled = false;
        settings.ingest_concurrency = 1;
        settings.ingest_wait = Duration::from_millis(300);
    })
    .await;
    let token = token(&app, Scope::Ingest).await;
    let post = {
        let (address, token) = (app.address.clone(), token.clone());
        move || {
            reqwest::Client::new()
                .post(format!("{address}/api/v1/events"))
                .bearer_auth(&token)
                .json(&json!({ "type": "course.completed", "data": {} }))
                .send()
        }
    };

    // Fill every admission slot: a transaction locks the events table, so the first request
    // waits inside the database (its group's writer is the only one), and the others wait for
    // that writer with their slots taken.
    let (locked_tx, locked) = tokio::sync::oneshot::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let url = app.database.url.clone();
        std::thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            conn.transaction(|conn| {
                diesel::sql_query("LOCK TABLE events IN EXCLUSIVE MODE").execute(conn)?;
                locked_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Ok::<_, diesel::result::Error>(())
            })
            .unwrap();
        })
    };
    locked.await.unwrap();
    let first = tokio::spawn(post());
    let mut queued_behind = Vec::new();
    eventually(
        Duration::from_secs(10),
        "the first ingest request to wait for the lock",
        || {
            app.with_conn(|conn| {
                let waiting: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "(SELECT count(*) FROM pg_stat_activity \
                     WHERE wait_event_type = 'Lock' AND datname = current_database())",
                ))
                .get_result(conn)
                .unwrap();
                (waiting > 0).then_some(())
            })
        },
    )
    .await;
    for _ in 1..herald::ingest::committer::ADMITTED_PER_WRITER {
        queued_behind.push(tokio::spawn(post()));
    }
    // They are admitted (not refused) and wait: every slot is taken, none has an answer yet.
    eventually(
        Duration::from_secs(10),
        "every admission slot to be taken",
        || async { (app.ingest_admission.free_slots() == 0).then_some(()) },
    )
    .await;
    assert!(queued_behind.iter().all(|request| !request.is_finished()));

    let refused = post().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("busy"), "{body}");

    release.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::ACCEPTED);
    for request in queued_behind {
        assert_eq!(
            request.await.unwrap().unwrap().status(),
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(post().await.unwrap().status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn an_answer_that_arrives_while_the_database_is_down_is_recorded_when_it_is_back() {
    let (_dir, root) = cluster_root();
    let cluster = start_cluster(root.clone()).await;
    let url = cluster.url("herald");
    let key_text = format!("outage-test-key-{:032x}", rand::random::<u128>());
    // The request is in flight when the database stops, and answered while it is down.
    let receiver = crate::receiver::Receiver::start(vec![
        crate::receiver::Reply::status(200).after(Duration::from_millis(1500)),
    ])
    .await;
    let (webhook_id, ingest_token) = {
        let (url, key_text, endpoint) = (url.clone(), key_text.clone(), receiver.url.clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            db::run_migrations(&mut conn).unwrap();
            let secrets =
                herald::domain::secret_box::SecretBox::new(&SecretKey::parse(&key_text).unwrap());
            let mut input = herald::webhooks::input::WebhookInput::defaults();
            input.name = "outage".into();
            input.endpoint_url = endpoint;
            input.events = vec!["course.completed".into()];
            let catalog = herald::model::event_type::names(&mut conn).unwrap();
            let spec = input
                .parse(&herald::webhooks::input::ParseContext {
                    allow_http: true,
                    catalog: &catalog,
                    has_auth_header: false,
                    header_names: &[],
                })
                .unwrap();
            let (hook, _) =
                herald::webhooks::service::create(&mut conn, &Actor::system(), &spec, &secrets)
                    .unwrap();
            let (_, ingest) = tokens::create(&mut conn, &Actor::system(), "lms", Scope::Ingest)
                .expect("an ingest token");
            (hook.id, ingest.expose().to_owned())
        })
        .await
        .unwrap()
    };
    let mut settings = Settings::for_database(&url);
    // The outage outlasts the lease: the worker must keep what it knows rather than let the
    // delivery be taken back and sent again.
    settings.worker.lease = Duration::from_secs(3);
    let pools = Pools::connect(&url, &settings).unwrap();
    let application = Application::build(settings, pools, SecretKey::parse(&key_text).unwrap())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());

    let accepted = reqwest::Client::new()
        .post(format!("{address}/api/v1/events"))
        .bearer_auth(&ingest_token)
        .json(&json!({ "type": "course.completed", "data": { "user_id": 7 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    receiver.wait_for(1).await;
    let cluster = tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        cluster.stop();
        cluster
    })
    .await
    .unwrap();
    drop(cluster);
    // The outage itself: longer than the answer takes and than a lease.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let _cluster = start_cluster(root.clone()).await;

    let status_of = || {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            use herald::db::schema::deliveries;
            let mut conn = PgConnection::establish(&url).ok()?;
            deliveries::table
                .filter(deliveries::webhook_id.eq(webhook_id))
                .select((deliveries::status, deliveries::attempts))
                .first::<(String, i32)>(&mut conn)
                .ok()
        })
    };
    let (status, attempts) = eventually(
        Duration::from_secs(30),
        "the delivery to be recorded as delivered",
        || async {
            let found = status_of().await.unwrap();
            found.filter(|(status, _)| status == "delivered")
        },
    )
    .await;
    assert_eq!((status.as_str(), attempts), ("delivered", 1));
    assert_eq!(
        receiver.received().len(),
        1,
        "the receiver's answer was kept, not sent again"
    );
}
