//! The "Send test event" form, parsed: an event type from the catalog and its `data` as a JSON
//! object. Problems are reported per field, in plain words.

use serde_json::Value;

use crate::delivery::ping::{PING_EVENT, TestEvent};

/// The largest test payload accepted (as typed).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TestEventErrors {
    pub event_type: Option<String>,
    pub payload: Option<String>,
}

impl TestEventErrors {
    pub fn is_empty(&self) -> bool {
        self.event_type.is_none() && self.payload.is_none()
    }
}

/// `event_type` must be one of `known_types`; `payload` is the event's `data` (blank means the
/// default ping data for `webhook.ping`, or `{}`).
pub fn parse(
    event_type: &str,
    payload: &str,
    known_types: &[String],
    default_ping: impl FnOnce() -> TestEvent,
) -> Result<TestEvent, TestEventErrors> {
    let mut errors = TestEventErrors::default();
    let event_type = event_type.trim();
    let event_type = if event_type.is_empty() {
        PING_EVENT
    } else {
        event_type
    };
    if !known_types.iter().any(|known| known == event_type) {
        errors.event_type = Some(format!(
            "Choose an event type from the catalog; “{}” is not one.",
            event_type.chars().take(80).collect::<String>()
        ));
    }
    let data = if payload.trim().is_empty() {
        None
    } else if payload.len() > MAX_PAYLOAD_BYTES {
        errors.payload = Some(format!(
            "The payload is {} KB; a test payload may be at most {} KB.",
            payload.len().div_ceil(1024),
            MAX_PAYLOAD_BYTES / 1024
        ));
        None
    } else {
        match serde_json::from_str::<Value>(payload) {
            Ok(Value::Object(members)) => Some(Value::Object(members)),
            Ok(_) => {
                errors.payload = Some(
                    "The payload must be a JSON object, such as {\"user\": {\"id\": 42}}.".into(),
                );
                None
            }
            Err(err) => {
                errors.payload = Some(format!(
                    "The payload is not valid JSON: {} (line {}, column {}).",
                    plain_json_error(&err),
                    err.line(),
                    err.column()
                ));
                None
            }
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(match data {
        Some(data) => TestEvent {
            event_type: event_type.to_owned(),
            data,
        },
        None if event_type == PING_EVENT => default_ping(),
        None => TestEvent {
            event_type: event_type.to_owned(),
            data: Value::Object(Default::default()),
        },
    })
}

/// The test a webhook in a learning-record format gets when no type is named (the ping has no
/// mapping): the first type it receives and carries, as (type, the catalog's example).
pub fn default_for_format(
    webhook: &crate::model::webhook::Webhook,
    subscribed: &[String],
    catalog: &[crate::model::event_type::EventType],
) -> Option<(String, String)> {
    let format = webhook.payload_format();
    if !format.is_standard() {
        return None;
    }
    catalog
        .iter()
        .find(|t| {
            (webhook.all_events || subscribed.contains(&t.name))
                && crate::standards::mapping::carries(format, &t.name)
        })
        .map(|t| (t.name.clone(), t.example_pretty()))
}

/// Refuses, beside the type, a test of a type the webhook's payload format skips.
pub fn carried_by(
    format: crate::standards::PayloadFormat,
    test: TestEvent,
) -> Result<TestEvent, TestEventErrors> {
    if crate::standards::mapping::carries(format, &test.event_type) {
        return Ok(test);
    }
    Err(TestEventErrors {
        event_type: Some(format!(
            "{} has no mapping for {}: choose a type it carries (the event catalog shows each type's mapping).",
            format.label(),
            test.event_type
        )),
        payload: None,
    })
}

/// serde_json's message without its own " at line … column …" suffix.
fn plain_json_error(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        vec!["webhook.ping".into(), "course.completed".into()]
    }

    fn ping() -> TestEvent {
        TestEvent::ping(1, "ada")
    }

    #[test]
    fn a_chosen_type_and_object_payload_are_sent_as_typed() {
        let test = parse(
            "course.completed",
            "{\"course\": {\"id\": 7}}",
            &known(),
            ping,
        )
        .unwrap();
        assert_eq!(test.event_type, "course.completed");
        assert_eq!(test.data["course"]["id"], 7);
    }

    #[test]
    fn blank_means_the_default_ping_or_an_empty_object() {
        let test = parse("", "  ", &known(), ping).unwrap();
        assert_eq!(test.event_type, "webhook.ping");
        assert!(test.data["message"].as_str().unwrap().contains("ada"));
        let test = parse("course.completed", "", &known(), ping).unwrap();
        assert_eq!(test.data, serde_json::json!({}));
    }

    #[test]
    fn problems_are_named_per_field_in_plain_words() {
        let errors = parse("course.nope", "{\"a\": }", &known(), ping).unwrap_err();
        assert!(
            errors
                .event_type
                .unwrap()
                .contains("“course.nope” is not one")
        );
        let payload = errors.payload.unwrap();
        assert!(
            payload.starts_with("The payload is not valid JSON: expected value (line 1, column 7)"),
            "{payload}"
        );
        let errors = parse("webhook.ping", "[1, 2]", &known(), ping).unwrap_err();
        assert!(errors.payload.unwrap().contains("must be a JSON object"));
        let huge = format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_PAYLOAD_BYTES));
        let errors = parse("webhook.ping", &huge, &known(), ping).unwrap_err();
        assert!(errors.payload.unwrap().contains("at most 64 KB"));
    }
}
