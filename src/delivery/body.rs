//! The bytes a receiver gets for one attempt, in its webhook's payload format: Herald JSON
//! (`payload`), an array of xAPI statements, or a Caliper envelope. Events whose type the
//! format skips are left out; an event the format cannot express makes the delivery
//! unsendable (`Err` with the reason).

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::payload::{self, Content, OutgoingEvent};
use super::target::Target;
use crate::standards::xapi_out::EventRef;
use crate::standards::{PayloadFormat, StandardsSettings, caliper_out, xapi_out};

/// What the body depends on besides the events.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub webhook_id: i64,
    pub format: PayloadFormat,
    pub standards: Option<&'a StandardsSettings>,
}

impl<'a> Shape<'a> {
    pub fn of(target: &'a Target) -> Self {
        Self {
            webhook_id: target.webhook_id,
            format: target.format,
            standards: target.standards.as_ref(),
        }
    }
}

/// The body of attempt `attempt` of delivery `delivery_id`, sent at `now`.
pub fn build(
    shape: Shape<'_>,
    delivery_id: Uuid,
    attempt: i32,
    content: &Content,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, String> {
    let (format, settings) = match (shape.format, shape.standards) {
        (PayloadFormat::Herald, _) => {
            return Ok(payload::body(
                delivery_id,
                shape.webhook_id,
                attempt,
                content,
            ));
        }
        (format, Some(settings)) => (format, settings),
        (_, None) => return Err("the payload format's settings are missing".into()),
    };
    let events: &[OutgoingEvent] = match content {
        Content::Single(event) => std::slice::from_ref(event),
        Content::Batch(events) => events,
    };
    let mut records = Vec::with_capacity(events.len());
    for event in events {
        let payload: Value = serde_json::from_str(&event.payload)
            .map_err(|err| format!("the stored event is not JSON: {err}"))?;
        let event_ref = EventRef {
            id: event.id,
            event_type: &event.event_type,
            occurred_at: event.occurred_at,
            payload: &payload,
        };
        let record = match format {
            PayloadFormat::Xapi => xapi_out::statement(shape.webhook_id, event_ref, settings),
            PayloadFormat::Caliper(version) => {
                caliper_out::event(shape.webhook_id, event_ref, version, settings)
            }
            // Answered before the loop.
            PayloadFormat::Herald => Ok(None),
        }
        .map_err(|problem| format!("{} {}: {problem}", event.event_type, event.id))?;
        records.extend(record);
    }
    if records.is_empty() {
        let mut types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        types.dedup();
        return Err(format!(
            "{} skips {} (no mapping): nothing to send",
            match format {
                PayloadFormat::Xapi => "xAPI",
                _ => "Caliper",
            },
            types.join(", ")
        ));
    }
    let body = match format {
        PayloadFormat::Caliper(version) => caliper_out::envelope(settings, version, now, records),
        _ => Value::Array(records),
    };
    Ok(serde_json::to_vec(&body).expect("a JSON value serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standards::CaliperVersion;

    fn settings() -> StandardsSettings {
        StandardsSettings::parse("https://lms.example.edu", "https://lms.example.edu/xapi").unwrap()
    }

    fn event(event_type: &str, n: u128) -> OutgoingEvent {
        OutgoingEvent {
            id: Uuid::from_u128(n),
            event_type: event_type.into(),
            occurred_at: "2026-11-04T15:00:00Z".parse().unwrap(),
            payload: r#"{"user": {"id": 7, "email": "a@example.com"}, "course": {"id": "c1"}}"#
                .into(),
        }
    }

    fn build_as(format: PayloadFormat, content: &Content) -> Result<serde_json::Value, String> {
        let settings = settings();
        let shape = Shape {
            webhook_id: 3,
            format,
            standards: Some(&settings),
        };
        build(shape, Uuid::nil(), 1, content, Utc::now())
            .map(|bytes| serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn a_batch_is_one_array_of_statements_or_one_envelope_without_skipped_types() {
        let batch = Content::Batch(vec![
            event("course.completed", 1),
            event("user.created", 2),
            event("course.enrolled", 3),
        ]);
        let statements = build_as(PayloadFormat::Xapi, &batch).unwrap();
        assert_eq!(statements.as_array().unwrap().len(), 2);
        let envelope = build_as(PayloadFormat::Caliper(CaliperVersion::V1p1), &batch).unwrap();
        assert_eq!(envelope["data"].as_array().unwrap().len(), 2);
        assert_eq!(envelope["dataVersion"], CaliperVersion::V1p1.context());
    }

    #[test]
    fn nothing_to_send_says_which_types_were_skipped() {
        let problem = build_as(
            PayloadFormat::Xapi,
            &Content::Single(event("user.created", 1)),
        )
        .unwrap_err();
        assert!(problem.contains("user.created"), "{problem}");
    }

    #[test]
    fn herald_json_is_unchanged() {
        let content = Content::Single(event("user.created", 1));
        let shape = Shape {
            webhook_id: 3,
            format: PayloadFormat::Herald,
            standards: None,
        };
        assert_eq!(
            build(shape, Uuid::nil(), 2, &content, Utc::now()).unwrap(),
            payload::body(Uuid::nil(), 3, 2, &content)
        );
    }
}
