//! Sign-in throttling: attempts reserve their place before the password is checked, so a
//! burst cannot slip past a limit; waits grow per (username, address); a username tried from
//! many addresses is slowed, never locked, and its owner gets in from another address.

use std::time::{Duration, Instant};

use herald::domain::role::Role;
use herald::model::login_throttle::{self, Counter, Key, Scope};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use crate::helpers::{PASSWORD, TestApp, assert_redirects_to, spawn_app, spawn_app_with};

/// The counter of `username` signing in from `address`, if any attempt made one.
async fn pair_counter(app: &TestApp, username: &str, address: &str) -> Option<Counter> {
    let key = Key {
        scope: Scope::Pair,
        username: username.into(),
        client_address: address.into(),
    };
    app.with_conn(move |conn| login_throttle::find(conn, &key).unwrap())
        .await
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn fifty_wrong_passwords_at_once_get_no_more_than_the_free_failures_checked() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Viewer).await;
    let token = app.csrf_token().await;
    let mut attempts = tokio::task::JoinSet::new();
    for n in 0..50 {
        let client = app.client.clone();
        let url = format!("{}/login", app.address);
        let form = [
            ("username", "alice".to_owned()),
            ("password", format!("wrong-password-{n}")),
            ("csrf_token", token.clone()),
        ];
        attempts.spawn(async move { client.post(url).form(&form).send().await.unwrap().status() });
    }
    let (mut checked, mut refused) = (0, 0);
    while let Some(status) = attempts.join_next().await {
        match status.unwrap() {
            // 401 is only given after the password was checked; 429 before.
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected answer {other}"),
        }
    }
    assert_eq!((checked, refused), (5, 45));
    let counted = pair_counter(&app, "alice", "127.0.0.1").await.unwrap();
    assert_eq!(counted.failures, 5);
}

#[tokio::test]
async fn the_right_password_from_another_address_gets_in_while_one_address_waits() {
    let app = spawn_app().await;
    app.add_user("alice", Role::Viewer).await;
    let attacker = app.browser_from("127.0.0.2", &[]);
    for _ in 0..5 {
        assert_eq!(
            attacker.login("alice", "wrong-password-xx").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attacker.login("alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    let owner = app.browser_from("127.0.0.3", &[]);
    assert_redirects_to(&owner.login("alice", PASSWORD).await, "/");
    // The owner's success leaves the attacker's wait in place.
    assert_eq!(
        attacker.login("alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        pair_counter(&app, "alice", "127.0.0.2")
            .await
            .unwrap()
            .failures,
        5
    );
    assert_eq!(pair_counter(&app, "alice", "127.0.0.3").await, None);
}

#[tokio::test]
async fn the_wait_doubles_with_each_further_failure() {
    let app = spawn_app_with(|s| {
        s.login_throttle.free_failures = 1;
        s.login_throttle.first_backoff = Duration::from_secs(60);
    })
    .await;
    app.add_user("alice", Role::Viewer).await;
    let mut waits = Vec::new();
    for _ in 0..3 {
        assert_eq!(
            app.login("alice", "wrong-password-xx").await.status(),
            StatusCode::UNAUTHORIZED
        );
        let refused = app.login("alice", "wrong-password-xx").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        waits.push(retry_after(&refused));
        // Let the wait pass without sleeping through it.
        app.with_conn(|conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query("UPDATE login_throttle SET next_allowed_at = now()")
                .execute(conn)
                .unwrap()
        })
        .await;
    }
    // 60 s, 120 s, 240 s, each a little less by the time it is read.
    assert!(waits[0] > 50 && waits[0] <= 60, "{waits:?}");
    assert!(waits[1] > 110 && waits[1] <= 120, "{waits:?}");
    assert!(waits[2] > 230 && waits[2] <= 240, "{waits:?}");
}

#[tokio::test]
async fn a_username_tried_from_many_addresses_is_slowed_not_locked_out() {
    let app = spawn_app_with(|s| {
        s.login_throttle.username_ceiling = 3;
        s.login_throttle.username_interval = Duration::from_secs(1);
    })
    .await;
    app.add_user("alice", Role::Viewer).await;
    for source in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        assert_eq!(
            app.browser_from(source, &[])
                .login("alice", "wrong-password-xx")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Past the ceiling, a fresh address waits too, but only the short interval: refused
    // attempts do not extend it, so the right password gets in as soon as it is over.
    let owner = app.browser_from("127.0.0.5", &[]);
    let first = owner.login("alice", PASSWORD).await;
    assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&first), 1);
    assert!(
        first
            .text()
            .await
            .unwrap()
            .contains("Wait 1 second and try again.")
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = owner.login("alice", PASSWORD).await;
        if response.status() == StatusCode::SEE_OTHER {
            assert_redirects_to(&response, "/");
            break;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(Instant::now() < deadline, "the owner never got in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn guesses_from_many_addresses_cannot_keep_a_browser_that_signed_in_before_out() {
    let app = spawn_app_with(|s| {
        s.login_throttle.username_ceiling = 3;
        s.login_throttle.username_interval = Duration::from_secs(600);
    })
    .await;
    app.add_user("alice", Role::Viewer).await;
    // Alice signed in from her laptop before: it carries the known-client mark.
    let laptop = app.browser_from("127.0.0.5", &[]);
    let first = laptop.login("alice", PASSWORD).await;
    assert_redirects_to(&first, "/");
    let mark = first
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("herald_known="))
        .expect("no known-client mark")
        .to_owned();
    assert!(
        mark.contains("HttpOnly") && mark.contains("Path=/login"),
        "{mark}"
    );
    // Guesses from many addresses take the username past its ceiling: any newcomer, even at
    // the laptop's own address, now waits the (long) interval…
    for source in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let guess = app
            .browser_from(source, &[])
            .login("alice", "wrong-password-xx")
            .await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
    }
    for source in ["127.0.0.6", "127.0.0.5"] {
        let stranger = app.browser_from(source, &[]).login("alice", PASSWORD).await;
        assert_eq!(stranger.status(), StatusCode::TOO_MANY_REQUESTS, "{source}");
    }
    // …but the laptop gets in at once, and its own mistakes count only against its pair.
    assert_eq!(
        laptop.login("alice", "wrong-password-yy").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_redirects_to(&laptop.login("alice", PASSWORD).await, "/");
    // The mark is for alice only.
    app.add_user("bob", Role::Viewer).await;
    for source in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        app.browser_from(source, &[])
            .login("bob", "wrong-password-xx")
            .await;
    }
    assert_eq!(
        laptop.login("bob", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
