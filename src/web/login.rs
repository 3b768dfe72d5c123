//! Sign-in and sign-out. A wrong username, a wrong password and a disabled account's right
//! password get the same answer and cost the same argon2 work; every attempt reserves its
//! place with the throttle before the password is checked (see `auth::throttle`); the session
//! id is renewed on sign-in.

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::client_address::ClientAddress;
use super::page::{PageContext, render_with, see_other};
use super::state::AppState;
use crate::auth::guard::safe_next;
use crate::auth::known_client;
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

/// `Wrong` answers a wrong username, a wrong password and a disabled account alike.
enum Outcome {
    SignedIn { user_id: i64, session_version: i32 },
    Wrong,
    Throttled { retry_after: Duration },
}

pub async fn submit(
    req: HttpRequest,
    client: ClientAddress,
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
    let mut attempt = throttle::Attempt::new(&username, client.ip());
    let now = chrono::Utc::now();
    if req
        .cookie(known_client::COOKIE)
        .is_some_and(|mark| state.known_clients.verify(mark.value(), &username, now))
    {
        attempt = attempt.from_known_client();
    }
    let typed_username = username.clone();
    let limits = state.settings.login_throttle;
    let pool = state.pool.clone();
    let database = state.database.clone();

    let outcome = web::block(move || -> Result<Outcome, AppError> {
        let parsed = Username::parse(&typed_username).ok();
        let credentials = {
            let mut conn = crate::web::state::checkout(&pool, &database)?;
            // Counted as a failure from here on, unless the password turns out right.
            if let Verdict::Refused { retry_after } =
                throttle::reserve(&mut conn, &limits, &attempt)?
            {
                return Ok(Outcome::Throttled { retry_after });
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
            Some(found) if password_ok && found.disabled_at.is_some() => {
                // Told apart only in the log: to the client it is a wrong password, and it
                // stays counted, or the throttle would show that the password was right.
                tracing::info!(user_id = found.user_id, "sign-in refused: account disabled");
                Ok(Outcome::Wrong)
            }
            Some(found) if password_ok => {
                user::record_login(&mut conn, found.user_id)?;
                throttle::succeeded(&mut conn, &limits, &attempt)?;
                let account = user::find(&mut conn, found.user_id)?.ok_or(AppError::NotFound)?;
                Ok(Outcome::SignedIn {
                    user_id: account.id,
                    session_version: account.session_version,
                })
            }
            _ => Ok(Outcome::Wrong),
        }
    })
    .await??;

    let (status, message, retry_after) = match outcome {
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
            let mut response = see_other(&next);
            let mark = Cookie::build(
                known_client::COOKIE,
                state.known_clients.issue(&username, now),
            )
            .path("/login")
            .http_only(true)
            .secure(state.settings.cookie_secure)
            .same_site(SameSite::Strict)
            .max_age(actix_web::cookie::time::Duration::seconds(
                known_client::LIFETIME.num_seconds(),
            ))
            .finish();
            response.add_cookie(&mark).map_err(|err| {
                AppError::Unexpected(anyhow::anyhow!(
                    "could not set the known-client mark: {err}"
                ))
            })?;
            return Ok(response);
        }
        Outcome::Wrong => (StatusCode::UNAUTHORIZED, WRONG_CREDENTIALS.to_owned(), None),
        Outcome::Throttled { retry_after } => {
            let seconds = retry_after_seconds(retry_after);
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed sign-in attempts. Wait {} and try again.",
                    how_long(seconds)
                ),
                Some(seconds),
            )
        }
    };
    let mut response = render_with(
        status,
        &LoginPage {
            ctx,
            username,
            next,
            error: Some(message),
        },
    )?;
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(RETRY_AFTER, seconds.into());
    }
    Ok(response)
}

/// A throttle's wait as `Retry-After` seconds: whole seconds, rounded up, at least 1, so a
/// client that waits this long is let through.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

/// "12 seconds", "1 minute", "15 minutes" (rounded up).
pub fn how_long(seconds: u64) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if seconds < 60 {
        plural(seconds, "second")
    } else {
        plural(seconds.div_ceil(60), "minute")
    }
}

pub async fn logout(session: TypedSession) -> HttpResponse {
    session.log_out();
    see_other("/login?signed_out=1")
}

#[cfg(test)]
mod tests {
    use super::how_long;

    #[test]
    fn waits_read_in_seconds_under_a_minute_and_in_whole_minutes_above() {
        assert_eq!(how_long(1), "1 second");
        assert_eq!(how_long(59), "59 seconds");
        assert_eq!(how_long(60), "1 minute");
        assert_eq!(how_long(61), "2 minutes");
        assert_eq!(how_long(900), "15 minutes");
    }
}
