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
