//! Every console page at a phone's width (390 px) and a wide screen (1440 px) in headless
//! Chromium: the document must never be wider than the screen (no sideways page scroll), and
//! the axe-core accessibility checker (vendored in `tests/vendor/axe.min.js`, MPL-2.0) must find
//! no serious or critical violation. Screenshots of each page land in
//! `target/screenshots/widths/`.

use std::path::PathBuf;

use fantoccini::Locator;
use herald::domain::role::Role;
use herald::tokens::Scope;

use crate::browser::Chrome;
use crate::delivery_helpers::{create_webhook, delivery_reaches, emit, token};
use crate::helpers::{TestApp, spawn_app};
use crate::receiver::{Receiver, Reply};

/// A console with a bit of everything: a healthy and a failing webhook with long names and
/// URLs, deliveries, a dead letter, users, tokens and audit entries.
async fn furnished_console() -> (TestApp, Vec<String>, Receiver) {
    let app = spawn_app().await;
    app.add_user("wide-admin", Role::Admin).await;
    app.add_user("a-viewer-with-a-rather-long-name", Role::Viewer)
        .await;
    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    let failing = Receiver::start(vec![Reply::status(422).body("{\"error\":\"bad\"}")]).await;
    let (healthy, _) = create_webhook(&app, &format!("{}/hooks/learning-platform/events/receiver-with-a-long-path", receiver.url), |i| {
        i.name = "Certificates to the accreditation body of the national register".into();
        i.description = "Sends every completion and certificate to the register, which answers within a second.".into();
    })
    .await;
    let (broken, _) = create_webhook(&app, &failing.url, |i| {
        i.name = "Student records".into();
    })
    .await;
    // A webhook to a Learning Record Store: its page previews statements and marks the
    // subscribed type xAPI skips.
    let (lrs, _) = create_webhook(&app, &format!("{}/xapi", receiver.url), |i| {
        i.name = "Learning Record Store".into();
        i.payload_format = "xapi".into();
        i.actor_home_page = "https://academy.example.com".into();
        i.activity_base_iri = "https://academy.example.com/learning-records/activities".into();
        i.events = vec!["course.completed".into(), "user.created".into()];
    })
    .await;
    let ingest = token(&app, Scope::Ingest).await;
    emit(
        &app,
        &ingest,
        serde_json::json!({ "user": { "id": 42, "email": "learner.with.a.long.address@academy.example.com" }, "course": { "id": 7 } }),
    )
    .await;
    let dead = delivery_reaches(&app, broken.id, "dead").await;
    delivery_reaches(&app, healthy.id, "delivered").await;
    let statement = delivery_reaches(&app, lrs.id, "delivered").await;
    let users = app
        .with_conn(|conn| {
            herald::model::user::list(conn, herald::model::PageRequest::new(None, 50))
                .unwrap()
                .items
        })
        .await;
    let viewer = users
        .iter()
        .find(|u| u.username.starts_with("a-viewer"))
        .unwrap()
        .id;
    let inbox = app
        .with_conn(|conn| {
            herald::model::test_inbox::create(
                conn,
                "wide-test-inbox-token-0123456789",
                "Try-out inbox",
                "test",
            )
            .unwrap()
            .id
        })
        .await;
    let pages = [
        "/".to_owned(),
        "/webhooks".into(),
        "/webhooks/new".into(),
        format!("/webhooks/{}", healthy.id),
        format!("/webhooks/{}", broken.id),
        format!("/webhooks/{}", lrs.id),
        format!("/webhooks/{}/edit", lrs.id),
        format!("/deliveries/{}", statement.id),
        format!("/webhooks/{}/edit", healthy.id),
        format!("/webhooks/{}/delete", healthy.id),
        format!("/webhooks/{}/disable", healthy.id),
        format!("/webhooks/{}/rotate-secret", healthy.id),
        format!("/webhooks/{}/secret", healthy.id),
        format!("/deliveries/{}/discard", dead.id),
        format!("/dead-letters/replay-selected?ids={}", dead.id),
        format!("/dead-letters/discard-selected?ids={}", dead.id),
        "/api-docs".into(),
        "/inboxes".into(),
        format!("/inboxes/{inbox}"),
        format!("/inboxes/{inbox}/delete"),
        "/deliveries".into(),
        format!("/deliveries/{}", dead.id),
        format!("/deliveries/{}/redeliver", dead.id),
        "/dead-letters".into(),
        "/dead-letters/replay".into(),
        "/events".into(),
        "/audit".into(),
        "/users".into(),
        "/users/new".into(),
        format!("/users/{viewer}"),
        "/tokens".into(),
        "/account".into(),
        "/no-such-page".into(),
    ];
    (app, pages.to_vec(), failing)
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots/widths");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn every_page_fits(width: u32, height: u32) {
    let Some(chrome) = Chrome::start_as_screen(width, height).await else {
        return;
    };
    let (app, pages, _failing) = furnished_console().await;
    let base = app.address.clone();
    // The sign-in page, signed out.
    chrome.client.goto(&format!("{base}/login")).await.unwrap();
    let mut too_wide = Vec::new();
    let mut violations = Vec::new();
    let mut check = async |name: &str| {
        for found in accessibility_violations(&chrome).await {
            violations.push(format!("{name} at {width} px: {found}"));
        }
        let sizes = chrome
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth]",
                vec![],
            )
            .await
            .unwrap();
        let (document, screen) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
        // A phone's browser widens its layout viewport to fit content wider than the screen,
        // so either number above the screen's width means the page does not fit.
        let png = chrome.client.screenshot().await.unwrap();
        // Ids change from run to run; the screenshot names do not.
        let stem = match name.trim_matches('/') {
            "" => "dashboard".to_owned(),
            // deliveries/{id} and deliveries/{id}/redeliver: named without the id.
            path if path.starts_with("deliveries/") => match path.rsplit_once('/') {
                Some((_, action)) if action.len() < 20 => format!("delivery_{action}"),
                _ => "delivery".to_owned(),
            },
            path => path.split('?').next().unwrap_or(path).replace('/', "_"),
        };
        std::fs::write(screenshot_dir().join(format!("{width}-{stem}.png")), png).unwrap();
        let widest = document.max(screen);
        if widest > u64::from(width) {
            too_wide.push(format!("{name}: {widest} px"));
        }
    };
    check("/login").await;
    chrome.sign_in(&base, "wide-admin").await;
    for page in &pages {
        chrome.client.goto(&format!("{base}{page}")).await.unwrap();
        chrome
            .client
            .wait()
            .for_element(Locator::Css("main h1"))
            .await
            .unwrap();
        check(page).await;
    }
    chrome.close().await;
    assert!(
        too_wide.is_empty(),
        "pages wider than a {width} px screen: {too_wide:?}"
    );
    assert!(
        violations.is_empty(),
        "serious or critical accessibility violations:\n{}",
        violations.join("\n")
    );
}

/// axe-core's serious and critical violations on the current page, one line each.
async fn accessibility_violations(chrome: &Chrome) -> Vec<String> {
    const AXE: &str = include_str!("../vendor/axe.min.js");
    chrome
        .client
        .execute(&format!("{AXE}\nreturn true;"), vec![])
        .await
        .expect("axe-core loads in the page");
    let found = chrome
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then((result) => done(
               result.violations
                 .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                 .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.length} element(s), e.g. ${
                   v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`)));",
            vec![],
        )
        .await
        .expect("axe-core ran");
    found
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_page_fits_a_phone_screen() {
    every_page_fits(390, 844).await;
}

#[tokio::test]
async fn every_page_fits_a_wide_screen() {
    every_page_fits(1440, 900).await;
}
