//! Delivery to receivers. So far: the Standard Webhooks signature every request carries.
//! The worker (claim, request, outcome, schedule) joins here with the ingest issue.

pub mod signature;
