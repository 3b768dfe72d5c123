//! The weekly partitions of the history tables (`events`, `deliveries`, `delivery_attempts`,
//! `delivery_events`; see migration 15): created ahead at every start and by the maintenance
//! job, listed for retention, which drops whole weeks.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text, Timestamptz};

/// Weeks created ahead of the current one: a process that is not running for this long
/// still leaves partitions in place for whoever ingests meanwhile (and rows of a week that
/// has none wait in the `_kept` partition until it is created).
pub const WEEKS_AHEAD: i64 = 4;

/// The history tables partitioned by week, in the order their weeks are detached.
pub const TABLES: [&str; 4] = [
    "deliveries",
    "delivery_attempts",
    "delivery_events",
    "events",
];

/// Creates the partitions of every week from the one holding `from` to the one holding `to`;
/// returns how many weeks were created.
pub fn ensure_covering(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<i32> {
    #[derive(QueryableByName)]
    struct Created {
        #[diesel(sql_type = Integer)]
        created: i32,
    }
    let row: Created =
        diesel::sql_query("SELECT herald_ensure_history_partitions($1, $2) AS created")
            .bind::<Timestamptz, _>(from)
            .bind::<Timestamptz, _>(to)
            .get_result(conn)?;
    Ok(row.created)
}

/// This week and the next [`WEEKS_AHEAD`].
pub fn ensure_ahead(conn: &mut PgConnection) -> QueryResult<i32> {
    let now = Utc::now();
    ensure_covering(conn, now, now + Duration::weeks(WEEKS_AHEAD))
}

/// One week of history: its partitions are named `{table}_w{YYYYMMDD}` after its Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Week {
    pub starts: DateTime<Utc>,
}

impl Week {
    pub fn ends(&self) -> DateTime<Utc> {
        self.starts + Duration::weeks(1)
    }

    pub fn partition_of(&self, table: &str) -> String {
        format!("{table}_w{}", self.starts.format("%Y%m%d"))
    }

    /// The week a partition name stands for, if it is one of Herald's.
    fn from_partition_name(table: &str, name: &str) -> Option<Self> {
        let date = name.strip_prefix(table)?.strip_prefix("_w")?;
        let day = NaiveDate::parse_from_str(date, "%Y%m%d").ok()?;
        Some(Self {
            starts: Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0)?),
        })
    }
}

/// The weeks that have a `deliveries` partition, oldest first.
pub fn weeks(conn: &mut PgConnection) -> QueryResult<Vec<Week>> {
    #[derive(QueryableByName)]
    struct Partition {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let partitions: Vec<Partition> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'deliveries'::regclass",
    )
    .load(conn)?;
    let mut weeks: Vec<Week> = partitions
        .iter()
        .filter_map(|p| Week::from_partition_name("deliveries", &p.name))
        .collect();
    weeks.sort();
    Ok(weeks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip_to_their_week() {
        let week = Week::from_partition_name("deliveries", "deliveries_w20261123").unwrap();
        assert_eq!(week.starts.to_rfc3339(), "2026-11-23T00:00:00+00:00");
        assert_eq!(week.partition_of("events"), "events_w20261123");
        assert_eq!(week.ends().to_rfc3339(), "2026-11-30T00:00:00+00:00");
        assert_eq!(
            Week::from_partition_name("deliveries", "deliveries_kept"),
            None
        );
        assert_eq!(
            Week::from_partition_name("deliveries", "delivery_events_w20261123"),
            None
        );
    }
}
