//! Parsed domain types: once a value is one of these, it is valid.

pub mod password;
pub mod password_strength;
pub mod role;
pub mod secret_box;
pub mod secret_key;
pub mod username;
