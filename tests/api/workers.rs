//! Worker processes (`herald worker`, the real binary) sharing one database: each delivery
//! sent once, a killed worker's delivery taken back, a graceful stop; and `herald emit`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use herald::tokens::Scope;
use serde_json::json;

use crate::delivery_helpers::{
    create_webhook, deliveries_of, delivery_reaches, emit, post_events, token,
};
use crate::helpers::{TestApp, eventually, spawn_app_with};
use crate::receiver::{Receiver, Reply};

/// A `herald worker` process, killed when dropped.
pub struct WorkerProcess(Child);

impl WorkerProcess {
    /// Starts a worker on the app's database and waits until it says it is delivering.
    async fn start(app: &TestApp) -> Self {
        Self::start_polling_every(app, "100").await
    }

    /// Like [`start`](Self::start), looking for due deliveries every `poll_ms` when nothing
    /// wakes it.
    async fn start_polling_every(app: &TestApp, poll_ms: &str) -> Self {
        Self::start_on(&app.database.url, &app.secret_key_text, poll_ms).await
    }

    /// A worker on the database at `url`, with the installation's secret key.
    pub async fn start_on(url: &str, secret_key: &str, poll_ms: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("worker")
            .env("DATABASE_URL", url)
            .env("HERALD_SECRET_KEY", secret_key)
            .env("HERALD_ALLOW_PRIVATE_TARGETS", "127.0.0.0/8")
            .env("HERALD_WORKER_POLL_MS", poll_ms)
            .env("HERALD_WORKER_LEASE_SECONDS", "3")
            .env("HERALD_WORKER_SHUTDOWN_SECONDS", "10")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let ready = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line.contains("is delivering"))
        });
        let started = tokio::time::timeout(Duration::from_secs(20), ready).await;
        assert!(matches!(started, Ok(Ok(true))), "the worker did not start");
        Self(child)
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0.id() as i32), signal).unwrap();
    }

    async fn wait(mut self) -> std::process::ExitStatus {
        let status = eventually(Duration::from_secs(20), "the worker to exit", || {
            let status = self.0.try_wait().unwrap();
            async move { status }
        })
        .await;
        std::mem::forget(self);
        status
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn app_without_worker() -> TestApp {
    spawn_app_with(|s| s.worker.enabled = false).await
}

#[tokio::test]
async fn a_worker_process_is_woken_by_the_notification_not_by_polling() {
    let app = app_without_worker().await;
    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    // It would look for work only once a minute on its own: only the LISTEN connection can
    // make this delivery arrive within the deadline.
    let _worker = WorkerProcess::start_polling_every(&app, "60000").await;
    let ingest = token(&app, Scope::Ingest).await;
    let posted = post_events(
        &app,
        &ingest,
        &json!({ "type": "course.completed", "data": {} }),
    )
    .await;
    assert_eq!(posted.status(), 202);
    // (Posted before the listener connected, it is still found: the listener wakes the worker
    // once it is connected.)
    eventually(
        Duration::from_secs(15),
        "a delivery woken by NOTIFY",
        || async {
            deliveries_of(&app, hook.id)
                .await
                .into_iter()
                .any(|d| d.status == "delivered")
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn two_worker_processes_deliver_each_delivery_once() {
    let app = app_without_worker().await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    let _first = WorkerProcess::start(&app).await;
    let _second = WorkerProcess::start(&app).await;

    for round in 0..6 {
        let events: Vec<_> = (0..50)
            .map(|n| json!({ "type": "course.completed", "data": { "n": round * 50 + n } }))
            .collect();
        assert_eq!(
            post_events(&app, &token, &json!(events)).await.status(),
            202
        );
    }
    eventually(
        Duration::from_secs(30),
        "all 300 deliveries delivered",
        || async {
            let deliveries = deliveries_of(&app, hook.id).await;
            (deliveries.len() == 300 && deliveries.iter().all(|d| d.status == "delivered"))
                .then_some(())
        },
    )
    .await;
    let received = receiver.received();
    let ids: HashSet<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 300);
    assert_eq!(received.len(), 300, "no delivery was sent twice");
}

#[tokio::test]
async fn a_delivery_in_flight_when_its_worker_dies_still_arrives() {
    let app = app_without_worker().await;
    // The first request hangs (the worker is killed meanwhile); later ones get 200.
    let receiver = Receiver::start(vec![Reply::status(200).after(Duration::from_secs(60))]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| i.timeout_seconds = "3".into()).await;
    let token = token(&app, Scope::Ingest).await;
    let doomed = WorkerProcess::start(&app).await;
    crate::delivery_helpers::emit(&app, &token, json!({ "important": true })).await;
    receiver.wait_for(1).await;
    doomed.signal(nix::sys::signal::Signal::SIGKILL);
    drop(doomed);

    let _rescuer = WorkerProcess::start(&app).await;
    let delivered = delivery_reaches(&app, hook.id, "delivered").await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    assert_eq!(received[1].json()["body"]["important"], true);
    // The lost attempt is in the history, and the next send says it is the second.
    assert_eq!(received[0].json()["attempt"], 1);
    assert_eq!(received[1].json()["attempt"], 2);
    assert_eq!(delivered.attempts, 2);
    let history = crate::delivery_helpers::attempts_of(&app, delivered.id).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].outcome, "unknown");
    assert_eq!(history[0].error_kind.as_deref(), Some("worker_lost"));
    assert!(
        history[0]
            .error_message
            .as_deref()
            .unwrap_or_default()
            .contains("whether the receiver got it is unknown")
    );
    assert_eq!(history[1].outcome, "delivered");
}

#[tokio::test]
async fn a_graceful_stop_finishes_requests_in_flight() {
    let app = app_without_worker().await;
    let receiver =
        Receiver::start(vec![Reply::status(200).after(Duration::from_millis(1500))]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| i.timeout_seconds = "10".into()).await;
    let token = token(&app, Scope::Ingest).await;
    let worker = WorkerProcess::start(&app).await;
    crate::delivery_helpers::emit(&app, &token, json!({})).await;
    receiver.wait_for(1).await;
    worker.signal(nix::sys::signal::Signal::SIGTERM);
    let status = worker.wait().await;
    assert!(status.success(), "{status:?}");
    let deliveries = deliveries_of(&app, hook.id).await;
    assert_eq!(
        deliveries[0].status, "delivered",
        "the answer was recorded before exiting"
    );
}

#[tokio::test]
async fn herald_emit_queues_an_event_through_the_ingest_path() {
    let app = app_without_worker().await;
    let (hook, _) = create_webhook(&app, "http://127.0.0.1:9/hook", |_| {}).await;
    let url = app.database.url.clone();
    let run = move |args: Vec<&'static str>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_herald"))
                .args(args)
                .env("DATABASE_URL", url)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        })
    };
    let output = run(vec![
        "emit",
        "course.completed",
        "--data",
        r#"{"user":{"id":5}}"#,
        "--idempotency-key",
        "cli-1",
    ])
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id: uuid::Uuid = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("Queued 1 deliveries"));
    let deliveries = deliveries_of(&app, hook.id).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].event_id, Some(id));

    let again = run(vec![
        "emit",
        "course.completed",
        "--idempotency-key",
        "cli-1",
    ])
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        id.to_string()
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("used before"));

    let unknown = run(vec!["emit", "course.exploded"]).await.unwrap();
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("unknown event type course.exploded")
    );
    let bad = run(vec!["emit", "course.completed", "--data", "{nope"])
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--data is not valid JSON"));
}

/// An idle worker sleeps long (here up to a minute) instead of polling, yet wakes when the
/// retry it scheduled becomes due: it asks the database when the next thing is due.
#[tokio::test]
async fn an_idle_worker_wakes_when_its_retry_is_due_without_polling() {
    let app = spawn_app_with(|s| s.worker.idle_poll = Duration::from_secs(60)).await;
    let receiver = Receiver::start(vec![Reply::status(429).header("Retry-After", "2")]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    let token = token(&app, Scope::Ingest).await;
    emit(&app, &token, json!({})).await;
    let requests = receiver.wait_for(2).await;
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(10),
        "retried after {waited:?}: not when due (2 s), nor a minute later"
    );
    delivery_reaches(&app, hook.id, "delivered").await;
}
