//! Error pages inside the layout. `AppError` renders its page before anyone knows who asked
//! (`ResponseError` has no request), so the page comes out bare and keeps what it says in the
//! response (`error::ErrorContent`). This middleware, inside the session middleware, renders
//! it again with the navigation and "Sign out" when the request has a signed-in user: the one
//! the role guard found, or — for addresses without a guard, such as an unknown path or a
//! refused CSRF token — the session's user, checked as the guard checks it. Nothing is looked
//! up for a 503 (the database is the likely cause), so those stay bare unless the guard ran.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, web};

use super::page::PageContext;
use super::state::AppState;
use crate::auth::current_user::CurrentUser;
use crate::auth::session::TypedSession;
use crate::error::ErrorContent;
use crate::model::user;

pub async fn in_layout(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let response = next.call(req).await?.map_into_boxed_body();
    let Some(content) = response
        .response()
        .extensions()
        .get::<ErrorContent>()
        .cloned()
    else {
        return Ok(response);
    };
    let request = response.request().clone();
    let Some(user) = signed_in_user(&request, &content).await else {
        return Ok(response);
    };
    let Ok(session) = TypedSession::extract(&request).await else {
        return Ok(response);
    };
    let ctx = PageContext {
        user: Some(user),
        csrf_token: session.csrf_token(),
        // Flashes wait for the next real page.
        flashes: Vec::new(),
        section: "",
    };
    match content.render(ctx) {
        // Status and headers (`Allow`, `Retry-After`…) stay as they were.
        Ok(html) => Ok(response.map_body(|_, _| BoxBody::new(html))),
        Err(_) => Ok(response),
    }
}

async fn signed_in_user(request: &HttpRequest, content: &ErrorContent) -> Option<CurrentUser> {
    if let Some(user) = request.extensions().get::<CurrentUser>().cloned() {
        return Some(user);
    }
    if content.status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let session = TypedSession::extract(request).await.ok()?;
    let (user_id, version) = (session.user_id()?, session.session_version()?);
    let state = request.app_data::<web::Data<AppState>>()?.clone();
    let account = state
        .run(move |conn| user::find(conn, user_id))
        .await
        .ok()??;
    // As the guard would see it: an account disabled or a password changed since sign-in is
    // no longer signed in here.
    (!account.is_disabled() && account.session_version == version)
        .then(|| CurrentUser::from(account))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::role::Role;
    use crate::error::{AppError, Unavailable};
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test};

    /// A handler behind a guard that let `role` in, failing with `make()`.
    async fn fails_for(role: Role, make: fn() -> AppError, path: &str) -> ServiceResponse {
        let handler = move |req: HttpRequest| {
            req.extensions_mut().insert(CurrentUser {
                id: 7,
                username: "vera".into(),
                role,
            });
            async move { Err::<HttpResponse, _>(make()) }
        };
        let app = test::init_service(
            App::new()
                .wrap(from_fn(in_layout))
                .route("/{tail:.*}", web::to(handler)),
        )
        .await;
        test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await
    }

    async fn body(response: ServiceResponse) -> String {
        String::from_utf8(test::read_body(response).await.to_vec()).unwrap()
    }

    #[actix_web::test]
    async fn a_signed_in_users_503_keeps_the_navigation_and_retry_after() {
        let response = fails_for(
            Role::Viewer,
            || AppError::Unavailable(Unavailable::Database("refused".into())),
            "/webhooks",
        )
        .await;
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers().get("retry-after").unwrap(), "5");
        let html = body(response).await;
        assert!(html.contains(r#"class="mainnav""#), "{html}");
        assert!(html.contains("vera") && html.contains("Sign out"), "{html}");
        assert!(html.contains("The database is unavailable"), "{html}");
    }

    #[actix_web::test]
    async fn a_405_keeps_allow() {
        let response = fails_for(
            Role::Admin,
            || AppError::MethodNotAllowed("POST".into()),
            "/logout",
        )
        .await;
        assert_eq!(response.status().as_u16(), 405);
        assert_eq!(response.headers().get("allow").unwrap(), "POST");
        assert!(body(response).await.contains("Sign out"));
    }
}
