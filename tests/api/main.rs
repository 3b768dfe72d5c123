//! One integration test binary (one link, one throwaway cluster): each module is an area.

mod browser;
mod cli;
mod client_address;
mod console_deliveries;
mod csrf;
mod db_outage;
mod delivery;
mod delivery_helpers;
mod flow_state;
mod health;
mod helpers;
mod ingest;
mod isolation;
mod login;
mod management_api;
mod migrations;
mod openapi;
mod pages;
mod receiver;
mod serve;
mod test_ping;
mod throttle;
mod tokens;
mod users;
mod webhooks;
mod workers;
