//! Group commit for ingest: requests that arrive while a write is under way are stored together
//! in the next one (one statement and one WAL flush for all of them) instead of each paying a
//! transaction of its own. Nothing waits to form a group: a request arriving at a quiet moment
//! is written at once, alone. Every request is answered only after its events are committed
//! with synchronous commit, so a 202 still means "on disk".

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::Caches;
use super::queue::{self, QueueError, Queued};
use super::request::EventSpec;
use crate::db::PgPool;
use crate::delivery::handoff::Handoff;
use crate::error::Unavailable;
use crate::tokens::AuthFailure;

/// The most events one group writes (a batch request is never split).
const GROUP_EVENTS: usize = 500;
/// Requests admitted at once per writer (see `admission`): enough to fill groups.
pub const ADMITTED_PER_WRITER: usize = 32;
/// Requests waiting for a writer, at most (the admission limit keeps it far lower).
const BACKLOG: usize = 1_024;

struct Submission {
    /// The `Authorization` header as sent.
    authorization: Option<String>,
    /// `None`: the body was refused; only the token is checked (its answer comes first).
    events: Option<Vec<EventSpec>>,
    reply: oneshot::Sender<Result<Option<Queued>, SubmitError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("not authenticated")]
    Auth(AuthFailure),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("unavailable: {0:?}")]
    Unavailable(Unavailable),
}

#[derive(Clone)]
pub struct Committer {
    submissions: mpsc::Sender<Submission>,
}

/// Takes a pooled connection for a group: the caller says how (the web state waits for the
/// pool, or fails at once while the database is known to be down).
pub type Checkout = Arc<dyn Fn(&PgPool) -> Result<crate::db::PooledPg, Unavailable> + Send + Sync>;

impl Committer {
    /// Starts the grouping task on the current runtime; at most `writers` groups are written
    /// at once (each on its own connection).
    /// With `handoff`, deliveries this process's worker can send at once are handed to it.
    pub fn start(
        pool: PgPool,
        caches: Caches,
        writers: usize,
        checkout: Checkout,
        handoff: Option<Handoff>,
    ) -> Self {
        let (submissions, mut waiting) = mpsc::channel::<Submission>(BACKLOG);
        let writers = Arc::new(Semaphore::new(writers.max(1)));
        tokio::spawn(async move {
            while let Some(first) = waiting.recv().await {
                let Ok(permit) = writers.clone().acquire_owned().await else {
                    return;
                };
                // Whatever arrived while waiting for a writer joins this group.
                let mut events = first.events.as_ref().map_or(0, Vec::len);
                let mut group = vec![first];
                while events < GROUP_EVENTS {
                    match waiting.try_recv() {
                        Ok(next) => {
                            events += next.events.as_ref().map_or(0, Vec::len);
                            group.push(next);
                        }
                        Err(_) => break,
                    }
                }
                let (pool, caches, checkout) = (pool.clone(), caches.clone(), checkout.clone());
                let handoff = handoff.clone();
                tokio::task::spawn_blocking(move || {
                    write_group(&pool, &caches, &*checkout, group, handoff.as_ref());
                    drop(permit);
                });
            }
        });
        Self { submissions }
    }

    /// Checks the request's token for the ingest scope and stores its events (when the body
    /// was accepted: `Some`); answers once they are committed.
    pub async fn submit(
        &self,
        authorization: Option<String>,
        events: Option<Vec<EventSpec>>,
    ) -> Result<Option<Queued>, SubmitError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || SubmitError::Unavailable(Unavailable::Busy("ingest is shutting down"));
        self.submissions
            .send(Submission {
                authorization,
                events,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn write_group(
    pool: &PgPool,
    caches: &Caches,
    checkout: &(dyn Fn(&PgPool) -> Result<crate::db::PooledPg, Unavailable> + Send + Sync),
    group: Vec<Submission>,
    handoff: Option<&Handoff>,
) {
    let mut conn = match checkout(pool) {
        Ok(conn) => conn,
        Err(reason) => {
            for submission in group {
                let _ = submission
                    .reply
                    .send(Err(SubmitError::Unavailable(reason.clone())));
            }
            return;
        }
    };
    // Requests of one group mostly carry the same token: each distinct one is checked once.
    let mut checked: HashMap<Option<String>, Result<String, AuthFailure>> = HashMap::new();
    let mut requests = Vec::new();
    let mut waiting = Vec::new();
    for submission in group {
        let verdict = match checked.get(&submission.authorization) {
            Some(verdict) => verdict.clone(),
            None => {
                match caches
                    .recent_tokens
                    .authenticate(&mut conn, submission.authorization.as_deref())
                {
                    Ok(verdict) => {
                        checked.insert(submission.authorization.clone(), verdict.clone());
                        verdict
                    }
                    Err(err) => {
                        let _ = submission
                            .reply
                            .send(Err(SubmitError::Queue(QueueError::Database(err))));
                        continue;
                    }
                }
            }
        };
        match (verdict, submission.events) {
            (Err(failure), _) => {
                let _ = submission.reply.send(Err(SubmitError::Auth(failure)));
            }
            (Ok(_), None) => {
                let _ = submission.reply.send(Ok(None));
            }
            (Ok(source), Some(events)) => {
                requests.push((events, source));
                waiting.push(submission.reply);
            }
        }
    }
    if requests.is_empty() {
        return;
    }
    let outcomes = queue::accept_many(&mut conn, caches, requests, handoff);
    drop(conn);
    for (reply, outcome) in waiting.into_iter().zip(outcomes) {
        let _ = reply.send(outcome.map(Some).map_err(SubmitError::from));
    }
    crate::allocator::trim_heap_while_busy();
}
