//! Code a receiver can copy to verify Herald's signatures (see `delivery::signature`), shown
//! on each webhook's page. The files under `snippets/` are exactly what the page shows, and
//! `tests/api/signature_snippets.rs` runs each of them against a real signed delivery.

pub const PYTHON: &str = include_str!("snippets/verify.py");
pub const NODE: &str = include_str!("snippets/verify.js");
pub const RUST: &str = include_str!("snippets/verify.rs");
