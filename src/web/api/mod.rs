//! The JSON API under `/api/v1`: bearer-token authentication, JSON errors, event ingest.

pub mod bearer;
pub mod body;
pub mod caliper;
pub mod deliveries;
pub mod error;
pub mod events;
pub mod openapi;
pub mod rate_limit;
pub mod record_ingest;
pub mod webhook_json;
pub mod webhooks;
pub mod xapi;
