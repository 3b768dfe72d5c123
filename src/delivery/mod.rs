//! Delivery to receivers: the worker (claim, send, record), the request (payload, signature,
//! headers), what an outcome means (retry schedule, dead letters), outbound safety, and the
//! synchronous test ping.

pub mod breaker;
pub mod claim;
pub mod echo_redaction;
pub mod lease;
pub mod listener;
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

/// The shared HTTP client and the address policy it enforces.
#[derive(Clone)]
pub struct Outbound {
    pub client: reqwest::Client,
    pub policy: TargetPolicy,
}

impl Outbound {
    pub fn new(allowed: Vec<ipnet::IpNet>, concurrency: usize) -> Self {
        let policy = TargetPolicy::new(allowed);
        Self {
            client: sender::build_client(&policy, concurrency),
            policy,
        }
    }
}
