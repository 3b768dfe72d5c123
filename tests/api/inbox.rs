//! The built-in test receiver: an inbox gets real deliveries from the worker and test events
//! (handed over inside Herald, although the outbound guard refuses loopback), shows headers
//! and a pretty-printed body, and says whether the signature verified; its public endpoint
//! refuses unknown tokens, oversize bodies and floods; old requests are pruned; the pages are
//! for managers.

use chrono::Utc;
use herald::delivery::signature::sign;
use herald::domain::role::Role;
use herald::inbox::InboxToken;
use herald::model::test_inbox::{self, Inbox, InboxRequest, NewInboxRequest};
use herald::tokens::Scope;

use crate::delivery_helpers::{create_webhook, delivery_reaches, emit, token};
use crate::helpers::{TestApp, eventually, spawn_app};

/// Creates an inbox through the console (signed in as a manager) and returns it.
async fn new_inbox(app: &TestApp, name: &str) -> Inbox {
    let response = app.post_form("/inboxes", &[("name", name)]).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let id: i64 = location.trim_start_matches("/inboxes/").parse().unwrap();
    app.with_conn(move |conn| test_inbox::find(conn, id).unwrap().unwrap())
        .await
}

async fn requests_of(app: &TestApp, inbox_id: i64) -> Vec<InboxRequest> {
    app.with_conn(move |conn| test_inbox::requests(conn, inbox_id).unwrap())
        .await
}

/// Waits until the inbox holds `count` requests; newest first.
async fn inbox_holds(app: &TestApp, inbox_id: i64, count: usize) -> Vec<InboxRequest> {
    eventually(
        std::time::Duration::from_secs(15),
        &format!("{count} requests in inbox {inbox_id}"),
        || async {
            let requests = requests_of(app, inbox_id).await;
            (requests.len() >= count).then_some(requests)
        },
    )
    .await
}

async fn post_to_inbox(
    app: &TestApp,
    token: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/inbox/{token}", app.address))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_test_event_and_a_real_delivery_arrive_signed_and_verified() {
    // Default settings: loopback and private receivers are refused, plain http too.
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let inbox = new_inbox(&app, "Trying Herald").await;

    // The shortcut creates a signed webhook sending to the inbox and shows its secret once.
    let response = app
        .post_form(&format!("/inboxes/{}/webhook", inbox.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("/secret"), "{location}");
    let webhook_id: i64 = location
        .trim_start_matches("/webhooks/")
        .trim_end_matches("/secret")
        .parse()
        .unwrap();
    assert!(app.get_html(&location).await.contains("whsec_"));

    let response = app
        .post_form(&format!("/webhooks/{webhook_id}/test"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let test = inbox_holds(&app, inbox.id, 1).await.remove(0);
    assert_eq!(test.signature, "verified", "{}", test.signature_detail);
    assert_eq!(test.via, "delivery");
    assert!(test.body.contains("webhook.ping"), "{}", test.body);

    // A real event goes through the queue and the worker into the inbox.
    let ingest = token(&app, Scope::Ingest).await;
    emit(&app, &ingest, serde_json::json!({ "user": { "id": 42 } })).await;
    let delivery = delivery_reaches(&app, webhook_id, "delivered").await;
    let requests = inbox_holds(&app, inbox.id, 2).await;
    let delivered = &requests[0];
    assert_eq!(
        delivered.signature, "verified",
        "{}",
        delivered.signature_detail
    );
    assert_eq!(
        delivered.headers["webhook-id"],
        delivery.id.hyphenated().to_string()
    );

    let page = app.get_html(&format!("/inboxes/{}", inbox.id)).await;
    assert_eq!(page.matches("signature verified").count(), 2, "{page}");
    assert!(page.contains("webhook-signature"));
    assert!(page.contains("v1,"));
    // The body is pretty-printed: one key per line, indented.
    assert!(
        page.contains("\n  &#34;event&#34;: &#34;course.completed&#34;")
            || page.contains("\n  &quot;event&quot;: &quot;course.completed&quot;"),
        "{page}"
    );
    assert!(
        page.contains(&format!("/webhooks/{webhook_id}")),
        "the sender is listed"
    );
}

#[tokio::test]
async fn the_public_endpoint_verifies_signatures_and_reports_tampered_and_unsigned_requests() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let inbox = new_inbox(&app, "Outside").await;
    let url = InboxToken::parse(&inbox.token).unwrap().webhook_url();
    let (hook, secret) = create_webhook(&app, &url, |_| {}).await;
    let secret = secret.expect("signing is on by default");

    let body = br#"{"event":"course.completed"}"#.to_vec();
    let now = Utc::now().timestamp();
    let signed = [
        ("webhook-id", "msg_outside_1".to_owned()),
        ("webhook-timestamp", now.to_string()),
        (
            "webhook-signature",
            sign(&secret, "msg_outside_1", now, &body),
        ),
        ("authorization", "Bearer receiver-secret-value".to_owned()),
    ];
    let response = post_to_inbox(&app, &inbox.token, &signed, body.clone()).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["signature"], "verified", "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains(&hook.name));

    let tampered = post_to_inbox(
        &app,
        &inbox.token,
        &signed,
        br#"{"event":"course.completed","extra":1}"#.to_vec(),
    )
    .await;
    let answer: serde_json::Value = tampered.json().await.unwrap();
    assert_eq!(answer["signature"], "failed", "{answer}");

    let unsigned = post_to_inbox(&app, &inbox.token, &[], body).await;
    let answer: serde_json::Value = unsigned.json().await.unwrap();
    assert_eq!(answer["signature"], "unsigned", "{answer}");

    let requests = requests_of(&app, inbox.id).await;
    let verdicts: Vec<&str> = requests.iter().map(|r| r.signature.as_str()).collect();
    assert_eq!(verdicts, ["unsigned", "failed", "verified"]);
    // A credential sent to the inbox is masked before it is stored.
    assert_eq!(requests[2].headers["authorization"], "Bearer ••••••••");
    let page = app.get_html(&format!("/inboxes/{}", inbox.id)).await;
    assert!(page.contains("signature failed"));
    assert!(page.contains("unsigned"));
    assert!(!page.contains("receiver-secret-value"));
}

#[tokio::test]
async fn the_public_endpoint_refuses_unknown_tokens_oversize_bodies_and_floods() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let inbox = new_inbox(&app, "Limits").await;

    let unknown = InboxToken::generate();
    let response = post_to_inbox(&app, unknown.as_str(), &[], b"{}".to_vec()).await;
    assert_eq!(response.status(), 404);
    let response = post_to_inbox(&app, "not-a-token", &[], b"{}".to_vec()).await;
    assert_eq!(response.status(), 404);

    let oversize = vec![b'a'; herald::inbox::MAX_BODY_BYTES + 1];
    let response = post_to_inbox(&app, &inbox.token, &[], oversize).await;
    assert_eq!(response.status(), 413);
    assert!(requests_of(&app, inbox.id).await.is_empty());

    let response = app.get(&format!("/inbox/{}", inbox.token)).await;
    assert_eq!(response.status(), 405);

    // Past the per-inbox burst, requests are refused before they reach the database.
    let flood = InboxToken::generate();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let url = format!("{}/inbox/{}", app.address, flood.as_str());
        requests.spawn(async move { reqwest::Client::new().post(url).body("{}").send().await });
    }
    let answers: Vec<reqwest::Response> = requests
        .join_all()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let limited: Vec<&reqwest::Response> = answers.iter().filter(|r| r.status() == 429).collect();
    assert!(!limited.is_empty(), "40 requests at once exceed the burst");
    assert!(
        answers
            .iter()
            .all(|r| matches!(r.status().as_u16(), 404 | 429))
    );
    assert!(limited[0].headers().contains_key("retry-after"));
}

#[tokio::test]
async fn an_inbox_keeps_only_its_latest_requests() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let inbox = new_inbox(&app, "Busy").await;
    let inbox_id = inbox.id;
    let first_id = app
        .with_conn(move |conn| {
            let mut first = None;
            for n in 0..test_inbox::KEPT {
                let id = test_inbox::insert_request(
                    conn,
                    &NewInboxRequest {
                        inbox_id,
                        via: "http",
                        headers: serde_json::json!({}),
                        body: &format!("{{\"n\": {n}}}"),
                        signature: "unsigned",
                        signature_detail: "",
                    },
                )
                .unwrap();
                first.get_or_insert(id);
            }
            first.unwrap()
        })
        .await;

    let response = post_to_inbox(&app, &inbox.token, &[], br#"{"n": "newest"}"#.to_vec()).await;
    assert_eq!(response.status(), 200);

    let requests = requests_of(&app, inbox.id).await;
    assert_eq!(requests.len() as i64, test_inbox::KEPT);
    assert_eq!(requests[0].body, r#"{"n": "newest"}"#);
    assert!(
        requests.iter().all(|r| r.id != first_id),
        "the oldest was pruned"
    );
}

#[tokio::test]
async fn inbox_pages_are_for_managers_and_deleting_asks_first() {
    let app = spawn_app().await;
    app.login_as(Role::Manager).await;
    let inbox = new_inbox(&app, "Private").await;

    let viewer = app.new_browser();
    let user = app.add_user("inbox-viewer", Role::Viewer).await;
    viewer.login(&user.username, crate::helpers::PASSWORD).await;
    for path in ["/inboxes".to_owned(), format!("/inboxes/{}", inbox.id)] {
        assert_eq!(viewer.get(&path).await.status(), 403, "{path}");
    }
    let response = viewer.post_form("/inboxes", &[("name", "mine")]).await;
    assert_eq!(response.status(), 403);
    assert!(!viewer.get_html("/").await.contains("href=\"/inboxes\""));

    // The public endpoint is exempt from CSRF; the console's /inboxes is not.
    let forged = app.post_form_raw("/inboxes", &[("name", "forged")]).await;
    assert_eq!(forged.status(), 403);
    let names: Vec<String> = app
        .with_conn(|conn| test_inbox::list(conn).unwrap())
        .await
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["Private"]);

    let confirm = app.get_html(&format!("/inboxes/{}/delete", inbox.id)).await;
    assert!(confirm.contains("Delete inbox Private?"), "{confirm}");
    let response = app
        .post_form(&format!("/inboxes/{}/delete", inbox.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    let gone = app
        .with_conn(move |conn| test_inbox::find(conn, inbox.id).unwrap())
        .await;
    assert!(gone.is_none());
}
