//! Sign-in and sign-out. A wrong username and a wrong password get the same message and cost
//! the same argon2 work; repeated failures are throttled; the session id is renewed on sign-in.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{PageContext, render_with, see_other};
use super::state::AppState;
use crate::auth::guard::safe_next;
use crate::auth::password::verify_password;
use crate::auth::session::{FlashLevel, SignInClient, TypedSession};
use crate::auth::throttle::{self, Verdict};
use crate::domain::username::Username;
use crate::error::AppError;
use crate::model::user;
use crate::web::input::{Form, Query};

const WRONG_CREDENTIALS: &str = "Wrong username or password.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: PageContext,
    username: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    ended: Option<String>,
    signed_out: Option<String>,
}

pub async fn form(
    ctx: PageContext,
    session: TypedSession,
    query: Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    if session.user_id().is_some() && query.ended.is_none() {
        return Ok(see_other(&safe_next(query.next.as_deref())));
    }
    let mut ctx = ctx;
    if query.ended.is_some() {
        ctx.flashes.push(crate::auth::session::Flash {
            level: FlashLevel::Info,
            text: "Your session has ended. Sign in again to continue.".into(),
        });
    }
    if query.signed_out.is_some() {
        ctx.flashes.push(crate::auth::session::Flash {
            level: FlashLevel::Success,
            text: "You have signed out.".into(),
        });
    }
    render_with(
        StatusCode::OK,
        &LoginPage {
            ctx,
            username: String::new(),
            next: safe_next(query.next.as_deref()),
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

enum Outcome {
    SignedIn { user_id: i64, session_version: i32 },
    Wrong,
    Disabled,
    Throttled { minutes: u64 },
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    ctx: PageContext,
    form: Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let LoginForm {
        username,
        password,
        next,
    } = form.into_inner();
    let next = safe_next(next.as_deref());
    if username.chars().any(char::is_control) {
        // No account name has control characters (and PostgreSQL cannot even compare NUL):
        // the answer to a wrong password, without a trip to the database.
        return render_with(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                ctx,
                username: String::new(),
                next,
                error: Some(WRONG_CREDENTIALS.into()),
            },
        );
    }
    let client_ip = client_address_of(&req);
    let typed_username = username.clone();
    let limits = state.settings.login_throttle;
    let pool = state.pool.clone();
    let database = state.database.clone();

    let outcome = web::block(move || -> Result<Outcome, AppError> {
        let key = typed_username.trim().to_ascii_lowercase();
        let parsed = Username::parse(&typed_username).ok();
        let credentials = {
            let mut conn = crate::web::state::checkout(&pool, &database)?;
            if let Verdict::Refused { retry_after } =
                throttle::check(&mut conn, &limits, &key, &client_ip)?
            {
                return Ok(Outcome::Throttled {
                    minutes: retry_after.as_secs().div_ceil(60).max(1),
                });
            }
            match &parsed {
                Some(name) => user::credentials(&mut conn, name)?,
                None => None,
            }
            // The connection goes back to the pool before the slow hash check.
        };
        let password_ok = verify_password(
            &password,
            credentials.as_ref().map(|c| c.password_hash.as_str()),
        );
        let mut conn = crate::web::state::checkout(&pool, &database)?;
        match credentials {
            Some(found) if password_ok && found.disabled_at.is_some() => Ok(Outcome::Disabled),
            Some(found) if password_ok => {
                user::record_login(&mut conn, found.user_id)?;
                throttle::record_success(&mut conn, &limits, &key)?;
                let account = user::find(&mut conn, found.user_id)?.ok_or(AppError::NotFound)?;
                Ok(Outcome::SignedIn {
                    user_id: account.id,
                    session_version: account.session_version,
                })
            }
            _ => {
                throttle::record_failure(&mut conn, &key, &client_ip)?;
                Ok(Outcome::Wrong)
            }
        }
    })
    .await??;

    let (status, message) = match outcome {
        Outcome::SignedIn {
            user_id,
            session_version,
        } => {
            let client = SignInClient::of(&req);
            session
                .log_in(user_id, session_version, &client)
                .map_err(|err| {
                    AppError::Unexpected(anyhow::anyhow!("could not start the session: {err}"))
                })?;
            tracing::info!(user_id, "signed in");
            return Ok(see_other(&next));
        }
        Outcome::Wrong => (StatusCode::UNAUTHORIZED, WRONG_CREDENTIALS.to_owned()),
        Outcome::Disabled => (
            StatusCode::FORBIDDEN,
            "This account is disabled. Ask an admin to enable it.".to_owned(),
        ),
        Outcome::Throttled { minutes } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-in attempts. Wait {minutes} minute{} and try again.",
                if minutes == 1 { "" } else { "s" }
            ),
        ),
    };
    render_with(
        status,
        &LoginPage {
            ctx,
            username,
            next,
            error: Some(message),
        },
    )
}

/// The client's address as this server sees it.
pub fn client_address_of(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|addr| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub async fn logout(session: TypedSession) -> HttpResponse {
    session.log_out();
    see_other("/login?signed_out=1")
}
