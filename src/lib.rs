//! Herald: a webhook admin console and delivery service for learning platforms.
//!
//! The binary in `main.rs` is a thin CLI over this library; tests drive the same
//! `startup::Application` the binary serves.

pub mod accounts;
pub mod allocator;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod file_pages;
pub mod inbox;
pub mod ingest;
pub mod model;
pub mod replay;
pub mod retention;
pub mod sample_history;
pub mod standards;
pub mod startup;
pub mod telemetry;
pub mod tokens;
pub mod validation;
pub mod web;
pub mod webhooks;
