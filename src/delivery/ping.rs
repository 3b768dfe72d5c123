//! "Send test event": a `webhook.ping` delivered at once, outside the queue, to show an
//! administrator what the receiver answers (Skilljar's PING, Adobe's test). It is stored and
//! recorded like any delivery, but never retried and never disables the webhook.

use chrono::Utc;
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::Outbound;
use super::outcome::{self, DeadReason, Decision};
use super::payload::{self, Content, OutgoingEvent};
use super::recorder::{self, Completed};
use super::sender::{self, Exchange};
use super::target::{Target, TargetError};
use crate::domain::secret_box::SecretBox;
use crate::model::delivery::{self, NewDelivery, STATUS_DELIVERING};
use crate::model::event::{self, NewEvent};

pub const PING_EVENT: &str = "webhook.ping";

/// What the page shows after a test.
#[derive(Debug, Clone)]
pub struct PingResult {
    pub delivery_id: Uuid,
    pub exchange: Exchange,
    pub delivered: bool,
}

/// A stored test delivery, leased to this ping, with the target to send it to.
pub struct PreparedPing {
    lease: String,
    delivery_id: Uuid,
    target: Target,
    content: Content,
}

/// Stores the ping event and its delivery (blocking). `None` when the webhook is gone.
pub fn prepare(
    conn: &mut PgConnection,
    webhook_id: i64,
    requested_by: &str,
    secrets: &SecretBox,
) -> Result<Option<PreparedPing>, TargetError> {
    let Some(target) = Target::load(conn, webhook_id, secrets)? else {
        return Ok(None);
    };
    let lease = format!("ping:{}", Uuid::now_v7());
    let now = Utc::now();
    let data = json!({
        "webhook_id": webhook_id,
        "message": format!("Test event sent from Herald by {requested_by}."),
    });
    let new_event = NewEvent {
        id: Uuid::now_v7(),
        event_type: PING_EVENT.into(),
        occurred_at: now,
        payload: data.clone(),
        idempotency_key: None,
        source: format!("test button ({requested_by})"),
    };
    let delivery_id = Uuid::now_v7();
    conn.transaction(|conn| {
        event::insert_new(conn, std::slice::from_ref(&new_event))?;
        delivery::insert_many(
            conn,
            &[NewDelivery {
                id: delivery_id,
                webhook_id,
                event_id: Some(new_event.id),
                event_type: PING_EVENT.into(),
                status: STATUS_DELIVERING,
                batch_open: false,
                event_count: 1,
                next_attempt_at: now,
                lease_until: Some(now + chrono::Duration::seconds(120)),
                leased_by: Some(lease.clone()),
            }],
        )
    })?;
    let event = OutgoingEvent {
        id: new_event.id,
        event_type: PING_EVENT.into(),
        occurred_at: now,
        payload: data.to_string(),
    };
    let content = if target.batched {
        Content::Batch(vec![event])
    } else {
        Content::Single(event)
    };
    Ok(Some(PreparedPing {
        lease,
        delivery_id,
        target,
        content,
    }))
}

/// Sends the prepared ping (async; no connection held).
pub async fn send(outbound: &Outbound, ping: &PreparedPing) -> Exchange {
    let body = payload::body(ping.delivery_id, ping.target.webhook_id, 1, &ping.content);
    sender::send(
        &outbound.client,
        &outbound.policy,
        &ping.target,
        ping.delivery_id,
        body,
    )
    .await
}

/// Records the attempt (blocking): delivered, or dead as a failed test.
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
    let (change, history) = outcome::record(
        ping.delivery_id,
        ping.target.webhook_id,
        1,
        &exchange,
        &decision,
    );
    let no_flow = std::collections::HashSet::new();
    recorder::write(
        conn,
        &ping.lease,
        &[Completed {
            webhook_id: ping.target.webhook_id,
            change,
            attempt: Some(history),
            disable: None,
            // A test says nothing the breaker should act on.
            flow: None,
        }],
        &recorder::FlowRules {
            breaker: Default::default(),
            known_clean: &no_flow,
        },
    )?;
    Ok(PingResult {
        delivery_id: ping.delivery_id,
        exchange,
        delivered,
    })
}
