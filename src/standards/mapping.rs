//! Which xAPI verb and which Caliper event each catalog type becomes. One table, read by the
//! builders, by ingest (a standards webhook gets no deliveries for types it cannot carry) and
//! by the console's event catalog.

use super::format::PayloadFormat;

/// An xAPI verb of the ADL vocabulary (or, where ADL has none, the xAPI registry's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verb {
    pub id: &'static str,
    pub display: &'static str,
}

pub const REGISTERED: Verb = Verb {
    id: "http://adlnet.gov/expapi/verbs/registered",
    display: "registered",
};
pub const UNREGISTERED: Verb = Verb {
    id: "http://id.tincanapi.com/verb/unregistered",
    display: "unregistered",
};
pub const COMPLETED: Verb = Verb {
    id: "http://adlnet.gov/expapi/verbs/completed",
    display: "completed",
};
pub const PASSED: Verb = Verb {
    id: "http://adlnet.gov/expapi/verbs/passed",
    display: "passed",
};
pub const FAILED: Verb = Verb {
    id: "http://adlnet.gov/expapi/verbs/failed",
    display: "failed",
};
pub const SCORED: Verb = Verb {
    id: "http://adlnet.gov/expapi/verbs/scored",
    display: "scored",
};
pub const EARNED: Verb = Verb {
    id: "http://id.tincanapi.com/verb/earned",
    display: "earned",
};

/// A kind of thing learnt: its payload key, its IRI collection and its xAPI activity type.
#[derive(Debug, PartialEq, Eq)]
pub struct Activity {
    pub key: &'static str,
    pub collection: &'static str,
    pub xapi_type: &'static str,
}

pub const COURSE: Activity = Activity {
    key: "course",
    collection: "courses",
    xapi_type: "http://adlnet.gov/expapi/activities/course",
};
pub const LESSON: Activity = Activity {
    key: "lesson",
    collection: "lessons",
    xapi_type: "http://adlnet.gov/expapi/activities/lesson",
};
pub const QUIZ: Activity = Activity {
    key: "quiz",
    collection: "quizzes",
    xapi_type: "http://adlnet.gov/expapi/activities/assessment",
};
pub const LEARNING_PATH: Activity = Activity {
    key: "learning_path",
    collection: "learning-paths",
    xapi_type: "http://adlnet.gov/expapi/activities/module",
};
pub const PROGRAM: Activity = Activity {
    key: "program",
    collection: "programs",
    xapi_type: "http://adlnet.gov/expapi/activities/module",
};
pub const CERTIFICATION: Activity = Activity {
    key: "certification",
    collection: "certifications",
    xapi_type: "http://id.tincanapi.com/activitytype/certification",
};
pub const BADGE: Activity = Activity {
    key: "badge",
    collection: "badges",
    xapi_type: "http://activitystrea.ms/schema/1.0/badge",
};
pub const CERTIFICATE: Activity = Activity {
    key: "certificate",
    collection: "certificates",
    xapi_type: "http://id.tincanapi.com/activitytype/certificate",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XapiVerb {
    Fixed(Verb),
    /// `passed` or `failed` from the payload's `passed`; `scored` when it does not say.
    PassedOrFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XapiRule {
    Statement {
        verb: XapiVerb,
        object: &'static Activity,
        /// The activity named as `context.contextActivities.parent`.
        parent: Option<&'static Activity>,
    },
    /// The statement as it came in.
    PassThrough,
    Skipped,
}

/// How a Caliper event's object is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaliperObject {
    /// An `AssignableDigitalResource` (its parent as `isPartOf`).
    Assignable,
    /// A `Membership` of the learner in a `CourseOffering`.
    Membership,
    /// An `Attempt` of an `Assessment`, with the score as `generated`.
    GradedAttempt,
    /// The `CourseOffering` itself; the actor is whoever changed it, or the platform.
    Offering,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaliperRule {
    Event {
        kind: &'static str,
        action: &'static str,
        object: &'static Activity,
        parent: Option<&'static Activity>,
        shape: CaliperObject,
    },
    /// The Caliper event as it came in.
    PassThrough,
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub event_type: &'static str,
    pub xapi: XapiRule,
    pub caliper: CaliperRule,
}

/// The generic type of xAPI statements whose verb maps to no catalog type.
pub const XAPI_STATEMENT: &str = "xapi.statement";
/// The generic type of Caliper events that map to no catalog type.
pub const CALIPER_EVENT: &str = "caliper.event";

const fn statement(
    verb: Verb,
    object: &'static Activity,
    parent: Option<&'static Activity>,
) -> XapiRule {
    XapiRule::Statement {
        verb: XapiVerb::Fixed(verb),
        object,
        parent,
    }
}

const fn caliper(
    kind: &'static str,
    action: &'static str,
    object: &'static Activity,
    parent: Option<&'static Activity>,
    shape: CaliperObject,
) -> CaliperRule {
    CaliperRule::Event {
        kind,
        action,
        object,
        parent,
        shape,
    }
}

/// Every catalog type with a mapping; a type not listed is skipped by both standards.
pub const TABLE: &[Mapping] = &[
    Mapping {
        event_type: "course.enrolled",
        xapi: statement(REGISTERED, &COURSE, None),
        caliper: caliper("Event", "Created", &COURSE, None, CaliperObject::Membership),
    },
    Mapping {
        event_type: "course.unenrolled",
        xapi: statement(UNREGISTERED, &COURSE, None),
        caliper: caliper("Event", "Deleted", &COURSE, None, CaliperObject::Membership),
    },
    Mapping {
        event_type: "learning_path.enrolled",
        xapi: statement(REGISTERED, &LEARNING_PATH, None),
        caliper: CaliperRule::Skipped,
    },
    Mapping {
        event_type: "course.completed",
        xapi: statement(COMPLETED, &COURSE, None),
        caliper: caliper(
            "AssignableEvent",
            "Completed",
            &COURSE,
            None,
            CaliperObject::Assignable,
        ),
    },
    Mapping {
        event_type: "lesson.completed",
        xapi: statement(COMPLETED, &LESSON, Some(&COURSE)),
        caliper: caliper(
            "AssignableEvent",
            "Completed",
            &LESSON,
            Some(&COURSE),
            CaliperObject::Assignable,
        ),
    },
    Mapping {
        event_type: "quiz.attempt_completed",
        xapi: XapiRule::Statement {
            verb: XapiVerb::PassedOrFailed,
            object: &QUIZ,
            parent: Some(&COURSE),
        },
        caliper: caliper(
            "GradeEvent",
            "Graded",
            &QUIZ,
            Some(&COURSE),
            CaliperObject::GradedAttempt,
        ),
    },
    Mapping {
        event_type: "learning_path.completed",
        xapi: statement(COMPLETED, &LEARNING_PATH, None),
        caliper: caliper(
            "AssignableEvent",
            "Completed",
            &LEARNING_PATH,
            None,
            CaliperObject::Assignable,
        ),
    },
    Mapping {
        event_type: "program.completed",
        xapi: statement(COMPLETED, &PROGRAM, None),
        caliper: caliper(
            "AssignableEvent",
            "Completed",
            &PROGRAM,
            None,
            CaliperObject::Assignable,
        ),
    },
    Mapping {
        event_type: "certification.completed",
        xapi: statement(COMPLETED, &CERTIFICATION, None),
        caliper: caliper(
            "AssignableEvent",
            "Completed",
            &CERTIFICATION,
            None,
            CaliperObject::Assignable,
        ),
    },
    Mapping {
        event_type: "badge.awarded",
        xapi: statement(EARNED, &BADGE, None),
        caliper: CaliperRule::Skipped,
    },
    Mapping {
        event_type: "certificate.awarded",
        xapi: statement(EARNED, &CERTIFICATE, Some(&COURSE)),
        caliper: CaliperRule::Skipped,
    },
    Mapping {
        event_type: "course.created",
        xapi: XapiRule::Skipped,
        caliper: caliper("Event", "Created", &COURSE, None, CaliperObject::Offering),
    },
    Mapping {
        event_type: "course.updated",
        xapi: XapiRule::Skipped,
        caliper: caliper("Event", "Modified", &COURSE, None, CaliperObject::Offering),
    },
    Mapping {
        event_type: "course.deleted",
        xapi: XapiRule::Skipped,
        caliper: caliper("Event", "Deleted", &COURSE, None, CaliperObject::Offering),
    },
    Mapping {
        event_type: XAPI_STATEMENT,
        xapi: XapiRule::PassThrough,
        caliper: CaliperRule::Skipped,
    },
    Mapping {
        event_type: CALIPER_EVENT,
        xapi: XapiRule::Skipped,
        caliper: CaliperRule::PassThrough,
    },
];

pub fn of(event_type: &str) -> Option<&'static Mapping> {
    TABLE.iter().find(|m| m.event_type == event_type)
}

/// Whether a webhook of `format` gets events of `event_type` (Herald JSON gets every type).
pub fn carries(format: PayloadFormat, event_type: &str) -> bool {
    match format {
        PayloadFormat::Herald => true,
        PayloadFormat::Xapi => of(event_type).is_some_and(|m| m.xapi != XapiRule::Skipped),
        PayloadFormat::Caliper(_) => {
            of(event_type).is_some_and(|m| m.caliper != CaliperRule::Skipped)
        }
    }
}

/// The catalog's xAPI column: the verb, or what happens instead.
pub fn xapi_summary(event_type: &str) -> String {
    match of(event_type).map(|m| m.xapi) {
        Some(XapiRule::Statement {
            verb: XapiVerb::Fixed(verb),
            ..
        }) => verb.display.to_owned(),
        Some(XapiRule::Statement {
            verb: XapiVerb::PassedOrFailed,
            ..
        }) => "passed / failed (scored when not said)".to_owned(),
        Some(XapiRule::PassThrough) => "the statement as received".to_owned(),
        Some(XapiRule::Skipped) | None => SKIPPED.to_owned(),
    }
}

/// The catalog's Caliper column.
pub fn caliper_summary(event_type: &str) -> String {
    match of(event_type).map(|m| m.caliper) {
        Some(CaliperRule::Event { kind, action, .. }) => format!("{kind} / {action}"),
        Some(CaliperRule::PassThrough) => "the event as received".to_owned(),
        Some(CaliperRule::Skipped) | None => SKIPPED.to_owned(),
    }
}

/// What the console says for a type a standard does not carry.
pub const SKIPPED: &str = "skipped (not sent)";

/// The xAPI verb IRI of a catalog type, for the catalog's link.
pub fn xapi_verb_iri(event_type: &str) -> Option<&'static str> {
    match of(event_type)?.xapi {
        XapiRule::Statement {
            verb: XapiVerb::Fixed(verb),
            ..
        } => Some(verb.id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standards::CaliperVersion;

    #[test]
    fn every_mapped_type_is_in_the_table_once() {
        let mut names: Vec<&str> = TABLE.iter().map(|m| m.event_type).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before);
    }

    #[test]
    fn herald_json_carries_everything_and_the_standards_only_what_they_map() {
        assert!(carries(PayloadFormat::Herald, "user.created"));
        assert!(!carries(PayloadFormat::Xapi, "user.created"));
        assert!(carries(PayloadFormat::Xapi, "course.completed"));
        assert!(carries(PayloadFormat::Xapi, XAPI_STATEMENT));
        assert!(!carries(PayloadFormat::Xapi, CALIPER_EVENT));
        let caliper = PayloadFormat::Caliper(CaliperVersion::V1p1);
        assert!(carries(caliper, "quiz.attempt_completed"));
        assert!(!carries(caliper, "badge.awarded"));
        assert!(carries(caliper, CALIPER_EVENT));
    }

    #[test]
    fn the_catalog_columns_name_the_verb_and_the_event() {
        assert_eq!(xapi_summary("course.enrolled"), "registered");
        assert_eq!(
            caliper_summary("quiz.attempt_completed"),
            "GradeEvent / Graded"
        );
        assert_eq!(caliper_summary("badge.awarded"), SKIPPED);
        assert_eq!(xapi_summary("webhook.ping"), SKIPPED);
    }
}
