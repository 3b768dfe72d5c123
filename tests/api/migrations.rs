use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;
use diesel_migrations::MigrationHarness;
use herald::db::MIGRATIONS;

use crate::helpers::TestDatabase;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn table_count(conn: &mut diesel::PgConnection) -> i64 {
    diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .get_result::<Count>(conn)
    .unwrap()
    .n
}

/// Tables, columns, indexes and constraints: a fingerprint every migration must change.
fn schema_fingerprint(conn: &mut diesel::PgConnection) -> String {
    #[derive(diesel::QueryableByName)]
    struct Fingerprint {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    diesel::sql_query(
        "SELECT coalesce(string_agg(x, ',' ORDER BY x), '') AS text FROM (
             SELECT table_name || '.' || column_name AS x FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
             UNION ALL
             SELECT indexname FROM pg_indexes WHERE schemaname = 'public'
             UNION ALL
             SELECT c.conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE n.nspname = 'public'
         ) parts",
    )
    .get_result::<Fingerprint>(conn)
    .unwrap()
    .text
}

#[test]
fn every_migration_applies_and_reverts_one_by_one() {
    let database = TestDatabase::empty();
    let mut conn = database.connect();
    let total = migration_dirs();
    // Up one at a time, each changing the schema…
    let mut applied = 0;
    while conn.has_pending_migration(MIGRATIONS).unwrap() {
        let before = schema_fingerprint(&mut conn);
        conn.run_next_migration(MIGRATIONS).unwrap();
        assert_ne!(
            schema_fingerprint(&mut conn),
            before,
            "migration {applied} changed nothing"
        );
        applied += 1;
    }
    assert!(applied >= 2);
    assert_eq!(applied, total);
    // …then down one at a time, each undoing its change.
    while !conn.applied_migrations().unwrap().is_empty() {
        let before = schema_fingerprint(&mut conn);
        conn.revert_last_migration(MIGRATIONS).unwrap();
        assert_ne!(schema_fingerprint(&mut conn), before);
    }
    assert_eq!(table_count(&mut conn), 0);
    // And up again from nothing.
    herald::db::run_migrations(&mut conn).unwrap();
    assert!(table_count(&mut conn) >= 3);
}

/// How many migrations the repository holds: one folder each.
fn migration_dirs() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().is_dir())
        .count()
}

#[derive(diesel::QueryableByName)]
struct Located {
    #[diesel(sql_type = diesel::sql_types::Text)]
    place: String,
}

/// Where each row of `table` lives (its table or partition), sorted.
fn places(conn: &mut diesel::PgConnection, table: &str) -> Vec<String> {
    diesel::sql_query(format!(
        "SELECT tableoid::regclass::text AS place FROM {table} ORDER BY 1"
    ))
    .load::<Located>(conn)
    .unwrap()
    .into_iter()
    .map(|l| l.place)
    .collect()
}

/// Migration 15 moves the history into weekly partitions and back, row for row: events (with
/// their idempotency keys), immediate and batch deliveries, batch members and attempts, and
/// fills the hourly counts from the attempts.
#[test]
fn history_moves_into_weekly_partitions_and_back_with_its_data() {
    let database = TestDatabase::empty();
    let mut conn = database.connect();
    while conn.applied_migrations().unwrap().len() < 14 {
        conn.run_next_migration(MIGRATIONS).unwrap();
    }
    // Ids as Herald makes them (UUID v7), in SQL.
    diesel::sql_query(
        "CREATE FUNCTION pg_temp.uuid7() RETURNS UUID LANGUAGE sql AS $$
             SELECT (lpad(to_hex(floor(extract(epoch FROM now()) * 1000)::bigint), 12, '0')
                     || '7' || substr(md5(random()::text), 1, 3)
                     || '8' || substr(md5(random()::text), 1, 15))::uuid $$",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query(
        "WITH hook AS (
             INSERT INTO webhooks (name, endpoint_url, created_by, updated_by)
             VALUES ('old', 'https://example.org/h', 't', 't') RETURNING id
         ), ev AS (
             INSERT INTO events (id, event_type, occurred_at, payload, idempotency_key, source)
             VALUES (pg_temp.uuid7(), 'course.completed', now(), '{\"n\": 1}', 'key-1', 't'),
                    (pg_temp.uuid7(), 'course.completed', now(), '{\"n\": 2}', NULL, 't')
             RETURNING id
         ), one AS (
             INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempts)
             SELECT pg_temp.uuid7(), hook.id, ev.id, 'course.completed', 'delivered', 2
             FROM hook, ev LIMIT 1 RETURNING id, webhook_id
         ), batch AS (
             INSERT INTO deliveries (id, webhook_id, event_type, status, event_count)
             SELECT pg_temp.uuid7(), hook.id, 'batch', 'dead', 2 FROM hook RETURNING id
         ), members AS (
             INSERT INTO delivery_events (delivery_id, event_id)
             SELECT batch.id, ev.id FROM batch, ev
         )
         INSERT INTO delivery_attempts (delivery_id, webhook_id, number, started_at, duration_ms,
                                        request_headers, response_status, outcome)
         SELECT one.id, one.webhook_id, n, now(), 5, '{}', CASE n WHEN 1 THEN 500 ELSE 200 END,
                CASE n WHEN 1 THEN 'retry' ELSE 'delivered' END
         FROM one, generate_series(1, 2) n",
    )
    .execute(&mut conn)
    .unwrap();
    let flat = |conn: &mut diesel::PgConnection| {
        [
            "events",
            "deliveries",
            "delivery_events",
            "delivery_attempts",
        ]
        .map(|t| places(conn, t))
    };
    let before = flat(&mut conn);
    assert_eq!(before.each_ref().map(Vec::len), [2, 2, 2, 2]);

    conn.run_next_migration(MIGRATIONS).unwrap();
    let week = herald::db::partitions::weeks(&mut conn).unwrap()[0];
    let after = flat(&mut conn);
    for (table, rows) in herald::db::partitions::TABLES
        .iter()
        .zip([&after[1], &after[3], &after[2], &after[0]])
    {
        assert!(
            rows.iter().all(|place| *place == week.partition_of(table)),
            "{table}: every row in this week's partition: {rows:?}"
        );
    }
    assert_eq!(after.each_ref().map(Vec::len), [2, 2, 2, 2]);
    #[derive(diesel::QueryableByName)]
    struct Counts {
        #[diesel(sql_type = BigInt)]
        delivered: i64,
        #[diesel(sql_type = BigInt)]
        failed: i64,
        #[diesel(sql_type = BigInt)]
        keys: i64,
    }
    let counts: Counts = diesel::sql_query(
        "SELECT (SELECT sum(delivered) FROM attempt_counts_hourly)::bigint AS delivered,
                (SELECT sum(failed) FROM attempt_counts_hourly)::bigint AS failed,
                (SELECT count(*) FROM event_keys WHERE idempotency_key = 'key-1') AS keys",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!((counts.delivered, counts.failed, counts.keys), (1, 1, 1));

    conn.revert_last_migration(MIGRATIONS).unwrap();
    assert_eq!(
        flat(&mut conn),
        before,
        "back in the plain tables, row for row"
    );
    let repeated = diesel::sql_query(
        "INSERT INTO events (id, event_type, occurred_at, payload, idempotency_key, source)
         VALUES (gen_random_uuid(), 'course.completed', now(), '{}', 'key-1', 't')",
    )
    .execute(&mut conn);
    assert!(repeated.is_err(), "the key is unique again");
}
