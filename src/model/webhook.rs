//! `webhooks`, `webhook_events` and `webhook_headers`: the stored settings. Secret columns hold
//! ciphertexts from `SecretBox`; this module never sees clear secrets.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{PageRequest, Paged};
use crate::db::schema::{webhook_events, webhook_headers, webhooks};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = webhooks, check_for_backend(diesel::pg::Pg))]
pub struct Webhook {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub endpoint_url: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_by: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub all_events: bool,
    pub dispatch_mode: String,
    pub batch_window_minutes: Option<i32>,
    pub batch_max_events: Option<i32>,
    pub auth_kind: String,
    pub basic_username: Option<String>,
    pub basic_password_enc: Option<Vec<u8>>,
    pub auth_header_enc: Option<Vec<u8>>,
    pub signing_enabled: bool,
    pub signing_secret_enc: Option<Vec<u8>>,
    pub previous_signing_secret_enc: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub retry_policy: String,
    pub retry_initial_seconds: i32,
    pub retry_factor: f64,
    pub retry_max_delay_seconds: i32,
    pub retry_max_attempts: i32,
    pub on_client_error: String,
    pub disable_when_exhausted: bool,
    pub timeout_seconds: i32,
    pub created_by: String,
    pub updated_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Requests in flight at once toward this receiver, across every worker.
    pub max_in_flight: i32,
    /// Requests per second toward this receiver; `None` = no limit.
    pub rate_limit_per_second: Option<i32>,
    /// `herald`, `xapi`, `caliper_1_1` or `caliper_1_2` (see `standards::PayloadFormat`).
    pub payload_format: String,
    /// Set with the standards formats: the LMS home page of learner accounts.
    pub actor_home_page: Option<String>,
    /// Set with the standards formats: the base of activity IRIs.
    pub activity_base_iri: Option<String>,
}

impl Webhook {
    /// Disabled by the delivery worker rather than by a person.
    pub fn disabled_automatically(&self) -> bool {
        !self.enabled && self.disabled_by.is_none()
    }

    pub fn retry(&self) -> crate::webhooks::retry::RetryPolicy {
        crate::webhooks::retry::RetryPolicy::from_columns(
            &self.retry_policy,
            self.retry_initial_seconds,
            self.retry_factor,
            self.retry_max_delay_seconds,
            self.retry_max_attempts,
        )
    }

    pub fn dispatch(&self) -> crate::webhooks::dispatch::DispatchTiming {
        use crate::webhooks::dispatch::DispatchTiming;
        match (
            self.dispatch_mode.as_str(),
            self.batch_window_minutes,
            self.batch_max_events,
        ) {
            ("batched", Some(window_minutes), Some(max_events)) => DispatchTiming::Batched {
                window_minutes,
                max_events,
            },
            _ => DispatchTiming::Immediate,
        }
    }

    pub fn payload_format(&self) -> crate::standards::PayloadFormat {
        crate::standards::PayloadFormat::from_column(&self.payload_format)
    }

    /// The standards settings, when both are stored and still parse.
    pub fn standards_settings(&self) -> Option<crate::standards::StandardsSettings> {
        crate::standards::StandardsSettings::parse(
            self.actor_home_page.as_deref()?,
            self.activity_base_iri.as_deref()?,
        )
        .ok()
    }

    /// Whether the rotated-out secret still signs alongside the current one.
    pub fn previous_secret_active(&self, now: DateTime<Utc>) -> bool {
        self.previous_signing_secret_enc.is_some()
            && self.previous_secret_expires_at.is_some_and(|at| at > now)
    }
}

/// Every column a create or an edit writes.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = webhooks, treat_none_as_null = true)]
pub struct WebhookValues {
    pub name: String,
    pub description: String,
    pub endpoint_url: String,
    pub all_events: bool,
    pub dispatch_mode: String,
    pub batch_window_minutes: Option<i32>,
    pub batch_max_events: Option<i32>,
    pub auth_kind: String,
    pub basic_username: Option<String>,
    pub basic_password_enc: Option<Vec<u8>>,
    pub auth_header_enc: Option<Vec<u8>>,
    pub signing_enabled: bool,
    pub signing_secret_enc: Option<Vec<u8>>,
    pub retry_policy: String,
    pub retry_initial_seconds: i32,
    pub retry_factor: f64,
    pub retry_max_delay_seconds: i32,
    pub retry_max_attempts: i32,
    pub on_client_error: String,
    pub disable_when_exhausted: bool,
    pub timeout_seconds: i32,
    pub max_in_flight: i32,
    pub rate_limit_per_second: Option<i32>,
    pub payload_format: String,
    pub actor_home_page: Option<String>,
    pub activity_base_iri: Option<String>,
    pub updated_by: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_headers, check_for_backend(diesel::pg::Pg))]
pub struct StoredHeader {
    pub webhook_id: i64,
    pub position: i32,
    pub name: String,
    pub value_enc: Vec<u8>,
}

/// What the list can be narrowed and ordered by.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Matches name or endpoint URL, case-insensitively.
    pub search: Option<String>,
    pub enabled: Option<bool>,
    /// Webhooks that receive this event type (subscribed to it, or to all events).
    pub event_type: Option<String>,
    pub sort: Sort,
}

impl ListFilter {
    /// The filter of a list request's text parameters (console and API alike); unknown values
    /// mean "no filter".
    pub fn from_params(search: &str, status: &str, event: &str, sort: &str) -> Self {
        Self {
            search: Some(search.to_owned()).filter(|q| !q.trim().is_empty()),
            enabled: match status {
                "enabled" => Some(true),
                "disabled" => Some(false),
                _ => None,
            },
            event_type: Some(event.to_owned()).filter(|e| !e.is_empty()),
            sort: Sort::parse(sort),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    NameAsc,
    NameDesc,
    CreatedDesc,
    CreatedAsc,
    UpdatedDesc,
}

impl Sort {
    pub const ALL: [(Sort, &'static str, &'static str); 5] = [
        (Sort::NameAsc, "name", "Name A–Z"),
        (Sort::NameDesc, "-name", "Name Z–A"),
        (Sort::CreatedDesc, "-created", "Newest first"),
        (Sort::CreatedAsc, "created", "Oldest first"),
        (Sort::UpdatedDesc, "-updated", "Recently updated"),
    ];

    pub fn parse(raw: &str) -> Self {
        Self::ALL
            .iter()
            .find(|(_, key, _)| *key == raw)
            .map(|(s, _, _)| *s)
            .unwrap_or_default()
    }

    pub fn key(&self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _, _)| s == self)
            .map(|(_, k, _)| *k)
            .unwrap_or("name")
    }
}

fn filtered(filter: &ListFilter) -> webhooks::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = webhooks::table.into_boxed();
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let pattern = format!(
            "%{}%",
            search
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        query = query.filter(
            webhooks::name
                .ilike(pattern.clone())
                .or(webhooks::endpoint_url.ilike(pattern)),
        );
    }
    if let Some(enabled) = filter.enabled {
        query = query.filter(webhooks::enabled.eq(enabled));
    }
    if let Some(event_type) = filter.event_type.clone() {
        let subscribed = webhook_events::table
            .filter(webhook_events::event_type.eq(event_type))
            .select(webhook_events::webhook_id);
        query = query.filter(
            webhooks::all_events
                .eq(true)
                .or(webhooks::id.eq_any(subscribed)),
        );
    }
    query
}

pub fn list(
    conn: &mut PgConnection,
    filter: &ListFilter,
    page: PageRequest,
) -> QueryResult<Paged<Webhook>> {
    let total = filtered(filter).count().get_result(conn)?;
    let query = filtered(filter).select(Webhook::as_select());
    let query = match filter.sort {
        Sort::NameAsc => query.order((webhooks::name.asc(), webhooks::id.asc())),
        Sort::NameDesc => query.order((webhooks::name.desc(), webhooks::id.desc())),
        Sort::CreatedDesc => query.order((webhooks::created_at.desc(), webhooks::id.desc())),
        Sort::CreatedAsc => query.order((webhooks::created_at.asc(), webhooks::id.asc())),
        Sort::UpdatedDesc => query.order((webhooks::updated_at.desc(), webhooks::id.desc())),
    };
    let items = query
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok(Paged { items, total, page })
}

pub fn find(conn: &mut PgConnection, id: i64) -> QueryResult<Option<Webhook>> {
    webhooks::table
        .find(id)
        .select(Webhook::as_select())
        .first(conn)
        .optional()
}

/// Locks the row for the rest of the transaction (edits, toggles and rotation are serialised).
pub fn find_for_update(conn: &mut PgConnection, id: i64) -> QueryResult<Option<Webhook>> {
    webhooks::table
        .find(id)
        .select(Webhook::as_select())
        .for_update()
        .first(conn)
        .optional()
}

pub fn insert(
    conn: &mut PgConnection,
    values: &WebhookValues,
    created_by: &str,
) -> QueryResult<Webhook> {
    diesel::insert_into(webhooks::table)
        .values((values, webhooks::created_by.eq(created_by)))
        .returning(Webhook::as_returning())
        .get_result(conn)
}

pub fn update(conn: &mut PgConnection, id: i64, values: &WebhookValues) -> QueryResult<Webhook> {
    diesel::update(webhooks::table.find(id))
        .set((values, webhooks::updated_at.eq(diesel::dsl::now)))
        .returning(Webhook::as_returning())
        .get_result(conn)
}

pub fn set_enabled(
    conn: &mut PgConnection,
    id: i64,
    enabled: bool,
    reason: Option<&str>,
    by: Option<&str>,
) -> QueryResult<Webhook> {
    let disabled_at = (!enabled).then(Utc::now);
    diesel::update(webhooks::table.find(id))
        .set((
            webhooks::enabled.eq(enabled),
            webhooks::disabled_reason.eq(if enabled { None } else { reason }),
            webhooks::disabled_by.eq(if enabled { None } else { by }),
            webhooks::disabled_at.eq(disabled_at),
            webhooks::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Webhook::as_returning())
        .get_result(conn)
}

pub fn set_secrets(
    conn: &mut PgConnection,
    id: i64,
    current: &[u8],
    previous: Option<&[u8]>,
    previous_expires_at: Option<DateTime<Utc>>,
) -> QueryResult<Webhook> {
    diesel::update(webhooks::table.find(id))
        .set((
            webhooks::signing_secret_enc.eq(current),
            webhooks::previous_signing_secret_enc.eq(previous),
            webhooks::previous_secret_expires_at.eq(previous_expires_at),
            webhooks::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Webhook::as_returning())
        .get_result(conn)
}

/// Deletes the webhook; its deliveries, attempts and hourly counts go with it (foreign keys),
/// and the membership rows of its batches here (history tables have no foreign keys between
/// them, see migration 15).
pub fn delete(conn: &mut PgConnection, id: i64) -> QueryResult<usize> {
    crate::db::prepared::sql(
        "DELETE FROM delivery_events WHERE delivery_id IN
             (SELECT id FROM deliveries WHERE webhook_id = $1 AND event_id IS NULL)",
    )
    .bind::<diesel::sql_types::BigInt, _>(id)
    .execute(conn)?;
    diesel::delete(webhooks::table.find(id)).execute(conn)
}

pub fn events_of(conn: &mut PgConnection, id: i64) -> QueryResult<Vec<String>> {
    webhook_events::table
        .filter(webhook_events::webhook_id.eq(id))
        .select(webhook_events::event_type)
        .order(webhook_events::event_type.asc())
        .load(conn)
}

/// Subscriptions of several webhooks at once (for a list page).
pub fn events_of_many(conn: &mut PgConnection, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    webhook_events::table
        .filter(webhook_events::webhook_id.eq_any(ids))
        .select((webhook_events::webhook_id, webhook_events::event_type))
        .order((
            webhook_events::webhook_id.asc(),
            webhook_events::event_type.asc(),
        ))
        .load(conn)
}

pub fn replace_events(conn: &mut PgConnection, id: i64, events: &[String]) -> QueryResult<()> {
    diesel::delete(webhook_events::table.filter(webhook_events::webhook_id.eq(id)))
        .execute(conn)?;
    let rows: Vec<_> = events
        .iter()
        .map(|event| {
            (
                webhook_events::webhook_id.eq(id),
                webhook_events::event_type.eq(event),
            )
        })
        .collect();
    diesel::insert_into(webhook_events::table)
        .values(rows)
        .execute(conn)?;
    Ok(())
}

pub fn headers_of(conn: &mut PgConnection, id: i64) -> QueryResult<Vec<StoredHeader>> {
    webhook_headers::table
        .filter(webhook_headers::webhook_id.eq(id))
        .select(StoredHeader::as_select())
        .order(webhook_headers::position.asc())
        .load(conn)
}

/// Replaces the headers with `(name, sealed value)` pairs, in order.
pub fn replace_headers(
    conn: &mut PgConnection,
    id: i64,
    headers: &[(String, Vec<u8>)],
) -> QueryResult<()> {
    diesel::delete(webhook_headers::table.filter(webhook_headers::webhook_id.eq(id)))
        .execute(conn)?;
    let rows: Vec<_> = headers
        .iter()
        .enumerate()
        .map(|(position, (name, value))| {
            (
                webhook_headers::webhook_id.eq(id),
                webhook_headers::position.eq(position as i32),
                webhook_headers::name.eq(name),
                webhook_headers::value_enc.eq(value),
            )
        })
        .collect();
    diesel::insert_into(webhook_headers::table)
        .values(rows)
        .execute(conn)?;
    Ok(())
}

/// An enabled webhook and the event types it subscribes to.
#[derive(Debug, Clone, QueryableByName)]
pub struct Subscriber {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub all_events: bool,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    pub batch_window_minutes: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    pub batch_max_events: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub dispatch_mode: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub payload_format: String,
    /// Its subscribed types (empty when `all_events`).
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
    pub types: Vec<String>,
    /// When its settings last changed (a worker's cached sending settings must match it to
    /// take a delivery straight from ingest).
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

impl Subscriber {
    /// Gathers events into batches (a batched webhook with its window and size set).
    pub fn is_batched(&self) -> bool {
        self.dispatch_mode == "batched"
            && self.batch_window_minutes.is_some()
            && self.batch_max_events.is_some()
    }

    /// Subscribed to `event_type`, and able to carry it in its payload format (an xAPI or
    /// Caliper webhook gets no deliveries for types its standard skips).
    pub fn wants(&self, event_type: &str) -> bool {
        (self.all_events || self.types.iter().any(|t| t == event_type))
            && crate::standards::mapping::carries(
                crate::standards::PayloadFormat::from_column(&self.payload_format),
                event_type,
            )
    }
}

/// Every enabled webhook with its subscriptions.
pub fn subscribers(conn: &mut PgConnection) -> QueryResult<Vec<Subscriber>> {
    crate::db::prepared::sql(
        "SELECT w.id, w.all_events, w.batch_window_minutes, w.batch_max_events, w.dispatch_mode,
                w.payload_format, ARRAY(SELECT we.event_type FROM webhook_events we WHERE we.webhook_id = w.id) AS types,
                w.updated_at
         FROM webhooks w
         WHERE w.enabled
         ORDER BY w.id",
    )
    .load(conn)
}

/// Moves whenever any webhook or subscription changes (a trigger bumps it).
pub fn config_version(conn: &mut PgConnection) -> QueryResult<i64> {
    crate::db::schema::webhook_config_version::table
        .select(crate::db::schema::webhook_config_version::version)
        .first(conn)
}
