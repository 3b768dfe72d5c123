//! Event ingest: the platform's events, parsed once at the edge (`request`), then stored with
//! one delivery per subscribed, enabled webhook in a single transaction (`queue`).

pub mod admission;
pub mod committer;
pub mod event_data;
pub mod known_types;
pub mod other_workers;
pub mod queue;
pub mod recent_tokens;
pub mod request;
pub mod signal;
pub mod storable;
pub mod subscriptions;

/// The NOTIFY channel that wakes delivery workers in every Herald process.
pub const NOTIFY_CHANNEL: &str = "herald_deliveries";

/// What ingest remembers between requests (per process): event types known to exist, and the
/// enabled webhooks with their subscriptions, and ingest tokens accepted in the last second.
#[derive(Clone, Default)]
pub struct Caches {
    pub known_types: known_types::KnownTypes,
    pub subscriptions: subscriptions::Subscriptions,
    pub recent_tokens: recent_tokens::RecentTokens,
}
