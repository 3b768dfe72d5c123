//! Destructive or costly console actions ask first: the console's buttons lead to a page
//! (GET) that says what will happen, in numbers, and carries the POST form; nothing changes
//! until that form is posted. Viewers get 403 on every such page.

use diesel::prelude::*;
use herald::db::schema::{api_tokens, deliveries};
use herald::domain::role::Role;
use herald::tokens::{self, AuthFailure, Scope};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::console_deliveries::seed;
use crate::delivery_helpers::{create_webhook, deliveries_of, token, webhook};
use crate::helpers::{TestApp, assert_redirects_to, spawn_app, spawn_app_with};

/// Deliveries of `webhook_id` in `status`.
async fn count_in(app: &TestApp, webhook_id: i64, status: &'static str) -> usize {
    deliveries_of(app, webhook_id)
        .await
        .into_iter()
        .filter(|d| d.status == status)
        .count()
}

/// The form on a confirmation page posts to `action` with the session's CSRF token.
fn posts_to(html: &str, action: &str) -> bool {
    html.contains(&format!("<form method=\"post\" action=\"{action}\""))
        && html.contains("name=\"csrf_token\"")
}

#[tokio::test]
async fn disabling_says_how_many_queued_deliveries_move_and_takes_a_reason() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    seed(&app, hook.id, 1204, "pending", "course.completed").await;
    let id = hook.id;

    // The list and the page lead to the confirmation, not straight to the action.
    let list = app.get_html("/webhooks").await;
    assert!(list.contains(&format!("href=\"/webhooks/{id}/disable?back=%2Fwebhooks\"")));
    assert!(!list.contains(&format!("action=\"/webhooks/{id}/disable\"")));
    let page = app.get_html(&format!("/webhooks/{id}")).await;
    assert!(page.contains(&format!("href=\"/webhooks/{id}/disable\"")));

    let confirm = app
        .get(&format!("/webhooks/{id}/disable?back=%2Fwebhooks"))
        .await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let html = confirm.text().await.unwrap();
    assert!(
        html.contains("moves 1,204 queued deliveries to the dead-letter queue"),
        "{html}"
    );
    assert!(posts_to(&html, &format!("/webhooks/{id}/disable")));
    assert!(html.contains("name=\"reason\"") && html.contains("value=\"/webhooks\""));
    assert!(webhook(&app, id).await.enabled, "the page changed nothing");
    assert_eq!(count_in(&app, id, "pending").await, 1204);

    let done = app
        .post_form(
            &format!("/webhooks/{id}/disable"),
            &[("back", "/webhooks"), ("reason", "receiver maintenance")],
        )
        .await;
    assert_redirects_to(&done, "/webhooks");
    let after = webhook(&app, id).await;
    assert!(!after.enabled);
    assert_eq!(
        after.disabled_reason.as_deref(),
        Some("receiver maintenance")
    );
    assert_eq!(count_in(&app, id, "dead").await, 1204);

    // Asked again, it says so instead of offering the form.
    let again = app.get_html(&format!("/webhooks/{id}/disable")).await;
    assert!(
        again.contains("is already disabled")
            && !posts_to(&again, &format!("/webhooks/{id}/disable"))
    );
}

#[tokio::test]
async fn rotating_says_how_long_the_old_secret_keeps_signing() {
    let app =
        spawn_app_with(|s| s.secret_rotation_overlap = std::time::Duration::from_secs(24 * 3600))
            .await;
    app.login_as(Role::Manager).await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let id = hook.id;
    let page = app.get_html(&format!("/webhooks/{id}")).await;
    assert!(page.contains(&format!("href=\"/webhooks/{id}/rotate-secret\"")));

    let html = app.get_html(&format!("/webhooks/{id}/rotate-secret")).await;
    assert!(
        html.contains("The old secret keeps signing for the overlap you choose below</strong> (by default 24 hours"),
        "{html}"
    );
    assert!(
        !html.contains("stops signing at once"),
        "no earlier rotation to cut short"
    );
    assert!(posts_to(&html, &format!("/webhooks/{id}/rotate-secret")));
    assert_eq!(
        webhook(&app, id).await.signing_secret_enc,
        hook.signing_secret_enc,
        "the page changed nothing"
    );

    app.post_form(&format!("/webhooks/{id}/rotate-secret"), &[])
        .await;
    let rotated = webhook(&app, id).await;
    assert_ne!(rotated.signing_secret_enc, hook.signing_secret_enc);
    // A second rotation within the overlap ends the oldest secret at once: the page says so.
    let html = app.get_html(&format!("/webhooks/{id}/rotate-secret")).await;
    assert!(html.contains("stops signing at once"), "{html}");
}

#[tokio::test]
async fn revoking_a_token_names_it_and_happens_only_on_post() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    let plain = token(&app, Scope::Ingest).await;
    let id: i64 = app
        .with_conn(|conn| {
            api_tokens::table
                .select(api_tokens::id)
                .first(conn)
                .unwrap()
        })
        .await;
    let list = app.get_html("/tokens").await;
    assert!(list.contains(&format!("href=\"/tokens/{id}/revoke\"")));
    assert!(!list.contains(&format!("action=\"/tokens/{id}/revoke\"")));

    let html = app.get_html(&format!("/tokens/{id}/revoke")).await;
    assert!(html.contains("Revoke test client?"), "{html}");
    assert!(html.contains("stops working at once") && html.contains("It has never been used."));
    assert!(posts_to(&html, &format!("/tokens/{id}/revoke")));
    let header = format!("Bearer {plain}");
    let h = header.clone();
    let still = app
        .with_conn(move |conn| tokens::authenticate(conn, Some(&h), Scope::Ingest).unwrap())
        .await;
    assert!(still.is_ok(), "the page changed nothing");

    assert_redirects_to(
        &app.post_form(&format!("/tokens/{id}/revoke"), &[]).await,
        "/tokens",
    );
    let revoked = app
        .with_conn(move |conn| tokens::authenticate(conn, Some(&header), Scope::Ingest).unwrap())
        .await;
    assert_eq!(
        revoked.unwrap_err(),
        AuthFailure::Unauthenticated("This API token has been revoked.")
    );
    assert!(
        app.get_html(&format!("/tokens/{id}/revoke"))
            .await
            .contains("is already revoked")
    );
}

#[tokio::test]
async fn discarding_says_how_many_dead_letters_go_one_or_selected() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let seeded = seed(&app, hook.id, 4, "dead", "course.completed").await;
    let ids: Vec<String> = seeded.iter().map(|(_, d)| d.to_string()).collect();

    // The list's selection form is a GET to the confirmation pages, without the CSRF token.
    let list = app.get_html("/dead-letters").await;
    assert!(
        list.contains("<form method=\"get\" id=\"selection\">"),
        "{list}"
    );
    assert!(list.contains("formaction=\"/dead-letters/discard-selected\""));

    let query = format!(
        "ids={}&ids={}&ids={}&back=%2Fdead-letters",
        ids[0], ids[1], ids[2]
    );
    let html = app
        .get_html(&format!("/dead-letters/discard-selected?{query}"))
        .await;
    assert!(html.contains("3 dead letters will be discarded"), "{html}");
    assert!(posts_to(&html, "/dead-letters/discard-selected"));
    for id in &ids[..3] {
        assert!(html.contains(&format!("name=\"ids\" value=\"{id}\"")));
    }
    assert_eq!(
        count_in(&app, hook.id, "dead").await,
        4,
        "the page changed nothing"
    );

    let selected: Vec<(&str, &str)> = ids[..3]
        .iter()
        .map(|id| ("ids", id.as_str()))
        .chain([("back", "/dead-letters")])
        .collect();
    assert_redirects_to(
        &app.post_form("/dead-letters/discard-selected", &selected)
            .await,
        "/dead-letters",
    );
    assert_eq!(count_in(&app, hook.id, "discarded").await, 3);

    // Asked again about the same selection: nothing is left to discard.
    let again = app
        .get_html(&format!("/dead-letters/discard-selected?{query}"))
        .await;
    assert!(
        again.contains("Nothing to discard") && !posts_to(&again, "/dead-letters/discard-selected")
    );

    // One dead letter from its page.
    let last = &ids[3];
    let page = app.get_html(&format!("/deliveries/{last}")).await;
    assert!(page.contains(&format!("href=\"/deliveries/{last}/discard\"")));
    let html = app.get_html(&format!("/deliveries/{last}/discard")).await;
    assert!(html.contains("1 dead letter will be discarded"), "{html}");
    assert!(posts_to(&html, &format!("/deliveries/{last}/discard")));
    assert_eq!(count_in(&app, hook.id, "dead").await, 1);
    app.post_form(&format!("/deliveries/{last}/discard"), &[])
        .await;
    assert_eq!(count_in(&app, hook.id, "discarded").await, 4);
}

#[tokio::test]
async fn replaying_selected_says_how_many_go_and_how_many_are_left_alone() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let (on, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let (off, _) =
        create_webhook(&app, "https://crm.example.com/hooks", |i| i.enabled = None).await;
    let mut ids: Vec<Uuid> = seed(&app, on.id, 1, "dead", "course.completed")
        .await
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    ids.extend(
        seed(&app, off.id, 2, "dead", "course.completed")
            .await
            .into_iter()
            .map(|(_, d)| d),
    );
    let query: Vec<String> = ids.iter().map(|id| format!("ids={id}")).collect();
    let html = app
        .get_html(&format!(
            "/dead-letters/replay-selected?{}",
            query.join("&")
        ))
        .await;
    assert!(html.contains("Replay 3 dead letters?"), "{html}");
    assert!(html.contains("1 dead letter will be queued again"));
    assert!(html.contains("2 of them belong to a disabled webhook"));
    assert!(posts_to(&html, "/dead-letters/replay-selected"));
    assert_eq!(
        count_in(&app, on.id, "dead").await,
        1,
        "the page changed nothing"
    );
}

#[tokio::test]
async fn redelivering_names_the_attempt_and_happens_only_on_post() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let id = seed(&app, hook.id, 1, "delivered", "course.completed").await[0].1;
    app.with_conn(move |conn| {
        diesel::update(deliveries::table.find(id))
            .set(deliveries::attempts.eq(2))
            .execute(conn)
            .unwrap()
    })
    .await;
    let page = app.get_html(&format!("/deliveries/{id}")).await;
    assert!(page.contains(&format!("href=\"/deliveries/{id}/redeliver\"")));
    assert!(!page.contains(&format!("action=\"/deliveries/{id}/redeliver\"")));

    let html = app.get_html(&format!("/deliveries/{id}/redeliver")).await;
    assert!(html.contains("attempt 3"), "{html}");
    assert!(html.contains("which already accepted it once"));
    assert!(posts_to(&html, &format!("/deliveries/{id}/redeliver")));
    assert_eq!(
        count_in(&app, hook.id, "delivered").await,
        1,
        "the page changed nothing"
    );

    app.post_form(&format!("/deliveries/{id}/redeliver"), &[])
        .await;
    assert_eq!(
        count_in(&app, hook.id, "delivered").await,
        0,
        "queued again"
    );
}

#[tokio::test]
async fn viewers_get_403_on_every_confirmation_and_shown_once_page() {
    let app = spawn_app().await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let dead = seed(&app, hook.id, 1, "dead", "course.completed").await[0].1;
    token(&app, Scope::Ingest).await;
    let token_id: i64 = app
        .with_conn(|conn| {
            api_tokens::table
                .select(api_tokens::id)
                .first(conn)
                .unwrap()
        })
        .await;
    let id = hook.id;
    let manager_pages = [
        format!("/webhooks/{id}/disable"),
        format!("/webhooks/{id}/rotate-secret"),
        format!("/webhooks/{id}/secret"),
        format!("/deliveries/{dead}/redeliver"),
        format!("/deliveries/{dead}/discard"),
        format!("/dead-letters/replay-selected?ids={dead}"),
        format!("/dead-letters/discard-selected?ids={dead}"),
    ];
    let admin_pages = [
        format!("/tokens/{token_id}/revoke"),
        format!("/tokens/{token_id}/created"),
    ];

    app.login_as(Role::Viewer).await;
    for path in manager_pages.iter().chain(&admin_pages) {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "GET {path}"
        );
    }
    let manager = app.new_browser();
    let user = app.add_user("manager-m", Role::Manager).await;
    manager
        .login(&user.username, crate::helpers::PASSWORD)
        .await;
    for path in &manager_pages {
        assert_eq!(
            manager.get(path).await.status(),
            StatusCode::OK,
            "GET {path}"
        );
    }
    for path in &admin_pages {
        assert_eq!(
            manager.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "a manager, GET {path}"
        );
    }
    assert!(webhook(&app, id).await.enabled);
}

#[tokio::test]
async fn the_overlap_is_chosen_when_rotating_and_the_old_secret_can_be_stopped_early() {
    let app =
        spawn_app_with(|s| s.secret_rotation_overlap = std::time::Duration::from_secs(24 * 3600))
            .await;
    let (hook, _) = create_webhook(&app, "https://hr.example.com/hooks", |_| {}).await;
    let id = hook.id;
    let viewer = app.new_browser();
    let someone = app.add_user("overlap-viewer", Role::Viewer).await;
    viewer
        .login(&someone.username, crate::helpers::PASSWORD)
        .await;
    app.login_as(Role::Manager).await;

    let html = app.get_html(&format!("/webhooks/{id}/rotate-secret")).await;
    assert!(
        html.contains("<option value=\"0\" >none: the old secret stops at once</option>")
            || html.contains("<option value=\"0\">none: the old secret stops at once</option>"),
        "{html}"
    );
    assert!(
        html.contains("<option value=\"24\" selected>24 hours</option>"),
        "{html}"
    );

    // One hour of overlap.
    app.post_form(
        &format!("/webhooks/{id}/rotate-secret"),
        &[("overlap_hours", "1")],
    )
    .await;
    let rotated = webhook(&app, id).await;
    let left = rotated.previous_secret_expires_at.unwrap() - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(55) && left <= chrono::Duration::hours(1),
        "{left}"
    );
    // An overlap that is not offered falls back to the default rather than being trusted.
    app.post_form(
        &format!("/webhooks/{id}/rotate-secret"),
        &[("overlap_hours", "100000")],
    )
    .await;
    let left = webhook(&app, id).await.previous_secret_expires_at.unwrap() - chrono::Utc::now();
    assert!(left > chrono::Duration::hours(23), "{left}");

    // Stopping the old secret early: asked first, viewers refused, then done and audited.
    let path = format!("/webhooks/{id}/expire-previous-secret");
    assert_eq!(
        viewer.get(&path).await.status(),
        reqwest::StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer.post_form(&path, &[]).await.status(),
        reqwest::StatusCode::FORBIDDEN
    );
    let page = app.get_html(&format!("/webhooks/{id}")).await;
    assert!(page.contains(&format!("href=\"{path}\"")), "{page}");
    let confirm = app.get_html(&path).await;
    assert!(confirm.contains("will reject every request"), "{confirm}");
    assert!(
        webhook(&app, id)
            .await
            .previous_signing_secret_enc
            .is_some(),
        "GET changed nothing"
    );
    app.post_form(&path, &[]).await;
    let stopped = webhook(&app, id).await;
    assert!(stopped.previous_signing_secret_enc.is_none());
    assert!(stopped.previous_secret_expires_at.is_none());
    let audit = app.get_html("/audit").await;
    assert!(
        audit.contains("stopped the previous signing secret of webhook"),
        "{audit}"
    );

    // No overlap at all.
    app.post_form(
        &format!("/webhooks/{id}/rotate-secret"),
        &[("overlap_hours", "0")],
    )
    .await;
    assert!(
        webhook(&app, id)
            .await
            .previous_signing_secret_enc
            .is_none()
    );
}
