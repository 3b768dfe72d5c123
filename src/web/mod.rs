//! The console's routes and the role each one needs, in one table so the access model can be
//! read at a glance. Every POST also passes the CSRF check (see `auth::csrf`).

pub mod assets;
pub mod audit;
pub mod dashboard;
pub mod events;
pub mod health;
pub mod login;
pub mod page;
pub mod state;
pub mod users;
pub mod webhooks;

use actix_web::middleware::from_fn;
use actix_web::web::{self, get, post};

use crate::auth::guard::{require_admin, require_manager, require_viewer};

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Public: sign-in, health check, static files.
    cfg.route("/login", get().to(login::form))
        .route("/login", post().to(login::submit))
        .route("/healthz", get().to(health::check))
        .route("/static/{file}", get().to(assets::serve));

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

    // Webhooks. Manager routes come first so `/webhooks/new` is not taken for an id.
    cfg.service(
        web::scope("/webhooks/new")
            .wrap(from_fn(require_manager))
            .route("", get().to(webhooks::form::new_form))
            .route("", post().to(webhooks::form::create)),
    )
    .service(
        web::scope("/webhooks/{id}/")
            .wrap(from_fn(require_manager))
            .route("edit", get().to(webhooks::form::edit_form))
            .route("edit", post().to(webhooks::form::update))
            .route("enable", post().to(webhooks::actions::enable))
            .route("disable", post().to(webhooks::actions::disable))
            .route("delete", get().to(webhooks::actions::confirm_delete))
            .route("delete", post().to(webhooks::actions::delete))
            .route("rotate-secret", post().to(webhooks::actions::rotate_secret))
            .route("reveal-secret", post().to(webhooks::actions::reveal_secret)),
    )
    .service(
        web::scope("/webhooks")
            .wrap(from_fn(require_viewer))
            .route("", get().to(webhooks::list::list))
            .route("/{id}", get().to(webhooks::detail::show)),
    )
    .service(
        web::resource("/events")
            .wrap(from_fn(require_viewer))
            .route(get().to(events::catalog)),
    )
    .service(
        web::resource("/audit")
            .wrap(from_fn(require_manager))
            .route(get().to(audit::list)),
    );

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
