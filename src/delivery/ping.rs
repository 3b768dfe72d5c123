//! "Send test event": an event of the administrator's choosing (a `webhook.ping` by default,
//! or any catalog type with its example payload or an edited one), sent at once, outside the
//! queue, signed and authenticated like a delivery, to show what the receiver answers
//! (Skilljar's PING, Adobe's test). A test is not a delivery: its result is kept in
//! `test_sends`, so it is never retried, never a dead letter, never part of the webhook's
//! health, charts or failure streak, and never disables the webhook.

use chrono::Utc;
use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Outbound;
use super::body;
use super::outcome::{self, DeadReason, Decision};
use super::payload::{Content, OutgoingEvent};
use super::sender::Exchange;
use super::target::{Target, TargetError};
use crate::domain::secret_box::SecretBox;
use crate::model::test_send::{self, TestSend};

pub const PING_EVENT: &str = "webhook.ping";

/// What to send: an event type and its `data`.
#[derive(Debug, Clone)]
pub struct TestEvent {
    pub event_type: String,
    pub data: Value,
}

impl TestEvent {
    /// The default test: a `webhook.ping` saying who sent it.
    pub fn ping(webhook_id: i64, requested_by: &str) -> Self {
        Self {
            event_type: PING_EVENT.into(),
            data: json!({
                "webhook_id": webhook_id,
                "message": format!("Test event sent from Herald by {requested_by}."),
            }),
        }
    }
}

/// What the page and the API show after a test.
#[derive(Debug, Clone)]
pub struct PingResult {
    pub test_id: Uuid,
    pub event_type: String,
    pub exchange: Exchange,
    pub delivered: bool,
}

/// A test ready to go, with the target to send it to. Nothing is stored before it is sent.
pub struct PreparedPing {
    test_id: Uuid,
    event_type: String,
    requested_by: String,
    target: Target,
    body: Vec<u8>,
}

/// Loads the webhook's target and builds the body (blocking). `None` when the webhook is gone.
pub fn prepare(
    conn: &mut PgConnection,
    webhook_id: i64,
    requested_by: &str,
    test: TestEvent,
    secrets: &SecretBox,
) -> Result<Option<PreparedPing>, TargetError> {
    let Some(target) = Target::load(conn, webhook_id, secrets)? else {
        return Ok(None);
    };
    let test_id = Uuid::now_v7();
    let event = OutgoingEvent {
        id: Uuid::now_v7(),
        event_type: test.event_type.clone(),
        occurred_at: Utc::now(),
        payload: test.data.to_string(),
    };
    let content = if target.batched {
        Content::Batch(vec![event])
    } else {
        Content::Single(event)
    };
    let body = body::build(body::Shape::of(&target), test_id, 1, &content, Utc::now())
        .map_err(TargetError::Unusable)?;
    Ok(Some(PreparedPing {
        test_id,
        event_type: test.event_type,
        requested_by: requested_by.to_owned(),
        target,
        body,
    }))
}

/// Sends the prepared test (async; no connection held).
pub async fn send(outbound: &Outbound, ping: &PreparedPing) -> Exchange {
    outbound
        .send(&ping.target, ping.test_id, ping.body.clone())
        .await
}

/// Keeps the result in `test_sends` (blocking), with the request headers masked as in the
/// attempt history.
pub fn finish(
    conn: &mut PgConnection,
    ping: PreparedPing,
    exchange: Exchange,
) -> QueryResult<PingResult> {
    let delivered = matches!(
        outcome::decide(&ping.target, 1, &exchange, Utc::now()),
        Decision::Delivered
    );
    let decision = if delivered {
        Decision::Delivered
    } else {
        Decision::Dead {
            reason: DeadReason::Test,
            disable: None,
        }
    };
    // The attempt record carries the masked request headers and the response excerpt.
    let (_, attempt) = outcome::record(
        ping.test_id,
        ping.target.webhook_id,
        1,
        &exchange,
        &decision,
    );
    let attempt_type = ping.event_type.clone();
    test_send::insert(
        conn,
        &TestSend {
            id: ping.test_id,
            webhook_id: ping.target.webhook_id,
            event_type: ping.event_type,
            requested_by: ping.requested_by,
            started_at: attempt.started_at,
            duration_ms: attempt.duration_ms,
            request_headers: attempt.request_headers,
            request_body: String::from_utf8_lossy(&ping.body).into_owned(),
            response_status: attempt.response_status,
            response_headers: attempt.response_headers,
            response_body: attempt.response_body,
            error_kind: attempt.error_kind,
            error_message: attempt.error_message,
            delivered,
        },
    )?;
    Ok(PingResult {
        test_id: ping.test_id,
        event_type: attempt_type,
        exchange,
        delivered,
    })
}
