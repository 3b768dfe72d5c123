//! Webhook management in the console: forms, validation, encryption at rest, toggles,
//! deletion, secret rotation, filters, audit entries and permissions.

use diesel::prelude::*;
use herald::db::schema::{webhook_headers, webhooks};
use herald::domain::role::Role;
use herald::model::audit;
use herald::model::webhook::{self, Webhook};
use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_redirects_to, spawn_app, spawn_app_with};

/// A valid form for a webhook, as a browser would send it; tweak fields with `set`.
struct Form(Vec<(String, String)>);

impl Form {
    fn valid(name: &str) -> Self {
        Self(
            [
                ("name", name),
                ("description", "Sends completions to the HR system"),
                ("endpoint_url", "https://hr.example.com/hooks/lms"),
                ("events", "course.completed"),
                ("events", "badge.awarded"),
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
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        )
    }

    /// Replaces every value of `key` with `value` (or adds it).
    fn set(mut self, key: &str, value: &str) -> Self {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.into(), value.into()));
        self
    }

    fn add(mut self, key: &str, value: &str) -> Self {
        self.0.push((key.into(), value.into()));
        self
    }

    fn without(mut self, key: &str) -> Self {
        self.0.retain(|(k, _)| k != key);
        self
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

async fn create(app: &TestApp, form: &Form) -> reqwest::Response {
    app.post_form("/webhooks/new", &form.pairs()).await
}

async fn only_webhook(app: &TestApp) -> Webhook {
    app.with_conn(|conn| {
        webhooks::table
            .select(Webhook::as_select())
            .first(conn)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn a_manager_creates_a_webhook_and_sees_its_secret_once() {
    let app = spawn_app().await;
    let manager = app.login_as(Role::Manager).await;
    let response = create(&app, &Form::valid("HR onboarding")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = app.follow(response).await.text().await.unwrap();
    assert!(html.contains("Webhook created"));
    let secret = html
        .split("value=\"whsec_")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(secret.len() >= 40, "{secret}");

    let stored = only_webhook(&app).await;
    assert_eq!(stored.name, "HR onboarding");
    assert!(stored.enabled && stored.signing_enabled && !stored.all_events);
    assert_eq!(stored.created_by, manager.username);
    let events = app
        .with_conn(move |conn| webhook::events_of(conn, stored.id).unwrap())
        .await;
    assert_eq!(events, ["badge.awarded", "course.completed"]);

    // Afterwards the secret is masked everywhere.
    let detail = app.get_html(&format!("/webhooks/{}", stored.id)).await;
    assert!(!detail.contains(&secret));
    assert!(detail.contains("whsec_••••••••"));
    let list = app.get_html("/webhooks").await;
    assert!(list.contains("HR onboarding") && list.contains("https://hr.example.com/hooks/lms"));
    assert!(list.contains("course.completed"));
}

#[tokio::test]
async fn every_option_round_trips_through_create_and_edit() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let form = Form::valid("Power BI")
        .set("all_events", "on")
        .set("dispatch_mode", "batched")
        .set("batch_window_minutes", "30")
        .set("batch_max_events", "250")
        .set("auth_kind", "basic")
        .set("basic_username", "lms")
        .set("basic_password", "basic-pass-123")
        .add("header_name", "X-Client-Id")
        .add("header_value", "client-42")
        .add("header_name", "")
        .add("header_value", "")
        .set("retry_policy", "custom")
        .set("retry_initial_seconds", "10")
        .set("retry_factor", "3")
        .set("retry_max_delay_seconds", "900")
        .set("retry_max_attempts", "7")
        .set("on_client_error", "disable")
        .set("disable_when_exhausted", "on")
        .set("timeout_seconds", "9")
        .without("signing_enabled")
        .without("enabled");
    let response = create(&app, &form).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await.unwrap()
    );
    let stored = only_webhook(&app).await;
    assert!(stored.all_events && !stored.enabled && !stored.signing_enabled);
    assert!(stored.signing_secret_enc.is_none());
    assert_eq!(
        (stored.batch_window_minutes, stored.batch_max_events),
        (Some(30), Some(250))
    );
    assert_eq!(stored.basic_username.as_deref(), Some("lms"));
    assert_eq!(
        (
            stored.retry_policy.as_str(),
            stored.retry_initial_seconds,
            stored.retry_factor,
            stored.retry_max_delay_seconds,
            stored.retry_max_attempts
        ),
        ("custom", 10, 3.0, 900, 7)
    );
    assert_eq!(stored.on_client_error, "disable");
    assert!(stored.disable_when_exhausted);
    assert_eq!(stored.timeout_seconds, 9);

    // The edit form shows the settings but never a secret.
    let edit = app.get_html(&format!("/webhooks/{}/edit", stored.id)).await;
    assert!(edit.contains("value=\"lms\"") && edit.contains("value=\"x-client-id\""));
    assert!(!edit.contains("basic-pass-123") && !edit.contains("client-42"));
    assert!(edit.contains("Leave blank to keep the current one."));

    // Saving with blank secrets keeps them; switching signing on creates a secret.
    let edited = Form::valid("Power BI v2")
        .set("auth_kind", "basic")
        .set("basic_username", "lms")
        .set("basic_password", "")
        .add("header_name", "x-client-id")
        .add("header_value", "");
    let response = app
        .post_form(&format!("/webhooks/{}/edit", stored.id), &edited.pairs())
        .await;
    assert_redirects_to(&response, &format!("/webhooks/{}/secret", stored.id));
    assert!(
        app.follow(response)
            .await
            .text()
            .await
            .unwrap()
            .contains("Signing switched on")
    );
    let after = only_webhook(&app).await;
    assert_eq!(after.name, "Power BI v2");
    assert!(after.enabled && after.signing_secret_enc.is_some());
    assert_eq!(
        after.basic_password_enc, stored.basic_password_enc,
        "a blank password keeps the stored one"
    );
    let headers = app
        .with_conn(move |conn| webhook::headers_of(conn, after.id).unwrap())
        .await;
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0].name, "x-client-id");

    let entries = app
        .with_conn(move |conn| audit::for_target(conn, "webhook", &after.id.to_string()).unwrap())
        .await;
    assert_eq!(entries[0].action, "webhook.updated");
    let details = entries[0].details.to_string();
    for field in [
        "name",
        "events",
        "dispatch",
        "retry_policy",
        "signing_enabled",
        "enabled",
    ] {
        assert!(
            details.contains(&format!("\"{field}\"")),
            "{field} missing from {details}"
        );
    }
    assert!(
        !details.contains("basic_password"),
        "a kept password is no change: {details}"
    );
    assert!(!details.contains("basic-pass-123"));
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let form = Form::valid("Encrypted")
        .set("auth_kind", "basic")
        .set("basic_username", "svc")
        .set("basic_password", "plain-basic-password")
        .add("header_name", "X-Api-Key")
        .add("header_value", "plain-header-value");
    let html = app
        .follow(create(&app, &form).await)
        .await
        .text()
        .await
        .unwrap();
    let secret = html
        .split("value=\"whsec_")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // Read the raw bytes of every secret column and every header value.
    let (row, header_values): (Vec<Option<Vec<u8>>>, Vec<Vec<u8>>) = app
        .with_conn(|conn| {
            let (a, b, c): SealedColumns = webhooks::table
                .select((
                    webhooks::basic_password_enc,
                    webhooks::auth_header_enc,
                    webhooks::signing_secret_enc,
                ))
                .first(conn)
                .unwrap();
            let values = webhook_headers::table
                .select(webhook_headers::value_enc)
                .load(conn)
                .unwrap();
            (vec![a, b, c], values)
        })
        .await;
    let mut all_bytes: Vec<u8> = row.into_iter().flatten().flatten().collect();
    all_bytes.extend(header_values.into_iter().flatten());
    let raw = String::from_utf8_lossy(&all_bytes);
    for plain in [
        "plain-basic-password",
        "plain-header-value",
        secret.as_str(),
    ] {
        assert!(!raw.contains(plain), "{plain} is stored in clear");
    }
    // And a dump of the whole row as text does not contain them either.
    let dump: String = app
        .with_conn(|conn| {
            diesel::sql_query("SELECT row_to_json(w)::text AS j FROM webhooks w")
                .get_result::<Json>(conn)
                .unwrap()
                .j
        })
        .await;
    assert!(!dump.contains("plain-basic-password") && !dump.contains(&secret));
}

/// The three secret columns of a webhook row, as stored.
type SealedColumns = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

#[derive(QueryableByName)]
struct Json {
    #[diesel(sql_type = diesel::sql_types::Text)]
    j: String,
}

#[tokio::test]
async fn each_bad_field_gets_its_own_message_and_the_input_comes_back() {
    let app = spawn_app_with(|s| s.allow_http_targets = false).await;
    app.login_as(Role::Manager).await;
    let cases: Vec<(Form, &str, &str)> = vec![
        (
            Form::valid("").set("name", ""),
            "name",
            "Enter a name of 1 to 120 characters.",
        ),
        (
            Form::valid(&"n".repeat(121)),
            "name",
            "Enter a name of 1 to 120 characters.",
        ),
        (
            Form::valid("a").set("endpoint_url", ""),
            "endpoint_url",
            "Enter the URL Herald sends events to.",
        ),
        (
            Form::valid("a").set("endpoint_url", "http://hr.example.com/"),
            "endpoint_url",
            "Use an https:// URL",
        ),
        (
            Form::valid("a").set("endpoint_url", "https://u:p@hr.example.com/"),
            "endpoint_url",
            "Do not put a username or password in the URL",
        ),
        (
            Form::valid("a").set(
                "endpoint_url",
                &format!("https://x.example.com/{}", "a".repeat(2048)),
            ),
            "endpoint_url",
            "Use at most 2048 characters.",
        ),
        (
            Form::valid("a").set("events", "course.exploded"),
            "events",
            "course.exploded is not in the event catalog.",
        ),
        (
            Form::valid("a")
                .set("dispatch_mode", "batched")
                .set("batch_window_minutes", "0"),
            "batch_window_minutes",
            "1 to 1440",
        ),
        (
            Form::valid("a")
                .set("dispatch_mode", "batched")
                .set("batch_max_events", "5000"),
            "batch_max_events",
            "1 to 1000",
        ),
        (
            Form::valid("a").set("auth_kind", "basic"),
            "basic_username",
            "Enter the username",
        ),
        (
            Form::valid("a").set("auth_kind", "header"),
            "auth_header",
            "Enter the Authorization value",
        ),
        (
            Form::valid("a")
                .add("header_name", "Content-Type")
                .add("header_value", "text/plain"),
            "headers",
            "cannot be overridden",
        ),
        (
            Form::valid("a")
                .add("header_name", "bad header")
                .add("header_value", "x"),
            "headers",
            "not a valid header name",
        ),
        (
            Form::valid("a")
                .set("retry_policy", "custom")
                .set("retry_initial_seconds", "0"),
            "retry_initial_seconds",
            "1 to 86400",
        ),
        (
            Form::valid("a")
                .set("retry_policy", "custom")
                .set("retry_factor", "99"),
            "retry_factor",
            "factor from 1",
        ),
        (
            Form::valid("a")
                .set("retry_policy", "custom")
                .set("retry_max_attempts", "0"),
            "retry_max_attempts",
            "1 to 100",
        ),
        (
            Form::valid("a").set("timeout_seconds", "31"),
            "timeout_seconds",
            "Enter 1 to 30 seconds.",
        ),
        (
            Form::valid("a").set("on_client_error", "explode"),
            "on_client_error",
            "Choose what a 4xx answer does.",
        ),
    ];
    for (form, field, message) in cases {
        let response = create(&app, &form).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{field}: expected {message:?}");
        if !["events", "headers", "on_client_error"].contains(&field) {
            assert!(
                html.contains(&format!("id=\"{field}-error\"")),
                "{field}: no message beside the field"
            );
        }
    }
    // The user's input comes back, escaped.
    let html = create(
        &app,
        &Form::valid("<b>Keep me</b>").set("timeout_seconds", "99"),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(html.contains("value=\"&#60;b&#62;Keep me&#60;/b&#62;\""));
    assert!(html.contains("value=\"99\""));
    let count: i64 = app
        .with_conn(|conn| webhooks::table.count().get_result(conn).unwrap())
        .await;
    assert_eq!(count, 0);
}

#[tokio::test]
async fn names_are_unique_ignoring_case() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    create(&app, &Form::valid("Slack alerts")).await;
    let response = create(&app, &Form::valid("SLACK ALERTS")).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("A webhook with this name exists already.")
    );
}

#[tokio::test]
async fn disabling_records_who_and_why_and_enabling_clears_it() {
    let app = spawn_app().await;
    let manager = app.login_as(Role::Manager).await;
    create(&app, &Form::valid("CRM")).await;
    let id = only_webhook(&app).await.id;

    let response = app
        .post_form(
            &format!("/webhooks/{id}/disable"),
            &[
                ("back", "/webhooks"),
                ("reason", "Receiver down for maintenance"),
            ],
        )
        .await;
    assert_redirects_to(&response, "/webhooks");
    let disabled = only_webhook(&app).await;
    assert!(!disabled.enabled);
    assert_eq!(
        disabled.disabled_reason.as_deref(),
        Some("Receiver down for maintenance")
    );
    assert_eq!(
        disabled.disabled_by.as_deref(),
        Some(manager.username.as_str())
    );
    assert!(!disabled.disabled_automatically());
    let list = app.get_html("/webhooks?status=disabled").await;
    assert!(list.contains("CRM") && list.contains("Receiver down for maintenance"));
    assert!(
        app.get_html(&format!("/webhooks/{id}"))
            .await
            .contains("It receives no requests")
    );

    assert_redirects_to(
        &app.post_form(&format!("/webhooks/{id}/enable"), &[]).await,
        &format!("/webhooks/{id}"),
    );
    let enabled = only_webhook(&app).await;
    assert!(enabled.enabled && enabled.disabled_reason.is_none() && enabled.disabled_by.is_none());

    let actions: Vec<String> = app
        .with_conn(move |conn| audit::for_target(conn, "webhook", &id.to_string()).unwrap())
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["webhook.enabled", "webhook.disabled", "webhook.created"]
    );
}

#[tokio::test]
async fn an_automatically_disabled_webhook_is_marked_as_such() {
    let app = spawn_app().await;
    app.login_as(Role::Viewer).await;
    let id = app
        .with_conn(|conn| {
            diesel::sql_query(
                "INSERT INTO webhooks (name, endpoint_url, enabled, disabled_reason, disabled_at, created_by, updated_by) \
                 VALUES ('Flaky', 'https://flaky.example.com/', false, 'receiver answered 4xx', now(), 'x', 'x')",
            )
            .execute(conn)
            .unwrap();
            webhooks::table.select(webhooks::id).first::<i64>(conn).unwrap()
        })
        .await;
    let list = app.get_html("/webhooks").await;
    assert!(list.contains("disabled automatically") && list.contains("receiver answered 4xx"));
    assert!(
        app.get_html(&format!("/webhooks/{id}"))
            .await
            .contains("Disabled automatically.")
    );
}

#[tokio::test]
async fn deleting_asks_first_then_removes_the_webhook_but_keeps_its_history() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    create(&app, &Form::valid("Old CRM")).await;
    let id = only_webhook(&app).await.id;

    let confirm = app.get_html(&format!("/webhooks/{id}/delete")).await;
    assert!(confirm.contains("Delete Old CRM?"));
    assert!(confirm.contains("https://hr.example.com/hooks/lms"));
    assert!(confirm.contains("2 event types"));

    assert_redirects_to(
        &app.post_form(&format!("/webhooks/{id}/delete"), &[]).await,
        "/webhooks",
    );
    let count: i64 = app
        .with_conn(|conn| webhooks::table.count().get_result(conn).unwrap())
        .await;
    assert_eq!(count, 0);
    assert_eq!(
        app.get(&format!("/webhooks/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let entries = app
        .with_conn(move |conn| audit::for_target(conn, "webhook", &id.to_string()).unwrap())
        .await;
    assert_eq!(entries[0].action, "webhook.deleted");
    assert_eq!(entries[0].target_label.as_deref(), Some("Old CRM"));
}

#[tokio::test]
async fn rotating_keeps_the_previous_secret_signing_for_the_overlap() {
    let app =
        spawn_app_with(|s| s.secret_rotation_overlap = std::time::Duration::from_secs(2 * 3600))
            .await;
    app.login_as(Role::Manager).await;
    let html = app
        .follow(create(&app, &Form::valid("Rotating")).await)
        .await
        .text()
        .await
        .unwrap();
    let first = html
        .split("value=\"whsec_")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let before = only_webhook(&app).await;

    let response = app
        .post_form(&format!("/webhooks/{}/rotate-secret", before.id), &[])
        .await;
    assert_redirects_to(&response, &format!("/webhooks/{}/secret", before.id));
    let html = app.follow(response).await.text().await.unwrap();
    assert!(html.contains("Signing secret rotated"));
    let second = html
        .split("value=\"whsec_")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);

    let after = only_webhook(&app).await;
    assert_eq!(after.previous_signing_secret_enc, before.signing_secret_enc);
    let until = after.previous_secret_expires_at.unwrap();
    let hours = (until - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((1.9..=2.0).contains(&hours), "overlap of {hours} h");
    assert!(after.previous_secret_active(chrono::Utc::now()));
    assert!(!after.previous_secret_active(until + chrono::Duration::seconds(1)));
    assert!(
        app.get_html(&format!("/webhooks/{}", after.id))
            .await
            .contains("The previous secret also signs until")
    );

    // Reveal shows the current secret and is audited.
    let revealed = app
        .follow(
            app.post_form(&format!("/webhooks/{}/reveal-secret", after.id), &[])
                .await,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(revealed.contains(&second));
    let actions: Vec<String> = app
        .with_conn(move |conn| audit::for_target(conn, "webhook", &after.id.to_string()).unwrap())
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions[..2],
        ["webhook.secret_revealed", "webhook.secret_rotated"]
    );
}

#[tokio::test]
async fn the_list_searches_filters_sorts_and_paginates_keeping_the_filters() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    for i in 0..55 {
        let mut form = Form::valid(&format!("Hook {i:02}"))
            .set("endpoint_url", &format!("https://r{i}.example.com/in"));
        if i % 5 == 0 {
            form = form.without("enabled");
        }
        if i == 7 {
            form = form.set("events", "notifications.sent");
        }
        assert_eq!(create(&app, &form).await.status(), StatusCode::SEE_OTHER);
    }
    let first = app.get_html("/webhooks").await;
    assert!(first.contains("55 webhooks · page 1 of 2"), "{first}");
    assert!(first.contains("Hook 00") && !first.contains("Hook 54"));
    let second = app.get_html("/webhooks?page=2").await;
    assert!(second.contains("Hook 54"));

    let disabled = app.get_html("/webhooks?status=disabled").await;
    assert!(disabled.contains("11 webhooks"), "{disabled}");
    let by_url = app.get_html("/webhooks?q=R7.EXAMPLE").await;
    assert!(by_url.contains("1 webhooks") && by_url.contains("Hook 07"));
    let by_event = app.get_html("/webhooks?event=notifications.sent").await;
    assert!(by_event.contains("1 webhooks") && by_event.contains("Hook 07"));
    let sorted = app.get_html("/webhooks?sort=-name").await;
    assert!(sorted.find("Hook 54").unwrap() < sorted.find("Hook 53").unwrap());
    // Pagination links keep the filters.
    let enabled = app.get_html("/webhooks?status=enabled").await;
    assert!(enabled.contains("44 webhooks"));
    let searched = app.get_html("/webhooks?q=Hook&sort=-name").await;
    assert!(searched.contains("55 webhooks · page 1 of 2"));
    assert!(
        searched.contains("href=\"/webhooks?q=Hook&#38;sort=-name&#38;page=2\""),
        "{searched}"
    );
    let no_match = app.get_html("/webhooks?q=nothing-like-this").await;
    assert!(no_match.contains("No webhook matches these filters"));
}

#[tokio::test]
async fn an_empty_list_invites_managers_to_create_one() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    assert!(
        app.get_html("/webhooks")
            .await
            .contains("Create the first webhook")
    );
}

#[tokio::test]
async fn the_event_catalog_lists_every_seeded_event_with_an_example() {
    let app = spawn_app().await;
    app.login_as(Role::Viewer).await;
    let html = app.get_html("/events").await;
    for event in [
        "user.created",
        "user.updated",
        "user.deleted",
        "user.domain_enrolled",
        "course.created",
        "course.updated",
        "course.published",
        "course.deleted",
        "course.enrolled",
        "course.unenrolled",
        "course.completed",
        "lesson.completed",
        "quiz.attempt_completed",
        "learning_path.enrolled",
        "learning_path.completed",
        "badge.awarded",
        "certificate.awarded",
        "program.completed",
        "certification.completed",
        "certification.expired",
        "purchase.fulfilled",
        "dashboard_task.created",
        "notifications.sent",
        "webhook.ping",
    ] {
        assert!(html.contains(&format!("id=\"{event}\"")), "{event} missing");
    }
    assert!(
        html.contains("score_percent")
            && html.contains("ext_uid")
            && html.contains("report_card_url")
    );
}

#[tokio::test]
async fn viewers_read_everything_and_get_403_on_every_manage_action() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    create(&app, &Form::valid("Read only")).await;
    let id = only_webhook(&app).await.id;
    app.logout().await;
    app.login_as(Role::Viewer).await;

    for path in [
        "/webhooks".to_owned(),
        format!("/webhooks/{id}"),
        "/events".to_owned(),
    ] {
        assert_eq!(app.get(&path).await.status(), StatusCode::OK, "{path}");
    }
    let list = app.get_html("/webhooks").await;
    assert!(
        !list.contains("Create webhook")
            && !list.contains("/edit\"")
            && !list.contains("/disable\"")
    );
    let detail = app.get_html(&format!("/webhooks/{id}")).await;
    assert!(!detail.contains("Reveal secret") && !detail.contains("Rotate secret"));

    for path in [
        "/webhooks/new".to_owned(),
        format!("/webhooks/{id}/edit"),
        format!("/webhooks/{id}/delete"),
        "/audit".to_owned(),
    ] {
        assert_eq!(
            app.get(&path).await.status(),
            StatusCode::FORBIDDEN,
            "GET {path}"
        );
    }
    let form = Form::valid("Sneaky")
        .set("max_in_flight", "200")
        .set("rate_limit_per_second", "1");
    for path in [
        "/webhooks/new".to_owned(),
        format!("/webhooks/{id}/edit"),
        format!("/webhooks/{id}/enable"),
        format!("/webhooks/{id}/disable"),
        format!("/webhooks/{id}/delete"),
        format!("/webhooks/{id}/rotate-secret"),
        format!("/webhooks/{id}/reveal-secret"),
        format!("/webhooks/{id}/test"),
    ] {
        let response = app.post_form(&path, &form.pairs()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "POST {path}");
        assert!(!response.text().await.unwrap().contains("whsec_"));
    }
    let after = only_webhook(&app).await;
    assert_eq!(after.name, "Read only");
    assert!(after.enabled);
    assert_eq!(
        (after.max_in_flight, after.rate_limit_per_second),
        (8, None)
    );
    let count: i64 = app
        .with_conn(|conn| webhooks::table.count().get_result(conn).unwrap())
        .await;
    assert_eq!(count, 1);
}

#[tokio::test]
async fn managers_and_admins_read_the_audit_log_with_filters() {
    let app = spawn_app().await;
    let manager = app.login_as(Role::Manager).await;
    create(&app, &Form::valid("Audited")).await;
    let html = app.get_html("/audit?target_type=webhook").await;
    assert!(html.contains("webhook.created") && html.contains(&manager.username));
    let html = app.get_html("/audit?action=user.").await;
    assert!(!html.contains("webhook.created"));
    assert!(html.contains("user.created"));
}

#[tokio::test]
async fn the_delivery_limits_are_set_on_create_and_edit_and_audited() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let new = app.get_html("/webhooks/new").await;
    assert!(
        new.contains("Max requests in flight") && new.contains("Rate limit (requests per second)")
    );
    assert!(
        new.contains("id=\"max_in_flight\" name=\"max_in_flight\" type=\"number\" value=\"8\"")
    );
    assert!(new.contains(
        "id=\"rate_limit_per_second\" name=\"rate_limit_per_second\" type=\"number\" value=\"\""
    ));
    assert!(new.contains("Protects the receiver from too many requests at once"));
    assert!(new.contains("Protects the receiver from bursts"));

    let form = Form::valid("Paced")
        .set("max_in_flight", "16")
        .set("rate_limit_per_second", "50");
    assert_eq!(create(&app, &form).await.status(), StatusCode::SEE_OTHER);
    let stored = only_webhook(&app).await;
    assert_eq!(
        (stored.max_in_flight, stored.rate_limit_per_second),
        (16, Some(50))
    );
    let edit = app.get_html(&format!("/webhooks/{}/edit", stored.id)).await;
    assert!(edit.contains("name=\"max_in_flight\" type=\"number\" value=\"16\""));
    assert!(edit.contains("name=\"rate_limit_per_second\" type=\"number\" value=\"50\""));

    // Blank rate = no limit; the audit names both changed fields.
    let edited = form
        .set("max_in_flight", "4")
        .set("rate_limit_per_second", "");
    let response = app
        .post_form(&format!("/webhooks/{}/edit", stored.id), &edited.pairs())
        .await;
    assert_redirects_to(&response, &format!("/webhooks/{}", stored.id));
    let after = only_webhook(&app).await;
    assert_eq!(
        (after.max_in_flight, after.rate_limit_per_second),
        (4, None)
    );
    let id = stored.id.to_string();
    let entries = app
        .with_conn(move |conn| audit::for_target(conn, "webhook", &id).unwrap())
        .await;
    let updated = entries
        .iter()
        .find(|e| e.action == "webhook.updated")
        .unwrap();
    assert_eq!(
        updated.details["changed"],
        serde_json::json!(["max_in_flight", "rate_limit_per_second"])
    );

    let page = app.get_html(&format!("/webhooks/{}", stored.id)).await;
    assert!(page.contains("<dt>Max requests in flight</dt><dd>4</dd>"));
    assert!(page.contains("<dt>Rate limit</dt><dd><span class=\"muted\">none</span></dd>"));

    // A form without the fields (an older client) keeps the defaults: 8, no limit.
    let response = create(&app, &Form::valid("Plain").without("max_in_flight")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let plain = app
        .with_conn(|conn| {
            webhooks::table
                .filter(webhooks::name.eq("Plain"))
                .select(Webhook::as_select())
                .first(conn)
                .unwrap()
        })
        .await;
    assert_eq!(
        (plain.max_in_flight, plain.rate_limit_per_second),
        (8, None)
    );
}

#[tokio::test]
async fn bad_delivery_limits_get_a_message_beside_the_field_and_the_input_comes_back() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    for (max_in_flight, rate) in [("0", "10001"), ("257", "0"), ("many", "2.5")] {
        let response = create(
            &app,
            &Form::valid("Too fast")
                .set("max_in_flight", max_in_flight)
                .set("rate_limit_per_second", rate),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = response.text().await.unwrap();
        assert!(
            html.contains("<h2 id=\"error-summary-title\" tabindex=\"-1\">2 problems</h2>"),
            "{max_in_flight}"
        );
        assert!(html.contains(&format!(
            "name=\"max_in_flight\" type=\"number\" value=\"{max_in_flight}\""
        )));
        assert!(html.contains(&format!(
            "name=\"rate_limit_per_second\" type=\"number\" value=\"{rate}\""
        )));
        assert!(html.contains(
            "<ul class=\"field-error\" id=\"max_in_flight-error\"><li>Enter a whole number of requests from 1 to 256.</li></ul>"
        ));
        assert!(html.contains(
            "<ul class=\"field-error\" id=\"rate_limit_per_second-error\"><li>Enter a whole number of requests per second from 1 to 10000, or leave it blank for no limit.</li></ul>"
        ));
        // The rest of the input is kept too.
        assert!(html.contains("value=\"Too fast\""));
    }
    let count: i64 = app
        .with_conn(|conn| webhooks::table.count().get_result(conn).unwrap())
        .await;
    assert_eq!(count, 0);

    // The same on edit: nothing changes.
    create(&app, &Form::valid("Steady")).await;
    let stored = only_webhook(&app).await;
    let response = app
        .post_form(
            &format!("/webhooks/{}/edit", stored.id),
            &Form::valid("Steady").set("max_in_flight", "300").pairs(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"max_in_flight-error\""));
    assert!(!html.contains("id=\"rate_limit_per_second-error\""));
    assert_eq!(only_webhook(&app).await.max_in_flight, 8);
}
