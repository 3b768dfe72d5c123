//! TLS to the database. Every connection reads `DATABASE_URL` as libpq does, the LISTEN
//! connection included: it once spoke only plain text, and a database requiring TLS left
//! other processes' workers polling.

use std::process::Command;
use std::time::Duration;

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Bool};
use herald::db::embedded::{ClusterOptions, EmbeddedPostgres};
use herald::domain::secret_box::SecretBox;
use herald::domain::secret_key::SecretKey;
use herald::webhooks::input::WebhookInput;

use crate::delivery_helpers::store_webhook;
use crate::helpers::{eventually, free_port, private_cluster_root};
use crate::receiver::{Receiver, Reply};
use crate::workers::WorkerProcess;

#[derive(diesel::QueryableByName)]
struct Listeners {
    #[diesel(sql_type = BigInt)]
    count: i64,
    #[diesel(sql_type = Bool)]
    all_tls: bool,
}

#[tokio::test]
async fn a_worker_on_a_database_that_requires_tls_is_woken_by_notifications() {
    let (_dir, root) = private_cluster_root("herald-tls-");
    let options = ClusterOptions {
        durable: false,
        max_connections: 30,
        track_statements: false,
        tls_port: Some(free_port()),
    };
    let cluster = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&root, options))
        .await
        .unwrap()
        .expect("a private cluster with TLS");
    // sslmode=require: libpq refuses to go on without TLS.
    let url = cluster.tls_url("herald").unwrap();
    let key_text = format!("tls-test-secret-key-{:032x}", rand::random::<u128>());
    let receiver = Receiver::start(vec![Reply::status(200)]).await;

    let (setup_url, key, endpoint) = (url.clone(), key_text.clone(), receiver.url.clone());
    let pool = tokio::task::spawn_blocking(move || {
        let pool = herald::db::build_pool(&setup_url, 2).unwrap();
        let mut conn = pool.get().unwrap();
        herald::db::run_migrations(&mut conn).unwrap();
        let secrets = SecretBox::new(&SecretKey::parse(&key).unwrap());
        let mut input = WebhookInput::defaults();
        input.name = "over TLS".into();
        input.endpoint_url = endpoint;
        input.events = vec!["course.completed".into()];
        store_webhook(&mut conn, &input, &secrets);
        drop(conn);
        pool
    })
    .await
    .unwrap();

    // It would look for work once a minute on its own: only a notification, which needs its
    // LISTEN connection up over TLS, can bring the delivery within the deadline.
    let _worker = WorkerProcess::start_on(&url, &key_text, "60000").await;
    let emit_url = url.clone();
    let emitted = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["emit", "course.completed", "--data", r#"{"over":"tls"}"#])
            .env("DATABASE_URL", emit_url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        emitted.status.success(),
        "{}",
        String::from_utf8_lossy(&emitted.stderr)
    );
    eventually(
        Duration::from_secs(15),
        "the delivery, woken by NOTIFY",
        || async { (receiver.received().len() == 1).then_some(()) },
    )
    .await;

    let listeners = tokio::task::spawn_blocking(move || {
        diesel::sql_query(
            "SELECT count(*) AS count, coalesce(bool_and(s.ssl), false) AS all_tls \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name LIKE 'herald-listener-%'",
        )
        .get_result::<Listeners>(&mut pool.get().unwrap())
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(listeners.count, 1, "the worker's LISTEN connection is up");
    assert!(listeners.all_tls, "and it speaks TLS");
}
