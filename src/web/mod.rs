//! The console's routes and the role each one needs, in one table so the access model can be
//! read at a glance. Every POST also passes the CSRF check (see `auth::csrf`).

pub mod account;
pub mod api;
pub mod api_docs;
pub mod assets;
pub mod audit;
pub mod audit_sentence;
pub mod body_deadline;
pub mod charts;
pub mod client_address;
pub mod connection_limit;
pub mod counting;
pub mod dashboard;
pub mod deliveries;
pub mod error_layout;
pub mod events;
pub mod health;
pub mod inboxes;
pub mod input;
pub mod login;
pub mod page;
pub mod query_string;
pub mod session_rows;
pub mod shown_once;
pub mod state;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod when;

use actix_web::middleware::from_fn;
use actix_web::web::{self, delete, get, patch, post, put};
use actix_web::{HttpRequest, ResponseError};

use crate::auth::guard::{require_admin, require_manager, require_viewer};

/// `route!(cfg, guard, "/path", get => handler, post => handler)`: one resource, its methods,
/// and the role guard in front of it. Any other method is 405 with `Allow`.
macro_rules! route {
    ($cfg:expr, $guard:expr, $path:literal, $($method:ident => $handler:expr),+) => {
        $cfg.service(
            web::resource($path)
                .wrap(from_fn($guard))
                $(.route($method().to($handler)))+
                .default_service(method_not_allowed(&[$(stringify!($method)),+])),
        );
    };
}

/// `open!(cfg, "/path", get => handler, …)`: a resource without a role guard (sign-in, health,
/// static files, the API with its bearer tokens); any other method is 405 with `Allow`.
macro_rules! open {
    ($cfg:expr, $path:literal, $($method:ident => $handler:expr),+) => {
        $cfg.service(
            web::resource($path)
                $(.route($method().to($handler)))+
                .default_service(method_not_allowed(&[$(stringify!($method)),+])),
        );
    };
}

/// The answer to a method a resource does not declare: 405 with `Allow` listing the ones it
/// does (JSON under `/api/`, the error page elsewhere), instead of a misleading 404.
fn method_not_allowed(methods: &[&str]) -> actix_web::Route {
    let allowed = methods
        .iter()
        .map(|m| m.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(", ");
    web::to(move |request: HttpRequest| {
        let allowed = allowed.clone();
        async move {
            if is_machine_path(request.path()) {
                api::error::ApiError::MethodNotAllowed(allowed).error_response()
            } else {
                crate::error::AppError::MethodNotAllowed(allowed).error_response()
            }
        }
    })
}

/// Addresses for programs, not browsers: token-authenticated (no session, no CSRF) and
/// answering errors as JSON — the management API, the xAPI statements resource and the
/// Caliper endpoint.
pub fn is_machine_path(path: &str) -> bool {
    path.starts_with("/api/")
        || path.starts_with("/xapi/")
        || path == "/caliper"
        || path.starts_with("/caliper/")
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Public: sign-in, health check, static files.
    open!(cfg, "/login", get => login::form, post => login::submit);
    open!(cfg, "/healthz", get => health::check);
    open!(cfg, "/static/{file}", get => assets::serve);
    // The built-in test receiver's receiving end: the unguessable token is the key; bodies
    // over its limit are 413 before the handler runs.
    cfg.service(
        web::resource("/inbox/{token}")
            .app_data(web::PayloadConfig::new(crate::inbox::MAX_BODY_BYTES))
            .route(post().to(inboxes::receive_public))
            .default_service(method_not_allowed(&["post"])),
    );

    // The JSON API: bearer tokens checked in each handler (401/403 as JSON), no CSRF.
    open!(cfg, "/api/v1/openapi.json", get => api::openapi::document);
    open!(cfg, "/api/v1/events", post => api::events::ingest);
    open!(cfg, "/api/v1/event-types", get => api::webhooks::event_types);
    // Learning records in: Herald as an LRS (xAPI) and as a Caliper endpoint; bodies up to
    // 1 MiB (an LMS plugin's batch).
    open!(cfg, "/xapi/about", get => api::xapi::about);
    cfg.service(
        web::resource("/xapi/statements")
            .app_data(web::PayloadConfig::new(api::record_ingest::MAX_BODY_BYTES))
            .route(post().to(api::xapi::post))
            .route(web::put().to(api::xapi::put))
            .default_service(method_not_allowed(&["post", "put"])),
    );
    cfg.service(
        web::resource("/caliper")
            .app_data(web::PayloadConfig::new(api::record_ingest::MAX_BODY_BYTES))
            .route(post().to(api::caliper::receive))
            .default_service(method_not_allowed(&["post"])),
    );
    cfg.service(
        web::resource("/caliper/{token}")
            .app_data(web::PayloadConfig::new(api::record_ingest::MAX_BODY_BYTES))
            .route(post().to(api::caliper::receive_keyed))
            .default_service(method_not_allowed(&["post"])),
    );
    open!(cfg, "/api/v1/webhooks", get => api::webhooks::list, post => api::webhooks::create);
    open!(cfg, "/api/v1/webhooks/{id}",
        get => api::webhooks::show,
        put => api::webhooks::replace,
        patch => api::webhooks::patch,
        delete => api::webhooks::delete);
    open!(cfg, "/api/v1/webhooks/{id}/enable", post => api::webhooks::enable);
    open!(cfg, "/api/v1/webhooks/{id}/disable", post => api::webhooks::disable);
    open!(cfg, "/api/v1/webhooks/{id}/ping", post => api::webhooks::send_ping);
    open!(cfg, "/api/v1/webhooks/{id}/rotate-secret", post => api::webhooks::rotate_secret);
    open!(cfg, "/api/v1/deliveries", get => api::deliveries::list);
    open!(cfg, "/api/v1/deliveries/{id}", get => api::deliveries::show);
    open!(cfg, "/api/v1/deliveries/{id}/redeliver", post => api::deliveries::redeliver);
    open!(cfg, "/api/v1/dead-letters", get => api::deliveries::dead_letters);
    open!(cfg, "/api/v1/dead-letters/replay", post => api::deliveries::replay);
    open!(cfg, "/api/v1/dead-letters/discard", post => api::deliveries::discard);

    // Any signed-in user (viewer and up).
    route!(cfg, require_viewer, "/", get => dashboard::show);
    route!(cfg, require_viewer, "/logout", post => login::logout);
    // Every signed-in user manages their own sessions.
    route!(cfg, require_viewer, "/account", get => account::show);
    route!(cfg, require_viewer, "/account/password", post => account::change_password);
    route!(cfg, require_viewer, "/account/sessions/end-others", post => account::end_other_sessions);
    route!(cfg, require_viewer, "/account/sessions/{handle}/end", post => account::end_session);

    // Webhooks: reading is for everyone signed in, changing for managers.
    // `/webhooks/new` comes before `/webhooks/{id}` so it is not taken for an id.
    route!(cfg, require_manager, "/webhooks/new", get => webhooks::form::new_form, post => webhooks::form::create);
    route!(cfg, require_viewer, "/webhooks", get => webhooks::list::list);
    route!(cfg, require_viewer, "/webhooks/{id}", get => webhooks::detail::show);
    route!(cfg, require_manager, "/webhooks/{id}/edit", get => webhooks::form::edit_form, post => webhooks::form::update);
    route!(cfg, require_manager, "/webhooks/{id}/enable", post => webhooks::actions::enable);
    // Destructive or costly actions: GET is the confirmation page, POST does it.
    route!(cfg, require_manager, "/webhooks/{id}/disable", get => webhooks::actions::confirm_disable, post => webhooks::actions::disable);
    route!(cfg, require_manager, "/webhooks/{id}/delete", get => webhooks::actions::confirm_delete, post => webhooks::actions::delete);
    route!(cfg, require_manager, "/webhooks/{id}/rotate-secret", get => webhooks::actions::confirm_rotate, post => webhooks::actions::rotate_secret);
    route!(cfg, require_manager, "/webhooks/{id}/reveal-secret", post => webhooks::actions::reveal_secret);
    // Where create (with signing), rotate and reveal redirect: the secret, shown once.
    route!(cfg, require_manager, "/webhooks/{id}/secret", get => webhooks::secret::show);
    route!(cfg, require_manager, "/webhooks/{id}/expire-previous-secret", get => webhooks::actions::confirm_expire_previous, post => webhooks::actions::expire_previous);
    route!(cfg, require_manager, "/webhooks/{id}/test", post => webhooks::test_ping::send);
    route!(cfg, require_viewer, "/events", get => events::catalog);
    // The management API's reference, rendered from its OpenAPI document.
    route!(cfg, require_viewer, "/api-docs", get => api_docs::show);

    // Deliveries and dead letters: everyone signed in reads, managers send again or discard.
    route!(cfg, require_viewer, "/deliveries", get => deliveries::list::list);
    route!(cfg, require_viewer, "/deliveries/{id}", get => deliveries::detail::show);
    route!(cfg, require_manager, "/deliveries/{id}/replay", post => deliveries::actions::replay);
    route!(cfg, require_manager, "/deliveries/{id}/redeliver", get => deliveries::actions::confirm_redeliver, post => deliveries::actions::redeliver);
    route!(cfg, require_manager, "/deliveries/{id}/discard", get => deliveries::actions::confirm_discard, post => deliveries::actions::discard);
    route!(cfg, require_viewer, "/dead-letters", get => deliveries::dead_letters::list);
    route!(cfg, require_manager, "/dead-letters/replay", get => deliveries::dead_letters::confirm_replay_all, post => deliveries::dead_letters::replay_all);
    route!(cfg, require_manager, "/dead-letters/replay-selected", get => deliveries::dead_letters::confirm_replay_selected, post => deliveries::dead_letters::replay_selected);
    route!(cfg, require_manager, "/dead-letters/discard-selected", get => deliveries::dead_letters::confirm_discard_selected, post => deliveries::dead_letters::discard_selected);
    route!(cfg, require_manager, "/audit", get => audit::list);

    // The built-in test receiver: managers create inboxes and read what they received.
    route!(cfg, require_manager, "/inboxes", get => inboxes::list, post => inboxes::create);
    route!(cfg, require_manager, "/inboxes/{id}", get => inboxes::show);
    route!(cfg, require_manager, "/inboxes/{id}/webhook", post => inboxes::create_webhook);
    route!(cfg, require_manager, "/inboxes/{id}/delete", get => inboxes::confirm_delete, post => inboxes::delete);

    // Admins only: API tokens.
    route!(cfg, require_admin, "/tokens", get => tokens::list, post => tokens::create);
    // Where creating a token redirects: the token, shown once.
    route!(cfg, require_admin, "/tokens/{id}/created", get => tokens::created);
    route!(cfg, require_admin, "/tokens/{id}/revoke", get => tokens::confirm_revoke, post => tokens::revoke);

    // Admins only: user management.
    route!(cfg, require_admin, "/users", get => users::list, post => users::create);
    route!(cfg, require_admin, "/users/new", get => users::new_form);
    route!(cfg, require_admin, "/users/{id}", get => users::show);
    route!(cfg, require_admin, "/users/{id}/role", post => users::change_role);
    route!(cfg, require_admin, "/users/{id}/password", post => users::reset_password);
    route!(cfg, require_admin, "/users/{id}/disable", post => users::disable);
    route!(cfg, require_admin, "/users/{id}/enable", post => users::enable);
    route!(cfg, require_admin, "/users/{id}/sessions/end", post => users::end_sessions);
    route!(cfg, require_admin, "/users/{id}/sessions/{handle}/end", post => users::end_session);
}
