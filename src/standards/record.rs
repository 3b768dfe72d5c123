//! The catalog payload as the standards read it: the learner (`user`), the things learnt
//! (`course`, `lesson`, `quiz`, …), the score, and — for events that came in as xAPI or
//! Caliper — the original record under `learning_record`, so it can leave unchanged.

use serde_json::{Map, Value, json};

/// Where an event that came in as a learning record keeps the original.
pub const LEARNING_RECORD: &str = "learning_record";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standard {
    Xapi,
    Caliper,
}

impl Standard {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Xapi => "xapi",
            Self::Caliper => "caliper",
        }
    }
}

/// The original statement or Caliper event of an event that came in as one.
pub fn original(payload: &Value) -> Option<(Standard, &Value)> {
    let kept = payload.get(LEARNING_RECORD)?;
    let standard = match kept.get("standard")?.as_str()? {
        "xapi" => Standard::Xapi,
        "caliper" => Standard::Caliper,
        _ => return None,
    };
    Some((standard, kept.get("record")?))
}

/// Adds the original record to a catalog payload built from it.
pub fn keep_original(payload: &mut Map<String, Value>, standard: Standard, record: &Value) {
    payload.insert(
        LEARNING_RECORD.into(),
        json!({"standard": standard.as_str(), "record": record}),
    );
}

/// The person who learnt: `user` of the payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Learner {
    pub id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// The account's home page, when the record came with one.
    pub home_page: Option<String>,
}

impl Learner {
    pub fn of(payload: &Value) -> Option<Self> {
        Self::from_value(payload.get("user")?)
    }

    pub fn from_value(user: &Value) -> Option<Self> {
        let learner = Self {
            id: text(user.get("id")),
            email: text(user.get("email")).filter(|e| looks_like_email(e)),
            name: text(user.get("name")),
            home_page: text(user.get("account_home_page")),
        };
        (learner.id.is_some() || learner.email.is_some()).then_some(learner)
    }

    pub fn to_value(&self) -> Value {
        let mut user = Map::new();
        for (key, value) in [
            ("id", &self.id),
            ("email", &self.email),
            ("name", &self.name),
            ("account_home_page", &self.home_page),
        ] {
            if let Some(value) = value {
                user.insert(key.into(), Value::String(value.clone()));
            }
        }
        Value::Object(user)
    }
}

/// A course, lesson, quiz, badge… of the payload: its id and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thing {
    pub id: String,
    pub title: Option<String>,
}

impl Thing {
    pub fn of(payload: &Value, key: &str) -> Option<Self> {
        let value = payload.get(key)?;
        Some(Self {
            id: text(value.get("id"))?,
            title: text(value.get("title")).or_else(|| text(value.get("name"))),
        })
    }

    pub fn to_value(&self) -> Value {
        match &self.title {
            Some(title) => json!({"id": self.id, "title": title}),
            None => json!({"id": self.id}),
        }
    }
}

/// `score_percent` (0–100).
pub fn score_percent(payload: &Value) -> Option<f64> {
    payload
        .get("score_percent")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite())
}

/// `passed`, when the payload says.
pub fn passed(payload: &Value) -> Option<bool> {
    payload.get("passed").and_then(Value::as_bool)
}

/// A string, or a number written as one (platform ids are often numbers).
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn looks_like_email(value: &str) -> bool {
    let mut parts = value.split('@');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(local), Some(domain), None) if !local.is_empty() && !domain.is_empty()
            && !value.chars().any(|c| c.is_whitespace() || c.is_control() || "\"<>".contains(c))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learner_is_read_from_user_with_numbers_as_ids() {
        let payload =
            json!({"user": {"id": 4279332, "email": "amara@example.com", "name": "Amara"}});
        let learner = Learner::of(&payload).unwrap();
        assert_eq!(learner.id.as_deref(), Some("4279332"));
        assert_eq!(learner.email.as_deref(), Some("amara@example.com"));
        assert_eq!(
            Learner::of(&json!({"user": {"email": "not an email"}})),
            None
        );
        assert_eq!(Learner::of(&json!({})), None);
    }

    #[test]
    fn things_have_ids_and_titles_or_names() {
        let payload = json!({"course": {"id": "course:1", "title": "Privacy"}, "badge": {"id": 7, "name": "Champion"}});
        assert_eq!(
            Thing::of(&payload, "course").unwrap().title.as_deref(),
            Some("Privacy")
        );
        assert_eq!(Thing::of(&payload, "badge").unwrap().id, "7");
        assert_eq!(Thing::of(&payload, "lesson"), None);
    }
}
