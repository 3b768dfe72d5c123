//! Events as Caliper 1.1 / 1.2 events in a Caliper envelope. Event ids are `urn:uuid:` UUID
//! v5s of the webhook and the event, stable across retries and replays.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::format::{CaliperVersion, StandardsSettings};
use super::iri;
use super::mapping::{self, Activity, CaliperObject, CaliperRule};
use super::record::{self, Learner, Standard, Thing};
use super::xapi_out::EventRef;

const NAMESPACE: Uuid = Uuid::from_u128(0x2b7e_51a0_c3d4_4e8f_a1b2_c3d4_e5f6_0718);

pub fn event_id(webhook_id: i64, event_id: Uuid) -> String {
    let id = Uuid::new_v5(
        &NAMESPACE,
        format!("caliper:{webhook_id}:{event_id}").as_bytes(),
    );
    format!("urn:uuid:{id}")
}

/// The envelope around `data`, sent at `send_time`.
pub fn envelope(
    settings: &StandardsSettings,
    version: CaliperVersion,
    send_time: DateTime<Utc>,
    data: Vec<Value>,
) -> Value {
    json!({
        "sensor": sensor_iri(settings),
        "sendTime": send_time.to_rfc3339_opts(SecondsFormat::Millis, true),
        "dataVersion": version.context(),
        "data": data,
    })
}

pub fn sensor_iri(settings: &StandardsSettings) -> String {
    format!(
        "{}/sensors/herald",
        settings.activity_base.as_str().trim_end_matches('/')
    )
}

/// The event as a Caliper event; `None` when Caliper skips its type; `Err` when the payload
/// lacks what the event needs.
pub fn event(
    webhook_id: i64,
    event: EventRef<'_>,
    version: CaliperVersion,
    settings: &StandardsSettings,
) -> Result<Option<Value>, String> {
    if let Some((Standard::Caliper, original)) = record::original(event.payload) {
        let mut passed_on = original.clone();
        if let Value::Object(members) = &mut passed_on {
            members.insert("@context".into(), version.context().into());
        }
        return Ok(Some(passed_on));
    }
    let Some(mapping) = mapping::of(event.event_type) else {
        return Ok(None);
    };
    let (kind, action, object, parent, shape) = match mapping.caliper {
        CaliperRule::Skipped => return Ok(None),
        CaliperRule::PassThrough => {
            return Err("this event holds no Caliper event to pass on".into());
        }
        CaliperRule::Event {
            kind,
            action,
            object,
            parent,
            shape,
        } => (kind, action, object, parent, shape),
    };
    let thing = Thing::of(event.payload, object.key)
        .ok_or_else(|| format!("the event has no {}.id to name the object", object.key))?;
    let learner = || {
        Learner::of(event.payload).ok_or_else(|| {
            "the event has no user with an email or id to name the person".to_owned()
        })
    };
    let platform = json!({"id": settings.home_page.as_str(), "type": "SoftwareApplication"});
    let parent_entity = parent
        .and_then(|p| Thing::of(event.payload, p.key).map(|t| (p, t)))
        .map(|(p, t)| entity(settings, p, &t, "CourseOffering"));
    let (actor, object_value, generated) = match shape {
        CaliperObject::Assignable => {
            let mut resource = entity(settings, object, &thing, "AssignableDigitalResource");
            if let (Some(parent), Value::Object(members)) = (parent_entity, &mut resource) {
                members.insert("isPartOf".into(), parent);
            }
            (person(settings, &learner()?), resource, None)
        }
        CaliperObject::Membership => {
            let member = person(settings, &learner()?);
            let course = entity(settings, object, &thing, "CourseOffering");
            let status = if action == "Deleted" {
                "Inactive"
            } else {
                "Active"
            };
            let membership = json!({
                "id": format!("{}/memberships/{}", str_of(&course["id"]), iri::last_segment(str_of(&member["id"]))),
                "type": "Membership",
                "member": member,
                "organization": course,
                "roles": ["Learner"],
                "status": status,
            });
            (platform.clone(), membership, None)
        }
        CaliperObject::GradedAttempt => {
            let mut assessment = entity(settings, object, &thing, "Assessment");
            if let (Some(parent), Value::Object(members)) = (parent_entity, &mut assessment) {
                members.insert("isPartOf".into(), parent);
            }
            let attempt_id = format!("{}/attempts/{}", str_of(&assessment["id"]), event.id);
            let mut attempt = json!({
                "id": attempt_id,
                "type": "Attempt",
                "assignee": person(settings, &learner()?),
                "assignable": assessment,
            });
            if let Some(count) = event.payload.get("attempt").and_then(Value::as_i64) {
                attempt["count"] = count.into();
            }
            let score = record::score_percent(event.payload).map(|score| {
                json!({
                    "id": format!("{attempt_id}/score"),
                    "type": "Score",
                    "attempt": attempt_id,
                    "maxScore": 100.0,
                    "scoreGiven": score.clamp(0.0, 100.0),
                    "scoredBy": platform.clone(),
                })
            });
            (platform.clone(), attempt, score)
        }
        CaliperObject::Offering => {
            let actor = event
                .payload
                .get("created_by")
                .and_then(Learner::from_value)
                .map_or_else(|| platform.clone(), |p| person(settings, &p));
            (
                actor,
                entity(settings, object, &thing, "CourseOffering"),
                None,
            )
        }
    };
    let mut out = Map::new();
    out.insert("@context".into(), version.context().into());
    out.insert("id".into(), event_id(webhook_id, event.id).into());
    out.insert("type".into(), kind.into());
    out.insert("actor".into(), actor);
    out.insert("action".into(), action.into());
    out.insert("object".into(), object_value);
    if let Some(generated) = generated {
        out.insert("generated".into(), generated);
    }
    out.insert(
        "eventTime".into(),
        event
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .into(),
    );
    out.insert("edApp".into(), platform);
    out.insert(
        "extensions".into(),
        json!({"herald_event_id": event.id, "herald_event_type": event.event_type}),
    );
    Ok(Some(Value::Object(out)))
}

fn str_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn person(settings: &StandardsSettings, learner: &Learner) -> Value {
    let id = learner
        .id
        .as_deref()
        .or(learner.email.as_deref())
        .unwrap_or_default();
    let mut person =
        json!({"id": iri::under(&settings.activity_base, "users", id), "type": "Person"});
    if let Some(name) = &learner.name {
        person["name"] = name.clone().into();
    }
    person
}

fn entity(
    settings: &StandardsSettings,
    kind: &Activity,
    thing: &Thing,
    caliper_type: &str,
) -> Value {
    let mut entity = json!({
        "id": iri::under(&settings.activity_base, kind.collection, &thing.id),
        "type": caliper_type,
    });
    if let Some(title) = &thing.title {
        entity["name"] = title.clone().into();
    }
    entity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> StandardsSettings {
        StandardsSettings::parse(
            "https://academy.example.com",
            "https://academy.example.com/lrs",
        )
        .unwrap()
    }

    fn sample<'a>(event_type: &'a str, payload: &'a Value) -> EventRef<'a> {
        EventRef {
            id: Uuid::from_u128(11),
            event_type,
            occurred_at: "2026-11-04T15:38:12Z".parse().unwrap(),
            payload,
        }
    }

    #[test]
    fn a_graded_quiz_is_a_grade_event_with_the_score_generated() {
        let payload = json!({"user": {"id": 4279332, "name": "Amara"}, "quiz": {"id": "quiz:3310"},
            "course": {"id": "course:1"}, "attempt": 2, "score_percent": 80.0, "passed": true});
        let e = event_of("quiz.attempt_completed", &payload, CaliperVersion::V1p2);
        assert_eq!(e["@context"], "http://purl.imsglobal.org/ctx/caliper/v1p2");
        assert_eq!(e["type"], "GradeEvent");
        assert_eq!(e["action"], "Graded");
        assert_eq!(e["object"]["type"], "Attempt");
        assert_eq!(e["object"]["count"], 2);
        assert_eq!(
            e["object"]["assignee"]["id"],
            "https://academy.example.com/lrs/users/4279332"
        );
        assert_eq!(e["generated"]["scoreGiven"], 80.0);
        assert!(e["id"].as_str().unwrap().starts_with("urn:uuid:"));
    }

    #[test]
    fn an_enrolment_is_a_membership_created_by_the_platform() {
        let payload = json!({"user": {"id": 7}, "course": {"id": "c:1", "title": "Privacy"}});
        let e = event_of("course.enrolled", &payload, CaliperVersion::V1p1);
        assert_eq!(
            (e["type"].as_str(), e["action"].as_str()),
            (Some("Event"), Some("Created"))
        );
        assert_eq!(e["object"]["type"], "Membership");
        assert_eq!(e["object"]["organization"]["name"], "Privacy");
        assert_eq!(e["actor"]["type"], "SoftwareApplication");
    }

    #[test]
    fn the_envelope_names_the_sensor_and_the_data_version() {
        let env = envelope(
            &settings(),
            CaliperVersion::V1p1,
            Utc::now(),
            vec![json!({})],
        );
        assert_eq!(
            env["dataVersion"],
            "http://purl.imsglobal.org/ctx/caliper/v1p1"
        );
        assert_eq!(
            env["sensor"],
            "https://academy.example.com/lrs/sensors/herald"
        );
        assert_eq!(env["data"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn skipped_types_give_nothing() {
        let payload = json!({"user": {"id": 7}, "badge": {"id": 1}});
        assert_eq!(
            super::event(
                1,
                sample("badge.awarded", &payload),
                CaliperVersion::V1p1,
                &settings()
            )
            .unwrap(),
            None
        );
    }

    fn event_of(event_type: &str, payload: &Value, version: CaliperVersion) -> Value {
        super::event(1, sample(event_type, payload), version, &settings())
            .unwrap()
            .unwrap()
    }
}
