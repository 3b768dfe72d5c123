//! Server-side sessions: the cookie is only a key, sign-out and "end session" delete the row
//! so a copied cookie stops working, idle and absolute lifetimes hold, and users and admins
//! see and end sessions.

use diesel::prelude::*;
use herald::domain::role::Role;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use sha2::{Digest, Sha256};

use crate::helpers::{Browser, PASSWORD, TestApp, assert_redirects_to, csrf_from, spawn_app};

/// The `herald_session` cookie a response sets, as `name=value`.
fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("herald_session="))
        .and_then(|value| value.split(';').next())
        .expect("no session cookie was set")
        .to_owned()
}

/// A client that sends exactly the cookie it is given (as a copied cookie would be).
fn replaying_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A cookie-keeping browser with its own user agent.
fn browser_as(app: &TestApp, user_agent: &str) -> Browser {
    Browser {
        client: reqwest::Client::builder()
            .cookie_store(true)
            .user_agent(user_agent)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        address: app.address.clone(),
    }
}

async fn live_sessions_of(app: &TestApp, user_id: i64) -> i64 {
    app.with_conn(move |conn| {
        herald::db::schema::sessions::table
            .filter(herald::db::schema::sessions::user_id.eq(user_id))
            .count()
            .get_result::<i64>(conn)
            .unwrap()
    })
    .await
}

async fn webhook_count(app: &TestApp) -> i64 {
    app.with_conn(|conn| {
        herald::db::schema::webhooks::table
            .count()
            .get_result::<i64>(conn)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn a_cookie_replayed_after_sign_out_gets_the_sign_in_page_and_changes_nothing() {
    let app = spawn_app().await;
    let user = app.add_user("mia", Role::Manager).await;
    let signed_in = app.login("mia", PASSWORD).await;
    assert_redirects_to(&signed_in, "/");
    let copied = session_cookie(&signed_in);
    let token = csrf_from(&app.get_html("/webhooks/new").await).unwrap();
    assert_eq!(live_sessions_of(&app, user.id).await, 1);

    assert_redirects_to(&app.logout().await, "/login?signed_out=1");
    assert_eq!(live_sessions_of(&app, user.id).await, 0);

    let replay = replaying_client();
    let page = replay
        .get(format!("{}/webhooks", app.address))
        .header(COOKIE, &copied)
        .send()
        .await
        .unwrap();
    assert_redirects_to(&page, "/login?ended=1&next=%2Fwebhooks");
    let change = replay
        .post(format!("{}/webhooks/new", app.address))
        .header(COOKIE, &copied)
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "Planted"),
            ("endpoint_url", "https://receiver.example/hook"),
            ("events", "course.completed"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        change.status() == StatusCode::FORBIDDEN || change.status() == StatusCode::SEE_OTHER,
        "a replayed cookie got {}",
        change.status()
    );
    if change.status() == StatusCode::SEE_OTHER {
        let location = change.headers()["location"].to_str().unwrap();
        assert!(location.starts_with("/login"), "{location}");
    }
    assert_eq!(webhook_count(&app).await, 0);
    // Nor does the replay bring the session back.
    assert_eq!(live_sessions_of(&app, user.id).await, 0);
}

#[tokio::test]
async fn the_cookie_carries_only_a_random_key_whose_hash_finds_the_row() {
    let app = spawn_app().await;
    let user = app.add_user("noor", Role::Viewer).await;
    let signed_in = app.login("noor", PASSWORD).await;
    let cookie = session_cookie(&signed_in);
    let value = cookie.trim_start_matches("herald_session=");
    assert!(!value.contains("uid") && !value.contains("noor"), "{value}");
    // Signed cookies are the signature followed by the value: the key is the last 43 chars.
    let key = &value[value.len() - 43..];
    let key_hash = Sha256::digest(key.as_bytes()).to_vec();
    let owner = app
        .with_conn(move |conn| {
            herald::db::schema::sessions::table
                .filter(herald::db::schema::sessions::key_hash.eq(key_hash))
                .select(herald::db::schema::sessions::user_id)
                .first::<Option<i64>>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(owner, Some(user.id));
}

#[tokio::test]
async fn an_idle_session_ends() {
    let app = spawn_app().await;
    let user = app.login_as(Role::Viewer).await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    // Last used nine hours ago: past the 8-hour idle limit.
    app.with_conn(move |conn| {
        diesel::sql_query(
            "UPDATE sessions SET last_seen_at = now() - interval '9 hours' WHERE user_id = $1",
        )
        .bind::<diesel::sql_types::BigInt, _>(user.id)
        .execute(conn)
        .unwrap()
    })
    .await;
    assert_redirects_to(&app.get("/").await, "/login?ended=1");
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_active() {
    let app = spawn_app().await;
    let user = app.login_as(Role::Viewer).await;
    let lifetime = app
        .with_conn(move |conn| {
            diesel::sql_query(
                "SELECT extract(epoch FROM expires_at - created_at)::float8 AS seconds \
                 FROM sessions WHERE user_id = $1",
            )
            .bind::<diesel::sql_types::BigInt, _>(user.id)
            .get_result::<Seconds>(conn)
            .unwrap()
            .seconds
        })
        .await;
    assert_eq!(
        lifetime.round() as i64,
        7 * 86_400,
        "default lifetime is 7 days"
    );
    app.with_conn(move |conn| {
        diesel::sql_query(
            "UPDATE sessions SET expires_at = now() - interval '1 second', last_seen_at = now() \
             WHERE user_id = $1",
        )
        .bind::<diesel::sql_types::BigInt, _>(user.id)
        .execute(conn)
        .unwrap()
    })
    .await;
    assert_redirects_to(&app.get("/").await, "/login?ended=1");
}

#[derive(QueryableByName)]
struct Seconds {
    #[diesel(sql_type = diesel::sql_types::Double)]
    seconds: f64,
}

/// The "End" form targets on a sessions page.
fn end_targets(html: &str, base: &str) -> Vec<String> {
    html.match_indices(&format!("action=\"{base}/"))
        .map(|(at, marker)| {
            let rest = &html[at + marker.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .filter(|path| path.ends_with("/end") && !path.starts_with("end-others"))
        .map(|path| format!("{base}/{path}"))
        .collect()
}

#[tokio::test]
async fn a_user_sees_their_sessions_and_ends_one_or_all_others() {
    let app = spawn_app().await;
    let user = app.add_user("omar", Role::Viewer).await;
    let laptop = browser_as(
        &app,
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    );
    let phone = browser_as(
        &app,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Mobile/15E148 Safari/604.1",
    );
    let tablet = browser_as(&app, "tablet-app/2.1");
    for browser in [&laptop, &phone, &tablet] {
        assert_redirects_to(&browser.login("omar", PASSWORD).await, "/");
    }
    assert_eq!(live_sessions_of(&app, user.id).await, 3);

    let page = laptop.get_html("/account").await;
    assert!(page.contains("Firefox on Linux"), "{page}");
    assert!(page.contains("Safari on iPhone"), "{page}");
    assert!(page.contains("tablet-app/2.1"), "{page}");
    assert!(page.contains("127.0.0.1"), "{page}");
    assert_eq!(page.matches("this session").count(), 1, "{page}");

    // End the phone's session from the laptop; the phone's row is found on the phone's page.
    let phone_page = phone.get_html("/account").await;
    let phone_targets = end_targets(&phone_page, "/account/sessions");
    let laptop_targets = end_targets(&page, "/account/sessions");
    assert_eq!(laptop_targets.len(), 3);
    // The phone's own row is the one whose button says "Sign out" on the phone's page.
    let phone_own = phone_targets
        .iter()
        .find(|target| {
            let at = phone_page.find(target.as_str()).unwrap();
            phone_page[at..].find("Sign out").unwrap() < phone_page[at..].find("</form>").unwrap()
        })
        .unwrap()
        .clone();
    assert_redirects_to(&laptop.post_form(&phone_own, &[]).await, "/account");
    assert_redirects_to(&phone.get("/").await, "/login?ended=1");
    assert_eq!(live_sessions_of(&app, user.id).await, 2);

    // "End all other sessions" keeps the laptop's.
    assert_redirects_to(
        &laptop.post_form("/account/sessions/end-others", &[]).await,
        "/account",
    );
    let after = laptop.get_html("/account").await;
    assert!(after.contains("1 other session ended."), "{after}");
    assert_redirects_to(&tablet.get("/").await, "/login?ended=1");
    assert_eq!(laptop.get("/").await.status(), StatusCode::OK);
    assert_eq!(live_sessions_of(&app, user.id).await, 1);

    // Ending one's own current session is signing out.
    let own = end_targets(&after, "/account/sessions");
    assert_eq!(own.len(), 1);
    assert_redirects_to(&laptop.post_form(&own[0], &[]).await, "/login?signed_out=1");
    assert_eq!(live_sessions_of(&app, user.id).await, 0);
}

#[tokio::test]
async fn a_user_cannot_end_someone_elses_session() {
    let app = spawn_app().await;
    let victim = app.add_user("pia", Role::Admin).await;
    let victim_browser = app.new_browser();
    victim_browser.login("pia", PASSWORD).await;
    let victim_page = victim_browser.get_html("/account").await;
    let victim_target = end_targets(&victim_page, "/account/sessions").remove(0);

    app.login_as(Role::Viewer).await;
    assert_redirects_to(&app.post_form(&victim_target, &[]).await, "/account");
    assert_eq!(live_sessions_of(&app, victim.id).await, 1);
    assert_eq!(victim_browser.get("/").await.status(), StatusCode::OK);
    let page = app.get_html("/account").await;
    assert!(page.contains("That session had already ended."), "{page}");
}

#[tokio::test]
async fn an_admin_ends_a_users_sessions_and_others_may_not() {
    let app = spawn_app().await;
    let target = app.add_user("quinn", Role::Manager).await;
    let target_browser = app.new_browser();
    target_browser.login("quinn", PASSWORD).await;
    let second = app.new_browser();
    second.login("quinn", PASSWORD).await;
    let path = format!("/users/{}/sessions/end", target.id);

    for role in [Role::Viewer, Role::Manager] {
        let other = app.new_browser();
        let user = app.add_user(&format!("{role}-ender"), role).await;
        other.login(&user.username, PASSWORD).await;
        assert_eq!(
            other.post_form(&path, &[]).await.status(),
            StatusCode::FORBIDDEN,
            "{role} may not end sessions"
        );
    }
    assert_eq!(live_sessions_of(&app, target.id).await, 2);

    app.login_as(Role::Admin).await;
    let page = app.get_html(&format!("/users/{}", target.id)).await;
    assert!(
        page.contains("End all of quinn&#x27;s sessions")
            || page.contains("End all of quinn's sessions"),
        "{page}"
    );
    assert_eq!(
        end_targets(&page, &format!("/users/{}/sessions", target.id)).len(),
        2
    );
    assert_redirects_to(
        &app.post_form(&path, &[]).await,
        &format!("/users/{}", target.id),
    );
    assert_redirects_to(&target_browser.get("/").await, "/login?ended=1");
    assert_redirects_to(&second.get("/").await, "/login?ended=1");
    assert_eq!(live_sessions_of(&app, target.id).await, 0);
    let page = app.get_html(&format!("/users/{}", target.id)).await;
    assert!(page.contains("2 sessions ended."), "{page}");
    let audited = app
        .with_conn(move |conn| {
            herald::db::schema::audit_log::table
                .filter(herald::db::schema::audit_log::action.eq("user.sessions_ended"))
                .filter(herald::db::schema::audit_log::target_id.eq(target.id.to_string()))
                .select(herald::db::schema::audit_log::details)
                .first::<serde_json::Value>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(audited["sessions_ended"], 2);
}

#[tokio::test]
async fn a_role_change_ends_the_users_sessions() {
    let app = spawn_app().await;
    let target = app.add_user("rosa", Role::Manager).await;
    let target_browser = app.new_browser();
    target_browser.login("rosa", PASSWORD).await;
    assert_eq!(target_browser.get("/").await.status(), StatusCode::OK);

    app.login_as(Role::Admin).await;
    assert_redirects_to(
        &app.post_form(&format!("/users/{}/role", target.id), &[("role", "viewer")])
            .await,
        &format!("/users/{}", target.id),
    );
    assert_redirects_to(&target_browser.get("/").await, "/login?ended=1");
    assert_eq!(live_sessions_of(&app, target.id).await, 0);
}

async fn session_rows(app: &TestApp) -> i64 {
    app.with_conn(|conn| {
        herald::db::schema::sessions::table
            .count()
            .get_result::<i64>(conn)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn anonymous_visitors_never_write_a_session_row() {
    let app = spawn_app().await;
    app.add_user("ines", Role::Viewer).await;
    // A flood of fresh visitors to the sign-in form (each gets a CSRF token) and of forged
    // POSTs: not one row, so anonymous clients cannot fill the table.
    let anonymous = replaying_client();
    let mut cookie = String::new();
    for _ in 0..30 {
        let page = anonymous
            .get(format!("{}/login", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        cookie = session_cookie(&page);
    }
    let refused = anonymous
        .post(format!("{}/login", app.address))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf_token", "forged"),
            ("username", "ines"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(session_rows(&app).await, 0);

    // The form still works: its token travels in the signed cookie, and signing in makes
    // the one row, with the user.
    let signed_in = app.login("ines", PASSWORD).await;
    assert_redirects_to(&signed_in, "/");
    assert_eq!(session_rows(&app).await, 1);
    let users = app
        .with_conn(|conn| {
            herald::db::schema::sessions::table
                .filter(herald::db::schema::sessions::user_id.is_not_null())
                .count()
                .get_result::<i64>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(users, 1);
    // Signing out leaves an anonymous cookie at most, never a row.
    assert_redirects_to(&app.logout().await, "/login?signed_out=1");
    assert_eq!(app.get("/login").await.status(), StatusCode::OK);
    assert_eq!(session_rows(&app).await, 0);
}

#[tokio::test]
async fn a_session_records_the_client_address_behind_a_trusted_proxy() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.add_user("sara", Role::Viewer).await;
    let proxied = app.browser_from("127.0.0.1", &[("x-forwarded-for", "203.0.113.9")]);
    assert_redirects_to(&proxied.login("sara", PASSWORD).await, "/");
    let page = proxied.get_html("/account").await;
    assert!(page.contains("203.0.113.9"), "{page}");
    // From an address that is not a trusted proxy the header is not believed.
    let direct = app.browser_from("127.0.0.2", &[("x-forwarded-for", "198.51.100.1")]);
    assert_redirects_to(&direct.login("sara", PASSWORD).await, "/");
    let page = direct.get_html("/account").await;
    assert!(
        page.contains("127.0.0.2") && !page.contains("198.51.100.1"),
        "{page}"
    );
}
