//! One webhook as a single line of the list: a status dot and name, the endpoint shortened
//! (full on hover), the subscribed events, one compact health badge ("failing · 56 in a
//! row"), and the last delivery as a relative time.

use crate::model::health::WebhookHealth;
use crate::model::webhook::Webhook;
use crate::webhooks::flow_state::Flow;

pub struct Row {
    pub webhook: Webhook,
    pub events: Vec<String>,
    pub more_events: usize,
    pub health: WebhookHealth,
    pub flow: Flow,
}

/// The compact health badge: its colour class, its text and the details for its tooltip.
pub struct HealthBadge {
    pub class: &'static str,
    pub text: String,
    pub title: String,
}

impl Row {
    pub fn health_badge(&self) -> HealthBadge {
        let webhook = &self.webhook;
        let health = &self.health;
        // The flow row counts failures for the breaker; the attempts say the same in history.
        let failures = health
            .consecutive_failures
            .max(i64::from(self.flow.consecutive_failures));
        let in_a_row = |what: &str| format!("{what} · {failures} in a row");
        let (class, text) = if !webhook.enabled {
            let state = if webhook.disabled_automatically() {
                ("health-bad", "disabled automatically")
            } else {
                ("health-off", "disabled")
            };
            // The reason is what people look for; a long one is cut (whole on hover).
            let text = match webhook.disabled_reason.as_deref().map(str::trim) {
                Some(reason) if !reason.is_empty() => {
                    let mut short: String = reason.chars().take(40).collect();
                    if reason.chars().count() > 40 {
                        short.push('…');
                    }
                    format!("{} · {short}", state.1)
                }
                _ => state.1.to_owned(),
            };
            (state.0, text)
        } else {
            match self.flow.key() {
                "failing" => ("health-bad", in_a_row("failing")),
                "paused" | "recovering" => (
                    "health-warn",
                    match self.flow.rest() {
                        Some(rest) => format!(
                            "{} · {}",
                            self.flow.key(),
                            rest.trim_end_matches(" (receiver asked)")
                                .trim_matches(|c| c == '(' || c == ')')
                        ),
                        None => self.flow.key().to_owned(),
                    },
                ),
                // The breaker is still closed but the receiver keeps failing.
                _ if failures > 0 => ("health-bad", in_a_row("failing")),
                _ if health.last_attempt_at.is_none() => {
                    ("health-none", "no deliveries yet".to_owned())
                }
                _ => (
                    "health-ok",
                    format!("healthy · {}", health.success_rate_text()),
                ),
            }
        };
        let mut details = vec![self.flow.badge()];
        if let Some(reason) = webhook
            .disabled_reason
            .as_deref()
            .filter(|_| !webhook.enabled)
        {
            details.push(format!("Reason: {reason}"));
        }
        if health.last_attempt_at.is_some() {
            details.push(format!("Last result: {}", health.last_result()));
        }
        details.push(format!(
            "Delivered in the last 24 h: {}",
            health.success_rate_text()
        ));
        HealthBadge {
            class,
            text,
            title: details.join(" · "),
        }
    }

    /// The dot before the name: green enabled, grey disabled, red when failing.
    pub fn status_dot(&self) -> (&'static str, &'static str) {
        match self.health_badge().class {
            _ if !self.webhook.enabled => ("", "disabled"),
            "health-bad" => ("bad", "enabled, failing"),
            "health-warn" => ("warn", "enabled, held back"),
            _ => ("on", "enabled"),
        }
    }

    /// "hr.example.com/…/lms": scheme dropped, middle of a long path elided.
    pub fn endpoint_short(&self) -> String {
        shorten_url(&self.webhook.endpoint_url)
    }

    /// Every subscribed event, for the tooltip of the events cell.
    pub fn events_title(&self) -> String {
        if self.webhook.all_events {
            return "Every event type, including new ones".into();
        }
        let mut title = self.events.join(", ");
        if self.more_events > 0 {
            title.push_str(&format!(" and {} more", self.more_events));
        }
        title
    }
}

/// Drops the scheme and, when the path is long, keeps its first and last segments.
pub fn shorten_url(url: &str) -> String {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (host, path) = without_scheme
        .split_once('/')
        .map_or((without_scheme, ""), |(host, path)| (host, path));
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [] => host.to_owned(),
        [only] => format!("{host}/{only}"),
        [first, last] if first.len() + last.len() < 30 => format!("{host}/{first}/{last}"),
        [.., last] => format!("{host}/…/{last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::shorten_url;

    #[test]
    fn long_paths_keep_the_host_and_the_last_segment() {
        assert_eq!(shorten_url("https://hr.example.com"), "hr.example.com");
        assert_eq!(
            shorten_url("https://hr.example.com/hooks"),
            "hr.example.com/hooks"
        );
        assert_eq!(
            shorten_url("https://hr.example.com/hooks/lms?x=1"),
            "hr.example.com/hooks/lms"
        );
        assert_eq!(
            shorten_url("http://127.0.0.1:9302/hooks/learning-platform/events/receiver-4"),
            "127.0.0.1:9302/…/receiver-4"
        );
    }
}
