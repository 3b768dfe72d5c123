//! How a webhook's deliveries flow right now, as administrators read it: healthy, failing (the
//! breaker is open: only a probe now and then), paused (the receiver asked to wait) or
//! recovering (ramping back up after a failure). Derived from the `webhook_flow` row once, for
//! the console's pages and the API alike.

use chrono::{DateTime, Utc};

use crate::model::webhook_flow::WebhookFlow;

#[derive(Debug, Clone, PartialEq)]
pub enum FlowState {
    Healthy,
    /// The breaker is open: queued deliveries wait while one probe goes out at `next_probe_at`.
    Failing {
        since: DateTime<Utc>,
        next_probe_at: DateTime<Utc>,
    },
    /// The receiver answered 429 with Retry-After: nothing is sent before `until`.
    Paused {
        until: DateTime<Utc>,
    },
    /// Back after failing: at most `in_flight` requests at once, doubling with each success.
    Recovering {
        in_flight: i32,
    },
}

/// A webhook's flow state with the figures pages show beside it.
#[derive(Debug, Clone)]
pub struct Flow {
    pub state: FlowState,
    pub consecutive_failures: i32,
    /// A pause that is still ahead while the breaker is also open (failing wins the badge).
    pub paused_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
}

impl Flow {
    /// The state of `row` at `now`; a webhook without a row is healthy.
    pub fn of(row: Option<&WebhookFlow>, now: DateTime<Utc>) -> Self {
        let Some(row) = row else {
            return Self {
                state: FlowState::Healthy,
                consecutive_failures: 0,
                paused_until: None,
                now,
            };
        };
        let paused_until = row.paused_until.filter(|until| *until > now);
        let state = match (row.failing_since, row.next_probe_at) {
            (Some(since), Some(next_probe_at)) if row.failing() => FlowState::Failing {
                since,
                next_probe_at,
            },
            _ => match (paused_until, row.ramp) {
                (Some(until), _) => FlowState::Paused { until },
                (None, Some(in_flight)) => FlowState::Recovering { in_flight },
                (None, None) => FlowState::Healthy,
            },
        };
        Self {
            state,
            consecutive_failures: row.consecutive_failures,
            paused_until,
            now,
        }
    }

    /// `healthy`, `failing`, `paused` or `recovering` (the API's `state`).
    pub fn key(&self) -> &'static str {
        match self.state {
            FlowState::Healthy => "healthy",
            FlowState::Failing { .. } => "failing",
            FlowState::Paused { .. } => "paused",
            FlowState::Recovering { .. } => "recovering",
        }
    }

    /// The CSS class of the state's colour.
    pub fn status_class(&self) -> &'static str {
        match self.state {
            FlowState::Healthy => "status-on",
            FlowState::Failing { .. } => "status-bad",
            FlowState::Paused { .. } | FlowState::Recovering { .. } => "status-warn",
        }
    }

    /// One short line: "Failing since 11-23 10:46 · next probe 10:47:05".
    pub fn badge(&self) -> String {
        match self.rest() {
            Some(rest) => format!("{} {rest}", self.lead()),
            None => self.lead().into(),
        }
    }

    /// The badge's first word, which pages keep on one line with the coloured dot.
    pub fn lead(&self) -> &'static str {
        match self.state {
            FlowState::Healthy => "Healthy",
            FlowState::Failing { .. } => "Failing",
            FlowState::Paused { .. } => "Paused",
            FlowState::Recovering { .. } => "Recovering",
        }
    }

    /// The rest of the badge: "since 10:46:05 · next probe 10:47:05", "until 10:48:00
    /// (receiver asked)", "(up to 2 at once)".
    pub fn rest(&self) -> Option<String> {
        match &self.state {
            FlowState::Healthy => None,
            FlowState::Failing {
                since,
                next_probe_at,
            } => Some(format!(
                "since {} · {}",
                self.short_time(*since),
                self.next_probe_text(*next_probe_at)
            )),
            FlowState::Paused { until } => Some(format!(
                "until {} (receiver asked)",
                self.short_time(*until)
            )),
            FlowState::Recovering { in_flight } => Some(format!("(up to {in_flight} at once)")),
        }
    }

    pub fn failing_since(&self) -> Option<DateTime<Utc>> {
        match self.state {
            FlowState::Failing { since, .. } => Some(since),
            _ => None,
        }
    }

    pub fn next_probe_at(&self) -> Option<DateTime<Utc>> {
        match self.state {
            FlowState::Failing { next_probe_at, .. } => Some(next_probe_at),
            _ => None,
        }
    }

    /// Failing, and the probe's time has passed: it goes with the next due delivery.
    pub fn probe_overdue(&self) -> bool {
        self.next_probe_at().is_some_and(|at| at <= self.now)
    }

    pub fn is_failing(&self) -> bool {
        matches!(self.state, FlowState::Failing { .. })
    }

    /// "next probe 10:47:05", or "probe with the next delivery due" once the time has passed
    /// (the probe is the oldest due delivery: with none queued, nothing goes out).
    pub fn next_probe_text(&self, at: DateTime<Utc>) -> String {
        if at <= self.now {
            "probe due now".into()
        } else {
            format!("next probe {}", self.short_time(at))
        }
    }

    /// Today's times as `HH:MM:SS`, other days' as `MM-DD HH:MM` (all UTC).
    pub fn short_time(&self, at: DateTime<Utc>) -> String {
        if at.date_naive() == self.now.date_naive() {
            at.format("%H:%M:%S").to_string()
        } else {
            at.format("%m-%d %H:%M").to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row() -> WebhookFlow {
        WebhookFlow {
            webhook_id: 1,
            circuit: "healthy".into(),
            consecutive_failures: 0,
            failing_since: None,
            next_probe_at: None,
            probe_interval_seconds: 0,
            ramp: None,
            rate_next_at: None,
            paused_until: None,
        }
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, s).unwrap()
    }

    #[test]
    fn failing_wins_over_a_pause_and_a_pause_over_a_ramp() {
        let now = at(10, 0, 0);
        assert_eq!(Flow::of(None, now).badge(), "Healthy");
        assert_eq!(Flow::of(Some(&row()), now).key(), "healthy");

        let failing = WebhookFlow {
            circuit: "failing".into(),
            consecutive_failures: 12,
            failing_since: Some(Utc.with_ymd_and_hms(2026, 11, 22, 23, 5, 0).unwrap()),
            next_probe_at: Some(at(10, 0, 40)),
            paused_until: Some(at(10, 5, 0)),
            ..row()
        };
        let flow = Flow::of(Some(&failing), now);
        assert_eq!(flow.key(), "failing");
        assert_eq!(
            flow.badge(),
            "Failing since 11-22 23:05 · next probe 10:00:40"
        );
        assert_eq!(flow.paused_until, Some(at(10, 5, 0)));
        assert_eq!(flow.status_class(), "status-bad");
        // A probe time in the past: it goes with the next due delivery.
        assert!(
            Flow::of(Some(&failing), at(11, 0, 0))
                .badge()
                .ends_with("probe due now")
        );

        let paused = WebhookFlow {
            paused_until: Some(at(10, 2, 0)),
            ramp: Some(2),
            ..row()
        };
        assert_eq!(
            Flow::of(Some(&paused), now).badge(),
            "Paused until 10:02:00 (receiver asked)"
        );
        // A pause that is over no longer counts.
        assert_eq!(
            Flow::of(Some(&paused), at(10, 3, 0)).badge(),
            "Recovering (up to 2 at once)"
        );
    }
}
