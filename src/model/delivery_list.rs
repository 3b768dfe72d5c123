//! Listing deliveries: filters (status, webhook, event type, time range, an event or delivery
//! id) and keyset pagination newest first. Ids are UUID v7, which sort by creation time, so
//! "older than this id" pages stay fast however many rows there are.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{deliveries, webhooks};

pub const STATUSES: [&str; 5] = ["pending", "delivering", "delivered", "dead", "discarded"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryFilter {
    pub status: Option<String>,
    pub webhook_id: Option<i64>,
    pub event_type: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// A delivery id or an event id.
    pub id: Option<Uuid>,
}

/// Which page: the newest, rows older than a cursor, or rows newer than one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Newest,
    Before(Uuid),
    After(Uuid),
}

/// One row of a list, with its webhook's name.
#[derive(Debug, Clone, Queryable)]
pub struct ListedDelivery {
    pub id: Uuid,
    pub webhook_id: i64,
    pub webhook_name: String,
    pub event_id: Option<Uuid>,
    pub event_type: String,
    pub status: String,
    pub event_count: i32,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error_kind: Option<String>,
    pub last_error: Option<String>,
    pub dead_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A page of rows and whether there are older and newer ones.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    pub items: Vec<ListedDelivery>,
    pub has_older: bool,
    pub has_newer: bool,
}

type Columns = (
    deliveries::id,
    deliveries::webhook_id,
    webhooks::name,
    deliveries::event_id,
    deliveries::event_type,
    deliveries::status,
    deliveries::event_count,
    deliveries::attempts,
    deliveries::next_attempt_at,
    deliveries::last_attempt_at,
    deliveries::last_status,
    deliveries::last_error_kind,
    deliveries::last_error,
    deliveries::dead_reason,
    deliveries::created_at,
);

const COLUMNS: Columns = (
    deliveries::id,
    deliveries::webhook_id,
    webhooks::name,
    deliveries::event_id,
    deliveries::event_type,
    deliveries::status,
    deliveries::event_count,
    deliveries::attempts,
    deliveries::next_attempt_at,
    deliveries::last_attempt_at,
    deliveries::last_status,
    deliveries::last_error_kind,
    deliveries::last_error,
    deliveries::dead_reason,
    deliveries::created_at,
);

type Boxed<'a> = deliveries::BoxedQuery<'a, Pg>;

/// The filter's conditions on `deliveries`.
fn filtered(filter: &DeliveryFilter) -> Boxed<'static> {
    let mut query = deliveries::table.into_boxed();
    if let Some(status) = &filter.status {
        query = query.filter(deliveries::status.eq(status.clone()));
    }
    if let Some(webhook_id) = filter.webhook_id {
        query = query.filter(deliveries::webhook_id.eq(webhook_id));
    }
    if let Some(event_type) = &filter.event_type {
        query = query.filter(deliveries::event_type.eq(event_type.clone()));
    }
    // Ids are UUID v7: a time bound is an id bound, served by the primary key.
    if let Some(from) = filter.from {
        query = query.filter(deliveries::id.ge(first_id_at(from)));
    }
    if let Some(to) = filter.to {
        query = query.filter(deliveries::id.lt(first_id_at(to)));
    }
    if let Some(id) = filter.id {
        query = query.filter(deliveries::id.eq(id).or(deliveries::event_id.eq(id)));
    }
    query
}

pub fn page(
    conn: &mut PgConnection,
    filter: &DeliveryFilter,
    cursor: Cursor,
    per_page: i64,
) -> QueryResult<DeliveryPage> {
    let ids_query = filtered(filter).select(deliveries::id);
    let ids_query = match cursor {
        Cursor::Newest => ids_query.order(deliveries::id.desc()),
        Cursor::Before(id) => ids_query
            .filter(deliveries::id.lt(id))
            .order(deliveries::id.desc()),
        Cursor::After(id) => ids_query
            .filter(deliveries::id.gt(id))
            .order(deliveries::id.asc()),
    };
    let mut ids: Vec<Uuid> = ids_query.limit(per_page + 1).load(conn)?;
    let more = ids.len() as i64 > per_page;
    ids.truncate(per_page as usize);
    let mut items: Vec<ListedDelivery> = deliveries::table
        .inner_join(webhooks::table)
        .filter(deliveries::id.eq_any(&ids))
        .select(COLUMNS)
        .load(conn)?;
    items.sort_by_key(|row| std::cmp::Reverse(row.id));
    let (has_older, has_newer) = match cursor {
        Cursor::Newest => (more, false),
        Cursor::Before(_) => (more, true),
        Cursor::After(_) => (true, more),
    };
    Ok(DeliveryPage {
        items,
        has_older,
        has_newer,
    })
}

/// How many deliveries match, counted up to `cap` (a list shows "10,000+" rather than
/// counting ten million rows on every page).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpTo {
    pub count: i64,
    /// More than `count` match.
    pub capped: bool,
}

impl std::fmt::Display for UpTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plus = if self.capped { "+" } else { "" };
        write!(f, "{}{plus}", crate::web::counting::thousands(self.count))
    }
}

/// The most a list counts.
pub const COUNT_CAP: i64 = 10_000;

pub fn count_up_to(
    conn: &mut PgConnection,
    filter: &DeliveryFilter,
    cap: i64,
) -> QueryResult<UpTo> {
    let found: Vec<Uuid> = filtered(filter)
        .select(deliveries::id)
        .limit(cap + 1)
        .load(conn)?;
    let found = found.len() as i64;
    Ok(UpTo {
        count: found.min(cap),
        capped: found > cap,
    })
}

/// How many deliveries match (for "replay all N that match").
pub fn count(conn: &mut PgConnection, filter: &DeliveryFilter) -> QueryResult<i64> {
    filtered(filter).count().get_result(conn)
}

/// The ids of every matching delivery (for bulk actions), oldest first.
pub fn ids(conn: &mut PgConnection, filter: &DeliveryFilter) -> QueryResult<Vec<Uuid>> {
    filtered(filter)
        .select(deliveries::id)
        .order(deliveries::id.asc())
        .load(conn)
}

/// The smallest UUID v7 created at `at` (every later id is greater): its millisecond
/// timestamp, the version and variant bits, and zeros.
pub fn first_id_at(at: DateTime<Utc>) -> Uuid {
    let millis = at.timestamp_millis().max(0) as u128 & 0xffff_ffff_ffff;
    Uuid::from_u128((millis << 80) | (0x7 << 76) | (0b10 << 62))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_order_like_the_ids_made_then() {
        let before = Utc::now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let id = Uuid::now_v7();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let after = Utc::now();
        assert!(first_id_at(before) < id);
        assert!(id < first_id_at(after));
        assert_eq!(first_id_at(before).get_version_num(), 7);
    }
}
