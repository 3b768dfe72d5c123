//! Events as xAPI 1.0.3 statements. The statement id is a UUID v5 of the webhook and the
//! event, so a retry or a replay sends the same id and the LRS stores it once.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::format::StandardsSettings;
use super::iri;
use super::mapping::{self, Activity, XapiRule, XapiVerb};
use super::record::{self, Learner, Standard, Thing};

/// The namespace of statement ids (a fixed random UUID: ids must never change).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_3c2a_8b4e_4f7a_9c2d_5e6f_7a8b_9c0d);

/// The version header every xAPI request and answer carries.
pub const VERSION: &str = "1.0.3";

/// One event to turn into a statement.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    pub id: Uuid,
    pub event_type: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub payload: &'a Value,
}

pub fn statement_id(webhook_id: i64, event_id: Uuid) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("xapi:{webhook_id}:{event_id}").as_bytes(),
    )
}

/// The event as a statement; `None` when xAPI skips its type; `Err` when the payload lacks
/// what the statement needs (a learner, the activity's id).
pub fn statement(
    webhook_id: i64,
    event: EventRef<'_>,
    settings: &StandardsSettings,
) -> Result<Option<Value>, String> {
    if let Some((Standard::Xapi, original)) = record::original(event.payload) {
        return Ok(Some(passed_on(webhook_id, event.id, original)));
    }
    let Some(mapping) = mapping::of(event.event_type) else {
        return Ok(None);
    };
    let (verb, object, parent) = match mapping.xapi {
        XapiRule::Skipped => return Ok(None),
        XapiRule::PassThrough => {
            // A generic statement that lost its original: nothing sensible to send.
            return Err("this event holds no xAPI statement to pass on".into());
        }
        XapiRule::Statement {
            verb,
            object,
            parent,
        } => (verb, object, parent),
    };
    let learner = Learner::of(event.payload).ok_or_else(|| {
        "the event has no user with an email or id to name the xAPI actor".to_owned()
    })?;
    let thing = Thing::of(event.payload, object.key)
        .ok_or_else(|| format!("the event has no {}.id to name the activity", object.key))?;
    let score = record::score_percent(event.payload);
    let passed = record::passed(event.payload);
    let verb = match verb {
        XapiVerb::Fixed(verb) => verb,
        XapiVerb::PassedOrFailed => match passed {
            Some(true) => mapping::PASSED,
            Some(false) => mapping::FAILED,
            None if score.is_some() => mapping::SCORED,
            None => mapping::COMPLETED,
        },
    };
    let mut statement = Map::new();
    statement.insert(
        "id".into(),
        statement_id(webhook_id, event.id).to_string().into(),
    );
    statement.insert("actor".into(), actor(&learner, settings));
    statement.insert(
        "verb".into(),
        json!({"id": verb.id, "display": {"en-US": verb.display}}),
    );
    statement.insert("object".into(), activity(settings, object, &thing));
    let mut result = Map::new();
    if verb == mapping::COMPLETED || passed.is_some() {
        result.insert("completion".into(), Value::Bool(true));
    }
    if let Some(passed) = passed {
        result.insert("success".into(), Value::Bool(passed));
    }
    if let Some(score) = score {
        let raw = score.clamp(0.0, 100.0);
        result.insert(
            "score".into(),
            json!({"scaled": raw / 100.0, "raw": raw, "min": 0, "max": 100}),
        );
    }
    if !result.is_empty() {
        statement.insert("result".into(), Value::Object(result));
    }
    let mut context = Map::new();
    context.insert("platform".into(), settings.platform().into());
    if let Some(parent) = parent.and_then(|p| Thing::of(event.payload, p.key).map(|t| (p, t))) {
        context.insert(
            "contextActivities".into(),
            json!({"parent": [activity(settings, parent.0, &parent.1)]}),
        );
    }
    context.insert(
        "extensions".into(),
        json!({ extension_iri(settings): {"event_id": event.id, "event_type": event.event_type} }),
    );
    statement.insert("context".into(), Value::Object(context));
    statement.insert(
        "timestamp".into(),
        event
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .into(),
    );
    Ok(Some(Value::Object(statement)))
}

/// The context extension naming the Herald event a statement came from.
pub fn extension_iri(settings: &StandardsSettings) -> String {
    format!(
        "{}/extensions/herald-event",
        settings.activity_base.as_str().trim_end_matches('/')
    )
}

/// A statement that came in as xAPI, sent on as it came: its own id kept (the LRS then
/// knows it as the LMS sent it), or one derived like Herald's own when it had none. The
/// LRS sets `stored` and `authority` itself.
fn passed_on(webhook_id: i64, event_id: Uuid, original: &Value) -> Value {
    let mut statement = original.clone();
    if let Value::Object(members) = &mut statement {
        members.remove("stored");
        members.remove("authority");
        if !members.get("id").is_some_and(Value::is_string) {
            members.insert(
                "id".into(),
                statement_id(webhook_id, event_id).to_string().into(),
            );
        }
    }
    statement
}

/// The learner as an Agent: by email (`mbox`) when known, else by their account on the LMS.
fn actor(learner: &Learner, settings: &StandardsSettings) -> Value {
    let mut agent = Map::new();
    agent.insert("objectType".into(), "Agent".into());
    if let Some(name) = &learner.name {
        agent.insert("name".into(), name.clone().into());
    }
    match &learner.email {
        Some(email) => {
            agent.insert("mbox".into(), format!("mailto:{email}").into());
        }
        None => {
            // `Learner` always has an email or an id.
            let id = learner.id.clone().unwrap_or_default();
            let home_page = learner
                .home_page
                .clone()
                .unwrap_or_else(|| settings.home_page.as_str().to_owned());
            agent.insert("account".into(), json!({"homePage": home_page, "name": id}));
        }
    }
    Value::Object(agent)
}

fn activity(settings: &StandardsSettings, kind: &Activity, thing: &Thing) -> Value {
    let mut definition = Map::new();
    definition.insert("type".into(), kind.xapi_type.into());
    if let Some(title) = &thing.title {
        definition.insert("name".into(), json!({"en-US": title}));
    }
    json!({
        "objectType": "Activity",
        "id": iri::under(&settings.activity_base, kind.collection, &thing.id),
        "definition": definition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> StandardsSettings {
        StandardsSettings::parse(
            "https://academy.example.com",
            "https://academy.example.com/xapi",
        )
        .unwrap()
    }

    fn event<'a>(event_type: &'a str, payload: &'a Value) -> EventRef<'a> {
        EventRef {
            id: Uuid::from_u128(7),
            event_type,
            occurred_at: "2026-11-04T15:38:12Z".parse().unwrap(),
            payload,
        }
    }

    #[test]
    fn a_passed_quiz_becomes_passed_with_a_scaled_score_under_its_course() {
        let payload = json!({"user": {"id": 1, "email": "amara@example.com", "name": "Amara"},
            "quiz": {"id": "quiz:3310", "title": "Privacy Check"},
            "course": {"id": "course:7374992", "title": "Data Privacy"},
            "score_percent": 80.0, "passed": true});
        let s = statement(3, event("quiz.attempt_completed", &payload), &settings())
            .unwrap()
            .unwrap();
        assert_eq!(s["verb"]["id"], "http://adlnet.gov/expapi/verbs/passed");
        assert_eq!(s["actor"]["mbox"], "mailto:amara@example.com");
        assert_eq!(s["result"]["score"]["scaled"], 0.8);
        assert_eq!(s["result"]["success"], true);
        assert_eq!(
            s["object"]["id"],
            "https://academy.example.com/xapi/quizzes/quiz%3A3310"
        );
        assert_eq!(
            s["context"]["contextActivities"]["parent"][0]["id"],
            "https://academy.example.com/xapi/courses/course%3A7374992"
        );
        assert_eq!(s["context"]["platform"], "academy.example.com");
        assert_eq!(s["timestamp"], "2026-11-04T15:38:12.000Z");
        assert_eq!(s["id"], statement_id(3, Uuid::from_u128(7)).to_string());
    }

    #[test]
    fn ids_depend_on_the_webhook_and_the_event_only() {
        let a = statement_id(1, Uuid::from_u128(9));
        assert_eq!(a, statement_id(1, Uuid::from_u128(9)));
        assert_ne!(a, statement_id(2, Uuid::from_u128(9)));
        assert_eq!(a.get_version_num(), 5);
    }

    #[test]
    fn a_learner_without_email_is_an_account_on_the_home_page() {
        let payload = json!({"user": {"id": 42}, "course": {"id": "c1"}});
        let s = statement(1, event("course.enrolled", &payload), &settings())
            .unwrap()
            .unwrap();
        assert_eq!(
            s["actor"]["account"]["homePage"],
            "https://academy.example.com/"
        );
        assert_eq!(s["actor"]["account"]["name"], "42");
        assert_eq!(s["verb"]["id"], "http://adlnet.gov/expapi/verbs/registered");
    }

    #[test]
    fn skipped_types_give_nothing_and_incomplete_payloads_say_why() {
        let payload = json!({"user": {"id": 42}});
        assert_eq!(
            statement(1, event("user.created", &payload), &settings()).unwrap(),
            None
        );
        let problem = statement(1, event("course.completed", &payload), &settings()).unwrap_err();
        assert!(problem.contains("course.id"), "{problem}");
    }

    #[test]
    fn a_statement_that_came_in_leaves_as_it_came() {
        let original = json!({"id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee", "actor": {"mbox": "mailto:a@example.org"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}, "object": {"id": "https://x.example/a"},
            "stored": "2026-01-01T00:00:00Z"});
        let mut payload = Map::new();
        record::keep_original(&mut payload, Standard::Xapi, &original);
        let payload = Value::Object(payload);
        let s = statement(1, event("xapi.statement", &payload), &settings())
            .unwrap()
            .unwrap();
        assert_eq!(s["id"], "6690e6c9-3ef0-4ed3-8b37-7f3964730bee");
        assert!(s.get("stored").is_none());
        assert_eq!(s["verb"], original["verb"]);
    }
}
