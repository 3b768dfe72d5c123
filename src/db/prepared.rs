//! Raw SQL that stays prepared on its connection. Diesel's `sql_query` marks every statement
//! unsafe to cache, so PostgreSQL parses and plans it on every call; for Herald's hot
//! statements (claims, outcomes, ingest) over partitioned tables, planning cost more than
//! running them. [`sql`] is used like `sql_query` (`sql(…).bind::<T, _>(v).load(conn)`), and
//! diesel's statement cache keeps one prepared statement per text on each connection, so
//! PostgreSQL can switch to a generic plan after a few calls.
//!
//! How: diesel writes a placeholder for each bind where it is pushed, numbering them in order.
//! The placeholders are pushed first, inside a comment (`/*$1*/…`), so the parameters are
//! declared with their types and the text can use `$1…$n` wherever and as often as it needs.

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDsl;
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};

/// `text` with no parameters yet; add them in order with [`Prepared::bind`].
pub fn sql(text: &str) -> Prepared<'_, NoBinds> {
    Prepared {
        text,
        binds: NoBinds,
    }
}

#[derive(Debug, Clone, Copy)]
#[must_use = "a query runs only when loaded or executed"]
pub struct Prepared<'a, B> {
    text: &'a str,
    binds: B,
}

impl<'a, B> Prepared<'a, B> {
    /// The next parameter (`$1`, then `$2`, …) as SQL type `ST`.
    pub fn bind<ST, V>(self, value: V) -> Prepared<'a, Then<B, Bind<ST, V>>> {
        Prepared {
            text: self.text,
            binds: Then(
                self.binds,
                Bind {
                    value,
                    sql_type: PhantomData,
                },
            ),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct NoBinds;

#[derive(Debug, Clone, Copy)]
pub struct Then<A, B>(A, B);

#[derive(Debug, Clone, Copy)]
pub struct Bind<ST, V> {
    value: V,
    sql_type: PhantomData<ST>,
}

impl QueryFragment<Pg> for NoBinds {
    fn walk_ast<'b>(&'b self, _: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        Ok(())
    }
}

impl<A: QueryFragment<Pg>, B: QueryFragment<Pg>> QueryFragment<Pg> for Then<A, B> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        self.1.walk_ast(out)
    }
}

impl<ST, V> QueryFragment<Pg> for Bind<ST, V>
where
    Pg: HasSqlType<ST>,
    V: ToSql<ST, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("/*");
        out.push_bind_param::<ST, V>(&self.value)?;
        out.push_sql("*/");
        Ok(())
    }
}

impl<B: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<'_, B> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.binds.walk_ast(out.reborrow())?;
        out.push_sql(self.text);
        Ok(())
    }
}

impl<B> QueryId for Prepared<'_, B> {
    type QueryId = ();
    // No type of its own: the cache keys the statement by its text and parameter types.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<B> Query for Prepared<'_, B> {
    type SqlType = Untyped;
}

impl<B, Conn> RunQueryDsl<Conn> for Prepared<'_, B> {}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{BigInt, Text};

    #[test]
    fn placeholders_are_declared_in_a_comment_before_the_text() {
        let query = sql("SELECT $2 || $1, $1")
            .bind::<Text, _>("a")
            .bind::<BigInt, _>(2_i64);
        let text = diesel::debug_query::<Pg, _>(&query).to_string();
        assert!(
            text.starts_with("/*$1*//*$2*/SELECT $2 || $1, $1"),
            "{text}"
        );
    }
}
