//! One integration test binary (one link, one throwaway cluster): each module is an area.

mod browser;
mod cli;
mod csrf;
mod health;
mod helpers;
mod login;
mod migrations;
mod pages;
mod serve;
mod tokens;
mod users;
mod webhooks;
