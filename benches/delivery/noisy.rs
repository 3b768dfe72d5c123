//! Noisy neighbour: a healthy webhook at 20 events/s, alone and then beside three bad ones at
//! 20 events/s each — a receiver that answers after 20 s (webhook timeout 15 s), one that
//! answers 429 with `Retry-After: 5`, one that resets every connection. Each webhook
//! subscribes to its own event type, so each event goes to exactly one of them.
//!
//! Prints the healthy webhook's ingest-to-receipt latency and received rate in both phases,
//! the gaps the 429 receiver saw between retries of one delivery, and how many requests the
//! slow receiver held open at once (request slots the slow webhook took).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use herald::db::schema::deliveries;
use herald::model::audit::Actor;
use herald::webhooks::service;
use tokio::task::JoinSet;

use super::measure::{Runs, env_number, percentile};
use super::receivers::{
    ArrivalReply, Arrivals, SocketReply, SocketStats, start_arrivals_receiver,
    start_socket_receiver,
};
use super::{Bench, Receipts};

/// Events per second to each webhook.
const RATE: u64 = 20;
const HEALTHY: &str = "lesson.completed";
const SLOW: &str = "quiz.attempt_completed";
const THROTTLED: &str = "certificate.awarded";
const RESETTING: &str = "learning_path.completed";
const SLOW_ANSWER: Duration = Duration::from_secs(20);
const SLOW_TIMEOUT_SECONDS: &str = "15";
const RETRY_AFTER_SECONDS: u64 = 5;
/// How long to wait for the bad neighbours' requests in flight to end after the run.
const QUIET_LIMIT: Duration = Duration::from_secs(90);

struct Neighbourhood {
    healthy: Arc<Receipts>,
    slow: Arc<SocketStats>,
    throttled: Arc<Arrivals>,
    resetting: Arc<SocketStats>,
    /// The three bad webhooks: enabled only while the second phase runs.
    bad: Vec<i64>,
}

pub async fn run(bench: &Bench, runs: usize) -> anyhow::Result<()> {
    let seconds: u64 = env_number("BENCH_NOISY_SECONDS", 30)?;
    let place = neighbourhood(bench).await?;
    let mut summary = Runs::default();
    for run in 1..=runs {
        println!(
            "noisy neighbour, run {run} of {runs}: {RATE} events/s to each webhook for {seconds} s"
        );
        let start = bench.snapshot();

        let alone = phase(bench, &place.healthy, &[HEALTHY], seconds).await?;
        alone.print("healthy webhook alone");
        alone.add_to(&mut summary, "healthy alone");

        place.slow.reset();
        place.resetting.reset();
        place.throttled.reset();
        switch(bench, &place.bad, true).await?;
        let crowded = phase(
            bench,
            &place.healthy,
            &[HEALTHY, SLOW, THROTTLED, RESETTING],
            seconds,
        )
        .await?;
        crowded.print("healthy beside the 3 bad ones");
        crowded.add_to(&mut summary, "healthy + neighbours");
        // Disabling dead-letters what the bad ones still have queued; then wait until what
        // they have in flight has ended, so the next run starts clean.
        switch(bench, &place.bad, false).await?;
        let quiet_since = Instant::now();
        let quiet = quiet(bench, &place).await?;

        let gaps = place.throttled.gaps();
        let mut all: Vec<f64> = gaps.iter().flatten().map(Duration::as_secs_f64).collect();
        all.sort_by(f64::total_cmp);
        let by_retry: Vec<String> = (0..5)
            .map_while(|n| {
                let mut nth: Vec<f64> = gaps
                    .iter()
                    .filter_map(|g| g.get(n).map(Duration::as_secs_f64))
                    .collect();
                nth.sort_by(f64::total_cmp);
                percentile(&nth, 0.5).map(|m| format!("{m:.1}"))
            })
            .collect();
        let seconds_at = |q| percentile(&all, q).unwrap_or(f64::NAN);
        let retries = if all.is_empty() {
            "no retry arrived before the run ended".to_owned()
        } else {
            format!(
                "gaps between retries of one delivery: min {:.1} s, median {:.1} s, max {:.1} s; \
                 median by retry: {} s",
                seconds_at(0.0),
                seconds_at(0.5),
                seconds_at(1.0),
                by_retry.join(", ")
            )
        };
        println!(
            "    429 webhook (Retry-After: {RETRY_AFTER_SECONDS}): {} requests for {} deliveries; {retries}",
            place.throttled.requests(),
            gaps.len(),
        );
        summary.add("429 retry gap, median s", seconds_at(0.5));
        let slots = place.slow.max_open.load(Ordering::SeqCst);
        println!(
            "    slow webhook (answers after {} s, timeout {SLOW_TIMEOUT_SECONDS} s): \
             at most {slots} requests open at once, {} requests",
            SLOW_ANSWER.as_secs(),
            place.slow.requests.load(Ordering::SeqCst)
        );
        summary.add("slow webhook, most requests open", slots as f64);
        println!(
            "    resetting webhook: {} connections reset",
            place.resetting.requests.load(Ordering::SeqCst)
        );
        println!(
            "    bad ones switched off: {} after {:.1} s",
            if quiet {
                "nothing left in flight"
            } else {
                "still requests in flight"
            },
            quiet_since.elapsed().as_secs_f64()
        );
        let usage = bench.snapshot().since(&start);
        println!("    {usage}");
        summary.add_usage(&usage);
    }
    summary.print("noisy neighbour");
    Ok(())
}

/// Starts the four receivers and creates the four webhooks (the bad ones disabled).
async fn neighbourhood(bench: &Bench) -> anyhow::Result<Neighbourhood> {
    let healthy = Arc::new(Receipts::default());
    let slow = Arc::new(SocketStats::default());
    let throttled = Arc::new(Arrivals::default());
    let resetting = Arc::new(SocketStats::default());
    let urls = [
        super::start_receiver(healthy.clone(), bench.origin)?,
        start_socket_receiver(SocketReply::After(SLOW_ANSWER), slow.clone()).await?,
        start_arrivals_receiver(
            throttled.clone(),
            ArrivalReply::TooManyRequests {
                retry_after_seconds: RETRY_AFTER_SECONDS,
            },
        )?,
        start_socket_receiver(SocketReply::Reset, resetting.clone()).await?,
    ];
    let secrets = bench.secrets.clone();
    let bad = bench
        .db(move |conn| {
            super::create_webhook(conn, &secrets, "noisy-healthy", &urls[0], HEALTHY)?;
            let mut bad = Vec::new();
            for (name, url, event_type) in [
                ("noisy-slow", &urls[1], SLOW),
                ("noisy-throttled", &urls[2], THROTTLED),
                ("noisy-resetting", &urls[3], RESETTING),
            ] {
                bad.push(super::create_webhook_with(
                    conn,
                    &secrets,
                    name,
                    url,
                    event_type,
                    |input| {
                        input.timeout_seconds = SLOW_TIMEOUT_SECONDS.into();
                        input.enabled = None;
                    },
                )?);
            }
            Ok(bad)
        })
        .await?;
    Ok(Neighbourhood {
        healthy,
        slow,
        throttled,
        resetting,
        bad,
    })
}

/// What the healthy webhook got in one phase.
struct Phase {
    window: Duration,
    /// Healthy events accepted by ingest.
    accepted: u64,
    /// Ingest answers other than 202 (any type), and requests that failed.
    refused: u64,
    received_in_window: u64,
    received: u64,
    /// How long after the window the last healthy delivery arrived (or the wait ended).
    settled: Duration,
    latencies_micros: Vec<u64>,
}

impl Phase {
    fn latency_ms(&self, q: f64) -> f64 {
        percentile(&self.latencies_micros, q).map_or(f64::NAN, |us| us as f64 / 1000.0)
    }

    fn rate(&self) -> f64 {
        self.received_in_window as f64 / self.window.as_secs_f64()
    }

    fn print(&self, title: &str) {
        println!(
            "    {title:<31} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms   received {:>5.1}/s",
            self.latency_ms(0.5),
            self.latency_ms(0.99),
            self.latency_ms(1.0),
            self.rate()
        );
        println!(
            "        {} of {} arrived, the last {:.1} s after posting ended{}",
            self.received,
            self.accepted,
            self.settled.as_secs_f64(),
            if self.refused > 0 {
                format!("; ingest refused {} posts", self.refused)
            } else {
                String::new()
            }
        );
    }

    fn add_to(&self, summary: &mut Runs, label: &str) {
        summary.add(&format!("{label}, p50 ms"), self.latency_ms(0.5));
        summary.add(&format!("{label}, p99 ms"), self.latency_ms(0.99));
        summary.add(&format!("{label}, max ms"), self.latency_ms(1.0));
        summary.add(&format!("{label}, received/s"), self.rate());
    }
}

/// Posts `RATE` events/s of each of `types` for `seconds` (open loop), then waits (bounded)
/// for the healthy webhook's deliveries.
async fn phase(
    bench: &Bench,
    healthy: &Receipts,
    types: &[&'static str],
    seconds: u64,
) -> anyhow::Result<Phase> {
    healthy.latencies_micros.lock().unwrap().clear();
    let before = healthy.count.load(Ordering::SeqCst);
    let received = || healthy.count.load(Ordering::SeqCst) - before;
    let ticks = seconds * RATE;
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / RATE as u32);
    let mut sends = JoinSet::new();
    let (mut accepted, mut refused) = (0u64, 0u64);
    let mut tally = |sent: Result<(bool, reqwest::Result<u16>), tokio::task::JoinError>| match sent
    {
        Ok((true, Ok(202))) => accepted += 1,
        Ok((false, Ok(202))) => {}
        _ => refused += 1,
    };
    let started = Instant::now();
    for _ in 0..ticks {
        ticker.tick().await;
        for &event_type in types {
            let (client, api, token) =
                (bench.client.clone(), bench.api.clone(), bench.token.clone());
            let body = super::event(event_type, bench.origin);
            sends.spawn(async move {
                let status = super::post(&client, &api, &token, &body).await;
                (event_type == HEALTHY, status.map(|(status, _)| status))
            });
        }
        while let Some(sent) = sends.try_join_next() {
            tally(sent);
        }
    }
    let window = started.elapsed();
    let received_in_window = received();
    while let Some(sent) = sends.join_next().await {
        tally(sent);
    }
    // A starved webhook may take long: wait a while, not forever.
    let limit = Duration::from_secs((2 * seconds).max(30));
    let ended = started + window;
    while received() < accepted && ended.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let last = Duration::from_micros(healthy.last_at_micros.load(Ordering::SeqCst));
    let settled = (bench.origin + last).saturating_duration_since(ended);
    let mut latencies_micros = healthy.latencies_micros.lock().unwrap().clone();
    latencies_micros.sort_unstable();
    Ok(Phase {
        window,
        accepted,
        refused,
        received_in_window,
        received: received(),
        settled,
        latencies_micros,
    })
}

/// Enables or disables the bad webhooks.
async fn switch(bench: &Bench, ids: &[i64], enabled: bool) -> anyhow::Result<()> {
    let ids = ids.to_vec();
    bench
        .db(move |conn| {
            for id in ids {
                service::set_enabled(
                    conn,
                    &Actor::system(),
                    id,
                    enabled,
                    Some("benchmark: the neighbours rest between runs"),
                )?;
            }
            Ok(())
        })
        .await
}

/// Waits (bounded) until the bad webhooks have nothing queued or in flight and the slow
/// receiver holds nothing open; whatever returns to the queue meanwhile is dead-lettered.
async fn quiet(bench: &Bench, place: &Neighbourhood) -> anyhow::Result<bool> {
    let deadline = Instant::now() + QUIET_LIMIT;
    loop {
        let ids = place.bad.clone();
        let left: i64 = bench
            .db(move |conn| {
                for &id in &ids {
                    herald::model::delivery::dead_letter_queued(conn, id, "benchmark run ended")?;
                }
                Ok(deliveries::table
                    .filter(deliveries::webhook_id.eq_any(&ids))
                    .filter(deliveries::status.eq_any(["pending", "delivering"]))
                    .count()
                    .get_result(conn)?)
            })
            .await?;
        if left == 0 && place.slow.open.load(Ordering::SeqCst) == 0 {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
