//! Ingest overload: hundreds of clients post single events as fast as they are answered (for
//! a bounded time and count), each event delivered to one fast receiver. Prints the
//! deliveries/s the receiver got meanwhile beside the delivery rate without ingest load, and
//! ingest's answers by status with their latency.
//!
//! A client told 503 (or 429) with `Retry-After` waits that long before posting again, as a
//! well-behaved platform would; those answers are counted, not treated as failures.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::measure::{Runs, env_number, percentile};
use super::{Bench, Receipts};

/// The event type of the "single" webhook (one fast receiver).
const EVENT_TYPE: &str = "course.completed";
/// Events of the unloaded measurement, posted in batches of 500 by 4 clients.
const UNLOADED_EVENTS: u64 = 10_000;
/// The most requests one client makes in a run.
const MAX_REQUESTS_PER_CLIENT: u64 = 100_000;
/// The longest `Retry-After` a client honours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// How long to wait for what was accepted to be delivered after the flood.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

/// What one client saw.
#[derive(Default)]
struct Tally {
    accepted: u64,
    unavailable: u64,
    other: u64,
    failed: u64,
    latencies_micros: Vec<u64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.accepted += other.accepted;
        self.unavailable += other.unavailable;
        self.other += other.other;
        self.failed += other.failed;
        self.latencies_micros.extend(other.latencies_micros);
    }
}

pub async fn run(bench: &Bench, receipts: &Arc<Receipts>, runs: usize) -> anyhow::Result<()> {
    let seconds: u64 = env_number("BENCH_OVERLOAD_SECONDS", 20)?;
    let clients: usize = env_number("BENCH_OVERLOAD_CLIENTS", 500)?;
    let flood_client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut summary = Runs::default();
    for run in 1..=runs {
        println!(
            "ingest overload, run {run} of {runs}: {clients} clients posting single events for {seconds} s"
        );
        let start = bench.snapshot();
        let unloaded = super::scenario(
            &bench.client,
            &bench.api,
            &bench.token,
            receipts,
            bench.origin,
            super::Load {
                event_type: EVENT_TYPE,
                events: UNLOADED_EVENTS,
                per_call: 500,
                clients: 4,
                fan_out: 1,
            },
        )
        .await?;
        let unloaded_rate = unloaded.deliveries as f64 / unloaded.deliver_seconds;
        println!(
            "    unloaded: {UNLOADED_EVENTS} events in batches of 500  delivered {unloaded_rate:>8.0} deliveries/s"
        );
        summary.add("unloaded, deliveries/s", unloaded_rate);

        receipts.latencies_micros.lock().unwrap().clear();
        let before = receipts.count.load(Ordering::SeqCst);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(seconds);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..clients {
            let (client, api, token, origin) = (
                flood_client.clone(),
                bench.api.clone(),
                bench.token.clone(),
                bench.origin,
            );
            tasks.spawn(async move { flood(client, api, token, origin, deadline).await });
        }
        tokio::time::sleep_until(deadline.into()).await;
        let delivered_in_window = receipts.count.load(Ordering::SeqCst) - before;
        let mut tally = Tally::default();
        while let Some(client) = tasks.join_next().await {
            tally.merge(client?);
        }
        let posting_ended = Instant::now();
        let window = posting_ended.duration_since(started).as_secs_f64();
        let expected = before + tally.accepted;
        while receipts.count.load(Ordering::SeqCst) < expected
            && posting_ended.elapsed() < DRAIN_LIMIT
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let drained = posting_ended.elapsed().as_secs_f64();
        let delivered = receipts.count.load(Ordering::SeqCst) - before;

        tally.latencies_micros.sort_unstable();
        let ms =
            |q| percentile(&tally.latencies_micros, q).map_or(f64::NAN, |us| us as f64 / 1000.0);
        let loaded_rate = delivered_in_window as f64 / seconds as f64;
        println!(
            "    flooded:  delivered {loaded_rate:>8.0} deliveries/s while ingest accepted {:>6.0} events/s",
            tally.accepted as f64 / window
        );
        println!(
            "    ingest answers: 202 {}  503 {}  other {}  failed {}   latency p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            tally.accepted,
            tally.unavailable,
            tally.other,
            tally.failed,
            ms(0.5),
            ms(0.99),
            ms(1.0)
        );
        println!(
            "    {delivered} of {} accepted events delivered, {:.1} s after posting ended",
            tally.accepted, drained
        );
        summary.add("flooded, deliveries/s", loaded_rate);
        summary.add("flooded, accepted events/s", tally.accepted as f64 / window);
        summary.add("flooded, 503 answers", tally.unavailable as f64);
        summary.add("flooded, ingest p50 ms", ms(0.5));
        summary.add("flooded, ingest p99 ms", ms(0.99));
        let usage = bench.snapshot().since(&start);
        println!("    {usage}");
        summary.add_usage(&usage);
    }
    summary.print("ingest overload");
    Ok(())
}

/// One client: posts single events one after another until `deadline`.
async fn flood(
    client: reqwest::Client,
    api: String,
    token: String,
    origin: Instant,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    for _ in 0..MAX_REQUESTS_PER_CLIENT {
        if Instant::now() >= deadline {
            break;
        }
        let sent = Instant::now();
        let body = super::event(EVENT_TYPE, origin);
        let Ok((status, retry_after)) = super::post(&client, &api, &token, &body).await else {
            tally.failed += 1;
            // Refused connections fail at once: don't spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tally
            .latencies_micros
            .push(sent.elapsed().as_micros() as u64);
        match status {
            202 => tally.accepted += 1,
            503 => tally.unavailable += 1,
            _ => tally.other += 1,
        }
        if matches!(status, 429 | 503) {
            let wait = retry_after
                .map_or(Duration::from_secs(1), Duration::from_secs)
                .min(MAX_RETRY_AFTER)
                .min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(wait).await;
        }
    }
    tally
}
