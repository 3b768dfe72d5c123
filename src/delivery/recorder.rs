//! Writes attempt outcomes in batches: one transaction applies many deliveries' new states,
//! stores their attempts, disables the webhooks that must be disabled and moves each webhook's
//! flow state (circuit breaker, ramp, pause). Only deliveries this worker still holds are
//! changed (a delivery whose webhook was deleted is simply gone).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::breaker::{BreakerSettings, Signal, Transition};
use crate::model::audit::{self, Actor, Change};
use crate::model::delivery::{self, StateChange};
use crate::model::delivery_attempt::{self, NewAttempt};
use crate::model::webhook_flow::{self, WebhookFlow};
use crate::webhooks::service;

/// One finished delivery step, waiting to be written.
#[derive(Debug, Clone)]
pub struct Completed {
    pub webhook_id: i64,
    pub change: StateChange,
    /// `None` when nothing was sent (the webhook was disabled meanwhile).
    pub attempt: Option<NewAttempt>,
    /// Disable this webhook with this reason.
    pub disable: Option<(i64, String)>,
    /// What the attempt says of the receiver (`None`: a test ping, or nothing was sent).
    pub flow: Option<FlowReport>,
    /// Deliveries of this webhook the worker held and will not send now (the attempt opened a
    /// failure streak or asked for a pause): back to the queue in the same transaction as the
    /// flow state, so no claim can take them before it sees why they wait.
    pub hand_back: Vec<uuid::Uuid>,
}

impl Completed {
    /// Whether this outcome must be written at once: it moves a flow state (failure, pause,
    /// probe) or disables a webhook, and claims must see that before they pick the webhook's
    /// next deliveries.
    pub fn is_urgent(&self) -> bool {
        self.disable.is_some()
            || self
                .flow
                .as_ref()
                .is_some_and(FlowReport::matters_when_clean)
    }
}

/// An attempt's bearing on its webhook's flow state.
#[derive(Debug, Clone)]
pub struct FlowReport {
    pub webhook_id: i64,
    pub webhook_name: String,
    pub max_in_flight: i32,
    pub signal: Signal,
    /// The attempt was the breaker's probe.
    pub probe: bool,
    /// The receiver asked Herald to wait (429 with Retry-After) until then.
    pub pause_until: Option<DateTime<Utc>>,
}

impl FlowReport {
    /// Whether this report may change a webhook whose state is clean.
    fn matters_when_clean(&self) -> bool {
        self.signal != Signal::Alive || self.probe || self.pause_until.is_some()
    }
}

/// How flow states move, and which webhooks this worker last saw clean (healthy, no failure
/// streak, no ramp, no pause): a batch of successes for those needs no flow write at all.
pub struct FlowRules<'a> {
    pub breaker: BreakerSettings,
    pub known_clean: &'a HashSet<i64>,
}

/// What a batch wrote.
#[derive(Debug, Default)]
pub struct Written {
    pub deliveries: usize,
    /// The flow states read and perhaps changed.
    pub flows: Vec<WebhookFlow>,
}

/// Writes a batch: one statement when it moves no flow state and disables no webhook (the
/// usual case: successes for healthy webhooks), else one transaction.
pub fn write(
    conn: &mut PgConnection,
    worker: &str,
    batch: &[Completed],
    rules: &FlowRules<'_>,
) -> QueryResult<Written> {
    let changes: Vec<StateChange> = batch.iter().map(|c| c.change.clone()).collect();
    let attempts: Vec<NewAttempt> = batch.iter().filter_map(|c| c.attempt.clone()).collect();
    let quiet = batch
        .iter()
        .all(|c| c.disable.is_none() && c.hand_back.is_empty())
        && batch.iter().filter_map(|c| c.flow.as_ref()).all(|report| {
            rules.known_clean.contains(&report.webhook_id) && !report.matters_when_clean()
        });
    if quiet {
        let changed = delivery_attempt::record(conn, worker, &changes, &attempts)?;
        return Ok(Written {
            deliveries: changed.len(),
            flows: Vec::new(),
        });
    }
    conn.transaction(|conn| {
        let changed: HashSet<uuid::Uuid> =
            delivery_attempt::record(conn, worker, &changes, &attempts)?
                .into_iter()
                .collect();
        let kept: Vec<&Completed> = batch
            .iter()
            .filter(|c| changed.contains(&c.change.id))
            .collect();
        // Webhook rows before flow rows, the order a person's enable takes too.
        for (webhook_id, reason) in kept.iter().filter_map(|c| c.disable.as_ref()) {
            match service::set_enabled(conn, &Actor::system(), *webhook_id, false, Some(reason)) {
                Ok(_) | Err(service::WebhookError::NotFound) => {}
                Err(service::WebhookError::Database(err)) => return Err(err),
                Err(other) => tracing::error!(webhook_id, "could not disable webhook: {other}"),
            }
        }
        let flows = move_flows(conn, &kept, rules)?;
        let handed_back: Vec<uuid::Uuid> = batch
            .iter()
            .flat_map(|c| c.hand_back.iter().copied())
            .collect();
        if !handed_back.is_empty() {
            delivery::release_ids(conn, worker, &handed_back)?;
        }
        Ok(Written {
            deliveries: changed.len(),
            flows,
        })
    })
}

/// Applies the batch's reports to the flow states of their webhooks, in order, and audits
/// every change of circuit.
fn move_flows(
    conn: &mut PgConnection,
    kept: &[&Completed],
    rules: &FlowRules<'_>,
) -> QueryResult<Vec<WebhookFlow>> {
    let mut reports: HashMap<i64, Vec<&FlowReport>> = HashMap::new();
    for report in kept.iter().filter_map(|c| c.flow.as_ref()) {
        reports.entry(report.webhook_id).or_default().push(report);
    }
    reports.retain(|webhook_id, reports| {
        !rules.known_clean.contains(webhook_id) || reports.iter().any(|r| r.matters_when_clean())
    });
    if reports.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = reports.keys().copied().collect();
    let now = Utc::now();
    let mut flows = webhook_flow::lock(conn, &ids)?;
    let mut changed = Vec::new();
    for flow in &mut flows {
        let before = flow.clone();
        let mut breaker = flow.breaker();
        for report in &reports[&flow.webhook_id] {
            if let Some(until) = report.pause_until {
                flow.paused_until = Some(flow.paused_until.map_or(until, |at| at.max(until)));
            }
            let transition = breaker.apply(
                report.signal,
                report.probe,
                report.max_in_flight,
                &rules.breaker,
                now,
            );
            if let Some(transition) = transition {
                audit_transition(conn, report, &transition, now)?;
            }
        }
        flow.set_breaker(&breaker);
        if flow.paused_until.is_some_and(|at| at <= now) {
            flow.paused_until = None;
        }
        if !same_state(flow, &before) {
            changed.push(flow.clone());
        }
    }
    webhook_flow::save(conn, &changed)?;
    Ok(flows)
}

fn same_state(a: &WebhookFlow, b: &WebhookFlow) -> bool {
    a.breaker() == b.breaker() && a.paused_until == b.paused_until
}

fn audit_transition(
    conn: &mut PgConnection,
    report: &FlowReport,
    transition: &Transition,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let (action, details) = match transition {
        Transition::Opened {
            failures,
            next_probe_at,
        } => {
            tracing::warn!(
                webhook_id = report.webhook_id,
                failures,
                "circuit opened: webhook failing"
            );
            (
                "webhook.circuit_opened",
                json!({ "consecutive_failures": failures, "next_probe_at": next_probe_at }),
            )
        }
        Transition::Closed { failing_since } => {
            tracing::info!(
                webhook_id = report.webhook_id,
                "circuit closed: webhook healthy again"
            );
            (
                "webhook.circuit_closed",
                json!({
                    "failing_since": failing_since,
                    "failing_seconds": (now - *failing_since).num_seconds(),
                }),
            )
        }
    };
    audit::record(
        conn,
        &Actor::system(),
        Change {
            action,
            target_type: "webhook",
            target_id: Some(report.webhook_id.to_string()),
            target_label: Some(report.webhook_name.clone()),
            details,
        },
    )
}
