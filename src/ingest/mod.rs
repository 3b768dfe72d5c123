//! Event ingest: the platform's events, parsed once at the edge (`request`), then stored with
//! one delivery per subscribed, enabled webhook in a single transaction (`queue`).

pub mod queue;
pub mod request;

/// The NOTIFY channel that wakes delivery workers in every Herald process.
pub const NOTIFY_CHANNEL: &str = "herald_deliveries";
