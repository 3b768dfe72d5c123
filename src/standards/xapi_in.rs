//! Statements posted to Herald as if it were an LRS: checked against the xAPI 1.0.3 data
//! rules an LRS must enforce, then turned into catalog events (a recognised verb) or the
//! generic `xapi.statement`, with the statement kept as it came.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::iri;
use super::mapping::{self, Activity};
use super::record::{self, Learner, Standard};

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

const PROPERTIES: [&str; 10] = [
    "id",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "stored",
    "authority",
    "version",
];

/// The statements of a body: one object or an array.
pub fn statements_of(body: &Value) -> Result<Vec<Value>, String> {
    match body {
        Value::Object(_) => Ok(vec![body.clone()]),
        Value::Array(items) => Ok(items.clone()),
        _ => Err("the body must be a statement object or an array of statements".into()),
    }
}

/// Checks one statement and maps it; `Err` says what is wrong, in the spec's terms.
pub fn check(statement: Value) -> Result<Incoming, String> {
    let Value::Object(mut members) = statement else {
        return Err("a statement must be a JSON object".into());
    };
    if let Some(unknown) = members
        .keys()
        .find(|k| !PROPERTIES.contains(&k.as_str()) && k.as_str() != "attachments")
    {
        return Err(format!("unknown statement property \"{unknown}\""));
    }
    let id = match members.get("id") {
        None => Uuid::now_v7(),
        Some(Value::String(raw)) => Uuid::parse_str(raw)
            .map_err(|_| format!("\"id\" must be a UUID, not \"{}\"", clip(raw)))?,
        Some(_) => return Err("\"id\" must be a UUID string".into()),
    };
    members.insert("id".into(), id.hyphenated().to_string().into());
    let actor = members.get("actor").ok_or("\"actor\" is required")?;
    check_agent(actor, "actor")?;
    let verb = members.get("verb").ok_or("\"verb\" is required")?;
    let verb_id = check_verb(verb)?.to_owned();
    let object = members.get("object").ok_or("\"object\" is required")?;
    let activity_type = check_object(object)?;
    if let Some(result) = members.get("result") {
        check_result(result)?;
    }
    if let Some(context) = members.get("context") {
        check_context(context)?;
    }
    let occurred_at = match members.get("timestamp") {
        None => None,
        Some(Value::String(raw)) => Some(
            DateTime::parse_from_rfc3339(raw)
                .map_err(|_| {
                    format!(
                        "\"timestamp\" must be an ISO 8601 date-time, not \"{}\"",
                        clip(raw)
                    )
                })?
                .with_timezone(&Utc),
        ),
        Some(_) => return Err("\"timestamp\" must be a string".into()),
    };
    if let Some(version) = members.get("version")
        && !version.as_str().is_some_and(|v| v.starts_with("1.0"))
    {
        return Err("\"version\" must be 1.0.x".into());
    }
    let statement = Value::Object(members);
    let (event_type, data) = to_event(&statement, &verb_id, activity_type.as_deref());
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
    if let Some(learner) = learner_of(&statement["actor"]) {
        data.insert("user".into(), learner.to_value());
    }
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

fn check_agent(agent: &Value, field: &str) -> Result<(), String> {
    let Value::Object(members) = agent else {
        return Err(format!("\"{field}\" must be an Agent or Group object"));
    };
    let ifis = ["mbox", "mbox_sha1sum", "openid", "account"]
        .iter()
        .filter(|k| members.contains_key(**k))
        .count();
    let is_group = members.get("objectType").and_then(Value::as_str) == Some("Group");
    match members.get("objectType").and_then(Value::as_str) {
        None | Some("Agent") | Some("Group") => {}
        Some(other) => {
            return Err(format!(
                "\"{field}.objectType\" must be Agent or Group, not \"{}\"",
                clip(other)
            ));
        }
    }
    if ifis > 1 {
        return Err(format!(
            "\"{field}\" must have exactly one inverse functional identifier"
        ));
    }
    if ifis == 0 && !(is_group && members.get("member").is_some_and(Value::is_array)) {
        return Err(format!(
            "\"{field}\" needs one of mbox, mbox_sha1sum, openid or account"
        ));
    }
    if let Some(mbox) = members.get("mbox")
        && !mbox
            .as_str()
            .is_some_and(|m| m.starts_with("mailto:") && m.contains('@'))
    {
        return Err(format!("\"{field}.mbox\" must be a mailto: IRI"));
    }
    if let Some(account) = members.get("account") {
        let home_page = account.get("homePage").and_then(Value::as_str);
        let name = account.get("name").and_then(Value::as_str);
        if !home_page.is_some_and(iri::is_absolute) || name.is_none_or(str::is_empty) {
            return Err(format!(
                "\"{field}.account\" needs an absolute homePage and a name"
            ));
        }
    }
    if let Some(Value::Array(member)) = members.get("member") {
        for (index, agent) in member.iter().enumerate() {
            check_agent(agent, &format!("{field}.member[{index}]"))?;
        }
    }
    Ok(())
}

fn check_verb(verb: &Value) -> Result<&str, String> {
    let id = verb
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| iri::is_absolute(id))
        .ok_or("\"verb.id\" must be an absolute IRI")?;
    if let Some(display) = verb.get("display")
        && !display
            .as_object()
            .is_some_and(|d| d.values().all(Value::is_string))
    {
        return Err("\"verb.display\" must be a language map".into());
    }
    Ok(id)
}

/// Checks the object; gives the activity's type when it is an Activity that has one.
fn check_object(object: &Value) -> Result<Option<String>, String> {
    if !object.is_object() {
        return Err("\"object\" must be an object".into());
    }
    match object.get("objectType").and_then(Value::as_str) {
        None | Some("Activity") => {
            if !object
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(iri::is_absolute)
            {
                return Err("\"object.id\" of an Activity must be an absolute IRI".into());
            }
            Ok(object
                .pointer("/definition/type")
                .and_then(Value::as_str)
                .map(str::to_owned))
        }
        Some("Agent") | Some("Group") => check_agent(object, "object").map(|_| None),
        Some("StatementRef") => object
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok())
            .map(|_| None)
            .ok_or_else(|| "\"object.id\" of a StatementRef must be a UUID".into()),
        Some("SubStatement") => {
            for required in ["actor", "verb", "object"] {
                if object.get(required).is_none() {
                    return Err(format!("a SubStatement needs \"{required}\""));
                }
            }
            Ok(None)
        }
        Some(other) => Err(format!("unknown \"object.objectType\" \"{}\"", clip(other))),
    }
}

fn check_result(result: &Value) -> Result<(), String> {
    if !result.is_object() {
        return Err("\"result\" must be an object".into());
    }
    if let Some(score) = result.get("score") {
        let number = |key: &str| score.get(key).and_then(Value::as_f64);
        if let Some(scaled) = score.get("scaled")
            && !scaled.as_f64().is_some_and(|s| (-1.0..=1.0).contains(&s))
        {
            return Err("\"result.score.scaled\" must be a number from -1 to 1".into());
        }
        if let (Some(raw), Some(min)) = (number("raw"), number("min"))
            && raw < min
        {
            return Err("\"result.score.raw\" is below \"min\"".into());
        }
        if let (Some(raw), Some(max)) = (number("raw"), number("max"))
            && raw > max
        {
            return Err("\"result.score.raw\" is above \"max\"".into());
        }
    }
    for flag in ["success", "completion"] {
        if result.get(flag).is_some_and(|v| !v.is_boolean()) {
            return Err(format!("\"result.{flag}\" must be true or false"));
        }
    }
    Ok(())
}

fn check_context(context: &Value) -> Result<(), String> {
    if !context.is_object() {
        return Err("\"context\" must be an object".into());
    }
    if let Some(registration) = context.get("registration")
        && registration
            .as_str()
            .is_none_or(|r| Uuid::parse_str(r).is_err())
    {
        return Err("\"context.registration\" must be a UUID".into());
    }
    Ok(())
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
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
