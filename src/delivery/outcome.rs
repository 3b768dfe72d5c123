//! What an attempt means for its delivery: delivered, tried again later (on the webhook's
//! schedule with jitter, or later if the receiver asks with `Retry-After`), or dead-lettered,
//! perhaps disabling the webhook (Skilljar's `deactivate_reason`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use uuid::Uuid;

use super::sender::{Answer, ErrorKind, Exchange, Failure};
use super::target::Target;
use crate::model::delivery::{STATUS_DEAD, STATUS_DELIVERED, STATUS_PENDING, StateChange};
use crate::model::delivery_attempt::NewAttempt;
use crate::standards::PayloadFormat;

/// The longest `Retry-After` Herald honours; a receiver asking for more gets this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// ± this share of each delay, so retries from an outage do not arrive in lockstep.
const JITTER: f64 = 0.1;

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Delivered,
    Retry {
        at: DateTime<Utc>,
    },
    Dead {
        reason: DeadReason,
        /// Disable the webhook with this reason.
        disable: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadReason {
    Receiver4xx,
    RetriesExhausted,
    RefusedTarget,
    WebhookDisabled,
    /// A test ping that failed: never retried.
    Test,
    /// The event cannot be written in the webhook's payload format.
    Unmappable,
    /// A Caliper endpoint answered 422: it does not read the envelope's `dataVersion`.
    CaliperDataVersion,
}

impl DeadReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeadReason::Receiver4xx => "receiver_4xx",
            DeadReason::RetriesExhausted => "retries_exhausted",
            DeadReason::RefusedTarget => "refused_target",
            DeadReason::WebhookDisabled => "webhook_disabled",
            DeadReason::Test => "test",
            DeadReason::Unmappable => "unmappable",
            DeadReason::CaliperDataVersion => "caliper_data_version",
        }
    }
}

/// Decides what follows attempt number `attempt` (1 = the first).
pub fn decide(target: &Target, attempt: i32, exchange: &Exchange, now: DateTime<Utc>) -> Decision {
    let retry_after = match &exchange.result {
        Ok(Answer { status, .. }) if (200..300).contains(status) => return Decision::Delivered,
        // An LRS answers 409 for a statement id it already stores: the statement arrived.
        Ok(Answer { status: 409, .. }) if target.format == PayloadFormat::Xapi => {
            return Decision::Delivered;
        }
        Ok(Answer { status: 422, .. }) if matches!(target.format, PayloadFormat::Caliper(_)) => {
            return Decision::Dead {
                reason: DeadReason::CaliperDataVersion,
                disable: target.disable_on_client_error.then(|| {
                    "the Caliper endpoint does not accept this dataVersion (HTTP 422)".to_owned()
                }),
            };
        }
        Ok(Answer { status, .. })
            if (400..500).contains(status) && *status != 408 && *status != 429 =>
        {
            return Decision::Dead {
                reason: DeadReason::Receiver4xx,
                disable: target
                    .disable_on_client_error
                    .then(|| format!("receiver answered 4xx (HTTP {status})")),
            };
        }
        Ok(answer) => answer.retry_after,
        Err(Failure {
            kind: ErrorKind::RefusedTarget,
            ..
        }) => {
            return Decision::Dead {
                reason: DeadReason::RefusedTarget,
                disable: None,
            };
        }
        Err(Failure {
            kind: ErrorKind::Unmappable,
            ..
        }) => {
            return Decision::Dead {
                reason: DeadReason::Unmappable,
                disable: None,
            };
        }
        Err(_) => None,
    };
    match target.retry.delay_before(attempt + 1) {
        Some(delay) => {
            let delay = jittered(delay).max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER));
            Decision::Retry {
                at: now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(24)),
            }
        }
        None => Decision::Dead {
            reason: DeadReason::RetriesExhausted,
            disable: target.disable_when_exhausted.then(|| {
                format!(
                    "retries exhausted after {attempt} attempts (last: {})",
                    summary(exchange)
                )
            }),
        },
    }
}

fn jittered(delay: Duration) -> Duration {
    let factor = rand::rng().random_range((1.0 - JITTER)..=(1.0 + JITTER));
    delay.mul_f64(factor)
}

/// "HTTP 503" or "timeout: …": the last outcome in a few words.
pub fn summary(exchange: &Exchange) -> String {
    match &exchange.result {
        Ok(answer) => format!("HTTP {}", answer.status),
        Err(failure) => format!("{}: {}", failure.kind.as_str(), failure.message),
    }
}

/// The delivery's new row state and the attempt's history row.
pub fn record(
    delivery_id: Uuid,
    webhook_id: i64,
    attempt: i32,
    exchange: &Exchange,
    decision: &Decision,
) -> (StateChange, NewAttempt) {
    let (status, next_attempt_at, dead_reason, outcome) = match decision {
        Decision::Delivered => (STATUS_DELIVERED, exchange.started_at, None, "delivered"),
        Decision::Retry { at } => (STATUS_PENDING, *at, None, "retry"),
        Decision::Dead { reason, disable } => (
            STATUS_DEAD,
            exchange.started_at,
            Some(reason.as_str()),
            if disable.is_some() {
                "disabled"
            } else {
                "dead"
            },
        ),
    };
    let (last_status, error_kind, error_message) = match &exchange.result {
        Ok(answer) => (Some(i32::from(answer.status)), None, None),
        Err(failure) => (
            None,
            Some(failure.kind.as_str().to_owned()),
            Some(failure.message.clone()),
        ),
    };
    let change = StateChange {
        id: delivery_id,
        status,
        attempts: attempt,
        next_attempt_at,
        last_attempt_at: Some(exchange.started_at),
        last_status,
        last_error_kind: error_kind.clone(),
        last_error: error_message.clone(),
        dead_reason,
        delivered_at: matches!(decision, Decision::Delivered).then_some(exchange.started_at),
    };
    let (response_status, response_headers, response_body) = match &exchange.result {
        Ok(answer) => (
            Some(i32::from(answer.status)),
            Some(answer.headers.clone()),
            Some(answer.body_excerpt.clone()),
        ),
        Err(_) => (None, None, None),
    };
    let history = NewAttempt {
        delivery_id,
        number: attempt,
        started_at: exchange.started_at,
        duration_ms: exchange.duration.as_millis().min(i32::MAX as u128) as i32,
        request_headers: exchange.request_headers.clone(),
        response_status,
        response_headers,
        response_body,
        error_kind,
        error_message,
        outcome: outcome.to_owned(),
        webhook_id,
    };
    (change, history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::retry::RetryPolicy;
    use serde_json::json;

    fn target(retry: RetryPolicy, disable_4xx: bool, disable_exhausted: bool) -> Target {
        Target {
            webhook_id: 1,
            name: "t".into(),
            updated_at: Utc::now(),
            url: url::Url::parse("https://example.com").unwrap(),
            timeout: Duration::from_secs(5),
            authorization: None,
            authorization_masked: None,
            headers: vec![],
            secret: None,
            previous_secret: None,
            retry,
            disable_on_client_error: disable_4xx,
            disable_when_exhausted: disable_exhausted,
            batched: false,
            max_in_flight: 8,
            format: PayloadFormat::Herald,
            standards: None,
        }
    }

    fn answered(status: u16, retry_after: Option<u64>) -> Exchange {
        Exchange {
            started_at: Utc::now(),
            duration: Duration::from_millis(3),
            request_headers: json!({}),
            result: Ok(Answer {
                status,
                headers: json!({}),
                body_excerpt: String::new(),
                retry_after: retry_after.map(Duration::from_secs),
            }),
        }
    }

    fn failed(kind: ErrorKind) -> Exchange {
        Exchange {
            result: Err(Failure {
                kind,
                message: "boom".into(),
            }),
            ..answered(0, None)
        }
    }

    #[test]
    fn an_lrs_409_is_delivered_a_caliper_422_dead_and_an_unmappable_event_never_retried() {
        let retry = RetryPolicy::parse("fixed", "10", "", "", "3").unwrap();
        let mut xapi = target(retry, false, false);
        xapi.format = PayloadFormat::Xapi;
        assert_eq!(
            decide(&xapi, 1, &answered(409, None), Utc::now()),
            Decision::Delivered
        );
        let herald = target(retry, false, false);
        assert!(matches!(
            decide(&herald, 1, &answered(409, None), Utc::now()),
            Decision::Dead {
                reason: DeadReason::Receiver4xx,
                ..
            }
        ));
        let mut caliper = target(retry, false, false);
        caliper.format = PayloadFormat::Caliper(crate::standards::CaliperVersion::V1p2);
        assert_eq!(
            decide(&caliper, 1, &answered(422, None), Utc::now()),
            Decision::Dead {
                reason: DeadReason::CaliperDataVersion,
                disable: None
            }
        );
        assert_eq!(
            decide(&caliper, 1, &failed(ErrorKind::Unmappable), Utc::now()),
            Decision::Dead {
                reason: DeadReason::Unmappable,
                disable: None
            }
        );
    }

    #[test]
    fn two_hundreds_are_delivered_and_four_hundreds_dead() {
        let t = target(RetryPolicy::Exponential, false, false);
        let now = Utc::now();
        assert_eq!(
            decide(&t, 1, &answered(204, None), now),
            Decision::Delivered
        );
        assert_eq!(
            decide(&t, 1, &answered(410, None), now),
            Decision::Dead {
                reason: DeadReason::Receiver4xx,
                disable: None
            }
        );
        let disabling = target(RetryPolicy::Exponential, true, false);
        match decide(&disabling, 1, &answered(401, None), now) {
            Decision::Dead {
                disable: Some(reason),
                ..
            } => assert!(reason.starts_with("receiver answered 4xx")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn timeouts_408_429_and_5xx_are_retried_with_jitter() {
        let t = target(RetryPolicy::Exponential, true, false);
        let now = Utc::now();
        for exchange in [
            answered(408, None),
            answered(429, None),
            answered(503, None),
            answered(302, None),
            failed(ErrorKind::Timeout),
            failed(ErrorKind::Connect),
            failed(ErrorKind::Dns),
            failed(ErrorKind::Tls),
        ] {
            let Decision::Retry { at } = decide(&t, 1, &exchange, now) else {
                panic!("{exchange:?} should be retried");
            };
            let delay = (at - now).num_milliseconds();
            assert!((1800..=2200).contains(&delay), "{delay} ms");
        }
    }

    #[test]
    fn retry_after_postpones_but_never_hastens() {
        let t = target(RetryPolicy::Exponential, false, false);
        let now = Utc::now();
        let Decision::Retry { at } = decide(&t, 1, &answered(429, Some(30)), now) else {
            panic!()
        };
        assert_eq!((at - now).num_seconds(), 30);
        let Decision::Retry { at } = decide(&t, 5, &answered(429, Some(1)), now) else {
            panic!()
        };
        assert!((at - now).num_seconds() >= 28, "the schedule's 32 s wins");
    }

    #[test]
    fn exhausted_retries_are_dead_and_may_disable() {
        let now = Utc::now();
        let t = target(RetryPolicy::Fixed, false, true);
        match decide(&t, 3, &answered(500, None), now) {
            Decision::Dead {
                reason: DeadReason::RetriesExhausted,
                disable: Some(reason),
            } => assert!(reason.contains("after 3 attempts") && reason.contains("HTTP 500")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&t, 1, &failed(ErrorKind::RefusedTarget), now),
            Decision::Dead {
                reason: DeadReason::RefusedTarget,
                disable: None
            }
        ));
    }
}
