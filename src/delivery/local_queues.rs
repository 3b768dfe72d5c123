//! What a worker holds: claimed deliveries waiting for a request slot, per webhook, and how
//! many of each webhook's requests are on the wire. A webhook never has more requests on the
//! wire than its limit; webhooks take turns for the worker's free slots.
//!
//! A claim may take more of a fast, healthy webhook's deliveries than its limit allows on the
//! wire at once (`prefetch`): the extra wait here and go out as earlier requests finish, so a
//! busy webhook needs one claim per several rounds of requests instead of one per round.
//! Only webhooks whose recent requests finished quickly are prefetched for, so a slow
//! receiver never holds more than its limit.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// How many times its in-flight limit a fast webhook may hold.
pub const PREFETCH_ROUNDS: i64 = 8;
/// A webhook is fast when its requests' smoothed duration is under this.
const FAST: Duration = Duration::from_millis(50);

#[derive(Debug)]
struct Webhook<J> {
    waiting: VecDeque<J>,
    on_wire: usize,
    limit: usize,
    /// Smoothed request duration (`None` until one finished).
    smoothed: Option<Duration>,
}

impl<J> Default for Webhook<J> {
    fn default() -> Self {
        Self {
            waiting: VecDeque::new(),
            on_wire: 0,
            limit: 1,
            smoothed: None,
        }
    }
}

#[derive(Debug)]
pub struct LocalQueues<J> {
    webhooks: HashMap<i64, Webhook<J>>,
    /// Round-robin order of webhooks with waiting deliveries.
    turns: VecDeque<i64>,
}

impl<J> Default for LocalQueues<J> {
    fn default() -> Self {
        Self {
            webhooks: HashMap::new(),
            turns: VecDeque::new(),
        }
    }
}

impl<J> LocalQueues<J> {
    /// Adds claimed deliveries of `webhook_id`, whose in-flight limit is now `limit`.
    pub fn push(&mut self, webhook_id: i64, limit: usize, jobs: impl IntoIterator<Item = J>) {
        let hook = self.webhooks.entry(webhook_id).or_default();
        hook.limit = limit.max(1);
        let was_empty = hook.waiting.is_empty();
        hook.waiting.extend(jobs);
        if was_empty && !hook.waiting.is_empty() {
            self.turns.push_back(webhook_id);
        }
    }

    /// The next delivery to send, taking webhooks in turn; `None` when every webhook with
    /// waiting deliveries is at its limit (or none waits).
    pub fn next_ready(&mut self) -> Option<(i64, J)> {
        for _ in 0..self.turns.len() {
            let webhook_id = self.turns.pop_front()?;
            let Some(hook) = self.webhooks.get_mut(&webhook_id) else {
                continue;
            };
            if hook.on_wire >= hook.limit {
                self.turns.push_back(webhook_id);
                continue;
            }
            let Some(job) = hook.waiting.pop_front() else {
                continue;
            };
            hook.on_wire += 1;
            if !hook.waiting.is_empty() {
                self.turns.push_back(webhook_id);
            }
            return Some((webhook_id, job));
        }
        None
    }

    /// A request of `webhook_id` finished after `took`.
    pub fn finished(&mut self, webhook_id: i64, took: Duration) {
        if let Some(hook) = self.webhooks.get_mut(&webhook_id) {
            hook.on_wire = hook.on_wire.saturating_sub(1);
            hook.smoothed = Some(match hook.smoothed {
                None => took,
                Some(before) => (before * 7 + took) / 8,
            });
        }
        self.forget_idle(webhook_id);
    }

    /// A request of `webhook_id` ended without an outcome (abandoned).
    pub fn gave_up(&mut self, webhook_id: i64) {
        if let Some(hook) = self.webhooks.get_mut(&webhook_id) {
            hook.on_wire = hook.on_wire.saturating_sub(1);
        }
        self.forget_idle(webhook_id);
    }

    /// Takes back what `webhook_id` has waiting (it started failing or asked for a pause:
    /// those go back to the database, to be claimed under the breaker's rules).
    pub fn take_waiting(&mut self, webhook_id: i64) -> Vec<J> {
        let taken = self
            .webhooks
            .get_mut(&webhook_id)
            .map(|hook| hook.waiting.drain(..).collect())
            .unwrap_or_default();
        self.forget_idle(webhook_id);
        taken
    }

    /// Everything waiting (a stopping worker hands it back).
    pub fn take_all_waiting(&mut self) -> Vec<J> {
        self.turns.clear();
        self.webhooks
            .values_mut()
            .flat_map(|hook| hook.waiting.drain(..).collect::<Vec<_>>())
            .collect()
    }

    /// Whether `webhook_id` should be claimed for again: fewer than half of its prefetch rounds
    /// wait (a webhook that is not prefetched for waits for nothing, so always).
    pub fn running_low(&self, webhook_id: i64) -> bool {
        self.webhooks
            .get(&webhook_id)
            .is_none_or(|hook| hook.waiting.len() * 2 <= hook.limit * PREFETCH_ROUNDS as usize)
    }

    /// Whether some waiting delivery could go on the wire now.
    pub fn has_ready(&self) -> bool {
        self.turns.iter().any(|id| {
            self.webhooks
                .get(id)
                .is_some_and(|hook| hook.on_wire < hook.limit && !hook.waiting.is_empty())
        })
    }

    /// Deliveries held (waiting or on the wire), in all.
    pub fn held(&self) -> usize {
        self.webhooks
            .values()
            .map(|hook| hook.waiting.len() + hook.on_wire)
            .sum()
    }

    /// Deliveries held per webhook.
    pub fn held_by_webhook(&self) -> HashMap<i64, i64> {
        self.webhooks
            .iter()
            .map(|(id, hook)| (*id, (hook.waiting.len() + hook.on_wire) as i64))
            .filter(|(_, held)| *held > 0)
            .collect()
    }

    /// Whether a claim may take more than the limit of `webhook_id` (its recent requests
    /// were quick).
    pub fn is_fast(&self, webhook_id: i64) -> bool {
        self.webhooks
            .get(&webhook_id)
            .and_then(|hook| hook.smoothed)
            .is_some_and(|smoothed| smoothed < FAST)
    }

    fn forget_idle(&mut self, webhook_id: i64) {
        // The smoothed duration is kept (it decides prefetching) while anything is held; a
        // webhook with nothing held is forgotten after it has been slow, to start afresh.
        if let Some(hook) = self.webhooks.get(&webhook_id)
            && hook.waiting.is_empty()
            && hook.on_wire == 0
            && hook.smoothed.is_none_or(|s| s >= FAST)
        {
            self.webhooks.remove(&webhook_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_never_has_more_on_the_wire_than_its_limit() {
        let mut queues = LocalQueues::default();
        queues.push(1, 2, [10, 11, 12, 13]);
        assert_eq!(queues.next_ready(), Some((1, 10)));
        assert_eq!(queues.next_ready(), Some((1, 11)));
        assert_eq!(queues.next_ready(), None);
        queues.finished(1, Duration::from_millis(1));
        assert_eq!(queues.next_ready(), Some((1, 12)));
        assert_eq!(queues.held(), 3);
    }

    #[test]
    fn webhooks_take_turns() {
        let mut queues = LocalQueues::default();
        queues.push(1, 8, [10, 11, 12]);
        queues.push(2, 8, [20, 21]);
        let order: Vec<i64> = std::iter::from_fn(|| queues.next_ready().map(|(_, j)| j)).collect();
        assert_eq!(order, vec![10, 20, 11, 21, 12]);
    }

    #[test]
    fn only_quick_webhooks_count_as_fast() {
        let mut queues = LocalQueues::default();
        queues.push(1, 1, [10, 11]);
        queues.push(2, 1, [20, 21]);
        assert!(!queues.is_fast(1), "unknown until a request finished");
        queues.next_ready();
        queues.next_ready();
        queues.finished(1, Duration::from_millis(2));
        queues.finished(2, Duration::from_secs(3));
        assert!(queues.is_fast(1));
        assert!(!queues.is_fast(2));
    }

    #[test]
    fn a_webhook_runs_low_when_half_its_prefetch_is_gone() {
        let mut queues = LocalQueues::default();
        assert!(queues.running_low(1), "nothing held: claim");
        queues.push(1, 1, 0..PREFETCH_ROUNDS);
        assert!(!queues.running_low(1));
        for _ in 0..PREFETCH_ROUNDS / 2 {
            queues.next_ready();
            queues.finished(1, Duration::from_millis(1));
        }
        assert!(queues.running_low(1));
    }

    #[test]
    fn a_delivery_is_ready_only_below_its_webhooks_limit() {
        let mut queues = LocalQueues::default();
        queues.push(1, 1, [10, 11]);
        assert!(queues.has_ready());
        queues.next_ready();
        assert!(!queues.has_ready(), "the webhook is at its limit");
        queues.finished(1, Duration::from_millis(1));
        assert!(queues.has_ready());
    }

    #[test]
    fn waiting_deliveries_of_a_failing_webhook_are_taken_back() {
        let mut queues = LocalQueues::default();
        queues.push(1, 1, [10, 11, 12]);
        queues.next_ready();
        assert_eq!(queues.take_waiting(1), vec![11, 12]);
        assert_eq!(queues.next_ready(), None);
        assert_eq!(queues.held_by_webhook(), HashMap::from([(1, 1)]));
    }
}
