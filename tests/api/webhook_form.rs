//! The console's webhook form: the error summary, every problem of a field in plain words,
//! typed values (secrets too) kept after an error only, the no-events rule, and options that
//! show only their own fields in a real browser.

use diesel::prelude::*;
use fantoccini::Locator;
use herald::db::schema::{webhook_events, webhooks};
use herald::domain::role::Role;
use reqwest::StatusCode;

use crate::browser::Chrome;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A valid submission as a browser sends it; `set` replaces a field, `without` drops it.
pub fn form(name: &str) -> Vec<(String, String)> {
    [
        ("name", name),
        ("endpoint_url", "https://hr.example.com/hooks/lms"),
        ("events", "course.completed"),
        ("dispatch_mode", "immediate"),
        ("auth_kind", "none"),
        ("retry_policy", "exponential"),
        ("on_client_error", "dead_letter"),
        ("timeout_seconds", "15"),
        ("enabled", "on"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn set(mut form: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    form.retain(|(k, _)| k != key);
    form.push((key.into(), value.into()));
    form
}

pub async fn submit(app: &TestApp, path: &str, form: &[(String, String)]) -> reqwest::Response {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.post_form(path, &pairs).await
}

async fn webhook_count(app: &TestApp) -> i64 {
    app.with_conn(|conn| webhooks::table.count().get_result(conn).unwrap())
        .await
}

#[tokio::test]
async fn without_javascript_every_option_shows_its_fields_captioned() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let html = app.get_html("/webhooks/new").await;
    // The server hides nothing: herald.js does, so a browser without it shows every field.
    for (rule, caption, field) in [
        (
            "all_events=",
            "Or choose the events to receive:",
            "name=\"events\"",
        ),
        (
            "dispatch_mode=batched",
            "For batched dispatch:",
            "id=\"batch_window_minutes\"",
        ),
        (
            "auth_kind=basic",
            "For Basic authentication:",
            "id=\"basic_password\"",
        ),
        (
            "auth_kind=header",
            "For the Authorization header:",
            "id=\"auth_header\"",
        ),
        (
            "retry_policy=custom",
            "For the custom policy:",
            "id=\"retry_factor\"",
        ),
    ] {
        let block = format!("<div class=\"depends\" data-show-when=\"{rule}\">");
        let at = html
            .find(&block)
            .unwrap_or_else(|| panic!("no block for {rule}"));
        let inside = &html[at..];
        assert!(
            inside.starts_with(&format!(
                "{block}\n      <p class=\"depends-on\">{caption}</p>"
            )),
            "{rule}"
        );
        assert!(inside.contains(field), "{rule} holds {field}");
    }
    let form = &html[html.find("class=\"webhook-form\"").unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    assert!(
        !form.contains(" hidden"),
        "nothing in the form is hidden by the server"
    );
}

#[tokio::test]
async fn the_error_summary_links_to_each_field_and_lists_every_problem_of_a_field() {
    let app = spawn_app_with(|s| s.allow_http_targets = false).await;
    app.login_as(Role::Manager).await;
    let bad = set(
        set(
            set(
                form(""),
                "endpoint_url",
                "http://user:pw@hr.example.com/hooks#top",
            ),
            "timeout_seconds",
            "99",
        ),
        "header_name",
        "Cookie",
    );
    let bad = [
        bad,
        vec![
            ("header_value".into(), "c=1".into()),
            ("header_name".into(), "bad name".into()),
            ("header_value".into(), "x".into()),
        ],
    ]
    .concat();
    let response = submit(&app, "/webhooks/new", &bad).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();

    // One summary at the top, its heading focusable, counting problems (not fields).
    let summary_at = html
        .find("class=\"error-summary\" role=\"alert\"")
        .expect("a summary");
    assert!(
        summary_at < html.find("class=\"webhook-form\"").unwrap(),
        "the summary comes first"
    );
    assert!(
        html.contains("<h2 id=\"error-summary-title\" tabindex=\"-1\">7 problems</h2>"),
        "{html}"
    );
    // Each problem links to its field, in the order of the page.
    let links: Vec<&str> = html
        .match_indices("<li><a href=\"#")
        .map(|(i, _)| {
            let rest = &html[i + 14..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        links,
        [
            "name",
            "endpoint_url",
            "endpoint_url",
            "endpoint_url",
            "header_name_1",
            "header_name_1",
            "timeout_seconds"
        ]
    );
    for id in ["name", "endpoint_url", "header_name_1", "timeout_seconds"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "#{id} exists");
    }
    // Beside the field: every problem, not only the first.
    let beside = &html[html
        .find("<ul class=\"field-error\" id=\"endpoint_url-error\">")
        .unwrap()..];
    let beside = &beside[..beside.find("</ul>").unwrap()];
    assert_eq!(beside.matches("<li>").count(), 3, "{beside}");
    assert!(beside.contains("Use an https:// URL"));
    assert!(beside.contains("username or password"));
    assert!(beside.contains("#fragment"));
    let headers = &html[html.find("id=\"headers-error\">").unwrap()..];
    let headers = &headers[..headers.find("</ul>").unwrap()];
    assert!(
        headers.contains("Cookie cannot be a custom header")
            && headers.contains("not a valid header name")
    );
    assert_eq!(webhook_count(&app).await, 0);
}

#[tokio::test]
async fn addresses_the_parser_cannot_read_get_plain_messages() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    for (typed, expected) in [
        (
            "hr.example.com/hooks",
            "Enter a full address starting with https://, such as https://hr.example.com/hooks",
        ),
        ("https://hr.example.com:70000/", "must be from 1 to 65535"),
        (
            "https://hr example.com/",
            "characters a host name cannot have",
        ),
    ] {
        let response = submit(
            &app,
            "/webhooks/new",
            &set(form("Plain"), "endpoint_url", typed),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = response.text().await.unwrap();
        assert!(html.contains(expected), "{typed}: expected {expected:?}");
        for jargon in [
            "relative URL without a base",
            "invalid port number",
            "invalid domain character",
        ] {
            assert!(!html.contains(jargon), "{typed}: parser jargon {jargon:?}");
        }
    }
}

#[tokio::test]
async fn typed_secrets_come_back_after_an_error_but_never_after_saving() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let typed = [
        ("auth_kind", "basic"),
        ("basic_username", "lms"),
        ("basic_password", "typed-basic-password"),
        ("auth_header", "Bearer typed-authorization-value"),
        ("header_name", "X-Api-Key"),
        ("header_value", "typed-header-value"),
    ];
    let mut with_secrets = form("");
    for (k, v) in typed {
        with_secrets = [with_secrets, vec![(k.to_owned(), v.to_owned())]].concat();
    }
    with_secrets.retain(|(k, v)| !(k == "auth_kind" && v == "none"));

    // A mistake elsewhere (no name): everything typed comes back, in this answer only.
    let response = submit(&app, "/webhooks/new", &with_secrets).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"basic_password\" name=\"basic_password\" type=\"password\" value=\"typed-basic-password\""));
    assert!(html.contains("id=\"auth_header\" name=\"auth_header\" type=\"password\" value=\"Bearer typed-authorization-value\""));
    assert!(html.contains("name=\"header_value\" value=\"typed-header-value\""));
    assert!(html.contains("value=\"X-Api-Key\""));

    // Saved: no page shows them again.
    let saved = set(with_secrets, "name", "Secret keeper");
    let response = submit(&app, "/webhooks/new", &saved).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let id: i64 = app
        .with_conn(|conn| webhooks::table.select(webhooks::id).first(conn).unwrap())
        .await;
    for page in [
        format!("/webhooks/{id}/secret"),
        format!("/webhooks/{id}"),
        format!("/webhooks/{id}/edit"),
    ] {
        let html = app.get_html(&page).await;
        for secret in [
            "typed-basic-password",
            "typed-authorization-value",
            "typed-header-value",
        ] {
            assert!(!html.contains(secret), "{page} shows {secret}");
        }
    }
}

#[tokio::test]
async fn a_webhook_without_events_is_saved_only_when_that_is_confirmed() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let no_events: Vec<_> = form("Quiet")
        .into_iter()
        .filter(|(k, _)| k != "events")
        .collect();

    let response = submit(&app, "/webhooks/new", &no_events).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(
            "<li><a href=\"#all_events\">Events: Choose at least one event, or &#34;All events&#34;"
        ),
        "{html}"
    );
    assert!(html.contains("id=\"events-error\""));
    assert!(
        html.contains("name=\"no_events_ok\""),
        "the confirmation is offered"
    );
    assert_eq!(webhook_count(&app).await, 0);

    // Confirmed: saved, subscribed to nothing; its edit form keeps the confirmation ticked.
    let confirmed = set(no_events, "no_events_ok", "on");
    let response = submit(&app, "/webhooks/new", &confirmed).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (id, all_events, subscribed): (i64, bool, i64) = app
        .with_conn(|conn| {
            let (id, all) = webhooks::table
                .select((webhooks::id, webhooks::all_events))
                .first::<(i64, bool)>(conn)
                .unwrap();
            let n = webhook_events::table.count().get_result(conn).unwrap();
            (id, all, n)
        })
        .await;
    assert_eq!((all_events, subscribed), (false, 0));
    let edit = app.get_html(&format!("/webhooks/{id}/edit")).await;
    assert!(edit.contains("id=\"no_events_ok\" name=\"no_events_ok\" checked"));

    // "All events" or a chosen event needs no confirmation.
    let all = set(set(form("Everything"), "all_events", "on"), "events", "");
    assert_eq!(
        submit(&app, "/webhooks/new", &all).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn choosing_options_shows_only_their_fields_in_a_real_browser() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = spawn_app().await;
    app.add_user("maya", Role::Manager).await;
    let base = app.address.clone();
    chrome.sign_in(&base, "maya").await;
    chrome.set_viewport(1440, 900).await;
    chrome
        .client
        .goto(&format!("{base}/webhooks/new"))
        .await
        .unwrap();
    chrome.wait_for_text("h1", "Create webhook").await;

    let shown = |css: &'static str| {
        let client = chrome.client.clone();
        async move {
            client
                .find(Locator::Css(css))
                .await
                .unwrap()
                .is_displayed()
                .await
                .unwrap()
        }
    };
    // The defaults: no auth, immediate, exponential, events to choose.
    for hidden in [
        "#basic_username",
        "#basic_password",
        "#auth_header",
        "#batch_window_minutes",
        "#batch_max_events",
        "#retry_initial_seconds",
        "#retry_factor",
        "#retry_max_delay_seconds",
        "#retry_max_attempts",
    ] {
        assert!(!shown(hidden).await, "{hidden} is hidden by default");
    }
    assert!(shown(".event-groups").await);
    let height = chrome
        .client
        .execute("return document.documentElement.scrollHeight", vec![])
        .await
        .unwrap();
    println!("the create form is {height} px tall at 1440 px");
    chrome.screenshot("60-webhook-form-defaults").await;

    chrome.click("#auth_kind_basic").await;
    assert!(shown("#basic_username").await && shown("#basic_password").await);
    assert!(!shown("#auth_header").await);
    chrome.fill("#basic_password", "kept-while-hidden").await;
    chrome.click("#auth_kind_header").await;
    assert!(shown("#auth_header").await);
    assert!(!shown("#basic_username").await && !shown("#basic_password").await);
    chrome.click("#auth_kind_basic").await;
    let kept = chrome
        .client
        .execute(
            "return document.getElementById('basic_password').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, "kept-while-hidden", "a hidden field keeps its value");
    chrome.click("#auth_kind_none").await;
    assert!(!shown("#basic_username").await && !shown("#auth_header").await);

    chrome.click("#dispatch_mode_batched").await;
    assert!(shown("#batch_window_minutes").await && shown("#batch_max_events").await);
    chrome.click("#dispatch_mode_immediate").await;
    assert!(!shown("#batch_window_minutes").await);

    chrome.click("#retry_policy_custom").await;
    for field in [
        "#retry_initial_seconds",
        "#retry_factor",
        "#retry_max_delay_seconds",
        "#retry_max_attempts",
    ] {
        assert!(shown(field).await, "{field} shows for the custom policy");
    }
    chrome.screenshot("61-webhook-form-options").await;
    chrome.click("#retry_policy_fixed").await;
    assert!(!shown("#retry_factor").await);

    chrome.click("#all_events").await;
    assert!(!shown(".event-groups").await, "all events hides the list");
    chrome.click("#all_events").await;
    assert!(shown(".event-groups").await);

    // A failed submit: the summary is focused and links to the field.
    chrome.fill("#endpoint_url", "hr.example.com/hooks").await;
    chrome.click(".webhook-form button[type=submit]").await;
    chrome.wait_for_text(".error-summary h2", "problem").await;
    let focused = chrome
        .client
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "error-summary-title");
    chrome.screenshot("62-webhook-form-errors").await;
    chrome.click(".error-summary a[href='#endpoint_url']").await;
    let focused = chrome
        .client
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(
        focused, "endpoint_url",
        "the summary link leads to the field"
    );
    chrome.close().await;
}
