//! `event_types`: the catalog of events the platform posts and webhooks subscribe to.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use crate::db::schema::event_types;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = event_types, check_for_backend(diesel::pg::Pg))]
pub struct EventType {
    pub name: String,
    pub category: String,
    pub description: String,
    pub example_payload: Value,
    pub created_at: DateTime<Utc>,
}

impl EventType {
    pub fn example_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.example_payload).unwrap_or_default()
    }
}

/// The whole catalog, by category then name (it is small: tens of rows).
pub fn all(conn: &mut PgConnection) -> QueryResult<Vec<EventType>> {
    event_types::table
        .select(EventType::as_select())
        .order((event_types::category.asc(), event_types::name.asc()))
        .load(conn)
}

pub fn names(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    event_types::table
        .select(event_types::name)
        .order(event_types::name.asc())
        .load(conn)
}

/// The catalog grouped by category, in display order.
pub fn grouped(types: Vec<EventType>) -> Vec<(String, Vec<EventType>)> {
    let mut groups: Vec<(String, Vec<EventType>)> = Vec::new();
    for event_type in types {
        match groups.last_mut() {
            Some((category, items)) if *category == event_type.category => items.push(event_type),
            _ => groups.push((event_type.category.clone(), vec![event_type])),
        }
    }
    groups
}

/// Which of `wanted` are in the catalog.
pub fn existing(conn: &mut PgConnection, wanted: &[String]) -> QueryResult<Vec<String>> {
    event_types::table
        .filter(event_types::name.eq_any(wanted))
        .select(event_types::name)
        .load(conn)
}
