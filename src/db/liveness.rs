//! Checking pooled connections without a round trip each time. r2d2 asks the manager whether a
//! connection still works before handing it out; diesel's manager answers with `SELECT 1`,
//! which at a steady trickle of events was a third of Herald's statements. Here each connection
//! carries an instrumentation that notes when its last statement succeeded and whether the
//! server went away: a connection used successfully within the last second is handed out
//! as is, one that lost its server is dropped, and only a connection idle for longer is pinged.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::r2d2::{ConnectionManager, Error, ManageConnection, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as QueryError};
use diesel::{Connection, PgConnection};

use super::stamp::Stamp;

/// A connection that worked this recently is trusted without a ping.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// When a pooled connection was last handed out. The database monitor pings often only
/// while the process uses the database.
static LAST_CHECKOUT: Stamp = Stamp::none();

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn note_checkout() {
    LAST_CHECKOUT.mark(origin());
}

/// How long ago this process last took a connection from any of its pools.
pub fn since_last_checkout() -> Option<Duration> {
    LAST_CHECKOUT.elapsed(origin())
}

/// What a connection's statements showed.
#[derive(Debug, Default)]
struct Liveness {
    last_ok: Option<Instant>,
    lost: bool,
}

impl Instrumentation for Liveness {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::FinishQuery { error, .. } = event {
            match error {
                None => self.last_ok = Some(Instant::now()),
                Some(QueryError::DatabaseError(
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                    _,
                )) => self.lost = true,
                Some(_) => {}
            }
        }
    }
}

fn liveness(conn: &mut PgConnection) -> Option<&mut Liveness> {
    conn.instrumentation().downcast_mut::<Liveness>()
}

/// diesel's connection manager, with the checks above.
#[derive(Debug)]
pub struct CheckedManager(ConnectionManager<PgConnection>);

impl CheckedManager {
    pub fn new(database_url: &str) -> Self {
        Self(ConnectionManager::new(database_url))
    }
}

impl ManageConnection for CheckedManager {
    type Connection = PgConnection;
    type Error = Error;

    fn connect(&self) -> Result<PgConnection, Error> {
        let mut conn = self.0.connect()?;
        // JIT compiling never pays off for Herald's short statements, and a prepared
        // statement over partitioned tables can be estimated above `jit_above_cost`: it then
        // spent about a second in LLVM on every claim (seen in the benchmark with perf).
        conn.batch_execute("SET jit = off")
            .map_err(Error::QueryError)?;
        conn.set_instrumentation(Liveness::default());
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), Error> {
        note_checkout();
        if let Some(state) = liveness(conn)
            && !state.lost
            && state.last_ok.is_some_and(|at| at.elapsed() < TRUSTED_FOR)
        {
            return Ok(());
        }
        conn.ping().map_err(Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        liveness(conn).is_some_and(|state| state.lost) || self.0.has_broken(conn)
    }
}
