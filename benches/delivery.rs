//! End-to-end delivery benchmark (not a test): starts PostgreSQL (a private durable cluster,
//! `synchronous_commit` on, or `DATABASE_URL`), a fast local receiver, and Herald itself as a
//! separate process (`herald serve`), then prints:
//!
//! - 20,000 events to 1 webhook, one event per call from 16 concurrent clients;
//! - the same with batch ingest (arrays of 500 events, 4 concurrent clients);
//! - 2,000 events fanned out to 10 webhooks (20,000 deliveries);
//! - ingest-to-receipt latency p50/p99 at a steady 200 events/s;
//! - noisy neighbour: a healthy webhook's latency alone, then beside a slow, a throttled (429)
//!   and a resetting receiver (`noisy.rs`);
//! - ingest overload: deliveries/s while hundreds of clients flood ingest (`overload.rs`);
//! - crash takeover: a `herald worker` killed with requests in flight, and how long until
//!   another worker delivers them (`takeover.rs`);
//! - Herald's peak RSS.
//!
//! The last three run `BENCH_RUNS` times (3 by default) and print min/median/max, the
//! machine's load and the CPU time of Herald and of PostgreSQL beside each run.
//!
//! Run with `cargo bench --bench delivery`; `BENCH_SCENARIOS=noisy,overload,takeover` picks
//! scenarios (all by default). The other knobs are listed in README.md.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use herald::db::embedded::{ClusterOptions, EmbeddedPostgres};
use herald::domain::secret_box::SecretBox;
use herald::domain::secret_key::SecretKey;
use herald::model::audit::Actor;
use herald::tokens::{self, Scope};
use herald::webhooks::input::{ParseContext, WebhookInput};
use herald::webhooks::service;
use serde_json::json;

// The scenarios' parts live in benches/delivery/ (not benches/, where cargo would take each
// file for a benchmark of its own).
#[path = "delivery/dbwork.rs"]
mod dbwork;
#[path = "delivery/history.rs"]
mod history;
#[path = "delivery/measure.rs"]
mod measure;
#[path = "delivery/noisy.rs"]
mod noisy;
#[path = "delivery/overload.rs"]
mod overload;
#[path = "delivery/receivers.rs"]
mod receivers;
#[path = "delivery/scale.rs"]
mod scale;
#[path = "delivery/takeover.rs"]
mod takeover;

/// Counts deliveries and each event's ingest-to-receipt latency.
#[derive(Default)]
struct Receipts {
    count: AtomicU64,
    last_at_micros: AtomicU64,
    latencies_micros: Mutex<Vec<u64>>,
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

/// What the scenarios share: the API, the database and the Herald process.
struct Bench {
    origin: Instant,
    client: reqwest::Client,
    api: String,
    token: String,
    pool: herald::db::PgPool,
    secrets: SecretBox,
    database_url: String,
    key_text: String,
    herald: Herald,
    /// The PostgreSQL server's main process, when it runs on this machine.
    postmaster: Option<u32>,
    /// The highest peak RSS of Herald processes stopped along the way.
    earlier_peak_rss_mib: f64,
    /// The highest start-up peak of Herald processes (the first hashes a password).
    startup_peak_rss_mib: f64,
}

async fn run() -> anyhow::Result<()> {
    // BENCH_SCENARIOS=single,batch,fanout,latency,idle,scale,noisy,overload,takeover picks some
    // (all of those by default); `history` (the 10-million-delivery page timings, on a database
    // of its own) runs only when named.
    let wanted = std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| {
        "single,batch,fanout,latency,idle,scale,noisy,overload,takeover".into()
    });
    let wants = |name: &str| wanted.split(',').any(|w| w.trim() == name);
    let runs: usize = measure::env_number("BENCH_RUNS", 3)?;
    if wants("history") {
        history::run(runs).await?;
        if wanted.split(',').all(|w| w.trim() == "history") {
            return Ok(());
        }
    }
    let origin = Instant::now();
    let dir = tempfile::Builder::new().prefix("herald-bench-").tempdir()?;
    let (database_url, _cluster) = database(dir.path())?;
    let key_text = format!("bench-secret-key-{:032x}", rand::random::<u128>());
    let secrets = SecretBox::new(&SecretKey::parse(&key_text).map_err(anyhow::Error::msg)?);

    let receipts = Arc::new(Receipts::default());
    let receiver_url = start_receiver(receipts.clone(), origin)?;
    let pool = herald::db::build_pool(&database_url, 2)?;
    herald::db::run_migrations(&mut *pool.get()?)?;
    let mut conn = pool.get()?;
    create_webhook(
        &mut conn,
        &secrets,
        "single",
        &receiver_url,
        "course.completed",
    )?;
    for n in 0..10 {
        create_webhook(
            &mut conn,
            &secrets,
            &format!("fan-out-{n}"),
            &receiver_url,
            "badge.awarded",
        )?;
    }
    let (_, token) = tokens::create(&mut conn, &Actor::system(), "bench", Scope::Ingest)?;
    let token = token.expose().to_owned();
    let postmaster = measure::postmaster_pid(&mut conn);
    if std::env::var_os("BENCH_HERALD_WRAPPER").is_some() {
        // Under a profiler, a user exists already: start-up then hashes no password (argon2id's
        // 19 MiB would be the profile's peak) and the profile shows what running costs.
        diesel::RunQueryDsl::execute(
            diesel::sql_query(
                "INSERT INTO users (username, password_hash, role) VALUES ('bench', '!', 'admin')",
            ),
            &mut conn,
        )?;
    }
    drop(conn);

    let herald = Herald::start(&database_url, &key_text)?;
    let mut bench = Bench {
        origin,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(32)
            .build()?,
        api: format!("{}/api/v1/events", herald.url),
        token,
        pool,
        secrets,
        database_url,
        key_text,
        herald,
        postmaster,
        earlier_peak_rss_mib: 0.0,
        startup_peak_rss_mib: 0.0,
    };
    let (client, api, token) = (bench.client.clone(), bench.api.clone(), bench.token.clone());

    println!(
        "Herald delivery benchmark ({} cores)",
        std::thread::available_parallelism()?.get()
    );
    println!("{:-<78}", "");
    // Warm up connections, caches and the worker.
    scenario(
        &client,
        &api,
        &token,
        &receipts,
        origin,
        Load {
            event_type: "course.completed",
            events: 500,
            per_call: 1,
            clients: 16,
            fan_out: 1,
        },
    )
    .await?;

    let latency_seconds: u64 = measure::env_number("BENCH_LATENCY_SECONDS", 30)?;
    if wants("single") {
        throughput(
            &bench,
            &receipts,
            "20,000 events → 1 webhook, 1 event per call, 16 clients",
            Load {
                event_type: "course.completed",
                events: 20_000,
                per_call: 1,
                clients: 16,
                fan_out: 1,
            },
            runs,
        )
        .await?;
        bench.herald.print_memory();
    }
    if wants("batch") {
        throughput(
            &bench,
            &receipts,
            "20,000 events → 1 webhook, batches of 500, 4 clients",
            Load {
                event_type: "course.completed",
                events: 20_000,
                per_call: 500,
                clients: 4,
                fan_out: 1,
            },
            runs,
        )
        .await?;
        bench.herald.print_memory();
    }
    if wants("fanout") {
        throughput(
            &bench,
            &receipts,
            "2,000 events → 10 webhooks (20,000 deliveries), 1 per call",
            Load {
                event_type: "badge.awarded",
                events: 2_000,
                per_call: 1,
                clients: 16,
                fan_out: 10,
            },
            runs,
        )
        .await?;
        bench.herald.print_memory();
    }
    if wants("latency") {
        latency(
            &bench,
            &receipts,
            200,
            Duration::from_secs(latency_seconds),
            runs,
        )
        .await?;
    }
    // The peak of the issue's own scenarios, apart from the floods and faults that follow.
    let throughput_peak = if ["single", "batch", "fanout", "latency"]
        .iter()
        .any(|name| wants(name))
    {
        Some(bench.herald.peak_rss_mib()?)
    } else {
        None
    };
    if wants("idle") {
        idle(&bench, runs).await?;
    }
    if wants("scale") {
        scale::run(&mut bench, runs).await?;
    }
    if wants("noisy") {
        noisy::run(&bench, runs).await?;
        bench.herald.print_memory();
    }
    if wants("overload") {
        overload::run(&bench, &receipts, runs).await?;
        bench.herald.print_memory();
    }
    // Last: it stops Herald's serve process while it runs (its worker would claim too).
    if wants("takeover") {
        takeover::run(&mut bench, runs).await?;
    }
    if let Some(peak) = throughput_peak {
        println!(
            "{:<60} {:>8.1} MiB",
            "Herald peak RSS, one-per-call, batch, fan-out and 200/s", peak
        );
    }
    println!(
        "{:<60} {:>8.1} MiB",
        "Herald peak RSS after start-up, every scenario (VmHWM)",
        bench.herald.peak_rss_mib()?.max(bench.earlier_peak_rss_mib)
    );
    println!(
        "{:<60} {:>8.1} MiB",
        "Herald peak RSS at start-up (first admin's password hashed)",
        bench
            .herald
            .startup_peak_mib
            .max(bench.startup_peak_rss_mib)
    );
    bench.herald.stop();
    Ok(())
}

impl Bench {
    /// Runs `query` on a pooled connection, off the async threads.
    async fn db<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut diesel::PgConnection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            query(&mut conn)
        })
        .await?
    }

    /// The load and CPU times now, with the serve process as Herald.
    fn snapshot(&self) -> measure::Snapshot {
        measure::Snapshot::take(
            measure::process_ticks(self.herald.child.id()).unwrap_or(0),
            self.postmaster,
        )
    }

    /// Stops `herald serve` (remembering its peak RSS).
    fn stop_herald(&mut self) {
        if let Ok(peak) = self.herald.peak_rss_mib() {
            self.earlier_peak_rss_mib = self.earlier_peak_rss_mib.max(peak);
        }
        self.startup_peak_rss_mib = self.startup_peak_rss_mib.max(self.herald.startup_peak_mib);
        self.herald.stop();
    }

    /// Starts `herald serve` again (on a new port).
    fn start_herald(&mut self) -> anyhow::Result<()> {
        self.start_herald_with(&[])
    }

    /// Starts `herald serve` again with more settings (`HERALD_RUN_WORKER=false`, say).
    fn start_herald_with(&mut self, settings: &[(&str, &str)]) -> anyhow::Result<()> {
        self.herald = Herald::start_with(&self.database_url, &self.key_text, settings)?;
        self.api = format!("{}/api/v1/events", self.herald.url);
        Ok(())
    }
}

struct Figures {
    events: u64,
    deliveries: u64,
    accept_seconds: f64,
    deliver_seconds: f64,
}

/// One throughput load: `events` events posted `per_call` per request by `clients` at once,
/// each delivered to `fan_out` webhooks.
#[derive(Clone, Copy)]
struct Load {
    event_type: &'static str,
    events: u64,
    per_call: u64,
    clients: u64,
    fan_out: u64,
}

/// Runs `load` `runs` times; prints each run's database work and CPU, then min/median/max.
async fn throughput(
    bench: &Bench,
    receipts: &Arc<Receipts>,
    title: &str,
    load: Load,
    runs: usize,
) -> anyhow::Result<()> {
    let mut figures = measure::Runs::default();
    println!("{title}");
    for run in 1..=runs {
        let baseline = bench.db(dbwork::start).await?;
        let before = bench.snapshot();
        let f = scenario(
            &bench.client,
            &bench.api,
            &bench.token,
            receipts,
            bench.origin,
            load,
        )
        .await?;
        let usage = bench.snapshot().since(&before);
        let deliveries = f.deliveries;
        let breakdown = bench
            .db(move |conn| dbwork::finish(conn, &baseline, deliveries))
            .await?;
        println!("  run {run}: {usage}");
        if run == runs {
            breakdown.print();
        }
        figures.add("accepted events/s", f.events as f64 / f.accept_seconds);
        figures.add(
            "delivered deliveries/s",
            f.deliveries as f64 / f.deliver_seconds,
        );
        add_cost(&mut figures, &usage, &breakdown, f.deliveries);
    }
    figures.print(title);
    Ok(())
}

/// CPU and database work per delivery.
fn add_cost(
    figures: &mut measure::Runs,
    usage: &measure::Usage,
    breakdown: &dbwork::Breakdown,
    deliveries: u64,
) {
    let per = |seconds: f64| seconds * 1000.0 / deliveries.max(1) as f64;
    figures.add("Herald CPU ms per delivery", per(usage.herald_seconds));
    if let Some(postgres) = usage.postgres_seconds {
        figures.add("PostgreSQL CPU ms per delivery", per(postgres));
    }
    figures.add("commits per delivery", breakdown.commits);
    figures.add("WAL bytes per delivery", breakdown.wal_bytes);
    let (written, updated, hot) = breakdown.rows_written();
    figures.add("rows written per delivery", written);
    figures.add("of which non-HOT updates", updated - hot);
    if breakdown.statements_per_delivery() > 0.0 {
        figures.add(
            "statements per delivery",
            breakdown.statements_per_delivery(),
        );
        figures.add(
            "statement ms per delivery",
            breakdown.statement_ms_per_delivery(),
        );
        figures.add(
            "statement planning ms per delivery",
            breakdown.plan_ms_per_delivery(),
        );
    }
}

/// Posts `load.events` events and waits until the receiver has every delivery.
async fn scenario(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    receipts: &Arc<Receipts>,
    origin: Instant,
    load: Load,
) -> anyhow::Result<Figures> {
    let Load {
        event_type,
        events,
        per_call,
        clients,
        fan_out,
    } = load;
    let before = receipts.count.load(Ordering::SeqCst);
    let expected = before + events * fan_out;
    let calls = events / per_call;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, api, token, next) = (
            client.clone(),
            api.to_owned(),
            token.to_owned(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < calls {
                let body = if per_call == 1 {
                    event(event_type, origin)
                } else {
                    serde_json::Value::Array(
                        (0..per_call).map(|_| event(event_type, origin)).collect(),
                    )
                };
                let response = client
                    .post(&api)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await?;
                anyhow::ensure!(
                    response.status() == 202,
                    "ingest answered {}",
                    response.status()
                );
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let accept_seconds = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(300);
    while receipts.count.load(Ordering::SeqCst) < expected {
        anyhow::ensure!(
            Instant::now() < deadline,
            "deliveries did not all arrive within 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last = Duration::from_micros(receipts.last_at_micros.load(Ordering::SeqCst));
    let deliver_seconds = (origin + last).duration_since(started).as_secs_f64();
    Ok(Figures {
        events,
        deliveries: events * fan_out,
        accept_seconds,
        deliver_seconds,
    })
}

/// Steady open-loop load: `rate` events per second for `duration`, `runs` times; prints the
/// ingest-to-receipt latency and what each delivery cost.
async fn latency(
    bench: &Bench,
    receipts: &Arc<Receipts>,
    rate: u64,
    duration: Duration,
    runs: usize,
) -> anyhow::Result<()> {
    let title = format!(
        "latency, ingest → receipt, steady {rate} events/s for {} s",
        duration.as_secs()
    );
    println!("{title}");
    let mut figures = measure::Runs::default();
    for run in 1..=runs {
        let baseline = bench.db(dbwork::start).await?;
        let before = bench.snapshot();
        let (p50, p99, max) = steady_latency(
            &bench.client,
            &bench.api,
            &bench.token,
            receipts,
            bench.origin,
            rate,
            duration,
        )
        .await?;
        let usage = bench.snapshot().since(&before);
        let deliveries = rate * duration.as_secs();
        let breakdown = bench
            .db(move |conn| dbwork::finish(conn, &baseline, deliveries))
            .await?;
        println!("  run {run}: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms; {usage}");
        if run == runs {
            breakdown.print();
        }
        figures.add("p50 ms", p50);
        figures.add("p99 ms", p99);
        figures.add("max ms", max);
        add_cost(&mut figures, &usage, &breakdown, deliveries);
    }
    figures.print(&title);
    Ok(())
}

/// Nothing queued: the CPU Herald and PostgreSQL use per minute while waiting.
async fn idle(bench: &Bench, runs: usize) -> anyhow::Result<()> {
    let seconds: u64 = measure::env_number("BENCH_IDLE_SECONDS", 60)?;
    let title = format!("idle, nothing queued, {seconds} s");
    println!("{title}");
    // Let the last scenario's retention, statistics and autovacuum settle first.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut figures = measure::Runs::default();
    for run in 1..=runs {
        let before = bench.snapshot();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let usage = bench.snapshot().since(&before);
        println!("  run {run}: {usage}");
        let per_minute = |s: f64| s * 60.0 / usage.wall_seconds;
        figures.add("Herald CPU s per minute", per_minute(usage.herald_seconds));
        if let Some(postgres) = usage.postgres_seconds {
            figures.add("PostgreSQL CPU s per minute", per_minute(postgres));
            figures.add(
                "Herald + PostgreSQL CPU s per minute",
                per_minute(usage.herald_seconds + postgres),
            );
        }
    }
    figures.print(&title);
    Ok(())
}

/// Posts `rate` events per second for `duration`; returns latency p50, p99 and max in ms.
async fn steady_latency(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    receipts: &Arc<Receipts>,
    origin: Instant,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<(f64, f64, f64)> {
    receipts.latencies_micros.lock().unwrap().clear();
    let total = rate * duration.as_secs();
    let before = receipts.count.load(Ordering::SeqCst);
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..total {
        ticker.tick().await;
        let (client, api, token) = (client.clone(), api.to_owned(), token.to_owned());
        sends.spawn(async move {
            client
                .post(&api)
                .bearer_auth(&token)
                .json(&event("course.completed", origin))
                .send()
                .await
        });
    }
    while let Some(sent) = sends.join_next().await {
        anyhow::ensure!(sent??.status() == 202, "ingest failed");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while receipts.count.load(Ordering::SeqCst) < before + total {
        anyhow::ensure!(Instant::now() < deadline, "latency run did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies = receipts.latencies_micros.lock().unwrap().clone();
    latencies.sort_unstable();
    let at = |q: f64| measure::percentile(&latencies, q).unwrap_or(0) as f64 / 1000.0;
    Ok((at(0.5), at(0.99), at(1.0)))
}

/// Posts one ingest request and reads the whole answer (so the connection goes back to the
/// pool); returns the status and `Retry-After` in seconds, if any.
async fn post(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    body: &serde_json::Value,
) -> reqwest::Result<(u16, Option<u64>)> {
    let answer = client
        .post(api)
        .bearer_auth(token)
        .json(body)
        .send()
        .await?;
    let status = answer.status().as_u16();
    let retry_after = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    answer.bytes().await?;
    Ok((status, retry_after))
}

fn event(event_type: &str, origin: Instant) -> serde_json::Value {
    json!({
        "type": event_type,
        "data": {
            "sent_us": origin.elapsed().as_micros() as u64,
            "user": { "id": 1042, "email": "learner@example.edu" },
            "course": { "id": 77, "name": "Workplace safety" }
        }
    })
}

fn start_receiver(receipts: Arc<Receipts>, origin: Instant) -> anyhow::Result<String> {
    let data = web::Data::from(receipts);
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).default_service(web::to(
            move |body: web::Bytes, receipts: web::Data<Receipts>| async move {
                let now = origin.elapsed().as_micros() as u64;
                let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let sent = parsed["body"]["sent_us"].as_u64();
                if let Some(sent) = sent {
                    receipts
                        .latencies_micros
                        .lock()
                        .unwrap()
                        .push(now.saturating_sub(sent));
                }
                receipts.last_at_micros.fetch_max(now, Ordering::SeqCst);
                receipts.count.fetch_add(1, Ordering::SeqCst);
                HttpResponse::NoContent().finish()
            },
        ))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")?;
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    Ok(format!("http://127.0.0.1:{port}/hook"))
}

fn database(dir: &std::path::Path) -> anyhow::Result<(String, Option<EmbeddedPostgres>)> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let mut admin = <diesel::PgConnection as diesel::Connection>::establish(&url)?;
        let name = format!("herald_bench_{}", std::process::id());
        diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}")),
            &mut admin,
        )?;
        diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("CREATE DATABASE {name}")),
            &mut admin,
        )?;
        let mut parsed = url::Url::parse(&url)?;
        parsed.set_path(&format!("/{name}"));
        return Ok((parsed.to_string(), None));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    // Herald's own settings (durable), plus pg_stat_statements for the breakdown.
    let cluster = EmbeddedPostgres::start(
        &dir.join("pg"),
        ClusterOptions {
            track_statements: true,
            ..ClusterOptions::default()
        },
    )?;
    Ok((cluster.url("herald"), Some(cluster)))
}

fn create_webhook(
    conn: &mut diesel::PgConnection,
    secrets: &SecretBox,
    name: &str,
    url: &str,
    event_type: &str,
) -> anyhow::Result<i64> {
    create_webhook_with(conn, secrets, name, url, event_type, |_| {})
}

/// Creates a webhook for one event type, with `adjust` changing the defaults; returns its id.
fn create_webhook_with(
    conn: &mut diesel::PgConnection,
    secrets: &SecretBox,
    name: &str,
    url: &str,
    event_type: &str,
    adjust: impl FnOnce(&mut WebhookInput),
) -> anyhow::Result<i64> {
    let mut input = WebhookInput::defaults();
    input.name = name.into();
    input.endpoint_url = url.into();
    input.events = vec![event_type.into()];
    // `BENCH_MAX_IN_FLIGHT` sets every webhook's in-flight limit (default: Herald's own, 8),
    // to compare a webhook's throughput with and without a tight limit.
    if let Ok(limit) = std::env::var("BENCH_MAX_IN_FLIGHT") {
        input.max_in_flight = limit;
    }
    adjust(&mut input);
    let catalog = herald::model::event_type::names(conn)?;
    let spec = input
        .parse(&ParseContext {
            allow_http: true,
            catalog: &catalog,
            has_auth_header: false,
            header_names: &[],
        })
        .map_err(|errors| anyhow::anyhow!("{errors:?}"))?;
    let (created, _) = service::create(conn, &Actor::system(), &spec, secrets)?;
    Ok(created.id)
}

/// Herald as its own process, so its memory is measured alone.
struct Herald {
    child: Child,
    url: String,
    /// Peak RSS until it served: on a new database that includes hashing the first admin's
    /// password (argon2id takes 19 MiB while it runs). The peak is reset after it, so
    /// `VmHWM` then says what running costs.
    startup_peak_mib: f64,
}

impl Herald {
    fn start(database_url: &str, key: &str) -> anyhow::Result<Self> {
        Self::start_with(database_url, key, &[])
    }

    fn start_with(
        database_url: &str,
        key: &str,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        // BENCH_HERALD_WRAPPER runs Herald under a profiler ("heaptrack -o /tmp/herald", say);
        // the memory and CPU figures are then the wrapper's, not Herald's.
        let wrapper = std::env::var("BENCH_HERALD_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = Command::new(program);
                command.args(words).arg(env!("CARGO_BIN_EXE_herald"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_herald")),
        };
        let mut child = command
            .arg("serve")
            .envs(settings.iter().copied())
            .env("DATABASE_URL", database_url)
            .env("HERALD_SECRET_KEY", key)
            .env("HERALD_BIND", "127.0.0.1:0")
            .env("HERALD_ALLOW_PRIVATE_TARGETS", "127.0.0.1/32")
            .env("HERALD_ADMIN_PASSWORD", "bench-admin-password")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .ok_or_else(|| anyhow::anyhow!("herald exited before serving"))??;
            if let Some(rest) = line.split("serving the console on ").nth(1) {
                break rest.trim().trim_end_matches('/').to_owned();
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let mut herald = Self {
            child,
            url,
            startup_peak_mib: 0.0,
        };
        herald.startup_peak_mib = herald.peak_rss_mib()?;
        // "5" resets the peak RSS (Linux >= 4.0, proc(5)).
        std::fs::write(format!("/proc/{}/clear_refs", herald.child.id()), "5")?;
        Ok(herald)
    }

    fn print_memory(&self) {
        if let (Ok(rss), Ok(anon), Ok(file), Ok(peak), Ok(threads)) = (
            self.status_kib("VmRSS:"),
            self.status_kib("RssAnon:"),
            self.status_kib("RssFile:"),
            self.status_kib("VmHWM:"),
            self.status_kib("Threads:"),
        ) {
            println!(
                "    Herald RSS {:.1} MiB (heap and stacks {:.1}, code and libraries {:.1}), peak since start-up {:.1} MiB, {threads} threads",
                rss / 1024.0,
                anon / 1024.0,
                file / 1024.0,
                peak / 1024.0
            );
        }
    }

    fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        Ok(self.status_kib("VmHWM:")? / 1024.0)
    }

    /// A numeric field of /proc/PID/status (kB for memory fields).
    fn status_kib(&self, field: &str) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no {field} in /proc status"))
    }

    fn stop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
