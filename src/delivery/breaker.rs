//! The endpoint circuit breaker. After `threshold` failed attempts in a row (timeouts, network
//! errors, 5xx, 408, 3xx) a webhook goes *failing*: its queued deliveries stay queued, uncharged
//! and in order, while one probe (the oldest due delivery) goes out at growing intervals. A
//! probe that gets through closes the breaker and sending ramps up again: one request in flight,
//! then twice as many after each success, up to the webhook's own limit.
//!
//! Pure state transitions; `webhook_flow` stores the state and the recorder applies outcomes.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::sender::{Answer, ErrorKind, Exchange};

/// When the breaker opens and how often it probes.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive failed attempts that open the breaker.
    pub threshold: u32,
    /// The first wait before a probe; each failed probe doubles it…
    pub first_probe: Duration,
    /// …up to this.
    pub max_probe: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            threshold: 10,
            first_probe: Duration::from_secs(5),
            max_probe: Duration::from_secs(300),
        }
    }
}

/// What one attempt says about the receiver's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The receiver answered (2xx, or a 4xx it means: it is up, the request was refused).
    Alive,
    /// Timeout, network error, 5xx, 408 or a redirect: the receiver is not coping.
    Failed,
    /// Says nothing of the receiver's health: 429 (it is pacing us), a target Herald refused, a
    /// request Herald could not prepare.
    Neutral,
}

impl Signal {
    pub fn of(exchange: &Exchange) -> Self {
        match &exchange.result {
            Ok(Answer { status, .. }) => match status {
                429 => Signal::Neutral,
                408 => Signal::Failed,
                200..=299 | 400..=499 => Signal::Alive,
                _ => Signal::Failed,
            },
            Err(failure) => match failure.kind {
                ErrorKind::RefusedTarget | ErrorKind::Io | ErrorKind::Unmappable => Signal::Neutral,
                ErrorKind::Dns
                | ErrorKind::Connect
                | ErrorKind::Tls
                | ErrorKind::Timeout
                | ErrorKind::Http => Signal::Failed,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Healthy,
    Failing,
}

impl Circuit {
    pub fn as_str(&self) -> &'static str {
        match self {
            Circuit::Healthy => "healthy",
            Circuit::Failing => "failing",
        }
    }

    pub fn parse(text: &str) -> Self {
        if text == "failing" {
            Circuit::Failing
        } else {
            Circuit::Healthy
        }
    }
}

/// The breaker's part of a webhook's flow state.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerState {
    pub circuit: Circuit,
    pub consecutive_failures: i32,
    pub failing_since: Option<DateTime<Utc>>,
    pub next_probe_at: Option<DateTime<Utc>>,
    pub probe_interval_seconds: i32,
    /// Requests allowed in flight while ramping up after recovery; `None` = the webhook's limit.
    pub ramp: Option<i32>,
}

impl Default for BreakerState {
    fn default() -> Self {
        Self {
            circuit: Circuit::Healthy,
            consecutive_failures: 0,
            failing_since: None,
            next_probe_at: None,
            probe_interval_seconds: 0,
            ramp: None,
        }
    }
}

/// A change of circuit worth an audit entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Opened {
        failures: i32,
        next_probe_at: DateTime<Utc>,
    },
    Closed {
        failing_since: DateTime<Utc>,
    },
}

impl BreakerState {
    /// Nothing to remember: healthy, no failure streak, no ramp.
    pub fn is_clean(&self) -> bool {
        self.circuit == Circuit::Healthy && self.consecutive_failures == 0 && self.ramp.is_none()
    }

    /// Applies one attempt's signal; `probe` = the attempt was the breaker's probe.
    pub fn apply(
        &mut self,
        signal: Signal,
        probe: bool,
        max_in_flight: i32,
        settings: &BreakerSettings,
        now: DateTime<Utc>,
    ) -> Option<Transition> {
        match (self.circuit, signal) {
            (Circuit::Healthy, Signal::Alive) => {
                self.consecutive_failures = 0;
                self.ramp = self
                    .ramp
                    .map(|r| r.saturating_mul(2))
                    .filter(|r| *r < max_in_flight);
                None
            }
            (Circuit::Healthy, Signal::Failed) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.ramp = self.ramp.map(|r| (r / 2).max(1));
                if self.consecutive_failures < settings.threshold as i32 {
                    return None;
                }
                let wait = settings.first_probe;
                let next_probe_at = now + chrono_duration(wait);
                self.circuit = Circuit::Failing;
                self.failing_since = Some(now);
                self.next_probe_at = Some(next_probe_at);
                self.probe_interval_seconds = wait.as_secs().max(1) as i32;
                self.ramp = None;
                Some(Transition::Opened {
                    failures: self.consecutive_failures,
                    next_probe_at,
                })
            }
            (Circuit::Healthy, Signal::Neutral) => None,
            // Any answer while failing (a probe, or a request that was already in flight) shows
            // the receiver is back.
            (Circuit::Failing, Signal::Alive) => {
                let failing_since = self.failing_since.unwrap_or(now);
                *self = BreakerState {
                    ramp: (max_in_flight > 1).then_some(1),
                    ..BreakerState::default()
                };
                Some(Transition::Closed { failing_since })
            }
            (Circuit::Failing, Signal::Failed) if probe => {
                let doubled = Duration::from_secs(self.probe_interval_seconds.max(1) as u64 * 2);
                let wait = doubled.clamp(settings.first_probe, settings.max_probe);
                self.probe_interval_seconds = wait.as_secs() as i32;
                self.next_probe_at = Some(now + chrono_duration(wait));
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                None
            }
            (Circuit::Failing, Signal::Neutral) if probe => {
                // The probe said nothing (429…): try again after the same wait.
                let wait = Duration::from_secs(self.probe_interval_seconds.max(1) as u64);
                self.next_probe_at = Some(now + chrono_duration(wait));
                None
            }
            (Circuit::Failing, _) => None,
        }
    }
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::hours(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            threshold: 3,
            first_probe: Duration::from_secs(5),
            max_probe: Duration::from_secs(20),
        }
    }

    #[test]
    fn opens_after_the_threshold_of_failures_in_a_row() {
        let now = Utc::now();
        let mut state = BreakerState::default();
        assert_eq!(
            state.apply(Signal::Failed, false, 8, &settings(), now),
            None
        );
        assert_eq!(
            state.apply(Signal::Failed, false, 8, &settings(), now),
            None
        );
        // A success in between starts the count again.
        state.apply(Signal::Alive, false, 8, &settings(), now);
        assert_eq!(state.consecutive_failures, 0);
        state.apply(Signal::Failed, false, 8, &settings(), now);
        state.apply(Signal::Neutral, false, 8, &settings(), now);
        state.apply(Signal::Failed, false, 8, &settings(), now);
        let opened = state.apply(Signal::Failed, false, 8, &settings(), now);
        assert_eq!(
            opened,
            Some(Transition::Opened {
                failures: 3,
                next_probe_at: now + chrono::Duration::seconds(5)
            })
        );
        assert_eq!(state.circuit, Circuit::Failing);
        assert_eq!(state.failing_since, Some(now));
    }

    #[test]
    fn failed_probes_wait_longer_each_time_up_to_the_cap() {
        let now = Utc::now();
        let mut state = BreakerState::default();
        for _ in 0..3 {
            state.apply(Signal::Failed, false, 8, &settings(), now);
        }
        let mut waits = Vec::new();
        for _ in 0..4 {
            state.apply(Signal::Failed, true, 8, &settings(), now);
            waits.push((state.next_probe_at.unwrap() - now).num_seconds());
        }
        assert_eq!(waits, vec![10, 20, 20, 20]);
        // Failures that were in flight when it opened do not move the probe.
        let before = state.next_probe_at;
        state.apply(Signal::Failed, false, 8, &settings(), now);
        assert_eq!(state.next_probe_at, before);
    }

    #[test]
    fn a_successful_probe_closes_and_ramps_up_to_the_limit() {
        let now = Utc::now();
        let mut state = BreakerState::default();
        for _ in 0..3 {
            state.apply(Signal::Failed, false, 8, &settings(), now);
        }
        let closed = state.apply(Signal::Alive, true, 8, &settings(), now);
        assert_eq!(closed, Some(Transition::Closed { failing_since: now }));
        assert_eq!(state.circuit, Circuit::Healthy);
        let mut ramps = vec![state.ramp];
        for _ in 0..3 {
            state.apply(Signal::Alive, false, 8, &settings(), now);
            ramps.push(state.ramp);
        }
        assert_eq!(ramps, vec![Some(1), Some(2), Some(4), None]);
        assert!(state.is_clean());
    }

    #[test]
    fn signals_from_answers() {
        use super::super::sender::Failure;
        let answer = |status| Exchange {
            result: Ok(Answer {
                status,
                headers: serde_json::json!({}),
                body_excerpt: String::new(),
                retry_after: None,
            }),
            ..Exchange::not_sent(ErrorKind::Io, String::new())
        };
        assert_eq!(Signal::of(&answer(204)), Signal::Alive);
        assert_eq!(Signal::of(&answer(410)), Signal::Alive);
        assert_eq!(Signal::of(&answer(429)), Signal::Neutral);
        assert_eq!(Signal::of(&answer(408)), Signal::Failed);
        assert_eq!(Signal::of(&answer(503)), Signal::Failed);
        assert_eq!(Signal::of(&answer(301)), Signal::Failed);
        let failed = |kind| Exchange {
            result: Err(Failure {
                kind,
                message: String::new(),
            }),
            ..Exchange::not_sent(ErrorKind::Io, String::new())
        };
        assert_eq!(Signal::of(&failed(ErrorKind::Timeout)), Signal::Failed);
        assert_eq!(Signal::of(&failed(ErrorKind::Connect)), Signal::Failed);
        assert_eq!(
            Signal::of(&failed(ErrorKind::RefusedTarget)),
            Signal::Neutral
        );
    }
}
