//! How far the first setup has come, from real data: the dashboard's first-run checklist.

use diesel::dsl::exists;
use diesel::prelude::*;

use crate::db::schema::{api_tokens, events, test_sends, users, webhooks};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// At least one webhook exists.
    pub webhook_created: bool,
    /// "Send test event" was used on some webhook (its results are kept in `test_sends`).
    pub test_sent: bool,
    /// An ingest token that is not revoked exists.
    pub ingest_token: bool,
    /// At least one event was received (through the API or `herald emit`).
    pub event_received: bool,
}

impl Progress {
    pub fn complete(&self) -> bool {
        self.webhook_created && self.test_sent && self.ingest_token && self.event_received
    }

    /// Steps done, out of four.
    pub fn done(&self) -> usize {
        [
            self.webhook_created,
            self.test_sent,
            self.ingest_token,
            self.event_received,
        ]
        .iter()
        .filter(|done| **done)
        .count()
    }
}

pub fn progress(conn: &mut PgConnection) -> QueryResult<Progress> {
    let (webhook_created, test_sent, ingest_token, event_received) = diesel::select((
        exists(webhooks::table.select(webhooks::id)),
        exists(test_sends::table.select(test_sends::id)),
        exists(
            api_tokens::table
                .filter(api_tokens::scope.eq("ingest"))
                .filter(api_tokens::revoked_at.is_null())
                .select(api_tokens::id),
        ),
        exists(events::table.select(events::id)),
    ))
    .get_result(conn)?;
    Ok(Progress {
        webhook_created,
        test_sent,
        ingest_token,
        event_received,
    })
}

/// Usernames of the active admins: who to ask for an ingest token.
pub fn admin_names(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    users::table
        .filter(users::role.eq("admin"))
        .filter(users::disabled_at.is_null())
        .order(users::username)
        .select(users::username)
        .limit(5)
        .load(conn)
}
