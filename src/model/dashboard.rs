//! The dashboard's figures: attempts of the last 24 hours (from the hourly counts), the queue,
//! dead letters, webhooks failing or paused now, webhooks disabled automatically, and the
//! latest failed attempts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use uuid::Uuid;

#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub queued: i64,
    pub oldest_queued_at: Option<DateTime<Utc>>,
    /// Dead letters waiting, counted up to 10,000.
    pub dead: crate::model::delivery_list::UpTo,
    pub auto_disabled: Vec<(i64, String, Option<String>)>,
    pub recent_failures: Vec<RecentFailure>,
    /// Webhooks whose breaker is open now, or that the receiver paused (failing first).
    pub held_back: Vec<HeldBack>,
    /// How many webhooks are failing now (`held_back` lists at most [`HELD_BACK_SHOWN`]).
    pub failing: i64,
    pub paused: i64,
}

pub const HELD_BACK_SHOWN: i64 = 20;

/// Attempts of the last 24 hours (the current hour and the 23 before it), all webhooks.
#[derive(Debug, Clone, Copy, Default)]
pub struct DayCounts {
    pub delivered: i64,
    pub failed: i64,
    /// Attempts that made their delivery a dead letter.
    pub dead: i64,
}

impl DayCounts {
    /// The sum of the hours (from [`crate::model::activity::hourly`]).
    pub fn of(hours: &[crate::model::activity::HourCounts]) -> Self {
        hours.iter().fold(Self::default(), |sum, h| Self {
            delivered: sum.delivered + h.delivered,
            failed: sum.failed + h.failed,
            dead: sum.dead + h.dead,
        })
    }

    pub fn attempts(&self) -> i64 {
        self.delivered + self.failed
    }
}

/// A webhook that is failing or paused now, with its flow row.
#[derive(Debug, Clone, QueryableByName)]
pub struct HeldBack {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub enabled: bool,
    #[diesel(embed)]
    pub flow: crate::model::webhook_flow::WebhookFlow,
}

#[derive(Debug, Clone, QueryableByName)]
pub struct RecentFailure {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub delivery_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub webhook_id: i64,
    #[diesel(sql_type = Text)]
    pub webhook_name: String,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = Integer)]
    pub number: i32,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Nullable<Integer>)]
    pub response_status: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error_kind: Option<String>,
}

impl RecentFailure {
    pub fn result(&self) -> String {
        match (&self.response_status, &self.error_kind) {
            (Some(status), _) => format!("HTTP {status}"),
            (None, Some(kind)) => kind.clone(),
            _ => String::new(),
        }
    }
}

pub fn overview(conn: &mut PgConnection) -> QueryResult<Overview> {
    use crate::db::schema::{deliveries, webhooks};
    let (queued, oldest_queued_at): (i64, Option<DateTime<Utc>>) = deliveries::table
        .filter(deliveries::status.eq_any(["pending", "delivering"]))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(deliveries::created_at),
        ))
        .first(conn)?;
    let dead = crate::model::delivery_list::count_up_to(
        conn,
        &crate::model::delivery_list::DeliveryFilter {
            status: Some("dead".into()),
            ..Default::default()
        },
        crate::model::delivery_list::COUNT_CAP,
    )?;
    let auto_disabled = webhooks::table
        .filter(webhooks::enabled.eq(false))
        .filter(webhooks::disabled_by.is_null())
        .order(webhooks::disabled_at.desc())
        .select((webhooks::id, webhooks::name, webhooks::disabled_reason))
        .limit(20)
        .load(conn)?;
    let recent_failures = crate::db::prepared::sql(
        "SELECT a.delivery_id, a.webhook_id, w.name AS webhook_name, d.event_type, a.started_at,
                a.number, a.outcome, a.response_status, a.error_kind
         FROM delivery_attempts a
         JOIN webhooks w ON w.id = a.webhook_id
         JOIN deliveries d ON d.id = a.delivery_id
         WHERE a.outcome <> 'delivered'
         ORDER BY a.started_at DESC
         LIMIT 10",
    )
    .load(conn)?;
    let held_back = crate::db::prepared::sql(
        "SELECT w.name, w.enabled, f.*
         FROM webhook_flow f JOIN webhooks w ON w.id = f.webhook_id
         WHERE f.circuit = 'failing' OR f.paused_until > now()
         ORDER BY f.circuit = 'failing' DESC, f.failing_since, f.paused_until, w.name
         LIMIT $1",
    )
    .bind::<BigInt, _>(HELD_BACK_SHOWN)
    .load(conn)?;
    let (failing, paused) = {
        use crate::db::schema::webhook_flow;
        let failing = webhook_flow::table
            .filter(webhook_flow::circuit.eq("failing"))
            .count()
            .get_result(conn)?;
        let paused = webhook_flow::table
            .filter(webhook_flow::circuit.ne("failing"))
            .filter(webhook_flow::paused_until.gt(diesel::dsl::now))
            .count()
            .get_result(conn)?;
        (failing, paused)
    };
    Ok(Overview {
        held_back,
        failing,
        paused,
        queued,
        oldest_queued_at,
        dead,
        auto_disabled,
        recent_failures,
    })
}
