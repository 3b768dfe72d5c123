//! An audit entry as a sentence: "admin disabled webhook HR sync: receiver maintenance". The
//! sentence is the actor, a verb phrase, the target (linked in the page) and a short tail
//! taken from the details; the raw details stay available, collapsed.

use serde_json::Value;

use crate::model::audit::AuditEntry;

pub struct Sentence {
    /// "disabled webhook", "replayed", "ended the sessions of user".
    pub verb: String,
    /// What follows the target: ": receiver maintenance", " (name, endpoint_url)".
    pub tail: String,
}

pub fn describe(entry: &AuditEntry) -> Sentence {
    let details = &entry.details;
    let text = |key: &str| details.get(key).and_then(Value::as_str).map(str::to_owned);
    let number = |key: &str| details.get(key).and_then(Value::as_i64);
    let (verb, tail) = match entry.action.as_str() {
        "webhook.created" => ("created webhook", String::new()),
        "webhook.updated" => ("changed webhook", changed_fields(details)),
        "webhook.deleted" => ("deleted webhook", String::new()),
        "webhook.enabled" => ("enabled webhook", String::new()),
        "webhook.disabled" => (
            "disabled webhook",
            match (text("reason"), number("dead_lettered")) {
                (Some(reason), Some(n)) if n > 0 => {
                    format!(
                        ": {reason} ({} to the dead-letter queue)",
                        plural(n, "delivery")
                    )
                }
                (Some(reason), _) => format!(": {reason}"),
                (None, Some(n)) if n > 0 => {
                    format!(" ({} to the dead-letter queue)", plural(n, "delivery"))
                }
                _ => String::new(),
            },
        ),
        "webhook.ping" => ("sent a test event to webhook", String::new()),
        "inbox.created" => ("created test inbox", String::new()),
        "inbox.deleted" => ("deleted test inbox", String::new()),
        "webhook.secret_rotated" => (
            "rotated the signing secret of webhook",
            text("previous_secret_signs_until")
                .map(|until| format!(" (the old one signs until {until})"))
                .unwrap_or_default(),
        ),
        "webhook.previous_secret_expired" => (
            "stopped the previous signing secret of webhook",
            String::new(),
        ),
        "webhook.secret_revealed" => ("revealed the signing secret of webhook", String::new()),
        "webhook.circuit_opened" => (
            "opened the circuit breaker of webhook",
            number("consecutive_failures")
                .map(|n| format!(" after {} in a row", plural(n, "failure")))
                .unwrap_or_default(),
        ),
        "webhook.circuit_closed" => ("closed the circuit breaker of webhook", String::new()),
        "delivery.replayed" => ("replayed delivery", String::new()),
        "delivery.redelivered" => ("sent again delivery", String::new()),
        "dead_letters.replayed" => (
            "replayed",
            number("count")
                .map(|n| format!(" {}", plural(n, "dead letter")))
                .unwrap_or_default(),
        ),
        "dead_letters.discarded" => (
            "discarded",
            number("count")
                .map(|n| format!(" {}", plural(n, "dead letter")))
                .unwrap_or_default(),
        ),
        "api_token.created" => (
            "created API token",
            text("scope")
                .map(|scope| format!(" with scope {scope}"))
                .unwrap_or_default(),
        ),
        "api_token.revoked" => ("revoked API token", String::new()),
        "user.created" => (
            "added user",
            text("role")
                .map(|role| format!(" as {role}"))
                .unwrap_or_default(),
        ),
        "user.role_changed" => (
            "changed the role of user",
            match (text("from"), text("to")) {
                (Some(from), Some(to)) => format!(" from {from} to {to}"),
                _ => String::new(),
            },
        ),
        "user.password_reset" => ("reset the password of user", String::new()),
        "user.password_changed" => ("changed the password of user", " (their own)".to_owned()),
        "user.disabled" => ("disabled user", String::new()),
        "user.enabled" => ("enabled user", String::new()),
        "user.sessions_ended" => (
            "ended the sessions of user",
            number("sessions_ended")
                .map(|n| format!(" ({} ended)", plural(n, "session")))
                .unwrap_or_default(),
        ),
        "user.session_ended" => ("ended a session of user", String::new()),
        other => return fallback(other),
    };
    Sentence {
        verb: verb.into(),
        tail,
    }
}

/// An action without its own wording: "webhook.something_new" → "webhook something new".
fn fallback(action: &str) -> Sentence {
    Sentence {
        verb: action.replace(['.', '_'], " "),
        tail: String::new(),
    }
}

/// " (name, endpoint_url)" from `{"changed": [...]}` (names only, never values).
fn changed_fields(details: &Value) -> String {
    let fields: Vec<&str> = details
        .get("changed")
        .and_then(Value::as_array)
        .map(|all| all.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut tail = if fields.is_empty() {
        String::new()
    } else {
        format!(": {}", fields.join(", ").replace('_', " "))
    };
    if details
        .get("secrets")
        .is_some_and(|s| s.as_object().is_some_and(|o| !o.is_empty()))
    {
        tail.push_str(" (stored secrets replaced or cleared)");
    }
    tail
}

fn plural(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if let Some(stem) = noun.strip_suffix('y') {
        format!("{n} {stem}ies")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(action: &str, details: Value) -> AuditEntry {
        AuditEntry {
            id: 1,
            occurred_at: chrono::Utc::now(),
            actor_user_id: None,
            actor: "admin".into(),
            action: action.into(),
            target_type: "webhook".into(),
            target_id: Some("3".into()),
            target_label: Some("HR sync".into()),
            details,
        }
    }

    #[test]
    fn known_actions_read_as_sentences() {
        let s = describe(&entry(
            "webhook.disabled",
            json!({"reason": "receiver maintenance", "dead_lettered": 0}),
        ));
        assert_eq!(
            (s.verb.as_str(), s.tail.as_str()),
            ("disabled webhook", ": receiver maintenance")
        );
        let s = describe(&entry(
            "webhook.updated",
            json!({"changed": ["name", "endpoint_url"]}),
        ));
        assert_eq!(s.tail, ": name, endpoint url");
        let s = describe(&entry("dead_letters.replayed", json!({"count": 1})));
        assert_eq!(format!("{}{}", s.verb, s.tail), "replayed 1 dead letter");
        let s = describe(&entry("webhook.disabled", json!({"dead_lettered": 3})));
        assert_eq!(s.tail, " (3 deliveries to the dead-letter queue)");
        let s = describe(&entry(
            "user.role_changed",
            json!({"from": "viewer", "to": "admin"}),
        ));
        assert_eq!(s.tail, " from viewer to admin");
    }

    #[test]
    fn unknown_actions_still_read() {
        let s = describe(&entry("webhook.something_new", json!({})));
        assert_eq!(s.verb, "webhook something new");
    }
}
