//! The filters of the deliveries and dead-letter lists, from the query string, parsed once
//! into a `DeliveryFilter`; a value that cannot be read is reported beside its field.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::model::delivery_list::{Cursor, DeliveryFilter, STATUSES};
use crate::validation::FieldErrors;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeliveryQuery {
    pub status: String,
    pub webhook: String,
    pub event_type: String,
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (UTC).
    pub from: String,
    pub to: String,
    /// A delivery id or an event id.
    pub q: String,
    pub before: String,
    pub after: String,
    /// "on": the page reloads itself every 10 s.
    pub auto: String,
}

impl DeliveryQuery {
    pub fn filter(&self, errors: &mut FieldErrors) -> DeliveryFilter {
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        DeliveryFilter {
            status: text(&self.status).and_then(|s| {
                errors.check("status", || {
                    STATUSES
                        .contains(&s.as_str())
                        .then_some(s.clone())
                        .ok_or_else(|| "Choose a status from the list.".to_owned())
                })
            }),
            webhook_id: text(&self.webhook).and_then(|w| {
                errors.check("webhook", || {
                    w.parse::<i64>()
                        .map_err(|_| "Choose a webhook from the list.".to_owned())
                })
            }),
            event_type: text(&self.event_type).and_then(|v| {
                errors.check("event_type", || {
                    crate::validation::single_line(&v).map(str::to_owned)
                })
            }),
            from: text(&self.from).and_then(|v| errors.check("from", || parse_time(&v))),
            to: text(&self.to).and_then(|v| errors.check("to", || parse_time(&v))),
            id: text(&self.q).and_then(|v| {
                errors.check("q", || {
                    Uuid::parse_str(&v).map_err(|_| {
                        "Paste a whole delivery or event id (a UUID such as 019aa9c4-…).".to_owned()
                    })
                })
            }),
        }
    }

    pub fn cursor(&self) -> Cursor {
        if let Ok(id) = Uuid::parse_str(self.before.trim()) {
            Cursor::Before(id)
        } else if let Ok(id) = Uuid::parse_str(self.after.trim()) {
            Cursor::After(id)
        } else {
            Cursor::Newest
        }
    }

    pub fn auto_refresh(&self) -> bool {
        self.auto == "on"
    }

    /// The query string of these filters (without the cursor), for links and forms.
    /// The filters in use as a query string; empty ones are left out, so links stay short.
    pub fn filters_query(&self) -> String {
        crate::web::query_string::filters(&[
            ("status", &self.status),
            ("webhook", &self.webhook),
            ("event_type", &self.event_type),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
            ("auto", &self.auto),
        ])
    }

    pub fn is_filtered(&self) -> bool {
        [
            &self.status,
            &self.webhook,
            &self.event_type,
            &self.from,
            &self.to,
            &self.q,
        ]
        .iter()
        .any(|v| !v.trim().is_empty())
    }
}

fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc());
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(raw, format) {
            return Ok(at.and_utc());
        }
    }
    raw.parse::<DateTime<Utc>>()
        .map_err(|_| "Use a date like 2026-11-22 or 2026-11-22T14:30 (UTC).".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_bad_values_are_named() {
        let query = DeliveryQuery {
            status: "dead".into(),
            webhook: "7".into(),
            from: "2026-11-01".into(),
            to: "2026-11-02T10:30".into(),
            q: "nope".into(),
            ..Default::default()
        };
        let mut errors = FieldErrors::default();
        let filter = query.filter(&mut errors);
        assert_eq!(filter.status.as_deref(), Some("dead"));
        assert_eq!(filter.webhook_id, Some(7));
        assert_eq!(
            filter.from.unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(filter.to.unwrap().to_rfc3339(), "2026-11-02T10:30:00+00:00");
        assert!(filter.id.is_none());
        assert!(errors.has("q"));
        let mut errors = FieldErrors::default();
        let bad = DeliveryQuery {
            status: "exploded".into(),
            webhook: "x".into(),
            ..Default::default()
        };
        bad.filter(&mut errors);
        assert!(errors.has("status") && errors.has("webhook"));
    }
}
