//! Where PostgreSQL's work goes in one run: statements (from `pg_stat_statements`, when the
//! server loads it), commits, WAL bytes, and rows inserted, updated (HOT or not) and deleted
//! per table, each divided by the deliveries the run made.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

/// PostgreSQL publishes an idle backend's table and database counters within 10 s
/// (`PGSTAT_IDLE_INTERVAL`); the run's figures are read after that.
pub const STATS_SETTLE: Duration = Duration::from_millis(10_500);

#[derive(QueryableByName, Clone, Default)]
struct TableRow {
    #[diesel(sql_type = Text)]
    relname: String,
    #[diesel(sql_type = BigInt)]
    ins: i64,
    #[diesel(sql_type = BigInt)]
    upd: i64,
    #[diesel(sql_type = BigInt)]
    hot: i64,
    #[diesel(sql_type = BigInt)]
    del: i64,
}

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = BigInt)]
    wal: i64,
    #[diesel(sql_type = BigInt)]
    commits: i64,
}

#[derive(QueryableByName)]
struct StatementRow {
    #[diesel(sql_type = Text)]
    query: String,
    #[diesel(sql_type = BigInt)]
    calls: i64,
    #[diesel(sql_type = Double)]
    total_ms: f64,
    #[diesel(sql_type = Double)]
    plan_ms: f64,
    #[diesel(sql_type = BigInt)]
    wal_bytes: i64,
}

/// The counters at the start of a run.
pub struct Baseline {
    wal: i64,
    commits: i64,
    tables: BTreeMap<String, TableRow>,
    statements: bool,
}

/// Resets the statement counters and reads the others.
pub fn start(conn: &mut PgConnection) -> anyhow::Result<Baseline> {
    let statements = diesel::sql_query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(conn)
        .and_then(|_| diesel::sql_query("SELECT pg_stat_statements_reset()").execute(conn))
        .is_ok();
    let totals = totals(conn)?;
    Ok(Baseline {
        wal: totals.wal,
        commits: totals.commits,
        tables: tables(conn)?,
        statements,
    })
}

fn totals(conn: &mut PgConnection) -> QueryResult<Totals> {
    diesel::sql_query(
        "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS wal,
                xact_commit AS commits
         FROM pg_stat_database WHERE datname = current_database()",
    )
    .get_result(conn)
}

fn tables(conn: &mut PgConnection) -> QueryResult<BTreeMap<String, TableRow>> {
    let rows: Vec<TableRow> = diesel::sql_query(
        "SELECT relname::text AS relname, n_tup_ins AS ins, n_tup_upd AS upd,
                n_tup_hot_upd AS hot, n_tup_del AS del
         FROM pg_stat_user_tables",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.relname.clone(), r)).collect())
}

/// What one run cost the database, per delivery.
pub struct Breakdown {
    pub deliveries: f64,
    pub commits: f64,
    pub wal_bytes: f64,
    /// (table, inserted, updated, of which HOT, deleted), per delivery.
    tables: Vec<(String, f64, f64, f64, f64)>,
    /// (statement, calls, ms, WAL bytes), per delivery; the costliest first.
    statements: Vec<(String, f64, f64, f64, f64)>,
}

/// Reads the counters after a run of `deliveries` deliveries (waits for them to settle).
pub fn finish(
    conn: &mut PgConnection,
    baseline: &Baseline,
    deliveries: u64,
) -> anyhow::Result<Breakdown> {
    std::thread::sleep(STATS_SETTLE);
    let n = deliveries.max(1) as f64;
    let totals = totals(conn)?;
    let mut table_rows = Vec::new();
    for (name, after) in tables(conn)? {
        let before = baseline.tables.get(&name).cloned().unwrap_or_default();
        let row = (
            name,
            (after.ins - before.ins) as f64 / n,
            (after.upd - before.upd) as f64 / n,
            (after.hot - before.hot) as f64 / n,
            (after.del - before.del) as f64 / n,
        );
        if row.1 + row.2 + row.4 > 0.0005 {
            table_rows.push(row);
        }
    }
    table_rows.sort_by(|a, b| (b.1 + b.2 + b.4).total_cmp(&(a.1 + a.2 + a.4)));
    let statements = if baseline.statements {
        let rows: Vec<StatementRow> = diesel::sql_query(
            "SELECT query, calls, total_exec_time AS total_ms, total_plan_time AS plan_ms,
                    wal_bytes::bigint AS wal_bytes
             FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND query NOT LIKE '%pg_stat%' AND query NOT LIKE '%pg_current_wal_lsn%'
             ORDER BY total_exec_time + total_plan_time DESC",
        )
        .load(conn)?;
        rows.into_iter()
            .map(|r| {
                (
                    one_line(&r.query),
                    r.calls as f64 / n,
                    r.total_ms / n,
                    r.plan_ms / n,
                    r.wal_bytes as f64 / n,
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Breakdown {
        deliveries: n,
        commits: (totals.commits - baseline.commits) as f64 / n,
        wal_bytes: (totals.wal - baseline.wal) as f64 / n,
        tables: table_rows,
        statements,
    })
}

fn one_line(query: &str) -> String {
    let flat = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 96 {
        format!("{}…", flat.chars().take(95).collect::<String>())
    } else {
        flat
    }
}

impl Breakdown {
    /// Statement calls per delivery, in all.
    pub fn statements_per_delivery(&self) -> f64 {
        self.statements.iter().map(|s| s.1).sum()
    }

    /// Statement execution time per delivery, in all (ms).
    pub fn statement_ms_per_delivery(&self) -> f64 {
        self.statements.iter().map(|s| s.2).sum()
    }

    /// Statement planning time per delivery, in all (ms; `pg_stat_statements.track_planning`).
    pub fn plan_ms_per_delivery(&self) -> f64 {
        self.statements.iter().map(|s| s.3).sum()
    }

    /// Rows written (inserted + updated + deleted) per delivery, and of the updates how many
    /// were HOT (no index touched).
    pub fn rows_written(&self) -> (f64, f64, f64) {
        let written = self.tables.iter().map(|t| t.1 + t.2 + t.4).sum();
        let updated = self.tables.iter().map(|t| t.2).sum();
        let hot = self.tables.iter().map(|t| t.3).sum();
        (written, updated, hot)
    }

    pub fn print(&self) {
        println!(
            "    database work per delivery ({:.0} deliveries): {:.2} commits, {:.0} WAL bytes, {:.2} statements taking {:.3} ms to run and {:.3} ms to plan",
            self.deliveries,
            self.commits,
            self.wal_bytes,
            self.statements_per_delivery(),
            self.statement_ms_per_delivery(),
            self.plan_ms_per_delivery()
        );
        println!(
            "      {:<30} {:>9} {:>9} {:>9} {:>9}",
            "table", "inserted", "updated", "of: HOT", "deleted"
        );
        for (name, ins, upd, hot, del) in &self.tables {
            println!("      {name:<30} {ins:>9.3} {upd:>9.3} {hot:>9.3} {del:>9.3}");
        }
        if !self.statements.is_empty() {
            println!(
                "      {:>7} {:>8} {:>8} {:>8}  statement (per delivery: calls, ms to run, ms to plan, WAL bytes)",
                "calls", "run ms", "plan ms", "WAL"
            );
            for (query, calls, ms, plan, wal) in self.statements.iter().take(14) {
                println!("      {calls:>7.3} {ms:>8.4} {plan:>8.4} {wal:>8.0}  {query}");
            }
        }
    }
}
