//! Fair shares of a worker's free request slots. Each webhook with due deliveries may take at
//! most its room (its in-flight limit less what is already in flight, across every worker), what
//! its rate limit allows now, and what it has due; the free slots are dealt out one at a time,
//! round-robin, most overdue webhook first. So a webhook with a deep backlog or slow answers
//! gets its share and no more, and a webhook with one due delivery is never starved by it.
//!
//! Pure arithmetic: the claim reads the candidates and applies the shares.

use chrono::{DateTime, Utc};

/// A webhook with due deliveries, as the claim sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub webhook_id: i64,
    /// When its oldest due delivery became due: the most overdue webhook is served first.
    pub oldest_due: DateTime<Utc>,
    /// Due deliveries (the claim counts up to a bound).
    pub due: i64,
    /// Requests it has in flight now, in every worker.
    pub in_flight: i64,
    /// How many it may have in flight: its limit, the ramp after recovery, or 1 for a probe.
    pub limit: i64,
    /// What its rate limit allows to start within the claim's horizon; `None` = no limit.
    pub rate_allowance: Option<i64>,
}

impl Candidate {
    /// The most this webhook may take now, whatever the other webhooks need.
    pub fn cap(&self) -> i64 {
        let room = (self.limit - self.in_flight).max(0);
        let cap = self.due.min(room);
        match self.rate_allowance {
            Some(allowed) => cap.min(allowed.max(0)),
            None => cap,
        }
    }
}

/// How many deliveries each webhook gets (same order as `candidates`), and whether any webhook
/// was held back by its limits (then a finished request is a reason to claim again).
pub fn fair_shares(candidates: &[Candidate], slots: usize) -> (Vec<i64>, bool) {
    let caps: Vec<i64> = candidates.iter().map(Candidate::cap).collect();
    let mut shares = vec![0i64; candidates.len()];
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| (candidates[i].oldest_due, candidates[i].webhook_id));
    let mut left = slots as i64;
    // Whole rounds at once: every webhook still wanting gets the same number more.
    while left > 0 {
        let wanting: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| shares[i] < caps[i])
            .collect();
        if wanting.is_empty() {
            break;
        }
        let smallest_need = wanting
            .iter()
            .map(|&i| caps[i] - shares[i])
            .min()
            .unwrap_or(0);
        let per_webhook = (left / wanting.len() as i64).min(smallest_need);
        if per_webhook == 0 {
            // Fewer slots than webhooks: one each, most overdue first.
            for &i in wanting.iter().take(left as usize) {
                shares[i] += 1;
            }
            break;
        }
        for &i in &wanting {
            shares[i] += per_webhook;
        }
        left -= per_webhook * wanting.len() as i64;
    }
    let held_back = candidates
        .iter()
        .zip(&shares)
        .any(|(candidate, share)| *share < candidate.due);
    (shares, held_back)
}

/// Rate limiting as a virtual schedule: request `i` of a webhook limited to `per_second` may
/// start at `next_at + i / per_second`. The claim takes what may start within `horizon` of now;
/// the worker waits for each request's start time before sending it.
#[derive(Debug, Clone, Copy)]
pub struct RateSchedule {
    pub per_second: i32,
    /// The earliest start of the next request (stored in `webhook_flow.rate_next_at`).
    pub next_at: Option<DateTime<Utc>>,
}

impl RateSchedule {
    fn interval(&self) -> chrono::Duration {
        chrono::Duration::microseconds(1_000_000 / i64::from(self.per_second.max(1)))
    }

    fn first_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.next_at.map_or(now, |at| at.max(now))
    }

    /// How many requests may start between now and `now + horizon`.
    pub fn allowance(&self, now: DateTime<Utc>, horizon: chrono::Duration) -> i64 {
        let start = self.first_start(now);
        let window = now + horizon - start;
        if window < chrono::Duration::zero() {
            return 0;
        }
        let interval = self.interval().num_microseconds().unwrap_or(1).max(1);
        window.num_microseconds().unwrap_or(0) / interval + 1
    }

    /// The start times of `count` requests, and the schedule's next free start after them.
    pub fn take(&self, now: DateTime<Utc>, count: usize) -> (Vec<DateTime<Utc>>, DateTime<Utc>) {
        let start = self.first_start(now);
        let interval = self.interval();
        let times = (0..count as i32).map(|i| start + interval * i).collect();
        (times, start + interval * count as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(webhook_id: i64, due: i64, in_flight: i64, limit: i64) -> Candidate {
        Candidate {
            webhook_id,
            oldest_due: Utc::now() - chrono::Duration::seconds(webhook_id),
            due,
            in_flight,
            limit,
            rate_allowance: None,
        }
    }

    #[test]
    fn a_deep_backlog_takes_no_more_than_its_limit() {
        let (shares, held_back) =
            fair_shares(&[candidate(1, 10_000, 0, 8), candidate(2, 3, 0, 8)], 64);
        assert_eq!(shares, vec![8, 3]);
        assert!(held_back);
    }

    #[test]
    fn slots_already_held_count_against_the_limit() {
        let (shares, _) = fair_shares(&[candidate(1, 100, 8, 8), candidate(2, 100, 5, 8)], 64);
        assert_eq!(shares, vec![0, 3]);
    }

    #[test]
    fn scarce_slots_are_dealt_round_robin_most_overdue_first() {
        let candidates = [
            candidate(1, 100, 0, 64),
            candidate(2, 100, 0, 64),
            candidate(3, 1, 0, 64),
        ];
        let (shares, held_back) = fair_shares(&candidates, 10);
        // Webhook 3 (1 due) is served in full, the others split the rest.
        assert_eq!(shares.iter().sum::<i64>(), 10);
        assert_eq!(shares[2], 1);
        assert!((shares[0] - shares[1]).abs() <= 1);
        assert!(held_back);
        // Two slots, three webhooks: the two most overdue (highest ids here) get one each.
        let (shares, _) = fair_shares(&candidates, 2);
        assert_eq!(shares, vec![0, 1, 1]);
    }

    #[test]
    fn nothing_held_back_when_everything_due_fits() {
        let (shares, held_back) = fair_shares(&[candidate(1, 5, 0, 8), candidate(2, 2, 1, 8)], 64);
        assert_eq!(shares, vec![5, 2]);
        assert!(!held_back);
    }

    #[test]
    fn rate_limit_spaces_requests_and_caps_the_claim() {
        let now = Utc::now();
        let schedule = RateSchedule {
            per_second: 4,
            next_at: None,
        };
        // 250 ms apart: 0, 250, 500, 750, 1000 ms fit a one-second horizon.
        assert_eq!(schedule.allowance(now, chrono::Duration::seconds(1)), 5);
        let (times, next) = schedule.take(now, 3);
        assert_eq!(times[2] - times[0], chrono::Duration::milliseconds(500));
        assert_eq!(next - now, chrono::Duration::milliseconds(750));
        let later = RateSchedule {
            per_second: 4,
            next_at: Some(now + chrono::Duration::seconds(3)),
        };
        assert_eq!(later.allowance(now, chrono::Duration::seconds(1)), 0);
        let mut limited = candidate(1, 100, 0, 8);
        limited.rate_allowance = Some(2);
        assert_eq!(limited.cap(), 2);
    }
}
