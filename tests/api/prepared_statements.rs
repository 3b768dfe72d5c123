//! Hot statements stay prepared on their connection (`herald::db::prepared`), unlike diesel's
//! `sql_query`, which PostgreSQL parses and plans on every call.

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Integer, Text};

use crate::helpers::TestDatabase;

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Row {
    #[diesel(sql_type = Integer)]
    n: i32,
    #[diesel(sql_type = Text)]
    text: String,
}

fn prepared_like(conn: &mut diesel::PgConnection, fragment: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    diesel::sql_query(
        "SELECT count(*) AS n FROM pg_prepared_statements WHERE strpos(statement, $1) > 0",
    )
    .bind::<Text, _>(fragment)
    .get_result::<Count>(conn)
    .unwrap()
    .n
}

#[test]
fn statements_are_prepared_once_per_connection_and_bind_in_any_order() {
    let database = TestDatabase::migrated();
    let mut conn = database.connect();
    for round in 0..3 {
        let rows: Vec<Row> = herald::db::prepared::sql(
            "SELECT $2 + $2 AS n, $1 || '/' || $2::text AS text /* prepared-test */",
        )
        .bind::<Text, _>(format!("round {round}"))
        .bind::<Integer, _>(round)
        .load(&mut conn)
        .unwrap();
        assert_eq!(
            rows,
            vec![Row {
                n: 2 * round,
                text: format!("round {round}/{round}")
            }]
        );
    }
    assert_eq!(
        prepared_like(&mut conn, "prepared-test"),
        1,
        "one statement, kept"
    );

    // What diesel's own raw SQL does: nothing is kept.
    for _ in 0..2 {
        diesel::sql_query("SELECT 1 AS n, 'x' AS text /* unprepared-test */")
            .load::<Row>(&mut conn)
            .unwrap();
    }
    assert_eq!(prepared_like(&mut conn, "unprepared-test"), 0);
}

/// Herald's connections run without JIT: a prepared claim over the partitioned tables was once
/// estimated above `jit_above_cost` and spent about a second compiling on every call.
#[test]
fn pooled_connections_turn_jit_off() {
    let database = TestDatabase::migrated();
    let pool = herald::db::build_pool(&database.url, 1).unwrap();
    let mut conn = pool.get().unwrap();
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        setting: String,
        #[diesel(sql_type = Text)]
        source: String,
    }
    let jit: Setting =
        diesel::sql_query("SELECT setting, source::text FROM pg_settings WHERE name = 'jit'")
            .get_result(&mut *conn)
            .unwrap();
    assert_eq!(jit.setting, "off");
    // Set by the connection itself, so it holds on a server configured otherwise.
    assert_eq!(jit.source, "session");
}
