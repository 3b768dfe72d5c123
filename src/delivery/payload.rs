//! The JSON body a receiver gets. One event: `{ "id", "time_created", "event", "attempt",
//! "webhook_id", "body" }` (Totara's fields; `id` is the delivery's stable id, `time_created`
//! when the event occurred). A batch: `{ "webhook_id", "attempt", "events": [ … ] }`.
//! Event payloads are spliced in as stored JSON text, never re-parsed on the hot path.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// One event as it goes out.
#[derive(Debug, Clone)]
pub struct OutgoingEvent {
    pub id: Uuid,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// The payload as JSON text.
    pub payload: String,
}

#[derive(Debug, Clone)]
pub enum Content {
    Single(OutgoingEvent),
    Batch(Vec<OutgoingEvent>),
}

/// The exact bytes sent (and signed) for `attempt` of a delivery.
pub fn body(delivery_id: Uuid, webhook_id: i64, attempt: i32, content: &Content) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + payload_len(content));
    match content {
        Content::Single(event) => {
            out.extend_from_slice(b"{\"id\":\"");
            out.extend_from_slice(delivery_id.hyphenated().to_string().as_bytes());
            out.extend_from_slice(b"\",\"time_created\":\"");
            out.extend_from_slice(timestamp(event.occurred_at).as_bytes());
            out.extend_from_slice(b"\",\"event\":");
            push_string(&mut out, &event.event_type);
            out.extend_from_slice(
                format!(",\"attempt\":{attempt},\"webhook_id\":{webhook_id},\"body\":").as_bytes(),
            );
            out.extend_from_slice(event.payload.as_bytes());
            out.push(b'}');
        }
        Content::Batch(events) => {
            out.extend_from_slice(
                format!("{{\"webhook_id\":{webhook_id},\"attempt\":{attempt},\"events\":[")
                    .as_bytes(),
            );
            for (index, event) in events.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"id\":\"");
                out.extend_from_slice(event.id.hyphenated().to_string().as_bytes());
                out.extend_from_slice(b"\",\"time_created\":\"");
                out.extend_from_slice(timestamp(event.occurred_at).as_bytes());
                out.extend_from_slice(b"\",\"event\":");
                push_string(&mut out, &event.event_type);
                out.extend_from_slice(b",\"body\":");
                out.extend_from_slice(event.payload.as_bytes());
                out.push(b'}');
            }
            out.extend_from_slice(b"]}");
        }
    }
    out
}

/// RFC 3339 in UTC with milliseconds: `2026-11-22T10:00:00.000Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn push_string(out: &mut Vec<u8>, value: &str) {
    serde_json::to_writer(out, value).expect("writing a string to a Vec cannot fail");
}

fn payload_len(content: &Content) -> usize {
    match content {
        Content::Single(event) => event.payload.len(),
        Content::Batch(events) => events.iter().map(|e| e.payload.len() + 128).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> OutgoingEvent {
        OutgoingEvent {
            id: Uuid::nil(),
            event_type: "course.completed".into(),
            occurred_at: "2026-11-22T10:00:00Z".parse().unwrap(),
            payload: r#"{"user": {"id": 7, "name": "Zoë \"Z\""}}"#.into(),
        }
    }

    #[test]
    fn a_single_event_body_carries_totaras_fields() {
        let id = Uuid::now_v7();
        let bytes = body(id, 12, 3, &Content::Single(event()));
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["id"], id.to_string());
        assert_eq!(json["time_created"], "2026-11-22T10:00:00.000Z");
        assert_eq!(json["event"], "course.completed");
        assert_eq!(json["attempt"], 3);
        assert_eq!(json["webhook_id"], 12);
        assert_eq!(json["body"]["user"]["name"], "Zoë \"Z\"");
        assert_eq!(json.as_object().unwrap().len(), 6);
    }

    #[test]
    fn a_batch_lists_its_events() {
        let bytes = body(Uuid::nil(), 4, 1, &Content::Batch(vec![event(), event()]));
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["webhook_id"], 4);
        assert_eq!(json["attempt"], 1);
        assert_eq!(json["events"].as_array().unwrap().len(), 2);
        assert_eq!(json["events"][1]["body"]["user"]["id"], 7);
        assert_eq!(
            json["events"][0]["time_created"],
            "2026-11-22T10:00:00.000Z"
        );
    }
}
