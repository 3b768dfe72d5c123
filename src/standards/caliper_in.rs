//! Caliper envelopes posted to `/caliper`: the envelope and each event checked against the
//! Caliper 1.1 / 1.2 rules for required properties, then mapped to catalog events (or the
//! generic `caliper.event`) with the Caliper event kept as it came. Entities sent alongside
//! events ("describes") are not events and are not stored.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::format::CaliperVersion;
use super::mapping;
use super::record::{self, Learner, Standard};

#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The Caliper event's id (a `urn:uuid:` IRI).
    pub id: String,
    pub event_type: &'static str,
    pub data: Value,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EnvelopeError {
    /// 400: not an envelope, or an event without what Caliper requires.
    Invalid(String),
    /// 422: a `dataVersion` Herald does not read.
    UnsupportedVersion(String),
}

/// The envelope's events, checked and mapped, and how many entities were left aside.
pub fn parse(envelope: &Value) -> Result<(CaliperVersion, Vec<Incoming>, usize), EnvelopeError> {
    let invalid = |m: &str| EnvelopeError::Invalid(m.to_owned());
    let Value::Object(members) = envelope else {
        return Err(invalid("the body must be a Caliper envelope object"));
    };
    for required in ["sensor", "sendTime", "dataVersion", "data"] {
        if !members.contains_key(required) {
            return Err(EnvelopeError::Invalid(format!(
                "the envelope needs \"{required}\""
            )));
        }
    }
    let Some(data_version) = members["dataVersion"].as_str() else {
        return Err(invalid(
            "\"dataVersion\" must be the Caliper context IRI, a string",
        ));
    };
    let version = CaliperVersion::of_context(data_version).ok_or_else(|| {
        EnvelopeError::UnsupportedVersion(format!(
            "unsupported dataVersion \"{}\": Herald reads {} and {}",
            data_version.chars().take(100).collect::<String>(),
            CaliperVersion::V1p1.context(),
            CaliperVersion::V1p2.context()
        ))
    })?;
    if members["sensor"].as_str().is_none_or(|s| s.is_empty()) {
        return Err(invalid("\"sensor\" must be the sensor's IRI"));
    }
    if members["sendTime"]
        .as_str()
        .is_none_or(|t| DateTime::parse_from_rfc3339(t).is_err())
    {
        return Err(invalid("\"sendTime\" must be an ISO 8601 date-time"));
    }
    let Value::Array(data) = &members["data"] else {
        return Err(invalid("\"data\" must be an array"));
    };
    let mut events: Vec<Incoming> = Vec::new();
    let mut entities = 0;
    for (index, item) in data.iter().enumerate() {
        if !item.is_object() {
            return Err(EnvelopeError::Invalid(format!(
                "data[{index}] must be an event or an entity (a JSON object)"
            )));
        }
        if item.get("action").is_none()
            && !item["type"].as_str().is_some_and(|t| t.ends_with("Event"))
        {
            entities += 1;
            continue;
        }
        let event = check(item)
            .map_err(|problem| EnvelopeError::Invalid(format!("data[{index}]: {problem}")))?;
        if events.iter().any(|e| e.id == event.id) {
            return Err(EnvelopeError::Invalid(format!(
                "data[{index}]: the event id {} appears twice in this envelope",
                event.id
            )));
        }
        events.push(event);
    }
    Ok((version, events, entities))
}

fn check(event: &Value) -> Result<Incoming, String> {
    let text = |key: &str| {
        event
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let raw_id = text("id").ok_or("an event needs an \"id\" (urn:uuid:…)")?;
    // One event, one key: the UUID in its canonical lower-case form.
    let id = raw_id
        .strip_prefix("urn:uuid:")
        .and_then(super::xapi_rules::statement_id)
        .map(|uuid| format!("urn:uuid:{}", uuid.hyphenated()))
        .ok_or_else(|| format!("\"id\" must be a urn:uuid: IRI, not \"{}\"", clip(raw_id)))?;
    let kind = text("type").ok_or("an event needs a \"type\"")?;
    let action = text("action").ok_or("an event needs an \"action\"")?;
    for required in ["actor", "object"] {
        match event.get(required) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(Value::Object(o)) if o.get("id").is_some_and(Value::is_string) => {}
            _ => return Err(format!("\"{required}\" must be an entity with an id")),
        }
    }
    let occurred_at = text("eventTime")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or("\"eventTime\" must be an ISO 8601 date-time")?
        .with_timezone(&Utc);
    let (event_type, data) = to_event(event, kind, action);
    Ok(Incoming {
        id,
        event_type,
        data,
        occurred_at,
    })
}

fn to_event(event: &Value, kind: &str, action: &str) -> (&'static str, Value) {
    let object = &event["object"];
    let object_type = object["type"].as_str().unwrap_or_default();
    let mut data = Map::new();
    let event_type = match (kind, action, object_type) {
        ("GradeEvent", "Graded", _) => {
            let learner = person(&object["assignee"]).or_else(|| person(&event["actor"]));
            insert_learner(&mut data, learner);
            let assignable = &object["assignable"];
            data.insert("quiz".into(), thing(assignable));
            if assignable["isPartOf"].is_object() {
                data.insert("course".into(), thing(&assignable["isPartOf"]));
            }
            let generated = &event["generated"];
            if let (Some(given), Some(max)) = (
                generated["scoreGiven"].as_f64(),
                generated["maxScore"].as_f64().filter(|m| *m > 0.0),
            ) {
                data.insert("score_percent".into(), json!(given / max * 100.0));
            }
            if let Some(count) = object["count"].as_i64() {
                data.insert("attempt".into(), count.into());
            }
            "quiz.attempt_completed"
        }
        ("AssignableEvent", "Completed", _) => {
            insert_learner(&mut data, person(&event["actor"]));
            if object["isPartOf"].is_object() {
                data.insert("lesson".into(), thing(object));
                data.insert("course".into(), thing(&object["isPartOf"]));
                "lesson.completed"
            } else {
                data.insert("course".into(), thing(object));
                "course.completed"
            }
        }
        ("Event", "Created" | "Deleted", "Membership") => {
            insert_learner(&mut data, person(&object["member"]));
            data.insert("course".into(), thing(&object["organization"]));
            if action == "Created" {
                "course.enrolled"
            } else {
                "course.unenrolled"
            }
        }
        _ => {
            insert_learner(&mut data, person(&event["actor"]));
            mapping::CALIPER_EVENT
        }
    };
    // A catalog type always names its learner; otherwise the event stays generic.
    let event_type = if data.contains_key("user") {
        event_type
    } else {
        mapping::CALIPER_EVENT
    };
    record::keep_original(&mut data, Standard::Caliper, event);
    (event_type, Value::Object(data))
}

fn insert_learner(data: &mut Map<String, Value>, learner: Option<Learner>) {
    if let Some(learner) = learner {
        data.insert("user".into(), learner.to_value());
    }
}

/// A Person entity (or its IRI alone) as a learner.
fn person(entity: &Value) -> Option<Learner> {
    let id = entity
        .as_str()
        .or_else(|| entity["id"].as_str())
        .filter(|id| !id.is_empty())?;
    Some(Learner {
        id: Some(id.to_owned()),
        name: entity["name"].as_str().map(str::to_owned),
        ..Learner::default()
    })
}

fn thing(entity: &Value) -> Value {
    let id = entity
        .as_str()
        .or_else(|| entity["id"].as_str())
        .unwrap_or_default();
    match entity["name"].as_str() {
        Some(name) => json!({"id": id, "title": name}),
        None => json!({"id": id}),
    }
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(data_version: &str, data: Value) -> Value {
        json!({"sensor": "https://canvas.example.edu/sensors/1", "sendTime": "2026-11-04T15:50:00.000Z",
               "dataVersion": data_version, "data": data})
    }

    fn graded() -> Value {
        json!({
            "@context": "http://purl.imsglobal.org/ctx/caliper/v1p1",
            "id": "urn:uuid:a50ca17f-5971-47bb-8fca-4e6e6879001d",
            "type": "GradeEvent", "action": "Graded",
            "actor": {"id": "https://canvas.example.edu/autograder", "type": "SoftwareApplication"},
            "object": {"id": "https://canvas.example.edu/attempts/1", "type": "Attempt", "count": 1,
                       "assignee": {"id": "https://canvas.example.edu/users/554433", "type": "Person"},
                       "assignable": {"id": "https://canvas.example.edu/quizzes/9", "type": "Assessment", "name": "Quiz 9"}},
            "generated": {"id": "https://canvas.example.edu/attempts/1/score", "type": "Score", "maxScore": 15.0, "scoreGiven": 12.0},
            "eventTime": "2026-11-04T15:45:00.000Z"
        })
    }

    #[test]
    fn a_grade_event_becomes_a_quiz_attempt_with_a_percentage() {
        let (version, events, entities) = parse(&envelope(
            CaliperVersion::V1p1.context(),
            json!([graded(), {"id": "https://x.example/p", "type": "Person"}]),
        ))
        .unwrap();
        assert_eq!(version, CaliperVersion::V1p1);
        assert_eq!(entities, 1);
        let event = &events[0];
        assert_eq!(event.event_type, "quiz.attempt_completed");
        assert_eq!(
            event.data["user"]["id"],
            "https://canvas.example.edu/users/554433"
        );
        assert_eq!(event.data["score_percent"], 80.0);
        assert_eq!(event.data["learning_record"]["standard"], "caliper");
    }

    #[test]
    fn an_unknown_data_version_is_unsupported_and_a_bad_event_invalid() {
        assert!(matches!(
            parse(&envelope(
                "http://purl.imsglobal.org/ctx/caliper/v2p0",
                json!([])
            )),
            Err(EnvelopeError::UnsupportedVersion(_))
        ));
        let mut bad = graded();
        bad.as_object_mut().unwrap().remove("eventTime");
        match parse(&envelope(CaliperVersion::V1p2.context(), json!([bad]))) {
            Err(EnvelopeError::Invalid(problem)) => {
                assert!(problem.contains("data[0]: \"eventTime\""), "{problem}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&json!({"data": []})),
            Err(EnvelopeError::Invalid(_))
        ));
    }
}
