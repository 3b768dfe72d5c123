//! The client address the throttle (and anything else) sees: `X-Forwarded-For` counts only
//! when the TCP peer is a proxy listed in `HERALD_TRUSTED_PROXIES`.

use herald::domain::role::Role;
use herald::model::login_throttle::{self, Key, Scope};
use reqwest::StatusCode;

use crate::helpers::{TestApp, spawn_app_with};

/// The client addresses the throttle has counted a failure for.
async fn counted_addresses(app: &TestApp) -> Vec<String> {
    app.with_conn(|conn| {
        use diesel::prelude::*;
        use herald::db::schema::login_throttle::dsl::*;
        login_throttle
            .filter(scope.eq("address"))
            .select(client_address)
            .order(client_address)
            .load::<String>(conn)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn a_forwarded_for_header_counts_only_from_a_trusted_proxy() {
    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    app.add_user("alice", Role::Viewer).await;

    // 127.0.0.2 is not a trusted proxy: the address it claims to forward for is ignored.
    let spoofer = app.browser_from("127.0.0.2", &[("X-Forwarded-For", "203.0.113.7")]);
    assert_eq!(
        spoofer.login("alice", "wrong-password-xx").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The trusted proxy on 127.0.0.1 names its client, past whatever the client wrote.
    let proxied = app.browser_from(
        "127.0.0.1",
        &[("X-Forwarded-For", "192.0.2.1, 198.51.100.9")],
    );
    assert_eq!(
        proxied.login("alice", "wrong-password-xx").await.status(),
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(counted_addresses(&app).await, ["127.0.0.2", "198.51.100.9"]);
    let spoofed = Key {
        scope: Scope::Pair,
        username: "alice".into(),
        client_address: "203.0.113.7".into(),
    };
    let found = app
        .with_conn(move |conn| login_throttle::find(conn, &spoofed).unwrap())
        .await;
    assert_eq!(found, None);
}
