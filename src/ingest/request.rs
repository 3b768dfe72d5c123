//! What `POST /api/v1/events` accepts: one event object or an array of up to 500, each
//! `{ "type", "data", "occurred_at"?, "idempotency_key"? }`. Unknown fields are refused.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::event_data::EventData;

pub const MAX_BODY_BYTES: usize = 256 * 1024;
pub const MAX_EVENTS_PER_CALL: usize = 500;
const MAX_KEY_CHARS: usize = 200;
const MAX_TYPE_CHARS: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventInput {
    #[serde(rename = "type")]
    event_type: String,
    /// Kept as the text sent (see `event_data`).
    data: Box<RawValue>,
    #[serde(default)]
    occurred_at: Option<DateTime<Utc>>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// One event, checked: a non-empty type, a JSON payload, when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub event_type: String,
    pub data: EventData,
    pub occurred_at: DateTime<Utc>,
    pub idempotency_key: Option<String>,
}

/// Whether the caller sent one object or an array (the answer mirrors it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    One,
    Many,
}

#[derive(Debug, PartialEq)]
pub enum RequestError {
    /// Not JSON at all: 400 with the parser's message and position.
    Malformed {
        message: String,
        line: usize,
        column: usize,
    },
    /// JSON of the wrong shape: 422, messages by field (`events[3].type`).
    Invalid(BTreeMap<String, Vec<String>>),
}

/// Parses a request body; `now` fills in a missing `occurred_at`. Each event's `data` is
/// kept as its text: the body is read into a tree only where it holds a problem to name.
pub fn parse(body: &[u8], now: DateTime<Utc>) -> Result<(Shape, Vec<EventSpec>), RequestError> {
    // Syntax first, over the whole body, for the position of a mistake.
    let whole: &RawValue = serde_json::from_slice(body).map_err(|err| RequestError::Malformed {
        message: err.to_string(),
        line: err.line(),
        column: err.column(),
    })?;
    let mut errors = BTreeMap::<String, Vec<String>>::new();
    let (shape, items): (Shape, Vec<&RawValue>) = match whole.get().as_bytes().first() {
        Some(b'[') => {
            let items: Vec<&RawValue> =
                serde_json::from_str(whole.get()).map_err(|err| RequestError::Malformed {
                    message: err.to_string(),
                    line: err.line(),
                    column: err.column(),
                })?;
            if items.is_empty() {
                errors
                    .entry("events".into())
                    .or_default()
                    .push("Send at least one event.".into());
            }
            if items.len() > MAX_EVENTS_PER_CALL {
                errors.entry("events".into()).or_default().push(format!(
                    "Send at most {MAX_EVENTS_PER_CALL} events per call (got {}).",
                    items.len()
                ));
                return Err(RequestError::Invalid(errors));
            }
            (Shape::Many, items)
        }
        Some(b'{') => (Shape::One, vec![whole]),
        _ => {
            errors
                .entry("body".into())
                .or_default()
                .push("Send an event object, or an array of event objects.".into());
            return Err(RequestError::Invalid(errors));
        }
    };
    let mut events = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let field = |name: &str| match shape {
            Shape::One => name.to_owned(),
            Shape::Many => format!("events[{index}].{name}"),
        };
        match serde_json::from_str::<EventInput>(item.get()) {
            Err(err) => errors
                .entry(match shape {
                    Shape::One => "body".to_owned(),
                    Shape::Many => format!("events[{index}]"),
                })
                .or_default()
                .push(shape_message(&err)),
            Ok(input) => {
                let before = errors.len();
                let event_type = input.event_type.trim().to_owned();
                if event_type.is_empty()
                    || event_type.chars().count() > MAX_TYPE_CHARS
                    || event_type.chars().any(char::is_control)
                {
                    errors.entry(field("type")).or_default().push(format!(
                        "Give the event type, at most {MAX_TYPE_CHARS} characters, without control characters."
                    ));
                }
                let data = EventData::from_raw(input.data);
                for (path, message) in data_problems(&data, field("data")) {
                    errors.entry(path).or_default().push(message);
                }
                if data.is_null() {
                    errors
                        .entry(field("data"))
                        .or_default()
                        .push("Give the event's data as a JSON object.".into());
                }
                if let Some(key) = &input.idempotency_key
                    && (key.is_empty()
                        || key.chars().count() > MAX_KEY_CHARS
                        || key.chars().any(char::is_control))
                {
                    errors
                        .entry(field("idempotency_key"))
                        .or_default()
                        .push(format!(
                            "Use 1 to {MAX_KEY_CHARS} characters, without control characters."
                        ));
                }
                if errors.len() == before {
                    events.push(EventSpec {
                        event_type,
                        data,
                        occurred_at: input.occurred_at.unwrap_or(now),
                        idempotency_key: input.idempotency_key,
                    });
                }
            }
        }
    }
    if errors.is_empty() {
        Ok((shape, events))
    } else {
        Err(RequestError::Invalid(errors))
    }
}

/// The positions of the events named in `errors` (keys `events[N]…`), for a batch's answer.
pub fn refused_positions(errors: &BTreeMap<String, Vec<String>>) -> Vec<usize> {
    let mut positions: Vec<usize> = errors
        .keys()
        .filter_map(|key| key.strip_prefix("events["))
        .filter_map(|rest| rest.split(']').next()?.parse().ok())
        .collect();
    positions.sort_unstable();
    positions.dedup();
    positions
}

/// What cannot be stored in `data`, by path; the tree is built only when there is something.
fn data_problems(data: &EventData, at: String) -> Vec<(String, String)> {
    if data.holds_only_storable() {
        return Vec::new();
    }
    match data.to_value() {
        Ok(value) => super::storable::problems(&value, at)
            .into_iter()
            .map(|(path, message)| (path, message.to_owned()))
            .collect(),
        // Valid JSON that does not read into a value: named at `data` as a whole.
        Err(err) => vec![(at, unreadable_message(&err))],
    }
}

/// Why the text of `data` does not read into a value (the reader stops at the first reason).
fn unreadable_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let reason = text.split(" at line ").next().unwrap_or(&text);
    if reason.starts_with("recursion limit") {
        super::storable::DEPTH_MESSAGE.to_owned()
    } else if reason.starts_with("number out of range") {
        super::storable::NUMBER_MESSAGE.to_owned()
    } else {
        // What else valid JSON can hold that no string can: a \u escape of half a surrogate
        // pair (serde_json says "unexpected end of hex escape" and the like).
        format!(
            "Holds a \\u escape that is not a character (half of a surrogate pair, such as \\ud800): remove it ({reason})."
        )
    }
}

/// serde's message without the position (which is meaningless inside a parsed value).
fn shape_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let text = text
        .split(" at line ")
        .next()
        .unwrap_or(&text)
        .replace("premature end of input", "incomplete event");
    format!("{text} (an event is {{\"type\", \"data\", \"occurred_at\"?, \"idempotency_key\"?}})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-22T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn one_event_defaults_occurred_at_to_now() {
        let (shape, events) = parse(
            br#"{"type":"course.completed","data":{"user_id":7}}"#,
            now(),
        )
        .unwrap();
        assert_eq!(shape, Shape::One);
        assert_eq!(events[0].event_type, "course.completed");
        assert_eq!(events[0].occurred_at, now());
        assert_eq!(events[0].data.to_value().unwrap()["user_id"], 7);
    }

    #[test]
    fn occurred_at_is_kept_as_sent() {
        let (_, events) = parse(
            br#"[{"type":"a.b","data":{},"occurred_at":"2026-01-02T03:04:05.123+02:00","idempotency_key":"k1"}]"#,
            now(),
        )
        .unwrap();
        assert_eq!(
            events[0].occurred_at,
            "2026-01-02T01:04:05.123Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(events[0].idempotency_key.as_deref(), Some("k1"));
    }

    #[test]
    fn malformed_json_reports_where() {
        let err = parse(b"{\"type\": \"a\",\n \"data\": {,}}", now()).unwrap_err();
        match err {
            RequestError::Malformed { line, column, .. } => {
                assert_eq!((line, column), (2, 11));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_shapes_are_named_by_position() {
        let err = parse(
            br#"[{"type":"a","data":{}},{"data":{}},{"type":"b","data":{},"colour":"red"},{"type":" ","data":null}]"#,
            now(),
        )
        .unwrap_err();
        let RequestError::Invalid(errors) = err else {
            panic!()
        };
        assert!(
            errors["events[1]"][0].contains("missing field `type`"),
            "{errors:?}"
        );
        assert!(
            errors["events[2]"][0].contains("unknown field `colour`"),
            "{errors:?}"
        );
        assert!(errors.contains_key("events[3].type"));
        assert!(errors.contains_key("events[3].data"));
        assert!(!errors.keys().any(|k| k.starts_with("events[0]")));
    }

    #[test]
    fn nul_is_named_by_its_json_path_keys_too() {
        let body = serde_json::json!([
            { "type": "course.completed", "data": { "user": { "id": 1 } } },
            { "type": "course.completed", "data": { "user": { "name": "a\u{0}b" }, "tags": ["x", "\u{0}"] } },
            { "type": "course.completed", "data": { "odd\u{0}key": 1, "nested": { "a b": "\u{0}" } } },
            { "type": "course.\u{0}completed", "data": {} },
        ]);
        let RequestError::Invalid(errors) = parse(body.to_string().as_bytes(), now()).unwrap_err()
        else {
            panic!()
        };
        let keys: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "events[1].data.tags[1]",
                "events[1].data.user.name",
                "events[2].data.nested[\"a b\"]",
                "events[2].data[\"odd\\u0000key\"]",
                "events[3].type",
            ]
        );
        assert_eq!(refused_positions(&errors), [1, 2, 3]);
        let one = parse(br#"{"type":"a.b","data":{"x":"\u0000"}}"#, now()).unwrap_err();
        assert!(matches!(one, RequestError::Invalid(e) if e.contains_key("data.x")));
    }

    #[test]
    fn out_of_range_numbers_and_deep_nesting_are_named_without_refusing_the_body() {
        // 1e400 is valid JSON, but not a double: it is named like any number beyond ±1e300.
        let RequestError::Invalid(errors) =
            parse(br#"{"type":"a.b","data":{"ok":1,"n":1e400}}"#, now()).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["data"]);
        assert!(errors["data"][0].contains("1e300"), "{errors:?}");
        let deep = format!("{}1{}", "[".repeat(70), "]".repeat(70));
        let body = format!(r#"[{{"type":"a.b","data":{{"d":{deep}}}}}]"#);
        let RequestError::Invalid(errors) = parse(body.as_bytes(), now()).unwrap_err() else {
            panic!()
        };
        let (path, messages) = errors.iter().next().unwrap();
        assert!(path.starts_with("events[0].data.d["), "{errors:?}");
        assert!(messages[0].contains("64 levels"), "{errors:?}");
        // Past serde_json's own limit the tree cannot be built: named at `data`, still why.
        let deeper = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let body = format!(r#"{{"type":"a.b","data":{deeper}}}"#);
        let RequestError::Invalid(errors) = parse(body.as_bytes(), now()).unwrap_err() else {
            panic!()
        };
        assert!(errors["data"][0].contains("64 levels"), "{errors:?}");
        // An escaped lone surrogate is no character: named at `data`, with the reader's reason.
        let RequestError::Invalid(errors) =
            parse(br#"{"type":"a.b","data":{"k":"\ud800"}}"#, now()).unwrap_err()
        else {
            panic!()
        };
        assert!(errors["data"][0].contains("surrogate"), "{errors:?}");
    }

    #[test]
    fn whitespace_around_the_body_does_not_change_its_shape() {
        let (shape, events) = parse(b" \n [ {\"type\":\"a.b\",\"data\":{}} ] \n", now()).unwrap();
        assert_eq!((shape, events.len()), (Shape::Many, 1));
        let (shape, _) = parse(b"\t{\"type\":\"a.b\",\"data\":{}}\r\n", now()).unwrap();
        assert_eq!(shape, Shape::One);
        assert!(matches!(
            parse(b"  null ", now()),
            Err(RequestError::Invalid(_))
        ));
        assert!(matches!(
            parse(b"", now()),
            Err(RequestError::Malformed { .. })
        ));
    }

    #[test]
    fn data_is_kept_as_the_text_sent() {
        let (_, events) = parse(
            br#"[{"type":"a.b","data":{ "z": 1, "a": [1.50, "x"] }}]"#,
            now(),
        )
        .unwrap();
        assert_eq!(events[0].data.text(), r#"{ "z": 1, "a": [1.50, "x"] }"#);
    }

    #[test]
    fn other_control_characters_in_data_are_kept() {
        let (_, events) =
            parse(br#"{"type":"a.b","data":{"text":"line\none\ttab"}}"#, now()).unwrap();
        assert_eq!(events[0].data.to_value().unwrap()["text"], "line\none\ttab");
    }

    #[test]
    fn arrays_hold_one_to_five_hundred_events() {
        assert!(matches!(parse(b"[]", now()), Err(RequestError::Invalid(_))));
        let many = format!("[{}]", vec![r#"{"type":"a","data":{}}"#; 501].join(","));
        let RequestError::Invalid(errors) = parse(many.as_bytes(), now()).unwrap_err() else {
            panic!()
        };
        assert!(errors["events"][0].contains("at most 500"));
        let fine = format!("[{}]", vec![r#"{"type":"a","data":{}}"#; 500].join(","));
        assert_eq!(parse(fine.as_bytes(), now()).unwrap().1.len(), 500);
        assert!(matches!(parse(b"42", now()), Err(RequestError::Invalid(_))));
    }
}
