//! Webhooks: the settings an administrator chooses, parsed into domain types once (shared by
//! the console and, later, the JSON API), and the service that stores them with an audit trail.

pub mod carry_over;
pub mod dispatch;
pub mod endpoint;
pub mod flow_state;
pub mod headers;
pub mod input;
pub mod limits;
pub mod payload_format;
pub mod receiver_auth;
pub mod retry;
pub mod service;
pub mod signing;
pub mod snippets;
pub mod test_event;
