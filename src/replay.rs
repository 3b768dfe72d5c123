//! Sending deliveries again: replay from the dead-letter queue (one, the selected ones, or all
//! that match a filter), redeliver a delivered or dead delivery, and discard dead letters. A
//! replay is queued at once and its attempt count continues. Deliveries of a disabled webhook
//! are refused: enable the webhook first. Every action is written to the audit log.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};
use serde_json::json;
use uuid::Uuid;

use crate::model::audit::{self, Actor, Change};
use crate::model::delivery;
use crate::model::webhook;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("No such delivery.")]
    NotFound,
    #[error("The webhook {0} is disabled: enable it first, then replay.")]
    WebhookDisabled(String),
    #[error("Only {0} deliveries can be sent again.")]
    WrongStatus(&'static str),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// What a bulk replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replayed {
    pub replayed: usize,
    /// Dead letters left alone because their webhook is disabled.
    pub skipped_disabled: usize,
}

/// Requeues one delivery: a dead letter (`redeliver = false`) or a delivered or dead one
/// ("Redeliver" on its page).
pub fn replay_one(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    redeliver: bool,
) -> Result<delivery::Delivery, ReplayError> {
    conn.transaction(|conn| {
        let found = delivery::find(conn, id)?.ok_or(ReplayError::NotFound)?;
        let allowed: &[&str] = if redeliver {
            &["delivered", "dead"]
        } else {
            &["dead"]
        };
        if !allowed.contains(&found.status.as_str()) {
            return Err(ReplayError::WrongStatus(if redeliver {
                "delivered or dead"
            } else {
                "dead"
            }));
        }
        let hook = webhook::find(conn, found.webhook_id)?.ok_or(ReplayError::NotFound)?;
        if !hook.enabled {
            return Err(ReplayError::WebhookDisabled(hook.name));
        }
        requeue(conn, &[id], allowed)?;
        let action = if redeliver {
            "delivery.redelivered"
        } else {
            "delivery.replayed"
        };
        audit::record(
            conn,
            actor,
            Change {
                action,
                target_type: "delivery",
                target_id: Some(id.to_string()),
                target_label: Some(format!("{} → {}", found.event_type, hook.name)),
                details: json!({ "previous_status": found.status, "attempts_so_far": found.attempts }),
            },
        )?;
        Ok(found)
    })
}

/// Replays the given dead letters (those of enabled webhooks).
pub fn replay_many(
    conn: &mut PgConnection,
    actor: &Actor,
    ids: &[Uuid],
    how: &str,
) -> Result<Replayed, ReplayError> {
    conn.transaction(|conn| {
        let dead = dead_among(conn, ids)?;
        let replayed = requeue(conn, &dead, &["dead"])?;
        let result = Replayed {
            replayed: replayed.len(),
            skipped_disabled: dead.len() - replayed.len(),
        };
        if !replayed.is_empty() {
            audit::record(
                conn,
                actor,
                Change {
                    action: "dead_letters.replayed",
                    target_type: "delivery",
                    target_id: None,
                    target_label: Some(format!("{} dead letters", replayed.len())),
                    details: json!({
                        "how": how,
                        "count": replayed.len(),
                        "skipped_disabled": result.skipped_disabled,
                        "ids": replayed.iter().take(100).collect::<Vec<_>>(),
                    }),
                },
            )?;
        }
        Ok(result)
    })
}

/// Replays every dead letter matching `filter` (its status is forced to dead), a thousand per
/// transaction so no request holds a huge lock set.
pub fn replay_matching(
    conn: &mut PgConnection,
    actor: &Actor,
    filter: &crate::model::delivery_list::DeliveryFilter,
) -> Result<Replayed, ReplayError> {
    let mut filter = filter.clone();
    filter.status = Some("dead".into());
    let ids = crate::model::delivery_list::ids(conn, &filter)?;
    let mut total = Replayed::default();
    for chunk in ids.chunks(1000) {
        let done = replay_many(conn, actor, chunk, "all matching the filter")?;
        total.replayed += done.replayed;
        total.skipped_disabled += done.skipped_disabled;
    }
    Ok(total)
}

/// Marks dead letters discarded: kept in the history, never sent again.
pub fn discard(conn: &mut PgConnection, actor: &Actor, ids: &[Uuid]) -> Result<usize, ReplayError> {
    use crate::db::schema::deliveries;
    conn.transaction(|conn| {
        let discarded: Vec<Uuid> = diesel::update(
            deliveries::table
                .filter(deliveries::id.eq_any(ids))
                .filter(deliveries::status.eq("dead")),
        )
        .set(deliveries::status.eq("discarded"))
        .returning(deliveries::id)
        .get_results(conn)?;
        if !discarded.is_empty() {
            audit::record(
                conn,
                actor,
                Change {
                    action: "dead_letters.discarded",
                    target_type: "delivery",
                    target_id: (discarded.len() == 1).then(|| discarded[0].to_string()),
                    target_label: Some(format!("{} dead letters", discarded.len())),
                    details: json!({ "count": discarded.len(), "ids": discarded.iter().take(100).collect::<Vec<_>>() }),
                },
            )?;
        }
        Ok(discarded.len())
    })
}

/// The ids among `ids` that are dead letters.
/// The dead letters among `ids` (shown before replaying or discarding a selection).
pub fn dead_among(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<Uuid>> {
    use crate::db::schema::deliveries;
    deliveries::table
        .filter(deliveries::id.eq_any(ids))
        .filter(deliveries::status.eq("dead"))
        .select(deliveries::id)
        .load(conn)
}

/// Puts deliveries in one of `from` statuses back in the queue, due now, if their webhook is
/// enabled; returns the ids requeued.
fn requeue(conn: &mut PgConnection, ids: &[Uuid], from: &[&str]) -> QueryResult<Vec<Uuid>> {
    #[derive(QueryableByName)]
    struct Requeued {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let rows: Vec<Requeued> = crate::db::prepared::sql(
        "UPDATE deliveries d
         SET status = 'pending', next_attempt_at = now(), dead_reason = NULL,
             lease_until = NULL, leased_by = NULL
         FROM webhooks w
         WHERE w.id = d.webhook_id AND w.enabled AND d.id = ANY($1) AND d.status = ANY($2)
         RETURNING d.id",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<Array<Text>, _>(from)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
