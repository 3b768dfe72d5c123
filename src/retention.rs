//! Retention: delivered (and discarded) deliveries with their attempts, and events nothing
//! refers to any more, are deleted once older than the retention period, a thousand rows per
//! statement so the job never holds long locks. Dead letters stay until they are replayed or
//! discarded; pending deliveries are never touched.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamptz};
use tokio_util::sync::CancellationToken;

use crate::db::PgPool;

/// Rows per DELETE.
pub const BATCH: i64 = 1000;
/// Only one process runs the job at a time (an advisory lock with this key).
const LOCK_KEY: i64 = 0x4845_5241_4c44; // "HERALD"

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub deliveries: usize,
    pub events: usize,
}

/// Deletes what is older than `keep`, in batches, until nothing is left to delete.
pub fn run_once(conn: &mut PgConnection, keep: Duration, batch: i64) -> QueryResult<Removed> {
    let cutoff = Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let mut removed = Removed::default();
    loop {
        let n = diesel::sql_query(
            "DELETE FROM deliveries WHERE id IN (
                 SELECT id FROM deliveries
                 WHERE status IN ('delivered', 'discarded') AND id < $1
                 LIMIT $2)",
        )
        .bind::<diesel::sql_types::Uuid, _>(crate::model::delivery_list::first_id_at(cutoff))
        .bind::<BigInt, _>(batch)
        .execute(conn)?;
        removed.deliveries += n;
        if (n as i64) < batch {
            break;
        }
    }
    loop {
        let n = diesel::sql_query(
            "DELETE FROM events WHERE id IN (
                 SELECT e.id FROM events e
                 WHERE e.received_at < $1
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
                   AND NOT EXISTS (SELECT 1 FROM delivery_events de WHERE de.event_id = e.id)
                 LIMIT $2)",
        )
        .bind::<Timestamptz, _>(cutoff)
        .bind::<BigInt, _>(batch)
        .execute(conn)?;
        removed.events += n;
        if (n as i64) < batch {
            break;
        }
    }
    Ok(removed)
}

/// Runs the job every `every` until `stop`, in one process at a time.
pub fn spawn(
    pool: PgPool,
    keep: Duration,
    every: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
            let pool = pool.clone();
            let ran = tokio::task::spawn_blocking(move || {
                let mut conn = pool.get()?;
                let locked: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                    &format!("pg_try_advisory_lock({LOCK_KEY})"),
                ))
                .get_result(&mut conn)?;
                if !locked {
                    return Ok(None);
                }
                let result = run_once(&mut conn, keep, BATCH);
                diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                    "pg_advisory_unlock({LOCK_KEY})"
                )))
                .get_result::<bool>(&mut conn)?;
                Ok::<_, anyhow::Error>(Some(result?))
            })
            .await;
            match ran {
                Ok(Ok(Some(removed))) if removed != Removed::default() => tracing::info!(
                    deliveries = removed.deliveries,
                    events = removed.events,
                    "retention: deleted old deliveries and events"
                ),
                Ok(Err(err)) => tracing::error!("retention job failed: {err:#}"),
                _ => {}
            }
        }
    })
}
