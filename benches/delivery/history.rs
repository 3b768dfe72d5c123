//! History at scale: every console list page and API list timed against a running `herald
//! serve` whose database holds `BENCH_HISTORY_DELIVERIES` deliveries (10 million by default,
//! three attempts each, across 1,000 webhooks over 28 days), made by `herald generate-history`.
//! The database lives in `BENCH_HISTORY_DIR` (default `target/bench-history`) and is kept
//! between runs: generating 10 million deliveries takes about 20 minutes and 17 GB.
//! Each run requests every page `REQUESTS` times, one after another, and records p50 and p95.

use std::process::Command;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use herald::db::embedded::{ClusterOptions, EmbeddedPostgres};
use herald::model::audit::Actor;
use herald::tokens::{self, Scope};

use super::Herald;
use super::measure::{self, Runs, Snapshot, percentile};

const REQUESTS: usize = 30;
const WARM_UP: usize = 3;
const ADMIN_PASSWORD: &str = "bench-admin-password";
const KEY: &str = "bench-history-secret-key-0123456789abcdef";
/// The target every page must meet.
const P95_LIMIT_MS: f64 = 50.0;

pub async fn run(runs: usize) -> anyhow::Result<()> {
    let dir = match std::env::var("BENCH_HISTORY_DIR") {
        Ok(dir) => std::path::PathBuf::from(dir),
        Err(_) => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-history"),
    };
    let wanted: i64 = measure::env_number("BENCH_HISTORY_DELIVERIES", 10_000_000)?;
    std::fs::create_dir_all(&dir)?;
    let cluster = EmbeddedPostgres::start(&dir.join("postgres"), ClusterOptions::default())?;
    let url = cluster.url("herald");
    let have = count_deliveries(&url)?;
    if have < wanted {
        println!(
            "history: generating {} deliveries (have {have})…",
            wanted - have
        );
        let status = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args([
                "generate-history",
                "--deliveries",
                &(wanted - have).to_string(),
            ])
            .env("DATABASE_URL", &url)
            .env("HERALD_SECRET_KEY", KEY)
            .env("RUST_LOG", "warn")
            .status()?;
        anyhow::ensure!(status.success(), "herald generate-history failed");
    }
    let pool = herald::db::build_pool(&url, 1)?;
    let (sizes, targets, token, postmaster) = {
        let mut conn = pool.get()?;
        herald::db::run_migrations(&mut conn)?;
        let sizes = Sizes::read(&mut conn)?;
        let targets = Targets::pick(&mut conn)?;
        let (_, token) = tokens::create(&mut conn, &Actor::system(), "history bench", Scope::Read)?;
        (
            sizes,
            targets,
            token.expose().to_owned(),
            measure::postmaster_pid(&mut conn),
        )
    };
    println!(
        "History at scale: {} deliveries, {} attempts, {} events, {} webhooks ({} GB on disk)",
        sizes.deliveries, sizes.attempts, sizes.events, sizes.webhooks, sizes.gigabytes
    );
    let herald = Herald::start_with(
        &url,
        KEY,
        &[
            ("HERALD_API_RATE_PER_SECOND", "100000"),
            ("HERALD_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    )?;
    let console = login(&herald.url).await?;
    let api = reqwest::Client::new();
    let pages = targets.pages();
    let mut figures = Runs::default();
    let mut worst: Vec<(String, f64)> = Vec::new();
    for run in 0..runs {
        let start = Snapshot::take(
            measure::process_ticks(herald.child.id()).unwrap_or(0),
            postmaster,
        );
        for (label, path, is_api) in &pages {
            let client = if *is_api { &api } else { &console };
            let mut times = Vec::with_capacity(REQUESTS);
            for n in 0..WARM_UP + REQUESTS {
                let began = Instant::now();
                let mut request = client.get(format!("{}{path}", herald.url));
                if *is_api {
                    request = request.bearer_auth(&token);
                }
                let response = request.send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                anyhow::ensure!(status.is_success(), "GET {path}: {status}: {body:?}");
                if n >= WARM_UP {
                    times.push(began.elapsed().as_secs_f64() * 1000.0);
                }
            }
            times.sort_by(f64::total_cmp);
            let p95 = percentile(&times, 0.95).unwrap_or(f64::NAN);
            figures.add(
                &format!("p50 ms, {label}"),
                percentile(&times, 0.5).unwrap_or(f64::NAN),
            );
            figures.add(&format!("p95 ms, {label}"), p95);
            match worst.iter_mut().find(|(l, _)| l == label) {
                Some((_, w)) => *w = w.max(p95),
                None => worst.push((label.clone(), p95)),
            }
        }
        let usage = Snapshot::take(
            measure::process_ticks(herald.child.id()).unwrap_or(0),
            postmaster,
        )
        .since(&start);
        println!("    run {}: {usage}", run + 1);
        figures.add_usage(&usage);
    }
    figures.print(&format!(
        "Console pages and API lists at {} deliveries, {REQUESTS} requests each",
        sizes.deliveries
    ));
    let over: Vec<&(String, f64)> = worst
        .iter()
        .filter(|(_, p95)| *p95 > P95_LIMIT_MS)
        .collect();
    if over.is_empty() {
        println!("    every page's p95 ≤ {P95_LIMIT_MS} ms in every run");
    } else {
        for (label, p95) in over {
            println!("    OVER {P95_LIMIT_MS} ms: {label} (worst p95 {p95:.1} ms)");
        }
    }
    drop(herald);
    drop(cluster);
    Ok(())
}

fn count_deliveries(url: &str) -> anyhow::Result<i64> {
    let mut conn = PgConnection::establish(url)?;
    // A fresh database has no tables yet.
    let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "to_regclass('deliveries') IS NOT NULL",
    ))
    .get_result(&mut conn)?;
    if !exists {
        return Ok(0);
    }
    Ok(herald::db::schema::deliveries::table
        .count()
        .get_result(&mut conn)?)
}

/// How big the history is.
struct Sizes {
    deliveries: i64,
    attempts: i64,
    events: i64,
    webhooks: i64,
    gigabytes: String,
}

impl Sizes {
    fn read(conn: &mut PgConnection) -> anyhow::Result<Self> {
        let count = |conn: &mut PgConnection, table: &str| -> anyhow::Result<i64> {
            Ok(
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
                    "(SELECT count(*) FROM {table})"
                )))
                .get_result(conn)?,
            )
        };
        Ok(Self {
            deliveries: count(conn, "deliveries")?,
            attempts: count(conn, "delivery_attempts")?,
            events: count(conn, "events")?,
            webhooks: count(conn, "webhooks")?,
            gigabytes: diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
                "round(pg_database_size(current_database()) / 1e9, 1)::text",
            ))
            .get_result(conn)?,
        })
    }
}

/// The rows the pages are asked about: a webhook, a dead letter, a delivered delivery from the
/// middle of the history (for a deep page), an event type.
struct Targets {
    webhook: i64,
    dead: uuid::Uuid,
    middle: uuid::Uuid,
    event_type: String,
}

impl Targets {
    fn pick(conn: &mut PgConnection) -> anyhow::Result<Self> {
        use herald::db::schema::{deliveries, webhooks};
        let webhook = webhooks::table
            .filter(webhooks::name.like(format!("{}%", herald::sample_history::WEBHOOK_PREFIX)))
            .order(webhooks::id)
            .select(webhooks::id)
            .first(conn)?;
        let dead = deliveries::table
            .filter(deliveries::status.eq("dead"))
            .order(deliveries::id.desc())
            .select(deliveries::id)
            .first(conn)?;
        let middle_at = chrono::Utc::now() - chrono::Duration::days(14);
        let middle = deliveries::table
            .filter(deliveries::id.ge(herald::model::delivery_list::first_id_at(middle_at)))
            .order(deliveries::id)
            .select(deliveries::id)
            .first(conn)?;
        let event_type = deliveries::table
            .filter(deliveries::id.eq(middle))
            .select(deliveries::event_type)
            .first(conn)?;
        Ok(Self {
            webhook,
            dead,
            middle,
            event_type,
        })
    }

    /// (label, path, whether it is the API).
    fn pages(&self) -> Vec<(String, String, bool)> {
        let (w, dead, middle, t) = (self.webhook, self.dead, self.middle, &self.event_type);
        let console = [
            ("dashboard", "/".to_owned()),
            ("webhooks", "/webhooks".to_owned()),
            ("webhook page", format!("/webhooks/{w}")),
            ("deliveries", "/deliveries".to_owned()),
            (
                "deliveries, 2 weeks back",
                format!("/deliveries?before={middle}"),
            ),
            (
                "deliveries of a webhook",
                format!("/deliveries?webhook={w}"),
            ),
            ("deliveries by status", "/deliveries?status=dead".to_owned()),
            ("deliveries by type", format!("/deliveries?event_type={t}")),
            (
                "deliveries, 3 filters",
                format!("/deliveries?webhook={w}&status=delivered&event_type={t}"),
            ),
            ("deliveries by id", format!("/deliveries?q={middle}")),
            ("delivery page", format!("/deliveries/{dead}")),
            ("dead letters", "/dead-letters".to_owned()),
            (
                "dead letters of a webhook",
                format!("/dead-letters?webhook={w}"),
            ),
            ("event catalog", "/events".to_owned()),
            ("audit log", "/audit".to_owned()),
        ];
        let api = [
            ("API webhooks", "/api/v1/webhooks".to_owned()),
            ("API webhook", format!("/api/v1/webhooks/{w}")),
            ("API deliveries", "/api/v1/deliveries".to_owned()),
            (
                "API deliveries, 2 weeks back",
                format!("/api/v1/deliveries?before={middle}"),
            ),
            (
                "API deliveries of a webhook",
                format!("/api/v1/deliveries?webhook={w}"),
            ),
            ("API delivery", format!("/api/v1/deliveries/{dead}")),
            ("API dead letters", "/api/v1/dead-letters".to_owned()),
        ];
        console
            .into_iter()
            .map(|(l, p)| (l.to_owned(), p, false))
            .chain(api.into_iter().map(|(l, p)| (l.to_owned(), p, true)))
            .collect()
    }
}

/// A console client signed in as the first admin.
async fn login(base: &str) -> anyhow::Result<reqwest::Client> {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| anyhow::anyhow!("no CSRF token on the sign-in page"))?
        .to_owned();
    let response = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", herald::accounts::FIRST_ADMIN_USERNAME),
            ("password", ADMIN_PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_redirection(),
        "sign-in failed: {}",
        response.status()
    );
    Ok(client)
}
