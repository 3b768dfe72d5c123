//! The role guard: wraps every page but the sign-in page, health check and static files.
//! Anonymous visitors are sent to `/login?next=…`; a session that ended (signed out, timed
//! out, ended from the sessions list, disabled account, changed password) is told so there;
//! an insufficient role gets the 403 page, naming the role needed. Idle and absolute lifetimes are kept by the
//! session store.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};

use super::current_user::CurrentUser;
use super::session::TypedSession;
use crate::domain::role::Role;
use crate::error::AppError;
use crate::model::user;
use crate::web::state::AppState;

pub async fn require_viewer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    authorize(Role::Viewer, req, next).await
}

pub async fn require_manager(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    authorize(Role::Manager, req, next).await
}

pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    authorize(Role::Admin, req, next).await
}

async fn authorize(
    required: Role,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let session = TypedSession::of(&req);
    let Some(user_id) = session.user_id() else {
        // A session cookie whose session could not be found (an anonymous one keeps at least
        // its CSRF token): it ended.
        let ended = req.cookie(crate::startup::SESSION_COOKIE).is_some()
            && session.existing_csrf_token().is_none();
        let location = login_location(&req, ended);
        return Ok(req.into_response(redirect(&location)));
    };
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .expect("AppState is registered on the app");

    let found = state.run(move |conn| user::find(conn, user_id)).await;
    let account = match found {
        Ok(account) => account,
        Err(err) => return Ok(req.into_response(err.error_response())),
    };
    let account = match account {
        Some(account)
            if !account.is_disabled()
                && Some(account.session_version) == session.session_version() =>
        {
            account
        }
        // Deleted, disabled, or its password changed since this session began.
        _ => {
            session.log_out();
            let location = login_location(&req, true);
            return Ok(req.into_response(redirect(&location)));
        }
    };
    let current = account.role();
    // Known before the role check, so even the 403 page shows the navigation.
    req.extensions_mut().insert(CurrentUser::from(account));
    if !current.allows(required) {
        let refused = AppError::NeedsRole {
            needed: required,
            current,
            action: !matches!(*req.method(), Method::GET | Method::HEAD),
        };
        return Ok(req.into_response(refused.error_response()));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// `/login`, with `next` set to the page asked for when it is safe to come back to it.
fn login_location(req: &ServiceRequest, ended: bool) -> String {
    let mut query = Vec::new();
    if ended {
        query.push("ended=1".to_owned());
    }
    if req.method() == Method::GET && req.path() != "/" {
        let target = match req.query_string() {
            "" => req.path().to_owned(),
            q => format!("{}?{q}", req.path()),
        };
        query.push(format!("next={}", urlencoding::encode(&target)));
    }
    if query.is_empty() {
        "/login".into()
    } else {
        format!("/login?{}", query.join("&"))
    }
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Only same-site paths are followed after sign-in: `/webhooks?page=2` yes,
/// `//evil.example`, `https://evil.example` or `/\evil` no.
pub fn safe_next(raw: Option<&str>) -> String {
    let Some(raw) = raw.map(str::trim) else {
        return "/".into();
    };
    let is_local = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.starts_with("/\\")
        && !raw.chars().any(|c| c.is_control() || c == '\\')
        && !raw.starts_with("/login")
        && !raw.starts_with("/logout");
    if is_local { raw.to_owned() } else { "/".into() }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/users?page=2")), "/users?page=2");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/ok\r\nSet-Cookie: x")), "/");
        assert_eq!(safe_next(Some("javascript:alert(1)")), "/");
        assert_eq!(safe_next(Some("/logout")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
