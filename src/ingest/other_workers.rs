//! Whether a Herald process other than this one delivers on the same database. Ingest asks
//! before waking workers elsewhere (a NOTIFY nobody hears is wasted) and before handing
//! deliveries straight to this process's worker (which is only safe while it is alone).
//!
//! Each worker's LISTEN connection carries an `application_name` starting with
//! `herald-listener-`, so `pg_stat_activity` answers the question; and a listener announces
//! itself with a `joined:<name>` notification when it connects, so a process that was alone
//! hears at once that it no longer is, without asking again.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use diesel::prelude::*;

const LISTENER_PREFIX: &str = "herald-listener-";
/// The payload prefix of the notification a listener sends when it connects.
pub const JOINED_PREFIX: &str = "joined:";

/// The `application_name` of this process's LISTEN connection.
pub fn listener_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        format!(
            "{LISTENER_PREFIX}{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )
    })
}

/// The notification payload announcing this process's listener.
pub fn joined_payload() -> String {
    format!("{JOINED_PREFIX}{}", listener_name())
}

/// What this process knows about other workers: the last answer and when it was had.
#[derive(Default)]
pub struct OtherWorkers {
    answer: Mutex<Option<(Instant, bool)>>,
}

impl OtherWorkers {
    /// The answer, when it is younger than `fresh`.
    pub fn known(&self, fresh: Duration) -> Option<bool> {
        self.answer
            .lock()
            .expect("other workers lock")
            .filter(|(at, _)| at.elapsed() < fresh)
            .map(|(_, others)| others)
    }

    /// Asked the database just now.
    pub fn record(&self, others: bool) {
        *self.answer.lock().expect("other workers lock") = Some((Instant::now(), others));
    }

    /// Heard a notification: `payload` from another process's listener that just connected
    /// means this process is no longer alone.
    pub fn heard(&self, payload: &str) {
        if let Some(name) = payload.strip_prefix(JOINED_PREFIX)
            && name != listener_name()
        {
            self.record(true);
        }
    }

    /// This process's listener (re)connected: whatever joined while it was away went unheard,
    /// so the answer must be asked again.
    pub fn forget(&self) {
        *self.answer.lock().expect("other workers lock") = None;
    }
}

/// Whether a Herald process other than this one has a LISTEN connection to this database.
pub fn ask(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "EXISTS (SELECT 1 FROM pg_stat_activity
                 WHERE datname = current_database()
                   AND application_name LIKE '{LISTENER_PREFIX}%'
                   AND application_name <> '{}')",
        listener_name()
    )))
    .get_result(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_listener_joining_ends_being_alone_and_our_own_announcement_does_not() {
        let others = OtherWorkers::default();
        others.record(false);
        others.heard("");
        others.heard(&joined_payload());
        assert_eq!(others.known(Duration::from_secs(60)), Some(false));
        others.heard("joined:herald-listener-1-0000abcd");
        assert_eq!(others.known(Duration::from_secs(60)), Some(true));
        others.forget();
        assert_eq!(others.known(Duration::from_secs(60)), None);
    }
}
