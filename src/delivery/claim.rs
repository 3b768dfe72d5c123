//! One claim, in one transaction: lock the flow rows of the webhooks with due deliveries, deal
//! the worker's free slots out fairly (per-webhook in-flight limit, breaker probe, ramp, rate
//! limit), take each webhook's share of its oldest due deliveries, and write back the rate
//! schedule and the probe's time. The lease is committed before anything is sent.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::local_queues::PREFETCH_ROUNDS;
use super::scheduler::{self, Candidate, RateSchedule};
use crate::model::delivery::{self, Claimed, Quota};
use crate::model::webhook_flow::{self, WebhookFlow};

/// How far ahead a rate-limited webhook's requests are claimed (each waits for its start time).
const RATE_HORIZON_MS: i64 = 1_000;

/// What one claim took.
#[derive(Debug, Default)]
pub struct ClaimOutcome {
    /// Oldest due first.
    pub deliveries: Vec<Claimed>,
    /// When a rate-limited delivery may be sent (absent: at once).
    pub send_at: HashMap<Uuid, DateTime<Utc>>,
    /// Deliveries sent as the breaker's probe.
    pub probes: HashSet<Uuid>,
    /// Some webhook had more due than its limits let it take: claim again when a slot frees.
    pub held_back: bool,
    /// The flow state of every webhook looked at (the recorder skips clean ones).
    pub flows: Vec<WebhookFlow>,
    /// Per webhook that gave deliveries: how many of its requests may be on the wire at once.
    pub wire_limits: HashMap<i64, usize>,
    /// Per webhook looked at: whether ingest may hand its new deliveries straight to this
    /// worker (clean, no ramp or rate limit, nobody else sending for it; see `handoff`).
    pub direct: HashMap<i64, bool>,
}

#[derive(Debug, Clone, Copy)]
pub struct ClaimLimits {
    /// Free request slots in this worker.
    pub slots: usize,
    /// The worker's total slots: no webhook may have more in flight than this.
    pub concurrency: usize,
    pub lease_seconds: i32,
}

/// What the worker holds now, for prefetching: deliveries claimed and not yet answered, per
/// webhook, and the webhooks whose recent requests were quick.
#[derive(Debug, Default)]
pub struct Holdings {
    pub held: HashMap<i64, i64>,
    pub fast: HashSet<i64>,
    /// Webhooks that asked for a pause this worker has not committed yet: they get nothing.
    pub paused: HashSet<i64>,
}

/// Claims for `worker`. `answered` names this worker's deliveries that have their answer but
/// whose outcome is not committed yet: still `delivering` in the database, they no longer hold
/// the receiver, so the count of requests in flight leaves them out. A delivery stays named
/// until its outcome commits, so it is never counted as free twice (once gone from the
/// database's `delivering` rows and once more here) nor held as busy while being written.
pub fn claim(
    conn: &mut PgConnection,
    worker: &str,
    limits: ClaimLimits,
    holdings: &Holdings,
    answered: impl Fn() -> Vec<Uuid>,
) -> QueryResult<ClaimOutcome> {
    conn.transaction(|conn| {
        let due = webhook_flow::lock_due(conn, limits.slots as i64 + 1)?;
        if due.is_empty() {
            return Ok(ClaimOutcome::default());
        }
        let ids: Vec<i64> = due.iter().map(|hook| hook.flow.webhook_id).collect();
        let counted = webhook_flow::count_in_flight(conn, &ids, &answered())?;
        let in_flight = |webhook_id: i64| counted.get(&webhook_id).copied().unwrap_or(0);
        let now = Utc::now();
        let horizon = chrono::Duration::milliseconds(RATE_HORIZON_MS);
        let mut wire_limits = HashMap::new();
        let mut direct = HashMap::new();
        let candidates: Vec<Candidate> = due
            .iter()
            .map(|hook| {
                let webhook_id = hook.flow.webhook_id;
                let own_limit = i64::from(hook.max_in_flight).min(limits.concurrency as i64);
                let paused = holdings.paused.contains(&webhook_id);
                let limit = if paused {
                    0
                } else if hook.flow.failing() {
                    1
                } else {
                    hook.flow
                        .ramp
                        .map_or(own_limit, |r| own_limit.min(i64::from(r)))
                };
                wire_limits.insert(webhook_id, limit.max(1) as usize);
                let in_flight = in_flight(webhook_id);
                // A quick, clean webhook no other worker sends for may be claimed for several
                // rounds at once: this worker keeps its requests on the wire within `limit`.
                let others = in_flight - holdings.held.get(&webhook_id).copied().unwrap_or(0);
                let unhindered = others <= 0
                    && !paused
                    && !hook.flow.failing()
                    && hook.flow.ramp.is_none()
                    && hook.rate_limit_per_second.is_none();
                direct.insert(webhook_id, unhindered);
                let prefetch = unhindered && holdings.fast.contains(&webhook_id);
                Candidate {
                    webhook_id,
                    oldest_due: hook.oldest_due,
                    due: hook.due,
                    in_flight,
                    limit: if prefetch {
                        limit * PREFETCH_ROUNDS
                    } else {
                        limit
                    },
                    rate_allowance: rate_schedule(hook.rate_limit_per_second, &hook.flow)
                        .map(|schedule| schedule.allowance(now, horizon)),
                }
            })
            .collect();
        let (shares, held_back) = scheduler::fair_shares(&candidates, limits.slots);
        let quotas: Vec<Quota> = candidates
            .iter()
            .zip(&shares)
            .filter(|(_, share)| **share > 0)
            .map(|(candidate, share)| Quota {
                webhook_id: candidate.webhook_id,
                quota: *share as i32,
            })
            .collect();
        let deliveries = delivery::claim(conn, &quotas, worker, limits.lease_seconds)?;

        let mut taken: HashMap<i64, Vec<Uuid>> = HashMap::new();
        for row in &deliveries {
            taken.entry(row.webhook_id).or_default().push(row.id);
        }
        let mut outcome = ClaimOutcome {
            held_back,
            ..ClaimOutcome::default()
        };
        let mut changed = Vec::new();
        let mut flows = Vec::with_capacity(due.len());
        for hook in due {
            let mut flow = hook.flow;
            let Some(ids) = taken.get(&flow.webhook_id) else {
                flows.push(flow);
                continue;
            };
            let mut dirty = false;
            if let Some(schedule) = rate_schedule(hook.rate_limit_per_second, &flow) {
                let (times, next_at) = schedule.take(now, ids.len());
                outcome.send_at.extend(ids.iter().copied().zip(times));
                flow.rate_next_at = Some(next_at);
                dirty = true;
            }
            if flow.failing() {
                // One probe at a time: the next is due only after this one's outcome (which
                // sets the real time) or, if that never comes, after its timeout and lease.
                outcome.probes.extend(ids.iter().take(1).copied());
                let guard = i64::from(flow.probe_interval_seconds)
                    + i64::from(hook.timeout_seconds)
                    + i64::from(limits.lease_seconds);
                flow.next_probe_at = Some(now + chrono::Duration::seconds(guard));
                dirty = true;
            }
            if dirty {
                changed.push(flow.clone());
            }
            flows.push(flow);
        }
        webhook_flow::save(conn, &changed)?;
        outcome.deliveries = deliveries;
        outcome.flows = flows;
        outcome.wire_limits = wire_limits;
        outcome.direct = direct;
        Ok(outcome)
    })
}

fn rate_schedule(per_second: Option<i32>, flow: &WebhookFlow) -> Option<RateSchedule> {
    per_second.map(|per_second| RateSchedule {
        per_second,
        next_at: flow.rate_next_at,
    })
}
