//! The webhook page's "Body preview": the exact body this webhook's receiver would get for
//! one of its event types (the catalog's example), in its payload format, and which of its
//! subscribed types the format skips.

use chrono::Utc;
use uuid::Uuid;

use crate::delivery::body::{self, Shape};
use crate::delivery::payload::{Content, OutgoingEvent};
use crate::model::event_type::EventType;
use crate::model::webhook::Webhook;
use crate::standards::mapping;

pub struct BodyPreview {
    /// The type the preview shows.
    pub event_type: Option<String>,
    /// Pretty JSON, or why nothing would be sent.
    pub body: String,
    /// Subscribed types (or, with all events, catalog types) this format skips.
    pub skipped: Vec<String>,
}

pub fn of(webhook: &Webhook, subscribed: &[String], catalog: &[EventType]) -> BodyPreview {
    let format = webhook.payload_format();
    let wanted: Vec<&EventType> = catalog
        .iter()
        .filter(|t| webhook.all_events || subscribed.contains(&t.name))
        .collect();
    let skipped = wanted
        .iter()
        .filter(|t| !mapping::carries(format, &t.name))
        .map(|t| t.name.clone())
        .collect();
    // The first type that is sent, in the mapping table's order (enrolment, completions,
    // quizzes…), then by name; the test ping last.
    let shown = wanted
        .iter()
        .filter(|t| mapping::carries(format, &t.name))
        .min_by_key(|t| {
            (
                t.name == crate::delivery::ping::PING_EVENT,
                mapping::TABLE
                    .iter()
                    .position(|m| m.event_type == t.name)
                    .unwrap_or(usize::MAX),
                t.name.clone(),
            )
        });
    let Some(shown) = shown else {
        return BodyPreview {
            event_type: None,
            body: String::new(),
            skipped,
        };
    };
    let event = OutgoingEvent {
        id: Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001),
        event_type: shown.name.clone(),
        occurred_at: Utc::now(),
        payload: shown.example_payload.to_string(),
    };
    let content = if webhook.dispatch_mode == "batched" {
        Content::Batch(vec![event])
    } else {
        Content::Single(event)
    };
    let standards = webhook.standards_settings();
    let shape = Shape {
        webhook_id: webhook.id,
        format,
        standards: standards.as_ref(),
    };
    let body = match body::build(shape, Uuid::nil(), 1, &content, Utc::now()) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_default(),
        Err(problem) => format!("(nothing would be sent: {problem})"),
    };
    BodyPreview {
        event_type: Some(shown.name.clone()),
        body,
        skipped,
    }
}
