//! What every page's layout needs: the signed-in user, the CSRF token for its forms and the
//! flash messages waiting to be shown; plus the helper that turns a template into a response.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use askama::Template;
use std::future::{Ready, ready};

use crate::auth::current_user::CurrentUser;
use crate::auth::session::{Flash, TypedSession};
use crate::error::AppError;

pub struct PageContext {
    pub user: Option<CurrentUser>,
    pub csrf_token: String,
    pub flashes: Vec<Flash>,
    /// The navigation entry to highlight.
    pub section: &'static str,
}

impl PageContext {
    /// No user, no CSRF token, no flashes: an error page rendered before the user is known.
    pub fn anonymous() -> Self {
        Self {
            user: None,
            csrf_token: String::new(),
            flashes: Vec::new(),
            section: "",
        }
    }

    pub fn in_section(mut self, section: &'static str) -> Self {
        self.section = section;
        self
    }

    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    pub fn can_manage(&self) -> bool {
        self.user.as_ref().is_some_and(CurrentUser::can_manage)
    }

    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(CurrentUser::is_admin)
    }
}

impl FromRequest for PageContext {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = match TypedSession::from_request(req, payload).into_inner() {
            Ok(session) => session,
            Err(err) => return ready(Err(err)),
        };
        ready(Ok(Self {
            user: req.extensions().get::<CurrentUser>().cloned(),
            csrf_token: session.csrf_token(),
            flashes: session.take_flashes(),
            section: "",
        }))
    }
}

pub fn render(template: &impl Template) -> Result<HttpResponse, AppError> {
    render_with(StatusCode::OK, template)
}

pub fn render_with(status: StatusCode, template: &impl Template) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::build(status)
        .content_type(ContentType::html())
        .body(template.render()?))
}

/// 303 to `location`; one that is not a valid header value (it never is here, see
/// [`local_path`]) goes to the dashboard instead of failing after the action was done.
pub fn see_other(location: &str) -> HttpResponse {
    let location = actix_web::http::header::HeaderValue::from_str(location)
        .unwrap_or_else(|_| actix_web::http::header::HeaderValue::from_static("/"));
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

/// A `back` field as sent by a form: a path on this site (no `//host`, `/\host` or scheme),
/// without control characters and of a sane length, or `None` so the caller uses its default.
/// Checked before the action, so a forged value can never turn a done action into an error.
pub fn local_path(raw: &str) -> Option<&str> {
    let path = raw.trim();
    (path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 2048
        && !path.chars().any(|c| c.is_control() || c == '\\'))
    .then_some(path)
}
