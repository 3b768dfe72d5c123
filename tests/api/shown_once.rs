//! Values shown once (a new API token, a new, rotated or revealed signing secret) by
//! post/redirect/get: the action answers with a redirect, the page it leads to shows the value,
//! and reloading that page creates nothing and shows the value no more — nor does another
//! session loading it. Between the two requests the value waits in the session row sealed.

use diesel::prelude::*;
use herald::db::schema::{api_tokens, audit_log, sessions, webhooks};
use herald::domain::role::Role;
use reqwest::StatusCode;
use reqwest::header::LOCATION;

use crate::browser::Chrome;
use crate::helpers::{TestApp, spawn_app};

/// The value of the first read-only field starting with `prefix` on a page.
fn value_in(html: &str, prefix: &str) -> Option<String> {
    html.split(&format!("value=\"{prefix}"))
        .nth(1)
        .map(|rest| format!("{prefix}{}", rest.split('"').next().unwrap()))
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// Every session row's stored text, joined.
async fn session_rows(app: &TestApp) -> String {
    app.with_conn(|conn| {
        sessions::table
            .select(sessions::state)
            .load::<String>(conn)
            .unwrap()
            .join("\n")
    })
    .await
}

async fn count_audit(app: &TestApp, action: &'static str) -> i64 {
    app.with_conn(move |conn| {
        audit_log::table
            .filter(audit_log::action.eq(action))
            .count()
            .get_result(conn)
            .unwrap()
    })
    .await
}

/// A complete webhook form, as the console sends it.
fn webhook_form<'a>(name: &'a str, url: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("endpoint_url", url),
        ("events", "course.completed"),
        ("dispatch_mode", "immediate"),
        ("batch_window_minutes", "15"),
        ("batch_max_events", "100"),
        ("auth_kind", "none"),
        ("signing_enabled", "on"),
        ("retry_policy", "exponential"),
        ("retry_initial_seconds", "2"),
        ("retry_factor", "2"),
        ("retry_max_delay_seconds", "3600"),
        ("retry_max_attempts", "60"),
        ("on_client_error", "dead_letter"),
        ("timeout_seconds", "15"),
        ("enabled", "on"),
    ]
}

const GONE: &str = "This value was shown once and is no longer available";

#[tokio::test]
async fn reloading_the_new_token_page_creates_nothing_and_shows_the_token_no_more() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    let response = app
        .post_form(
            "/tokens",
            &[("name", "LMS production"), ("scope", "ingest")],
        )
        .await;
    let to = location(&response);
    let id: i64 = app
        .with_conn(|conn| {
            api_tokens::table
                .select(api_tokens::id)
                .first(conn)
                .unwrap()
        })
        .await;
    assert_eq!(to, format!("/tokens/{id}/created"), "no value in the URL");

    // Waiting for its page, the token is in the session row only sealed.
    let rows = session_rows(&app).await;
    assert!(rows.contains("token_created"), "{rows}");
    assert!(!rows.contains("hrld_"), "{rows}");

    let first = app.get(&to).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let html = first.text().await.unwrap();
    let token = value_in(&html, "hrld_").expect("the token on the page reached by redirect");
    assert!(html.contains("class=\"secret-value\""));
    assert!(
        html.contains("data-copy-from=\"new-token\""),
        "a copy button"
    );
    assert!(
        !session_rows(&app).await.contains("token_created"),
        "taken out of the session"
    );

    let reload = app.get_html(&to).await;
    assert!(reload.contains(GONE), "{reload}");
    assert!(!reload.contains(&token) && value_in(&reload, "hrld_").is_none());
    let other = app.new_browser();
    other
        .login(
            &app.add_user("second-admin", Role::Admin).await.username,
            crate::helpers::PASSWORD,
        )
        .await;
    let elsewhere = other.get_html(&to).await;
    assert!(elsewhere.contains(GONE) && !elsewhere.contains(&token));

    let count: i64 = app
        .with_conn(|conn| api_tokens::table.count().get_result(conn).unwrap())
        .await;
    assert_eq!(count, 1, "reloading created no second token");
    assert_eq!(count_audit(&app, "api_token.created").await, 1);
    assert!(!app.get_html("/tokens").await.contains(&token));
}

#[tokio::test]
async fn reloading_after_creating_a_webhook_shows_the_secret_once_and_no_duplicate_error() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let response = app
        .post_form(
            "/webhooks/new",
            &webhook_form("HR onboarding", "https://hr.example.com/hooks/lms"),
        )
        .await;
    let to = location(&response);
    let id: i64 = app
        .with_conn(|conn| webhooks::table.select(webhooks::id).first(conn).unwrap())
        .await;
    assert_eq!(to, format!("/webhooks/{id}/secret"));
    assert!(
        !session_rows(&app).await.contains("whsec_"),
        "sealed while it waits"
    );

    let html = app.get_html(&to).await;
    assert!(html.contains("Webhook created") && html.contains("HR onboarding"));
    let secret = value_in(&html, "whsec_").expect("the secret once");
    assert!(html.contains("data-copy-from=\"secret\""));

    for _ in 0..2 {
        let reload = app.get_html(&to).await;
        assert!(reload.contains(GONE), "{reload}");
        assert!(!reload.contains(&secret) && !reload.contains("already exists"));
    }
    let count: i64 = app
        .with_conn(|conn| webhooks::table.count().get_result(conn).unwrap())
        .await;
    assert_eq!(count, 1, "reloading created no second webhook");
    assert_eq!(count_audit(&app, "webhook.created").await, 1);
}

#[tokio::test]
async fn rotated_and_revealed_secrets_are_shown_once_to_their_own_session_only() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let (hook, _) =
        crate::delivery_helpers::create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let (other_hook, _) =
        crate::delivery_helpers::create_webhook(&app, "https://crm.example.com/hooks", |_| {})
            .await;
    let to = format!("/webhooks/{}/secret", hook.id);

    let rotated = app
        .post_form(&format!("/webhooks/{}/rotate-secret", hook.id), &[])
        .await;
    assert_eq!(location(&rotated), to);
    // Another webhook's secret page does not take this one's value.
    let beside = app
        .get_html(&format!("/webhooks/{}/secret", other_hook.id))
        .await;
    assert!(beside.contains(GONE) && value_in(&beside, "whsec_").is_none());
    // Nor does another manager's session.
    let other = app.new_browser();
    other
        .login(
            &app.add_user("other-manager", Role::Manager).await.username,
            crate::helpers::PASSWORD,
        )
        .await;
    let elsewhere = other.get_html(&to).await;
    assert!(elsewhere.contains(GONE) && value_in(&elsewhere, "whsec_").is_none());

    let html = app.get_html(&to).await;
    assert!(html.contains("Signing secret rotated"), "{html}");
    let rotated_secret = value_in(&html, "whsec_").unwrap();
    let reload = app.get_html(&to).await;
    assert!(reload.contains(GONE) && !reload.contains(&rotated_secret));
    assert_eq!(
        count_audit(&app, "webhook.secret_rotated").await,
        1,
        "rotated once"
    );

    let revealed = app
        .post_form(&format!("/webhooks/{}/reveal-secret", hook.id), &[])
        .await;
    assert_eq!(location(&revealed), to);
    let html = app.get_html(&to).await;
    assert_eq!(
        value_in(&html, "whsec_").as_deref(),
        Some(rotated_secret.as_str())
    );
    assert!(app.get_html(&to).await.contains(GONE));
    assert_eq!(
        count_audit(&app, "webhook.secret_revealed").await,
        1,
        "revealed once"
    );
}

#[tokio::test]
async fn switching_signing_on_in_edit_shows_the_new_secret_once() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let (hook, _) =
        crate::delivery_helpers::create_webhook(&app, "https://hr.example.com/hooks", |input| {
            input.signing_enabled = None
        })
        .await;
    let response = app
        .post_form(
            &format!("/webhooks/{}/edit", hook.id),
            &webhook_form(&hook.name, "https://hr.example.com/hooks"),
        )
        .await;
    let to = location(&response);
    assert_eq!(to, format!("/webhooks/{}/secret", hook.id));
    let html = app.get_html(&to).await;
    assert!(html.contains("Signing switched on"), "{html}");
    assert!(value_in(&html, "whsec_").is_some());
    assert!(app.get_html(&to).await.contains(GONE));
}

/// The value of the field `id` on the browser's page.
async fn field_value(chrome: &Chrome, id: &str) -> String {
    chrome
        .client
        .execute(
            "return document.getElementById(arguments[0]).value",
            vec![serde_json::json!(id)],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// Checks the shown value's field: monospace, with a working copy button.
async fn check_copyable(chrome: &Chrome, id: &str) {
    let font = chrome
        .client
        .execute(
            "return getComputedStyle(document.getElementById(arguments[0])).fontFamily",
            vec![serde_json::json!(id)],
        )
        .await
        .unwrap();
    assert!(
        font.as_str().unwrap().contains("monospace"),
        "secrets in a monospace face, got {font}"
    );
    chrome
        .click(&format!("button[data-copy-from='{id}']"))
        .await;
    // Copied, or (where the browser refuses the clipboard) selected with a hint: either way
    // the script answered the click.
    let status = format!("#{id}-copied");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = chrome
            .client
            .execute(
                "return document.querySelector(arguments[0]).textContent",
                vec![serde_json::json!(status)],
            )
            .await
            .unwrap();
        if !text.as_str().unwrap_or("").is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the copy button did nothing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn reloading_every_shown_once_page_in_a_real_browser_creates_nothing_twice() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = spawn_app().await;
    app.add_user("ada", Role::Admin).await;
    let base = app.address.clone();
    chrome.sign_in(&base, "ada").await;

    // A new API token.
    chrome.client.goto(&format!("{base}/tokens")).await.unwrap();
    chrome.fill("#name", "LMS production").await;
    chrome
        .click("form[action='/tokens'] button[type=submit]")
        .await;
    chrome.wait_for_text("h1", "created").await;
    let token = field_value(&chrome, "new-token").await;
    assert!(token.starts_with("hrld_"));
    check_copyable(&chrome, "new-token").await;
    chrome.screenshot("50-token-shown-once").await;
    chrome.client.refresh().await.unwrap();
    chrome.wait_for_text("h1", "no longer shown").await;
    assert!(!chrome.client.source().await.unwrap().contains(&token));
    chrome.screenshot("51-token-after-reload").await;

    // A new webhook's signing secret.
    chrome
        .client
        .goto(&format!("{base}/webhooks/new"))
        .await
        .unwrap();
    chrome.fill("#name", "HR onboarding").await;
    chrome
        .fill("#endpoint_url", "https://hr.example.com/hooks/lms")
        .await;
    chrome
        .click("input[name=events][value='course.completed']")
        .await;
    chrome.click(".webhook-form button[type=submit]").await;
    chrome.wait_for_text("h1", "Webhook created").await;
    let secret = field_value(&chrome, "secret").await;
    assert!(secret.starts_with("whsec_"));
    check_copyable(&chrome, "secret").await;
    chrome.screenshot("52-webhook-secret-shown-once").await;
    chrome.client.refresh().await.unwrap();
    chrome.wait_for_text("h1", "no longer shown").await;
    assert!(!chrome.client.source().await.unwrap().contains(&secret));

    // A rotated secret, after the confirmation page.
    chrome.click(".card a.button").await;
    chrome.click("a[href$='/rotate-secret']").await;
    chrome
        .wait_for_text("h1", "Rotate the signing secret of HR onboarding?")
        .await;
    chrome.screenshot("53-rotate-confirm").await;
    chrome
        .click("form[action$='/rotate-secret'] button[type=submit]")
        .await;
    chrome.wait_for_text("h1", "Signing secret rotated").await;
    let rotated = field_value(&chrome, "secret").await;
    assert_ne!(rotated, secret);
    chrome.client.refresh().await.unwrap();
    chrome.wait_for_text("h1", "no longer shown").await;
    assert!(!chrome.client.source().await.unwrap().contains(&rotated));
    chrome.close().await;

    let tokens: i64 = app
        .with_conn(|conn| api_tokens::table.count().get_result(conn).unwrap())
        .await;
    let hooks: i64 = app
        .with_conn(|conn| webhooks::table.count().get_result(conn).unwrap())
        .await;
    assert_eq!((tokens, hooks), (1, 1), "reloads created nothing");
    assert_eq!(count_audit(&app, "webhook.secret_rotated").await, 1);
}
