//! Scale-out: the same load delivered by 1, 2 and 4 `herald worker` processes on one database,
//! with `herald serve` taking the events but not delivering (`HERALD_RUN_WORKER=false`).
//! 2,000 events are posted in batches of 500 to 10 webhooks (20,000 deliveries) whose
//! receiver answers at once and records every request by delivery id, so a delivery sent
//! twice shows up as a duplicate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Bench;
use super::measure::{Runs, Snapshot};
use super::receivers::{ArrivalReply, Arrivals, start_arrivals_receiver};
use super::takeover::WorkerProcess;

const EVENT_TYPE: &str = "lesson.completed";
const EVENTS: usize = 2_000;
const WEBHOOKS: usize = 10;
const PER_CALL: usize = 500;
/// How long a run may take before the benchmark gives up.
const RUN_LIMIT: Duration = Duration::from_secs(300);

pub async fn run(bench: &mut Bench, runs: usize) -> anyhow::Result<()> {
    let arrivals = Arc::new(Arrivals::default());
    let url = start_arrivals_receiver(arrivals.clone(), ArrivalReply::Immediate)?;
    for n in 0..WEBHOOKS {
        let (secrets, url) = (bench.secrets.clone(), url.clone());
        bench
            .db(move |conn| {
                super::create_webhook(conn, &secrets, &format!("scale-{n}"), &url, EVENT_TYPE)
            })
            .await?;
    }
    bench.stop_herald();
    bench.start_herald_with(&[("HERALD_RUN_WORKER", "false")])?;
    let expected = EVENTS * WEBHOOKS;
    for processes in [1usize, 2, 4] {
        let title = format!(
            "{processes} `herald worker` process(es): {EVENTS} events → {WEBHOOKS} webhooks ({expected} deliveries), batches of {PER_CALL}"
        );
        println!("{title}");
        let mut figures = Runs::default();
        for run in 1..=runs {
            arrivals.reset();
            let mut workers = Vec::new();
            for _ in 0..processes {
                workers.push(WorkerProcess::start(bench).await?);
            }
            let start = Snapshot::take(0, bench.postmaster);
            let started = Instant::now();
            for _ in 0..EVENTS / PER_CALL {
                let body = serde_json::Value::Array(
                    (0..PER_CALL)
                        .map(|_| super::event(EVENT_TYPE, bench.origin))
                        .collect(),
                );
                let (status, _) =
                    super::post(&bench.client, &bench.api, &bench.token, &body).await?;
                anyhow::ensure!(status == 202, "ingest answered {status}");
            }
            let deadline = started + RUN_LIMIT;
            while arrivals.arrived(1) < expected {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "only {} of {expected} deliveries arrived",
                    arrivals.arrived(1)
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let seconds = started.elapsed().as_secs_f64();
            let ticks: u64 = workers.iter().map(WorkerProcess::ticks).sum();
            let usage = Snapshot::take(ticks, bench.postmaster).since(&start);
            let duplicates = arrivals.requests() - arrivals.arrived(1);
            println!(
                "  run {run}: {:.0} deliveries/s, {duplicates} duplicates; {usage} (Herald = the workers)",
                expected as f64 / seconds
            );
            figures.add("delivered deliveries/s", expected as f64 / seconds);
            figures.add("duplicates", duplicates as f64);
            figures.add_usage(&usage);
            for worker in workers {
                worker.stop().await;
            }
        }
        figures.print(&title);
    }
    bench.stop_herald();
    bench.start_herald()
}
