use herald::domain::role::Role;
use herald::domain::username::Username;
use herald::model::audit;
use herald::model::user;
use reqwest::StatusCode;

use crate::helpers::{PASSWORD, TestApp, assert_redirects_to, spawn_app};

const NEW_PASSWORD: &str = "brand-new-password";

async fn find(app: &TestApp, name: &str) -> Option<user::User> {
    let name = Username::parse(name).unwrap();
    app.with_conn(move |conn| user::find_by_username(conn, &name).unwrap())
        .await
}

/// One users-page action: method, path and form fields.
type Action = (&'static str, String, Vec<(&'static str, &'static str)>);

/// Every users-page action on `target`.
fn user_actions(target: i64) -> Vec<Action> {
    vec![
        ("GET", "/users".into(), vec![]),
        ("GET", "/users/new".into(), vec![]),
        ("GET", format!("/users/{target}"), vec![]),
        (
            "POST",
            "/users".into(),
            vec![
                ("username", "newcomer"),
                ("role", "viewer"),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        ),
        (
            "POST",
            format!("/users/{target}/role"),
            vec![("role", "manager")],
        ),
        (
            "POST",
            format!("/users/{target}/password"),
            vec![
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        ),
        ("POST", format!("/users/{target}/disable"), vec![]),
        ("POST", format!("/users/{target}/enable"), vec![]),
    ]
}

#[tokio::test]
async fn viewers_and_managers_get_403_on_every_users_page_action() {
    for role in [Role::Viewer, Role::Manager] {
        let app = spawn_app().await;
        let target = app.add_user("target", Role::Viewer).await;
        app.login_as(role).await;
        for (method, path, form) in user_actions(target.id) {
            let response = if method == "GET" {
                app.get(&path).await
            } else {
                app.post_form(&path, &form).await
            };
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{role} {method} {path}"
            );
            assert!(response.text().await.unwrap().contains("Not allowed"));
        }
        // Nothing changed.
        let target_now = find(&app, "target").await.unwrap();
        assert_eq!(target_now.role(), Role::Viewer);
        assert!(!target_now.is_disabled());
        assert!(find(&app, "newcomer").await.is_none());
    }
}

#[tokio::test]
async fn admins_may_use_every_users_page_action() {
    let app = spawn_app().await;
    let target = app.add_user("target", Role::Viewer).await;
    app.login_as(Role::Admin).await;
    for (method, path, form) in user_actions(target.id) {
        let response = if method == "GET" {
            app.get(&path).await
        } else {
            app.post_form(&path, &form).await
        };
        let status = response.status();
        assert!(
            status == StatusCode::OK || status == StatusCode::SEE_OTHER,
            "admin {method} {path}: {status}"
        );
    }
    let target_now = find(&app, "target").await.unwrap();
    assert_eq!(target_now.role(), Role::Manager);
    assert!(!target_now.is_disabled(), "disabled, then enabled again");
    assert_eq!(find(&app, "newcomer").await.unwrap().role(), Role::Viewer);
}

#[tokio::test]
async fn anonymous_visitors_cannot_reach_the_users_pages() {
    let app = spawn_app().await;
    let target = app.add_user("target", Role::Viewer).await;
    assert_redirects_to(&app.get("/users").await, "/login?next=%2Fusers");
    let response = app
        .post_form(&format!("/users/{}/disable", target.id), &[])
        .await;
    assert_redirects_to(&response, "/login");
    assert!(!find(&app, "target").await.unwrap().is_disabled());
}

#[tokio::test]
async fn an_admin_adds_a_viewer_who_can_then_sign_in() {
    let app = spawn_app().await;
    let admin = app.login_as(Role::Admin).await;
    let response = app
        .post_form(
            "/users",
            &[
                ("username", "Viewer.One"),
                ("role", "viewer"),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_redirects_to(&response, "/users");
    let html = app.get_html("/users").await;
    assert!(html.contains("Added viewer.one as viewer."), "{html}");
    assert!(html.contains(">viewer.one</a>"));

    let viewer = app.new_browser();
    assert_redirects_to(&viewer.login("viewer.one", NEW_PASSWORD).await, "/");
    assert_eq!(viewer.get("/users").await.status(), StatusCode::FORBIDDEN);

    let entries = app
        .with_conn(|conn| audit::list(conn, herald::model::PageRequest::new(None, 50)).unwrap())
        .await;
    let created = entries
        .items
        .iter()
        .find(|e| e.action == "user.created" && e.target_label.as_deref() == Some("viewer.one"))
        .unwrap();
    assert_eq!(created.actor, admin.username);
    assert!(!created.details.to_string().contains(NEW_PASSWORD));
}

#[tokio::test]
async fn the_add_user_form_shows_each_problem_beside_its_field() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    let response = app
        .post_form(
            "/users",
            &[
                ("username", "bad name!"),
                ("role", "root"),
                ("password", "short"),
                ("password_confirm", "different"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"username-error\""), "{html}");
    assert!(html.contains("Use only letters, digits, dots, underscores and hyphens."));
    assert!(
        html.contains("unknown role &#34;root&#34;")
            || html.contains("unknown role &quot;root&quot;"),
        "{html}"
    );
    assert!(html.contains("Use between 12 and 256 characters."));
    assert!(html.contains("The two passwords differ."));
    // The user's input comes back, escaped; the password never does.
    assert!(html.contains("value=\"bad name!\""));
    assert!(!html.contains("value=\"short\""));
}

#[tokio::test]
async fn user_input_is_escaped_in_pages() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    let html = app
        .post_form(
            "/users",
            &[
                ("username", "<script>alert(1)</script>"),
                ("role", "viewer"),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
}

#[tokio::test]
async fn a_taken_username_is_reported_beside_the_field() {
    let app = spawn_app().await;
    app.add_user("taken", Role::Viewer).await;
    app.login_as(Role::Admin).await;
    let response = app
        .post_form(
            "/users",
            &[
                ("username", "TAKEN"),
                ("role", "viewer"),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("The username taken is already taken.")
    );
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_or_disabled() {
    let app = spawn_app().await;
    let admin = app.login_as(Role::Admin).await;

    let response = app
        .post_form(&format!("/users/{}/role", admin.id), &[("role", "viewer")])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This is the last active admin")
    );

    let response = app
        .post_form(&format!("/users/{}/disable", admin.id), &[])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    let now = find(&app, &admin.username).await.unwrap();
    assert_eq!(now.role(), Role::Admin);
    assert!(!now.is_disabled());
}

#[tokio::test]
async fn a_disabled_admin_does_not_count_as_another_admin() {
    let app = spawn_app().await;
    let other = app.add_user("other-admin", Role::Admin).await;
    app.with_conn(move |conn| user::set_disabled(conn, other.id, true).unwrap())
        .await;
    let admin = app.login_as(Role::Admin).await;
    let response = app
        .post_form(&format!("/users/{}/role", admin.id), &[("role", "manager")])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn with_a_second_admin_an_admin_may_step_down() {
    let app = spawn_app().await;
    app.add_user("second-admin", Role::Admin).await;
    let admin = app.login_as(Role::Admin).await;
    let response = app
        .post_form(&format!("/users/{}/role", admin.id), &[("role", "manager")])
        .await;
    assert_redirects_to(&response, "/");
    assert_eq!(app.get("/users").await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_resets_a_password_and_the_old_one_stops_working() {
    let app = spawn_app().await;
    let target = app.add_user("target", Role::Viewer).await;
    app.login_as(Role::Admin).await;

    let response = app
        .post_form(
            &format!("/users/{}/password", target.id),
            &[("password", "short"), ("password_confirm", "short")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("id=\"password-error\"")
    );

    let response = app
        .post_form(
            &format!("/users/{}/password", target.id),
            &[
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_redirects_to(&response, &format!("/users/{}", target.id));

    let other = app.new_browser();
    assert_eq!(
        other.login("target", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_redirects_to(&other.login("target", NEW_PASSWORD).await, "/");
}

#[tokio::test]
async fn an_admin_who_resets_their_own_password_stays_signed_in() {
    let app = spawn_app().await;
    let admin = app.login_as(Role::Admin).await;
    let response = app
        .post_form(
            &format!("/users/{}/password", admin.id),
            &[
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_redirects_to(&response, &format!("/users/{}", admin.id));
    assert_eq!(app.get("/users").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn disabling_a_user_ends_their_session_and_enabling_lets_them_back() {
    let app = spawn_app().await;
    let target = app.add_user("target", Role::Viewer).await;
    let target_browser = app.new_browser();
    assert_redirects_to(&target_browser.login("target", PASSWORD).await, "/");

    app.login_as(Role::Admin).await;
    assert_redirects_to(
        &app.post_form(&format!("/users/{}/disable", target.id), &[])
            .await,
        &format!("/users/{}", target.id),
    );
    assert_redirects_to(&target_browser.get("/").await, "/login?ended=1");
    // A disabled account's right password gets the wrong-password answer.
    assert_eq!(
        target_browser.login("target", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    app.post_form(&format!("/users/{}/enable", target.id), &[])
        .await;
    assert_redirects_to(&target_browser.login("target", PASSWORD).await, "/");

    let actions: Vec<String> = app
        .with_conn(move |conn| audit::for_target(conn, "user", &target.id.to_string()).unwrap())
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["user.enabled", "user.disabled", "user.created"]);
}

#[tokio::test]
async fn an_unknown_user_id_is_a_404_page() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    assert_eq!(
        app.get("/users/999999").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/users/not-a-number").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_users_list_paginates() {
    let app = spawn_app().await;
    app.login_as(Role::Admin).await;
    for i in 0..55 {
        app.add_user(&format!("user{i:02}"), Role::Viewer).await;
    }
    let first = app.get_html("/users").await;
    assert!(first.contains("56 users · page 1 of 2"), "{first}");
    assert!(first.contains("href=\"/users?page=2\""));
    let second = app.get_html("/users?page=2").await;
    assert!(second.contains("page 2 of 2"));
    assert!(second.contains("user54"));
    assert!(!second.contains(">user00<"));
}

#[tokio::test]
async fn an_easily_guessed_password_is_refused_with_the_estimators_advice() {
    let app = spawn_app().await;
    let target = app.add_user("target", Role::Viewer).await;
    app.login_as(Role::Admin).await;

    let response = app
        .post_form(
            "/users",
            &[
                ("username", "newcomer"),
                ("role", "viewer"),
                ("password", "password1234"),
                ("password_confirm", "password1234"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("This password is too easy to guess. This is a very common password."),
        "{html}"
    );
    assert!(html.contains("Add another word or two."), "{html}");
    assert_eq!(find(&app, "newcomer").await.map(|u| u.id), None);

    // Resetting a password follows the same rule.
    let response = app
        .post_form(
            &format!("/users/{}/password", target.id),
            &[
                ("password", "target12345678"),
                ("password_confirm", "target12345678"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"password-error\""), "{html}");
    assert!(
        html.contains("This password is too easy to guess."),
        "{html}"
    );
    assert_eq!(
        app.new_browser()
            .login("target", "target12345678")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}
