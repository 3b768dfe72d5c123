//! Who is asking and what they may do: password hashing, the session, sign-in throttling,
//! the role guard and CSRF protection.

pub mod confirm_password;
pub mod csrf;
pub mod current_user;
pub mod guard;
pub mod known_client;
pub mod password;
pub mod session;
pub mod session_outage;
pub mod session_store;
pub mod throttle;
