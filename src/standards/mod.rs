//! The learning-record standards Herald speaks besides its own JSON: xAPI 1.0.3 statements
//! (for Learning Record Stores) and Caliper 1.1 / 1.2 envelopes, out (a webhook's payload
//! format) and in (`/xapi/statements`, `/caliper`). Every event goes through one shape in
//! between, the catalog payload (`record`), so any input can leave in any format.

pub mod caliper_in;
pub mod caliper_out;
pub mod format;
pub mod iri;
pub mod mapping;
pub mod record;
pub mod xapi_in;
pub mod xapi_out;
pub mod xapi_rules;

pub use format::{CaliperVersion, PayloadFormat, StandardsSettings};
