//! Retention and the history partitions. History is partitioned by week (migration 15): a
//! week that ended more than the retention period ago is detached and dropped whole, after
//! its dead letters and unfinished deliveries (with their attempts, batch members and events)
//! are moved into the `_kept` partitions. Rows there (and rows older than the first week) are
//! deleted a thousand per statement once delivered or discarded and old enough, so the job
//! never holds long locks. Dead letters stay until they are replayed or discarded; pending
//! deliveries are never touched. Each run also creates the weeks ahead.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamptz};
use tokio_util::sync::CancellationToken;

use crate::db::PgPool;
use crate::db::partitions::{self, Week};

/// Rows per DELETE.
pub const BATCH: i64 = 1000;
/// Only one process runs the job at a time (an advisory lock with this key).
const LOCK_KEY: i64 = 0x4845_5241_4c44; // "HERALD"
/// How long dropping a week may wait for the tables' locks before trying again next run.
const LOCK_TIMEOUT: &str = "5s";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Whole weeks dropped.
    pub weeks: usize,
    pub deliveries: usize,
    pub events: usize,
}

impl Removed {
    fn add(&mut self, other: Removed) {
        self.weeks += other.weeks;
        self.deliveries += other.deliveries;
        self.events += other.events;
    }
}

/// Drops the weeks and deletes the kept rows older than `keep`, then creates the weeks ahead.
pub fn run_once(conn: &mut PgConnection, keep: Duration, batch: i64) -> QueryResult<Removed> {
    let cutoff = Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let mut removed = Removed::default();
    for week in partitions::weeks(conn)? {
        if week.ends() <= cutoff {
            removed.add(drop_week(conn, week)?);
        }
    }
    removed.add(delete_kept(conn, cutoff, batch)?);
    diesel::sql_query("DELETE FROM attempt_counts_hourly WHERE hour < $1")
        .bind::<Timestamptz, _>(cutoff)
        .execute(conn)?;
    partitions::ensure_ahead(conn)?;
    Ok(removed)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Detaches one week from each history table, moves what must stay into the `_kept`
/// partitions and drops the rest, in one transaction (quick: what stays is found through the
/// partial index of open deliveries and the primary keys).
fn drop_week(conn: &mut PgConnection, week: Week) -> QueryResult<Removed> {
    let [deliveries, attempts, members, events] = partitions::TABLES.map(|t| week.partition_of(t));
    conn.transaction(|conn| {
        diesel::sql_query(format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")).execute(conn)?;
        for (table, partition) in
            partitions::TABLES
                .iter()
                .zip([&deliveries, &attempts, &members, &events])
        {
            diesel::sql_query(format!("ALTER TABLE {table} DETACH PARTITION {partition}"))
                .execute(conn)?;
        }
        let kept = "SELECT id FROM {deliveries} WHERE status IN ('pending', 'delivering', 'dead')"
            .replace("{deliveries}", &deliveries);
        let moved = diesel::sql_query(format!(
            "INSERT INTO deliveries SELECT * FROM {deliveries} WHERE id IN ({kept})"
        ))
        .execute(conn)?;
        diesel::sql_query(format!(
            "INSERT INTO delivery_attempts SELECT * FROM {attempts} WHERE delivery_id IN ({kept})"
        ))
        .execute(conn)?;
        diesel::sql_query(format!(
            "INSERT INTO delivery_events SELECT * FROM {members} WHERE delivery_id IN ({kept})"
        ))
        .execute(conn)?;
        // Events still referred to: by what was just kept, or by a later delivery (a
        // redelivery, a batch that closed in the next week).
        let kept_events = diesel::sql_query(format!(
            "INSERT INTO events SELECT * FROM {events} e WHERE e.id IN (
                 SELECT event_id FROM deliveries
                 WHERE event_id >= herald_uuid_at($1) AND event_id < herald_uuid_at($2)
                 UNION ALL
                 SELECT event_id FROM delivery_events
                 WHERE event_id >= herald_uuid_at($1) AND event_id < herald_uuid_at($2))"
        ))
        .bind::<Timestamptz, _>(week.starts)
        .bind::<Timestamptz, _>(week.ends())
        .execute(conn)?;
        let count = |conn: &mut PgConnection, table: &str| -> QueryResult<usize> {
            let c: Count =
                diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")).get_result(conn)?;
            Ok(c.n as usize)
        };
        let removed = Removed {
            weeks: 1,
            deliveries: count(conn, &deliveries)? - moved,
            events: count(conn, &events)? - kept_events,
        };
        diesel::sql_query(format!(
            "DROP TABLE {deliveries}, {attempts}, {members}, {events}"
        ))
        .execute(conn)?;
        Ok(removed)
    })
}

/// Deletes, from the `_kept` partitions, delivered and discarded deliveries older than
/// `cutoff` (with their attempts and batch members), events nothing refers to any more, and
/// idempotency keys.
fn delete_kept(conn: &mut PgConnection, cutoff: DateTime<Utc>, batch: i64) -> QueryResult<Removed> {
    let mut removed = Removed::default();
    let cutoff_id = crate::model::delivery_list::first_id_at(cutoff);
    loop {
        let gone: Count = diesel::sql_query(
            "WITH gone AS (
                 DELETE FROM deliveries_kept WHERE id IN (
                     SELECT id FROM deliveries_kept
                     WHERE status IN ('delivered', 'discarded') AND id < $1
                     LIMIT $2)
                 RETURNING id
             ), attempts AS (
                 DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM gone)
             ), members AS (
                 DELETE FROM delivery_events WHERE delivery_id IN (SELECT id FROM gone)
             )
             SELECT count(*) AS n FROM gone",
        )
        .bind::<diesel::sql_types::Uuid, _>(cutoff_id)
        .bind::<BigInt, _>(batch)
        .get_result(conn)?;
        removed.deliveries += gone.n as usize;
        if gone.n < batch {
            break;
        }
    }
    loop {
        let n = diesel::sql_query(
            "DELETE FROM events_kept WHERE id IN (
                 SELECT e.id FROM events_kept e
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
    loop {
        let n = diesel::sql_query(
            "DELETE FROM event_keys WHERE idempotency_key IN (
                 SELECT idempotency_key FROM event_keys WHERE created_at < $1 LIMIT $2)",
        )
        .bind::<Timestamptz, _>(cutoff)
        .bind::<BigInt, _>(batch)
        .execute(conn)?;
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
                    weeks = removed.weeks,
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
