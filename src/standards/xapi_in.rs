//! Statements posted to Herald as if it were an LRS: checked against the xAPI 1.0.3 data
//! rules an LRS must enforce, then turned into catalog events (a recognised verb) or the
//! generic `xapi.statement`, with the statement kept as it came.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::mapping::{self, Activity};
use super::record::{self, Learner, Standard};
use super::xapi_rules;

/// A statement, checked and mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub id: Uuid,
    pub event_type: &'static str,
    pub data: Value,
    pub occurred_at: Option<DateTime<Utc>>,
    /// The statement as stored (with its id filled in).
    pub statement: Value,
}

pub use super::xapi_rules::statement_id;

/// The statements of a body: one object or an array.
pub fn statements_of(body: &Value) -> Result<Vec<Value>, String> {
    match body {
        Value::Object(_) => Ok(vec![body.clone()]),
        Value::Array(items) => Ok(items.clone()),
        _ => Err("the body must be a statement object or an array of statements".into()),
    }
}

/// Checks one statement (`xapi_rules`) and maps it; `Err` says what is wrong.
pub fn check(statement: Value) -> Result<Incoming, String> {
    let Value::Object(mut members) = statement else {
        return Err("a statement must be a JSON object".into());
    };
    let checked = xapi_rules::statement(&members)?;
    let id = match members.get("id").and_then(Value::as_str) {
        Some(raw) => statement_id(raw).ok_or("\"id\" must be a UUID")?,
        None => Uuid::now_v7(),
    };
    // Stored as the canonical lower-case form, whatever case it came in.
    members.insert("id".into(), id.hyphenated().to_string().into());
    let occurred_at = members
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let statement = Value::Object(members);
    let (event_type, data) = to_event(
        &statement,
        &checked.verb_id,
        checked.activity_type.as_deref(),
    );
    Ok(Incoming {
        id,
        event_type,
        data,
        occurred_at,
        statement,
    })
}

/// The catalog type and payload of a checked statement.
fn to_event(statement: &Value, verb: &str, activity_type: Option<&str>) -> (&'static str, Value) {
    let is = |kind: &Activity| activity_type == Some(kind.xapi_type);
    let mapped: Option<(&'static str, &'static Activity)> = match verb {
        v if v == mapping::REGISTERED.id && (is(&mapping::COURSE) || activity_type.is_none()) => {
            Some(("course.enrolled", &mapping::COURSE))
        }
        v if v == mapping::UNREGISTERED.id && (is(&mapping::COURSE) || activity_type.is_none()) => {
            Some(("course.unenrolled", &mapping::COURSE))
        }
        v if v == mapping::COMPLETED.id && is(&mapping::COURSE) => {
            Some(("course.completed", &mapping::COURSE))
        }
        v if v == mapping::COMPLETED.id && is(&mapping::LESSON) => {
            Some(("lesson.completed", &mapping::LESSON))
        }
        v if [mapping::PASSED.id, mapping::FAILED.id, mapping::SCORED.id].contains(&v)
            && is(&mapping::QUIZ) =>
        {
            Some(("quiz.attempt_completed", &mapping::QUIZ))
        }
        v if v == mapping::EARNED.id && is(&mapping::BADGE) => {
            Some(("badge.awarded", &mapping::BADGE))
        }
        v if v == mapping::EARNED.id && is(&mapping::CERTIFICATE) => {
            Some(("certificate.awarded", &mapping::CERTIFICATE))
        }
        _ => None,
    };
    let mut data = Map::new();
    let learner = learner_of(&statement["actor"]);
    if let Some(learner) = &learner {
        data.insert("user".into(), learner.to_value());
    }
    // A catalog type always names its learner; a statement by a Group stays generic.
    let mapped = mapped.filter(|_| learner.is_some());
    let event_type = match mapped {
        Some((event_type, kind)) => {
            data.insert(kind.key.into(), thing_of(&statement["object"]));
            if let Some(parent) = statement
                .pointer("/context/contextActivities/parent/0")
                .filter(|_| kind.key != "course")
            {
                data.insert("course".into(), thing_of(parent));
            }
            if let Some(scaled) = statement
                .pointer("/result/score/scaled")
                .and_then(Value::as_f64)
            {
                data.insert("score_percent".into(), json!(scaled * 100.0));
            }
            let success = statement
                .pointer("/result/success")
                .and_then(Value::as_bool);
            let passed = match verb {
                v if v == mapping::PASSED.id => Some(true),
                v if v == mapping::FAILED.id => Some(false),
                _ => success,
            };
            if let Some(passed) = passed.filter(|_| event_type == "quiz.attempt_completed") {
                data.insert("passed".into(), passed.into());
            }
            event_type
        }
        None => mapping::XAPI_STATEMENT,
    };
    record::keep_original(&mut data, Standard::Xapi, statement);
    (event_type, Value::Object(data))
}

/// The learner named by an Agent: its email, account or other identifier.
fn learner_of(actor: &Value) -> Option<Learner> {
    let mut learner = Learner {
        name: actor["name"].as_str().map(str::to_owned),
        ..Learner::default()
    };
    if let Some(mbox) = actor["mbox"].as_str() {
        learner.email = mbox.strip_prefix("mailto:").map(str::to_owned);
    } else if let Some(name) = actor.pointer("/account/name").and_then(Value::as_str) {
        learner.id = Some(name.to_owned());
        learner.home_page = actor
            .pointer("/account/homePage")
            .and_then(Value::as_str)
            .map(str::to_owned);
    } else if let Some(other) = actor["openid"].as_str().or(actor["mbox_sha1sum"].as_str()) {
        learner.id = Some(other.to_owned());
    }
    (learner.email.is_some() || learner.id.is_some()).then_some(learner)
}

/// An Activity as a catalog thing: its IRI as id, its name (any language) as title.
fn thing_of(activity: &Value) -> Value {
    let mut thing = json!({"id": activity["id"].as_str().unwrap_or_default()});
    if let Some(name) = activity
        .pointer("/definition/name")
        .and_then(Value::as_object)
        .and_then(|names| names.get("en-US").or_else(|| names.values().next()))
        .and_then(Value::as_str)
    {
        thing["title"] = name.into();
    }
    thing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moodle_completion() -> Value {
        json!({
            "actor": {"objectType": "Agent", "name": "Amara Okafor", "account": {"homePage": "https://moodle.example.edu", "name": "42"}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en": "completed"}},
            "object": {"id": "https://moodle.example.edu/course/view.php?id=7", "objectType": "Activity",
                       "definition": {"type": "http://adlnet.gov/expapi/activities/course", "name": {"en": "Privacy"}}},
            "timestamp": "2026-11-04T15:47:30+00:00"
        })
    }

    #[test]
    fn a_course_completion_becomes_course_completed_with_the_statement_kept() {
        let incoming = check(moodle_completion()).unwrap();
        assert_eq!(incoming.event_type, "course.completed");
        assert_eq!(incoming.data["user"]["id"], "42");
        assert_eq!(
            incoming.data["user"]["account_home_page"],
            "https://moodle.example.edu"
        );
        assert_eq!(incoming.data["course"]["title"], "Privacy");
        assert_eq!(
            incoming.data["learning_record"]["record"]["id"],
            incoming.id.to_string()
        );
        assert_eq!(
            incoming.occurred_at.unwrap().to_rfc3339(),
            "2026-11-04T15:47:30+00:00"
        );
    }

    #[test]
    fn a_passed_assessment_is_a_quiz_attempt_with_its_score() {
        let mut s = moodle_completion();
        s["verb"]["id"] = "http://adlnet.gov/expapi/verbs/passed".into();
        s["object"]["definition"]["type"] = "http://adlnet.gov/expapi/activities/assessment".into();
        s["result"] = json!({"score": {"scaled": 0.8}, "success": true});
        let incoming = check(s).unwrap();
        assert_eq!(incoming.event_type, "quiz.attempt_completed");
        assert_eq!(incoming.data["score_percent"], 80.0);
        assert_eq!(incoming.data["passed"], true);
    }

    #[test]
    fn other_verbs_become_generic_statements() {
        let mut s = moodle_completion();
        s["verb"]["id"] = "http://adlnet.gov/expapi/verbs/experienced".into();
        assert_eq!(check(s).unwrap().event_type, "xapi.statement");
    }

    #[test]
    fn invalid_statements_are_refused_with_a_reason() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), "JSON object"),
            (
                json!({"verb": {"id": "http://x.example/v"}, "object": {"id": "http://x.example/o"}}),
                "actor",
            ),
            (
                json!({"actor": {"mbox": "a@example.org"}, "verb": {"id": "http://x.example/v"}, "object": {"id": "http://x.example/o"}}),
                "mailto",
            ),
            (
                json!({"actor": {"mbox": "mailto:a@example.org", "openid": "http://x.example/a"}, "verb": {"id": "http://x.example/v"}, "object": {"id": "http://x.example/o"}}),
                "exactly one",
            ),
            (
                json!({"actor": {"mbox": "mailto:a@example.org"}, "verb": {"id": "completed"}, "object": {"id": "http://x.example/o"}}),
                "verb.id",
            ),
            (
                json!({"actor": {"mbox": "mailto:a@example.org"}, "verb": {"id": "http://x.example/v"}, "object": {"id": "http://x.example/o"}, "id": "nope"}),
                "UUID",
            ),
            (
                json!({"actor": {"mbox": "mailto:a@example.org"}, "verb": {"id": "http://x.example/v"}, "object": {"id": "http://x.example/o"}, "result": {"score": {"scaled": 2}}}),
                "scaled",
            ),
            (
                json!({"actor": {"mbox": "mailto:a@example.org"}, "verb": {"id": "http://x.example/v"}, "object": {"id": "http://x.example/o"}, "timestamp": "yesterday"}),
                "timestamp",
            ),
            (
                json!({"actor": {"mbox": "mailto:a@example.org"}, "verb": {"id": "http://x.example/v"}, "object": {"id": "http://x.example/o"}, "colour": "red"}),
                "unknown",
            ),
        ];
        for (statement, expected) in cases {
            let problem = check(statement.clone()).unwrap_err();
            assert!(problem.contains(expected), "{statement} → {problem}");
        }
    }
}
