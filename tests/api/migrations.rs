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
