//! Crash takeover: a `herald worker` process sends deliveries to a receiver that holds them
//! (so they are in flight), a second worker stands by, the first is killed with SIGKILL, and
//! the figure is the time from the kill until the receiver gets those deliveries again.
//!
//! Lease settings are left at their defaults (none is set here), so the figure is what a
//! deployment gets out of the box. `herald serve` is stopped meanwhile: its own worker would
//! otherwise claim some of the deliveries.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Bench;
use super::measure::{Runs, Snapshot, env_number, process_ticks};
use super::receivers::{ArrivalReply, Arrivals, start_arrivals_receiver};

const EVENT_TYPE: &str = "user.created";
/// The webhook's timeout: the longest allowed, so the first worker's requests are still in
/// flight (not timed out) when it is killed.
const TIMEOUT_SECONDS: &str = "30";
/// The longest the receiver holds a first request (it is released at the end of each run).
const HOLD_AT_MOST: Duration = Duration::from_secs(600);
/// How long to wait for the first worker to have every delivery in flight.
const IN_FLIGHT_LIMIT: Duration = Duration::from_secs(60);
/// How long to wait for the deliveries to arrive again after the kill.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(300);

pub async fn run(bench: &mut Bench, runs: usize) -> anyhow::Result<()> {
    let count: usize = env_number("BENCH_TAKEOVER_DELIVERIES", 20)?;
    let arrivals = Arc::new(Arrivals::default());
    let url = start_arrivals_receiver(
        arrivals.clone(),
        ArrivalReply::HoldFirst {
            at_most: HOLD_AT_MOST,
        },
    )?;
    let secrets = bench.secrets.clone();
    bench
        .db(move |conn| {
            super::create_webhook_with(conn, &secrets, "takeover", &url, EVENT_TYPE, |input| {
                input.timeout_seconds = TIMEOUT_SECONDS.into();
                // Every delivery in flight at once when the worker dies.
                input.max_in_flight = (count.max(8)).to_string();
            })
        })
        .await?;
    bench.stop_herald();
    let mut summary = Runs::default();
    for run in 1..=runs {
        println!(
            "crash takeover, run {run} of {runs}: {count} deliveries in flight when their worker is killed (SIGKILL)"
        );
        arrivals.reset();
        let start = Snapshot::take(0, bench.postmaster);
        let mut doomed = WorkerProcess::start(bench).await?;
        emit(bench, count, run).await?;
        let in_flight_by = Instant::now() + IN_FLIGHT_LIMIT;
        while arrivals.arrived(1) < count && Instant::now() < in_flight_by {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::ensure!(
            arrivals.arrived(1) == count,
            "only {} of {count} deliveries reached the receiver from the first worker",
            arrivals.arrived(1)
        );
        let rescuer = WorkerProcess::start(bench).await?;
        let doomed_ticks = doomed.ticks();
        let killed_at = Instant::now();
        doomed.kill();
        let deadline = killed_at + TAKEOVER_LIMIT;
        while arrivals.arrived(2) < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let again: Vec<f64> = arrivals
            .nth_arrivals(2)
            .iter()
            .map(|at| at.duration_since(killed_at).as_secs_f64())
            .collect();
        let first = again.iter().copied().fold(f64::NAN, f64::min);
        let last = again.iter().copied().fold(f64::NAN, f64::max);
        println!(
            "    takeover: first delivered again {first:.1} s after the kill, {} of {count} after {last:.1} s",
            again.len()
        );
        summary.add("takeover, first redelivery s", first);
        if again.len() == count {
            summary.add("takeover, all redelivered s", last);
        }
        let usage = Snapshot::take(doomed_ticks + rescuer.ticks(), bench.postmaster).since(&start);
        println!("    {usage} (Herald = the two workers)");
        summary.add_usage(&usage);
        rescuer.stop().await;
        arrivals.release_held();
    }
    summary.print("crash takeover");
    bench.start_herald()
}

/// Queues `count` events through `herald emit` (the ingest path; it notifies workers).
async fn emit(bench: &Bench, count: usize, run: usize) -> anyhow::Result<()> {
    for n in 0..count {
        let url = bench.database_url.clone();
        let data = format!(r#"{{"user":{{"id":{n}}},"run":{run}}}"#);
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_herald"))
                .args(["emit", EVENT_TYPE, "--data", &data])
                .env("DATABASE_URL", url)
                .env("RUST_LOG", "warn")
                .output()
        })
        .await??;
        anyhow::ensure!(
            output.status.success(),
            "herald emit failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// A `herald worker` process, killed when dropped.
pub struct WorkerProcess(Child);

impl WorkerProcess {
    /// Starts a worker and waits (bounded) until it says it is delivering.
    pub async fn start(bench: &Bench) -> anyhow::Result<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("worker")
            .env("DATABASE_URL", &bench.database_url)
            .env("HERALD_SECRET_KEY", &bench.key_text)
            .env("HERALD_ALLOW_PRIVATE_TARGETS", "127.0.0.1/32")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let worker = Self(child);
        let (ready, started) = tokio::sync::oneshot::channel();
        // Reads its output until it exits, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut ready = Some(ready);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("is delivering")
                    && let Some(ready) = ready.take()
                {
                    let _ = ready.send(());
                }
            }
        });
        match tokio::time::timeout(Duration::from_secs(30), started).await {
            Ok(Ok(())) => Ok(worker),
            Ok(Err(_)) => anyhow::bail!("herald worker exited at start"),
            Err(_) => anyhow::bail!("herald worker did not start within 30 s"),
        }
    }

    pub fn ticks(&self) -> u64 {
        process_ticks(self.0.id()).unwrap_or(0)
    }

    /// SIGKILL, as `kill -9`.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM, then waits (bounded) for a graceful exit.
    pub async fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !matches!(self.0.try_wait(), Ok(None)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
