//! Hostile input: NUL, CR/LF, invalid UTF-8 and overlong values in every console form field,
//! list filter and API field get a 4xx (with a message where a person reads it), never a 5xx,
//! and nothing is half done.

use diesel::prelude::*;
use herald::db::schema::events;
use herald::domain::role::Role;
use herald::tokens::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::delivery_helpers::{create_webhook, token, webhook};
use crate::helpers::{TestApp, spawn_app_with};

/// A hostile value for one field.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    Nul,
    CrLf,
    InvalidUtf8,
    Overlong,
}

impl Hostile {
    const ALL: [Hostile; 4] = [
        Hostile::Nul,
        Hostile::CrLf,
        Hostile::InvalidUtf8,
        Hostile::Overlong,
    ];

    /// Percent-encoded, as a browser would put it in a form body.
    fn form_encoded(self) -> String {
        match self {
            Hostile::Nul => "a%00b".into(),
            Hostile::CrLf => "a%0D%0Ab".into(),
            Hostile::InvalidUtf8 => "a%FF%FEb".into(),
            Hostile::Overlong => "x".repeat(100 * 1024),
        }
    }

    /// Percent-encoded for a query string; HTTP clients refuse URLs over 64 KB.
    fn query_encoded(self) -> String {
        match self {
            Hostile::Overlong => "x".repeat(60 * 1024),
            other => other.form_encoded(),
        }
    }

    /// As a JSON string (invalid UTF-8 cannot be one: see `raw_json_with_invalid_utf8`).
    fn json(self) -> Option<Value> {
        match self {
            Hostile::Nul => Some(json!("a\u{0}b")),
            Hostile::CrLf => Some(json!("a\r\nb")),
            Hostile::InvalidUtf8 => None,
            Hostile::Overlong => Some(json!("x".repeat(100 * 1024))),
        }
    }
}

/// `base` form-encoded, with `field` replaced by the already-encoded `value`.
fn form_with(base: &[(&str, &str)], field: &str, value: &str) -> String {
    let kept: Vec<(&str, &str)> = base.iter().copied().filter(|(k, _)| *k != field).collect();
    format!(
        "{}&{field}={value}",
        serde_urlencoded::to_string(kept).unwrap()
    )
}

/// A console form: its path, a valid body, and the fields to attack one at a time.
type FormCase<'a> = (String, Vec<(&'a str, &'a str)>, Vec<&'a str>);

async fn post_raw_form(app: &TestApp, path: &str, body: String, csrf: &str) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("{body}&csrf_token={csrf}"))
        .send()
        .await
        .unwrap()
}

/// An app whose worker is off (nothing is delivered behind the test's back).
async fn quiet_app() -> TestApp {
    spawn_app_with(|s| s.worker.enabled = false).await
}

const WEBHOOK_FORM: &[(&str, &str)] = &[
    ("name", "Hostile"),
    ("description", "d"),
    ("endpoint_url", "https://hr.example.com/hooks"),
    ("events", "course.completed"),
    ("dispatch_mode", "immediate"),
    ("batch_window_minutes", "15"),
    ("batch_max_events", "100"),
    ("auth_kind", "basic"),
    ("basic_username", "lms"),
    ("basic_password", "s3cret"),
    ("auth_header", ""),
    ("header_name", "X-Tenant"),
    ("header_value", "acme"),
    ("signing_enabled", "on"),
    ("retry_policy", "custom"),
    ("retry_initial_seconds", "2"),
    ("retry_factor", "2"),
    ("retry_max_delay_seconds", "3600"),
    ("retry_max_attempts", "60"),
    ("on_client_error", "dead_letter"),
    ("timeout_seconds", "15"),
    ("max_in_flight", "8"),
    ("rate_limit_per_second", ""),
    ("enabled", "on"),
];

#[tokio::test]
async fn every_console_form_field_gets_a_4xx_or_its_safe_default_never_a_5xx() {
    let app = quiet_app().await;
    let admin = app.login_as(Role::Admin).await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let id = hook.id;
    let csrf = app.csrf_token().await;
    let webhook_fields: Vec<&str> = WEBHOOK_FORM.iter().map(|(k, _)| *k).collect();
    let password = crate::helpers::PASSWORD;
    let forms: Vec<FormCase> = vec![
        (
            "/webhooks/new".into(),
            WEBHOOK_FORM.to_vec(),
            webhook_fields.clone(),
        ),
        (
            format!("/webhooks/{id}/edit"),
            WEBHOOK_FORM.to_vec(),
            webhook_fields,
        ),
        (
            format!("/webhooks/{id}/disable"),
            vec![("back", "/webhooks"), ("reason", "maintenance")],
            vec!["back", "reason"],
        ),
        (
            format!("/webhooks/{id}/enable"),
            vec![("back", "/webhooks")],
            vec!["back"],
        ),
        (
            "/dead-letters/replay".into(),
            vec![("event_type", "course.completed")],
            vec!["status", "webhook", "event_type", "from", "to", "q"],
        ),
        (
            "/dead-letters/replay-selected".into(),
            vec![("back", "/dead-letters")],
            vec!["ids", "back"],
        ),
        (
            "/dead-letters/discard-selected".into(),
            vec![("back", "/dead-letters")],
            vec!["ids", "back"],
        ),
        (
            "/tokens".into(),
            vec![("name", "LMS"), ("scope", "ingest")],
            vec!["name", "scope"],
        ),
        (
            "/users".into(),
            vec![
                ("username", "newcomer"),
                ("role", "viewer"),
                ("password", password),
                ("password_confirm", password),
            ],
            vec!["username", "role", "password", "password_confirm"],
        ),
        (
            format!("/users/{}/role", admin.id),
            vec![("role", "admin")],
            vec!["role"],
        ),
        (
            format!("/users/{}/password", admin.id),
            vec![("password", password), ("password_confirm", password)],
            vec!["password", "password_confirm"],
        ),
    ];
    let mut server_errors = Vec::new();
    for (path, base, fields) in &forms {
        for field in fields {
            for hostile in Hostile::ALL {
                let body = form_with(base, field, &hostile.form_encoded());
                let response = post_raw_form(&app, path, body, &csrf).await;
                let status = response.status();
                if !(status.is_client_error() || status.is_redirection() || status.is_success()) {
                    server_errors.push(format!("{path} {field} {hostile:?}: {status}"));
                }
            }
        }
    }
    assert!(server_errors.is_empty(), "{server_errors:#?}");

    // Sign-in last (a NUL username must not fail, nor count against anyone).
    let anonymous = app.new_browser();
    let login_csrf = anonymous.csrf_token().await;
    for field in ["username", "password", "next"] {
        for hostile in Hostile::ALL {
            let base = [
                ("username", "someone"),
                ("password", "wrong password"),
                ("next", "/"),
            ];
            let response = anonymous
                .client
                .post(format!("{}/login", app.address))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!(
                    "{}&csrf_token={login_csrf}",
                    form_with(&base, field, &hostile.form_encoded())
                ))
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_client_error(),
                "/login {field} {hostile:?}: {}",
                response.status()
            );
        }
    }
}

#[tokio::test]
async fn control_characters_in_webhook_text_get_a_message_beside_the_field() {
    let app = quiet_app().await;
    app.login_as(Role::Manager).await;
    let csrf = app.csrf_token().await;
    for (field, value, message) in [
        (
            "name",
            "a%0D%0Ab",
            "control characters (such as NUL or line breaks)",
        ),
        ("description", "a%00b", "line breaks are fine"),
        (
            "endpoint_url",
            "https%3A%2F%2Fhr.example.com%2F%0Ax",
            "control characters",
        ),
    ] {
        let response = post_raw_form(
            &app,
            "/webhooks/new",
            form_with(WEBHOOK_FORM, field, value),
            &csrf,
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{field}: {html}");
        assert!(
            html.contains("value=\"lms\""),
            "the rest of the form comes back"
        );
    }
    // A description may span lines: kept as written.
    let response = post_raw_form(
        &app,
        "/webhooks/new",
        form_with(WEBHOOK_FORM, "description", "first%0D%0Asecond"),
        &csrf,
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let description = app
        .with_conn(|conn| {
            herald::db::schema::webhooks::table
                .select(herald::db::schema::webhooks::description)
                .first::<String>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(description, "first\r\nsecond");
}

#[tokio::test]
async fn a_forged_back_field_falls_back_to_a_safe_page_and_the_action_is_done_once() {
    let app = quiet_app().await;
    app.login_as(Role::Manager).await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let id = hook.id;
    let csrf = app.csrf_token().await;
    let disabled = post_raw_form(
        &app,
        &format!("/webhooks/{id}/disable"),
        "back=%2Fwebhooks%0D%0ASet-Cookie%3A+x%3D1&reason=".into(),
        &csrf,
    )
    .await;
    crate::helpers::assert_redirects_to(&disabled, &format!("/webhooks/{id}"));
    assert!(
        disabled
            .headers()
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap().contains("x=1"))
    );
    assert!(!webhook(&app, id).await.enabled);

    let enabled = post_raw_form(
        &app,
        &format!("/webhooks/{id}/enable"),
        "back=%2Fwebhooks%00".into(),
        &csrf,
    )
    .await;
    crate::helpers::assert_redirects_to(&enabled, &format!("/webhooks/{id}"));
    assert!(webhook(&app, id).await.enabled);

    let discarded = post_raw_form(
        &app,
        "/dead-letters/discard-selected",
        format!("ids={}&back=%2Fdead-letters%0Ax", uuid::Uuid::now_v7()),
        &csrf,
    )
    .await;
    crate::helpers::assert_redirects_to(&discarded, "/dead-letters");
}

#[tokio::test]
async fn a_disable_reason_with_control_characters_is_refused_before_anything_changes() {
    let app = quiet_app().await;
    app.login_as(Role::Manager).await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let id = hook.id;
    let csrf = app.csrf_token().await;
    let response = post_raw_form(
        &app,
        &format!("/webhooks/{id}/disable"),
        format!("back=%2Fwebhooks%2F{id}&reason=maintenance%00window"),
        &csrf,
    )
    .await;
    // The confirmation page comes back with the message beside the reason field.
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("id=\"reason-error\"")
            && page.contains("Not disabled: the reason has control characters"),
        "{page}"
    );
    assert!(webhook(&app, id).await.enabled, "nothing was disabled");
    // A trailing newline is only trimmed.
    let response = post_raw_form(
        &app,
        &format!("/webhooks/{id}/disable"),
        "reason=maintenance%0A".into(),
        &csrf,
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        webhook(&app, id).await.disabled_reason.as_deref(),
        Some("maintenance")
    );

    let manage = token(&app, Scope::Manage).await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/webhooks/{}/disable",
            app.address, hook.id
        ))
        .bearer_auth(&manage)
        .json(&json!({ "reason": "a\u{0}b" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"]["reason"][0].is_string(), "{body}");
    assert!(webhook(&app, hook.id).await.enabled);
}

#[tokio::test]
async fn every_list_filter_answers_400_naming_the_parameter_never_a_5xx() {
    let app = quiet_app().await;
    app.login_as(Role::Admin).await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let console: Vec<(String, Vec<&str>)> = vec![
        (
            "/webhooks".into(),
            vec!["q", "status", "event", "sort", "page"],
        ),
        (format!("/webhooks/{}", hook.id), vec!["test"]),
        (
            "/deliveries".into(),
            vec![
                "status",
                "webhook",
                "event_type",
                "from",
                "to",
                "q",
                "before",
                "after",
                "auto",
            ],
        ),
        ("/dead-letters".into(), vec!["event_type", "q", "before"]),
        ("/dead-letters/replay".into(), vec!["event_type", "q"]),
        (
            "/audit".into(),
            vec!["target_type", "action", "actor", "page"],
        ),
        ("/tokens".into(), vec!["page"]),
        ("/users".into(), vec!["page"]),
        ("/login".into(), vec!["next", "ended"]),
    ];
    let mut wrong = Vec::new();
    for (path, params) in &console {
        for param in params {
            for hostile in Hostile::ALL {
                let response = app
                    .get(&format!("{path}?{param}={}", hostile.query_encoded()))
                    .await;
                let status = response.status();
                let refused = !matches!(hostile, Hostile::Overlong);
                if refused {
                    let page = response.text().await.unwrap();
                    if status != StatusCode::BAD_REQUEST || !page.contains(&format!("{param}: ")) {
                        wrong.push(format!("{path} {param} {hostile:?}: {status}"));
                    }
                } else if status.is_server_error() {
                    wrong.push(format!("{path} {param} {hostile:?}: {status}"));
                }
            }
        }
    }

    let read = token(&app, Scope::Read).await;
    let api: [(&str, &[&str]); 3] = [
        (
            "/api/v1/webhooks",
            &["q", "status", "event", "sort", "page", "per_page"],
        ),
        (
            "/api/v1/deliveries",
            &[
                "status",
                "webhook",
                "event_type",
                "from",
                "to",
                "q",
                "before",
            ],
        ),
        ("/api/v1/dead-letters", &["event_type", "q"]),
    ];
    for (path, params) in api {
        for param in params {
            for hostile in Hostile::ALL {
                let response = reqwest::Client::new()
                    .get(format!(
                        "{}{path}?{param}={}",
                        app.address,
                        hostile.query_encoded()
                    ))
                    .bearer_auth(&read)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let refused = !matches!(hostile, Hostile::Overlong);
                if (refused
                    && (status != StatusCode::BAD_REQUEST || !body["errors"][param].is_array()))
                    || status.is_server_error()
                {
                    wrong.push(format!("{path} {param} {hostile:?}: {status} {body}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn ingest_names_the_json_path_of_each_nul_and_stores_none_of_the_batch() {
    let app = quiet_app().await;
    let ingest = token(&app, Scope::Ingest).await;
    let post = |body: Value| {
        let (address, ingest) = (app.address.clone(), ingest.clone());
        async move {
            let response = reqwest::Client::new()
                .post(format!("{address}/api/v1/events"))
                .bearer_auth(ingest)
                .json(&body)
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let ok = json!({ "type": "course.completed", "data": { "user": { "id": 1 } } });
    let (status, body) = post(json!([
        ok,
        { "type": "course.completed", "data": { "user": { "name": "Ada\u{0}" } } },
        { "type": "course.completed", "data": { "tags": ["x"], "bad\u{0}key": true } },
        ok,
        { "type": "course.\u{0}completed", "data": {} },
    ]))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["refused"], json!([1, 2, 4]), "{body}");
    for path in [
        "events[1].data.user.name",
        "events[2].data[\"bad\\u0000key\"]",
        "events[4].type",
    ] {
        assert!(body["errors"][path][0].is_string(), "{path}: {body}");
    }
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("none of the batch was stored"),
        "{body}"
    );
    let (status, body) =
        post(json!({ "type": "course.completed", "data": { "user": { "name": "\u{0}" } } })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["errors"]["data.user.name"][0].is_string(), "{body}");
    let stored = app
        .with_conn(|conn| events::table.count().get_result::<i64>(conn).unwrap())
        .await;
    assert_eq!(stored, 0, "nothing of a refused request is stored");

    // Line breaks, tabs and long strings are ordinary data.
    let (status, body) = post(json!([
        { "type": "course.completed", "data": { "note": "line one\r\nline two\ttab" } },
        { "type": "course.completed", "data": { "essay": "x".repeat(100 * 1024) } },
    ]))
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // Raw bytes that are not UTF-8 are not JSON: 400 with the position.
    let mut raw = br#"{"type":"course.completed","data":{"name":""#.to_vec();
    raw.extend_from_slice(&[0xFF, 0xFE]);
    raw.extend_from_slice(br#""}}"#);
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/events", app.address))
        .bearer_auth(&ingest)
        .header("Content-Type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["line"].is_number());
}

#[tokio::test]
async fn every_api_field_gets_a_4xx_for_hostile_values_never_a_5xx() {
    let app = quiet_app().await;
    let manage = token(&app, Scope::Manage).await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let client = reqwest::Client::new();
    let valid = json!({
        "name": "Hostile", "description": "d", "endpoint_url": "https://hr.example.com/h",
        "events": ["course.completed"], "dispatch_mode": "immediate", "auth_kind": "basic",
        "basic_username": "lms", "basic_password": "s3cret", "auth_header": "",
        "headers": [{ "name": "X-Tenant", "value": "acme" }], "retry_policy": "exponential",
        "on_client_error": "dead_letter",
    });
    let mut wrong = Vec::new();
    let text_fields = [
        "name",
        "description",
        "endpoint_url",
        "dispatch_mode",
        "auth_kind",
        "basic_username",
        "basic_password",
        "auth_header",
        "retry_policy",
        "on_client_error",
    ];
    for hostile in [Hostile::Nul, Hostile::CrLf, Hostile::Overlong] {
        let value = hostile.json().unwrap();
        let mut bodies: Vec<(String, Value)> = Vec::new();
        for field in text_fields {
            let mut body = valid.clone();
            body[field] = value.clone();
            if field == "auth_header" {
                // Only read when it is the authentication in use.
                body["auth_kind"] = json!("header");
            }
            bodies.push((field.into(), body));
        }
        let mut events = valid.clone();
        events["events"] = json!([value.clone()]);
        bodies.push(("events[]".into(), events));
        for part in ["name", "value"] {
            let mut headers = valid.clone();
            headers["headers"][0][part] = value.clone();
            bodies.push((format!("headers[].{part}"), headers));
        }
        for (field, body) in bodies {
            for (method, path) in [
                (reqwest::Method::POST, "/api/v1/webhooks".to_owned()),
                (
                    reqwest::Method::PATCH,
                    format!("/api/v1/webhooks/{}", hook.id),
                ),
            ] {
                let response = client
                    .request(method.clone(), format!("{}{path}", app.address))
                    .bearer_auth(&manage)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                // A description may span lines.
                let may_pass = matches!(hostile, Hostile::CrLf) && field == "description";
                if status.is_server_error() || (!may_pass && status.is_success()) {
                    wrong.push(format!("{method} {path} {field} {hostile:?}: {status}"));
                }
            }
        }
        for field in ["event_type", "from", "to", "q"] {
            let response = client
                .post(format!("{}/api/v1/dead-letters/replay", app.address))
                .bearer_auth(&manage)
                .json(&json!({ "filter": { field: value.clone() } }))
                .send()
                .await
                .unwrap();
            if !response.status().is_client_error() {
                wrong.push(format!(
                    "replay filter {field} {hostile:?}: {}",
                    response.status()
                ));
            }
        }
    }
    let response = client
        .post(format!("{}/api/v1/webhooks", app.address))
        .bearer_auth(&manage)
        .json(&json!({ "name": "x", "endpoint_url": "https://x.example.com", "description": "a\u{0}b" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"]["description"][0].is_string(), "{body}");
    // Form-encoded bodies with bytes that are not UTF-8 are refused, not guessed at.
    let response = client
        .post(format!("{}/api/v1/webhooks", app.address))
        .bearer_auth(&manage)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=a%FF%FEb&endpoint_url=https%3A%2F%2Fx.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(wrong.is_empty(), "{wrong:#?}");
}
