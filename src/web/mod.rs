//! The console's routes and the role each one needs, in one table so the access model can be
//! read at a glance. Every POST also passes the CSRF check (see `auth::csrf`).

pub mod api;
pub mod assets;
pub mod audit;
pub mod client_address;
pub mod dashboard;
pub mod deliveries;
pub mod events;
pub mod health;
pub mod login;
pub mod page;
pub mod state;
pub mod tokens;
pub mod users;
pub mod webhooks;

use actix_web::middleware::from_fn;
use actix_web::web::{self, delete, get, patch, post, put};

use crate::auth::guard::{require_admin, require_manager, require_viewer};

/// `route!(cfg, guard, "/path", get => handler, post => handler)`: one resource, its methods,
/// and the role guard in front of it.
macro_rules! route {
    ($cfg:expr, $guard:expr, $path:literal, $($method:ident => $handler:expr),+) => {
        $cfg.service(web::resource($path).wrap(from_fn($guard))$(.route($method().to($handler)))+);
    };
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Public: sign-in, health check, static files.
    cfg.route("/login", get().to(login::form))
        .route("/login", post().to(login::submit))
        .route("/healthz", get().to(health::check))
        .route("/static/{file}", get().to(assets::serve));

    // The JSON API: bearer tokens checked in each handler (401/403 as JSON), no CSRF.
    cfg.route("/api/v1/openapi.json", get().to(api::openapi::document))
        .route("/api/v1/events", post().to(api::events::ingest))
        .route("/api/v1/event-types", get().to(api::webhooks::event_types))
        .route("/api/v1/webhooks", get().to(api::webhooks::list))
        .route("/api/v1/webhooks", post().to(api::webhooks::create))
        .route("/api/v1/webhooks/{id}", get().to(api::webhooks::show))
        .route("/api/v1/webhooks/{id}", put().to(api::webhooks::replace))
        .route("/api/v1/webhooks/{id}", patch().to(api::webhooks::patch))
        .route("/api/v1/webhooks/{id}", delete().to(api::webhooks::delete))
        .route(
            "/api/v1/webhooks/{id}/enable",
            post().to(api::webhooks::enable),
        )
        .route(
            "/api/v1/webhooks/{id}/disable",
            post().to(api::webhooks::disable),
        )
        .route(
            "/api/v1/webhooks/{id}/ping",
            post().to(api::webhooks::send_ping),
        )
        .route(
            "/api/v1/webhooks/{id}/rotate-secret",
            post().to(api::webhooks::rotate_secret),
        )
        .route("/api/v1/deliveries", get().to(api::deliveries::list))
        .route("/api/v1/deliveries/{id}", get().to(api::deliveries::show))
        .route(
            "/api/v1/deliveries/{id}/redeliver",
            post().to(api::deliveries::redeliver),
        )
        .route(
            "/api/v1/dead-letters",
            get().to(api::deliveries::dead_letters),
        )
        .route(
            "/api/v1/dead-letters/replay",
            post().to(api::deliveries::replay),
        )
        .route(
            "/api/v1/dead-letters/discard",
            post().to(api::deliveries::discard),
        );

    // Any signed-in user (viewer and up).
    cfg.service(
        web::resource("/")
            .wrap(from_fn(require_viewer))
            .route(get().to(dashboard::show)),
    )
    .service(
        web::resource("/logout")
            .wrap(from_fn(require_viewer))
            .route(post().to(login::logout)),
    );

    // Webhooks: reading is for everyone signed in, changing for managers.
    // `/webhooks/new` comes before `/webhooks/{id}` so it is not taken for an id.
    route!(cfg, require_manager, "/webhooks/new", get => webhooks::form::new_form, post => webhooks::form::create);
    route!(cfg, require_viewer, "/webhooks", get => webhooks::list::list);
    route!(cfg, require_viewer, "/webhooks/{id}", get => webhooks::detail::show);
    route!(cfg, require_manager, "/webhooks/{id}/edit", get => webhooks::form::edit_form, post => webhooks::form::update);
    route!(cfg, require_manager, "/webhooks/{id}/enable", post => webhooks::actions::enable);
    route!(cfg, require_manager, "/webhooks/{id}/disable", post => webhooks::actions::disable);
    route!(cfg, require_manager, "/webhooks/{id}/delete", get => webhooks::actions::confirm_delete, post => webhooks::actions::delete);
    route!(cfg, require_manager, "/webhooks/{id}/rotate-secret", post => webhooks::actions::rotate_secret);
    route!(cfg, require_manager, "/webhooks/{id}/reveal-secret", post => webhooks::actions::reveal_secret);
    route!(cfg, require_manager, "/webhooks/{id}/test", post => webhooks::test_ping::send);
    route!(cfg, require_viewer, "/events", get => events::catalog);

    // Deliveries and dead letters: everyone signed in reads, managers send again or discard.
    route!(cfg, require_viewer, "/deliveries", get => deliveries::list::list);
    route!(cfg, require_viewer, "/deliveries/{id}", get => deliveries::detail::show);
    route!(cfg, require_manager, "/deliveries/{id}/replay", post => deliveries::actions::replay);
    route!(cfg, require_manager, "/deliveries/{id}/redeliver", post => deliveries::actions::redeliver);
    route!(cfg, require_manager, "/deliveries/{id}/discard", post => deliveries::actions::discard);
    route!(cfg, require_viewer, "/dead-letters", get => deliveries::dead_letters::list);
    route!(cfg, require_manager, "/dead-letters/replay", get => deliveries::dead_letters::confirm_replay_all, post => deliveries::dead_letters::replay_all);
    route!(cfg, require_manager, "/dead-letters/replay-selected", post => deliveries::dead_letters::replay_selected);
    route!(cfg, require_manager, "/dead-letters/discard-selected", post => deliveries::dead_letters::discard_selected);
    route!(cfg, require_manager, "/audit", get => audit::list);

    // Admins only: API tokens.
    route!(cfg, require_admin, "/tokens", get => tokens::list, post => tokens::create);
    route!(cfg, require_admin, "/tokens/{id}/revoke", post => tokens::revoke);

    // Admins only: user management.
    cfg.service(
        web::scope("/users")
            .wrap(from_fn(require_admin))
            .route("", get().to(users::list))
            .route("", post().to(users::create))
            .route("/new", get().to(users::new_form))
            .route("/{id}", get().to(users::show))
            .route("/{id}/role", post().to(users::change_role))
            .route("/{id}/password", post().to(users::reset_password))
            .route("/{id}/disable", post().to(users::disable))
            .route("/{id}/enable", post().to(users::enable)),
    );
}
