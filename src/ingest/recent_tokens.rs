//! Ingest tokens found valid in the last second, so a client posting many events a second has
//! its token looked up once a second instead of once a request (at a steady trickle that
//! lookup was a third of the statements and commits per delivery). Only acceptance is
//! remembered: an unknown, revoked or under-scoped token is looked up every time. A token
//! revoked in this process is refused at once (revoking forgets everything remembered); one
//! revoked through another Herald process is refused here within `FRESH_FOR`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use tokio::time::Instant;

use crate::tokens::{self, AuthFailure, Scope};

/// How long an accepted token is taken on trust.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// Tokens remembered at most (a flood of distinct valid tokens cannot grow the map).
const MOST: usize = 256;

/// Per process, shared by the ingest writers.
#[derive(Clone, Default)]
pub struct RecentTokens(Arc<Mutex<Remembered>>);

#[derive(Default)]
struct Remembered {
    /// The revocation count these entries were found under.
    revocations: u64,
    /// Token hash → (who it is, when it was looked up).
    accepted: HashMap<Vec<u8>, (String, Instant)>,
}

impl RecentTokens {
    /// Who sent the request ("api token <name>") for an ingest `header`, or why it is refused.
    pub fn authenticate(
        &self,
        conn: &mut PgConnection,
        header: Option<&str>,
    ) -> QueryResult<Result<String, AuthFailure>> {
        let hash = tokens::bearer(header).map(tokens::hash);
        let revocations = tokens::revocations();
        if let Some(hash) = &hash {
            let mut remembered = self.0.lock().expect("tokens lock");
            if remembered.revocations != revocations {
                remembered.accepted.clear();
                remembered.revocations = revocations;
            }
            if let Some((source, at)) = remembered.accepted.get(hash)
                && at.elapsed() < FRESH_FOR
            {
                return Ok(Ok(source.clone()));
            }
        }
        let verdict = tokens::authenticate(conn, header, Scope::Ingest)?
            .map(|token| format!("api token {}", token.name));
        if let (Ok(source), Some(hash)) = (&verdict, hash) {
            let mut remembered = self.0.lock().expect("tokens lock");
            // Looked up before a revocation that happened meanwhile: not remembered.
            if remembered.revocations == revocations {
                if remembered.accepted.len() >= MOST {
                    remembered.accepted.clear();
                }
                remembered
                    .accepted
                    .insert(hash, (source.clone(), Instant::now()));
            }
        }
        Ok(verdict)
    }
}
