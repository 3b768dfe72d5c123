//! Delivery to receivers: the worker (claim, send, record), the request (payload, signature,
//! headers), what an outcome means (retry schedule, dead letters), outbound safety, and the
//! synchronous test ping.

pub mod body;
pub mod breaker;
pub mod claim;
pub mod echo_redaction;
pub mod gather;
pub mod handoff;
pub mod lease;
pub mod listener;
pub mod local_queues;
pub mod masking;
pub mod outbound;
pub mod outcome;
pub mod payload;
pub mod ping;
pub mod recorder;
pub mod scheduler;
pub mod sender;
pub mod signature;
pub mod target;
pub mod worker;

use outbound::TargetPolicy;

/// The shared HTTP client and the address policy it enforces, and the way to the built-in
/// test receiver (inbox URLs are delivered inside the process, see `inbox`).
#[derive(Clone)]
pub struct Outbound {
    pub client: reqwest::Client,
    pub policy: TargetPolicy,
    pub inbox: Option<crate::inbox::local::LocalInbox>,
}

impl Outbound {
    pub fn new(allowed: Vec<ipnet::IpNet>, concurrency: usize) -> Self {
        let policy = TargetPolicy::new(allowed);
        Self {
            client: sender::build_client(&policy, concurrency),
            policy,
            inbox: None,
        }
    }

    /// Lets this process deliver to the built-in inboxes, stored through `pool`.
    pub fn with_inbox(
        mut self,
        pool: crate::db::PgPool,
        secrets: crate::domain::secret_box::SecretBox,
    ) -> Self {
        self.inbox = Some(crate::inbox::local::LocalInbox { pool, secrets });
        self
    }

    /// Sends `body` to the target as delivery (or test) `id`: to its inbox when the URL is an
    /// inbox URL, over HTTP otherwise.
    pub async fn send(
        &self,
        target: &target::Target,
        id: uuid::Uuid,
        body: Vec<u8>,
    ) -> sender::Exchange {
        match (crate::inbox::token_in(&target.url), &self.inbox) {
            (Some(token), Some(inbox)) => inbox.deliver(token, target, id, body).await,
            (Some(_), None) => sender::Exchange::not_sent(
                sender::ErrorKind::Io,
                "the built-in test receiver is not reachable from this process".into(),
            ),
            (None, _) => sender::send(&self.client, &self.policy, target, id, body).await,
        }
    }
}
