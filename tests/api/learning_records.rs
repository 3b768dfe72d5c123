//! xAPI and Caliper, in and out, against independent implementations (see `peers`): Herald's
//! statements stored by a real LRS, its Caliper envelopes passed by the IMS Caliper library,
//! statements and envelopes taken in as an LRS and a Caliper endpoint would, and retries and
//! replays that never store a statement twice.

use base64::Engine;
use herald::tokens::Scope;
use serde_json::{Value, json};

use crate::delivery_helpers::{create_webhook, deliveries_of, post_events, token};
use crate::helpers::{TestApp, eventually, spawn_app};
use crate::peers::{CaliperEndpoint, Lrs};
use crate::receiver::{Receiver, Reply};

const HOME: &str = "https://academy.example.com";
const BASE: &str = "https://academy.example.com/xapi";

/// A webhook in xAPI format to `lrs` with its key and secret, then `configure`d.
async fn lrs_webhook(
    app: &TestApp,
    lrs: &Lrs,
    configure: impl FnOnce(&mut herald::webhooks::input::WebhookInput),
) -> (
    herald::model::webhook::Webhook,
    Option<herald::webhooks::signing::SigningSecret>,
) {
    let (key, secret) = (lrs.key.clone(), lrs.secret.clone());
    create_webhook(app, &lrs.base, move |i| {
        i.payload_format = "xapi".into();
        i.actor_home_page = HOME.into();
        i.activity_base_iri = BASE.into();
        i.auth_kind = "basic".into();
        i.basic_username = key;
        i.basic_password = secret;
        configure(i);
    })
    .await
}

/// The catalog's example payload of `event_type`.
async fn example(app: &TestApp, event_type: &'static str) -> Value {
    app.with_conn(move |conn| {
        herald::model::event_type::all(conn)
            .unwrap()
            .into_iter()
            .find(|t| t.name == event_type)
            .unwrap()
            .example_payload
    })
    .await
}

async fn all_delivered(
    app: &TestApp,
    webhook_id: i64,
    count: usize,
) -> Vec<herald::model::delivery::Delivery> {
    eventually(
        std::time::Duration::from_secs(30),
        &format!("{count} deliveries of webhook {webhook_id} delivered"),
        || async {
            let all = deliveries_of(app, webhook_id).await;
            (all.len() == count && all.iter().all(|d| d.status == "delivered")).then_some(all)
        },
    )
    .await
}

fn basic(key: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"))
    )
}

async fn post_xapi(app: &TestApp, authorization: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/xapi/statements", app.address))
        .header("Authorization", authorization)
        .header("X-Experience-API-Version", "1.0.3")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn post_caliper(app: &TestApp, token: &str, envelope: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/caliper", app.address))
        .bearer_auth(token)
        .json(envelope)
        .send()
        .await
        .unwrap()
}

const MAPPED: [&str; 5] = [
    "course.enrolled",
    "course.completed",
    "lesson.completed",
    "quiz.attempt_completed",
    "certificate.awarded",
];

#[tokio::test]
async fn an_lrs_stores_herald_statements_once_whatever_the_retries_and_replays() {
    let Some(lrs) = Lrs::start().await else {
        return;
    };
    let app = spawn_app().await;
    let (hook, _) = lrs_webhook(&app, &lrs, |i| {
        i.events = MAPPED
            .iter()
            .map(|t| t.to_string())
            .chain(["user.created".into()])
            .collect();
    })
    .await;
    // A batched webhook to the same LRS: one POST with an array of statements.
    let (batched, _) = lrs_webhook(&app, &lrs, |i| {
        i.events = vec!["course.completed".into(), "lesson.completed".into()];
        i.dispatch_mode = "batched".into();
        i.batch_window_minutes = "60".into();
        i.batch_max_events = "2".into();
    })
    .await;
    let ingest = token(&app, Scope::Ingest).await;
    let mut events = Vec::new();
    for event_type in MAPPED.iter().chain(["user.created"].iter()) {
        events.push(json!({"type": event_type, "data": example(&app, event_type).await}));
    }
    assert_eq!(
        post_events(&app, &ingest, &Value::Array(events))
            .await
            .status(),
        202
    );

    // user.created has no xAPI mapping: no delivery is queued for it.
    let delivered = all_delivered(&app, hook.id, MAPPED.len()).await;
    all_delivered(&app, batched.id, 1).await;
    let stored = lrs.statements().await;
    assert_eq!(stored.len(), MAPPED.len() + 2, "{stored:#?}");
    for delivery in &delivered {
        let id = herald::standards::xapi_out::statement_id(hook.id, delivery.event_id.unwrap())
            .to_string();
        assert!(
            stored.iter().any(|s| s["id"] == id),
            "statement {id} stored"
        );
    }
    let verbs: Vec<&str> = stored
        .iter()
        .filter_map(|s| s["verb"]["id"].as_str())
        .collect();
    for verb in [
        "http://adlnet.gov/expapi/verbs/registered",
        "http://adlnet.gov/expapi/verbs/completed",
        "http://adlnet.gov/expapi/verbs/passed",
        "http://id.tincanapi.com/verb/earned",
    ] {
        assert!(verbs.contains(&verb), "{verb} in {verbs:?}");
    }
    let quiz = stored
        .iter()
        .find(|s| s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/passed")
        .unwrap();
    assert_eq!(quiz["result"]["score"]["scaled"], 0.8);
    assert_eq!(quiz["actor"]["mbox"], "mailto:amara.okafor@example.com");

    // Sent again (a manager's redelivery): the LRS already has it; nothing new is stored.
    let manage = token(&app, Scope::Manage).await;
    let again = delivered[0].id;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/deliveries/{again}/redeliver",
            app.address
        ))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    eventually(
        std::time::Duration::from_secs(30),
        "the redelivery",
        || async {
            crate::delivery_helpers::attempts_of(&app, again)
                .await
                .into_iter()
                .filter(|a| a.outcome == "delivered")
                .nth(1)
        },
    )
    .await;
    assert_eq!(lrs.statements().await.len(), MAPPED.len() + 2);

    // The delivery page shows the statement that was sent; the webhook page previews one.
    app.login_as(herald::domain::role::Role::Viewer).await;
    let page = app.get_html(&format!("/deliveries/{again}")).await;
    let statement_id =
        herald::standards::xapi_out::statement_id(hook.id, delivered[0].event_id.unwrap());
    assert!(page.contains(&statement_id.to_string()), "{page}");
    let page = app.get_html(&format!("/webhooks/{}", hook.id)).await;
    assert!(
        page.contains("Body preview") && page.contains("{endpoint}/statements"),
        "{page}"
    );
    assert!(page.contains("mailto:amara.okafor@example.com"), "{page}");
    assert!(page.contains("skipped"), "user.created is marked skipped");
}

#[tokio::test]
async fn an_lrs_answering_409_for_a_stored_id_counts_as_delivered() {
    let Some(lrs) = Lrs::start().await else {
        return;
    };
    let app = spawn_app().await;
    let (hook, _) = lrs_webhook(&app, &lrs, |i| {
        i.events = vec!["xapi.statement".into()];
    })
    .await;
    // The LRS already holds a statement with this id (another system sent it first)…
    let id = "0f7b8ed8-6d3c-4d5c-8d1e-3c1c6f9e2a11";
    let theirs = json!({"id": id, "actor": {"mbox": "mailto:a@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}, "object": {"id": "https://x.example/one"}});
    assert_eq!(lrs.post(&json!([theirs])).await.status(), 200);
    // …and Herald passes on a different statement with the same id: the LRS answers 409.
    let ingest = token(&app, Scope::Ingest).await;
    let key = herald::tokens::shown_prefix(&ingest).to_owned();
    let ours = json!({"id": id, "actor": {"mbox": "mailto:a@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}, "object": {"id": "https://x.example/two"}});
    assert_eq!(
        post_xapi(&app, &basic(&key, &ingest), &ours).await.status(),
        200
    );
    let delivery = all_delivered(&app, hook.id, 1).await.remove(0);
    assert_eq!(delivery.last_status, Some(409));
    assert_eq!(lrs.statements().await.len(), 1);
}

#[tokio::test]
async fn caliper_envelopes_pass_the_ims_library_and_an_unsupported_version_is_a_dead_letter() {
    let Some(endpoint) = CaliperEndpoint::start().await else {
        return;
    };
    let app = spawn_app().await;
    let types = [
        "course.enrolled",
        "course.completed",
        "lesson.completed",
        "quiz.attempt_completed",
        "course.created",
        "badge.awarded",
    ];
    let caliper = |version: &'static str| {
        let token = endpoint.token.clone();
        move |i: &mut herald::webhooks::input::WebhookInput| {
            i.payload_format = version.into();
            i.actor_home_page = HOME.into();
            i.activity_base_iri = BASE.into();
            i.auth_kind = "header".into();
            i.auth_header = format!("Bearer {token}");
            i.events = types.iter().map(|t| t.to_string()).collect();
            i.retry_max_attempts = "1".into();
        }
    };
    let (v1p1, _) = create_webhook(&app, &endpoint.url, caliper("caliper_1_1")).await;
    let (v1p2, _) = create_webhook(&app, &endpoint.url, caliper("caliper_1_2")).await;
    let ingest = token(&app, Scope::Ingest).await;
    let mut events = Vec::new();
    for event_type in types {
        events.push(json!({"type": event_type, "data": example(&app, event_type).await}));
    }
    assert_eq!(
        post_events(&app, &ingest, &Value::Array(events))
            .await
            .status(),
        202
    );

    // badge.awarded has no Caliper mapping: five deliveries each.
    all_delivered(&app, v1p1.id, 5).await;
    let accepted = endpoint.events().await;
    let kinds: Vec<String> = accepted
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["type"].as_str().unwrap(),
                e["action"].as_str().unwrap()
            )
        })
        .collect();
    for kind in [
        "Event/Created",
        "AssignableEvent/Completed",
        "GradeEvent/Graded",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let dead = eventually(
        std::time::Duration::from_secs(30),
        "the 1.2 deliveries dead",
        || async {
            let all = deliveries_of(&app, v1p2.id).await;
            (all.len() == 5 && all.iter().all(|d| d.status == "dead")).then_some(all)
        },
    )
    .await;
    assert!(
        dead.iter()
            .all(|d| d.dead_reason.as_deref() == Some("caliper_data_version"))
    );
    assert!(dead.iter().all(|d| d.last_status == Some(422)));
    assert_eq!(endpoint.events().await.len(), 5, "nothing of 1.2 accepted");
}

#[tokio::test]
async fn a_statement_posted_as_to_an_lrs_reaches_a_plain_webhook_once() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| {
        i.events = vec!["course.completed".into()];
    })
    .await;
    let ingest = token(&app, Scope::Ingest).await;
    let key = herald::tokens::shown_prefix(&ingest).to_owned();
    // As Moodle's logstore_xapi sends a course completion.
    let statement = json!({
        "actor": {"objectType": "Agent", "name": "Amara Okafor", "account": {"homePage": "https://moodle.example.edu", "name": "42"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en": "completed"}},
        "object": {"id": "https://moodle.example.edu/course/view.php?id=7", "objectType": "Activity",
                   "definition": {"type": "http://adlnet.gov/expapi/activities/course", "name": {"en": "Data Privacy"}}},
        "timestamp": "2026-11-04T15:47:30+00:00",
        "context": {"platform": "Moodle", "language": "en"}
    });
    let response = post_xapi(&app, &basic(&key, &ingest), &json!([statement])).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-experience-api-version"], "1.0.3");
    let ids: Vec<String> = response.json().await.unwrap();
    assert_eq!(ids.len(), 1);

    let received = receiver.wait_for(1).await.remove(0).json();
    assert_eq!(received["event"], "course.completed");
    assert_eq!(received["body"]["user"]["id"], "42");
    assert_eq!(received["body"]["course"]["title"], "Data Privacy");
    assert_eq!(received["body"]["learning_record"]["record"]["id"], ids[0]);

    // The same statement again (a plugin retrying after a timeout): 200, stored once.
    let mut again = statement.clone();
    again["id"] = ids[0].clone().into();
    let response = post_xapi(&app, &basic(&key, &ingest), &again).await;
    assert_eq!(response.status(), 200);
    // PUT with the id: 204, still once.
    let response = reqwest::Client::new()
        .put(format!(
            "{}/xapi/statements?statementId={}",
            app.address, ids[0]
        ))
        .header("Authorization", basic(&key, &ingest))
        .header("X-Experience-API-Version", "1.0.3")
        .json(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    // A different statement under that id: 409.
    let mut other = again.clone();
    other["verb"]["id"] = "http://adlnet.gov/expapi/verbs/attempted".into();
    assert_eq!(
        post_xapi(&app, &basic(&key, &ingest), &other)
            .await
            .status(),
        409
    );
    assert_eq!(deliveries_of(&app, hook.id).await.len(), 1);
}

#[tokio::test]
async fn a_caliper_grade_reaches_an_lrs_as_a_scored_statement() {
    let Some(lrs) = Lrs::start().await else {
        return;
    };
    let app = spawn_app().await;
    let (hook, _) = lrs_webhook(&app, &lrs, |i| {
        i.events = vec!["quiz.attempt_completed".into()];
    })
    .await;
    let ingest = token(&app, Scope::Ingest).await;
    let envelope = json!({
        "sensor": "https://canvas.example.edu/sensors/live-events",
        "sendTime": "2026-11-04T15:50:00.000Z",
        "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1",
        "data": [{
            "@context": "http://purl.imsglobal.org/ctx/caliper/v1p1",
            "id": "urn:uuid:a50ca17f-5971-47bb-8fca-4e6e6879001d",
            "type": "GradeEvent", "action": "Graded",
            "actor": {"id": "https://canvas.example.edu/autograder", "type": "SoftwareApplication"},
            "object": {"id": "https://canvas.example.edu/attempts/1", "type": "Attempt", "count": 1,
                       "assignee": {"id": "https://canvas.example.edu/users/554433", "type": "Person"},
                       "assignable": {"id": "https://canvas.example.edu/quizzes/9", "type": "Assessment", "name": "Quiz 9"}},
            "generated": {"id": "https://canvas.example.edu/attempts/1/score", "type": "Score", "maxScore": 15.0, "scoreGiven": 12.0},
            "eventTime": "2026-11-04T15:45:00.000Z"
        }]
    });
    let response = post_caliper(&app, &ingest, &envelope).await;
    assert_eq!(response.status(), 200);
    all_delivered(&app, hook.id, 1).await;
    let stored = lrs.statements().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0]["verb"]["id"],
        "http://adlnet.gov/expapi/verbs/scored"
    );
    assert_eq!(
        stored[0]["object"]["id"],
        "https://canvas.example.edu/quizzes/9"
    );
    assert_eq!(stored[0]["result"]["score"]["scaled"], 0.8);
    assert_eq!(
        stored[0]["actor"]["account"]["name"],
        "https://canvas.example.edu/users/554433"
    );
    // The envelope again: the event is kept once.
    let response = post_caliper(&app, &ingest, &envelope).await;
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["duplicates"], 1);
    assert_eq!(deliveries_of(&app, hook.id).await.len(), 1);
}

#[tokio::test]
async fn the_inputs_refuse_what_an_lrs_and_a_caliper_endpoint_refuse() {
    let app = spawn_app().await;
    let ingest = token(&app, Scope::Ingest).await;
    let read = token(&app, Scope::Read).await;
    let key = herald::tokens::shown_prefix(&ingest).to_owned();
    let client = reqwest::Client::new();
    let statement = json!({"actor": {"mbox": "mailto:a@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}, "object": {"id": "https://x.example/a"}});

    let about = client
        .get(format!("{}/xapi/about", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(about.status(), 200);
    assert_eq!(
        about.json::<Value>().await.unwrap()["version"],
        json!(["1.0.3"])
    );

    // No version header: 400.
    let response = client
        .post(format!("{}/xapi/statements", app.address))
        .header("Authorization", basic(&key, &ingest))
        .json(&statement)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // No credentials, a wrong key, an unknown secret: 401 asking for Basic.
    for authorization in [
        "",
        &basic("wrong-key", &ingest),
        &basic("hrld_xxxxxx", "hrld_xxxxxxnope"),
    ] {
        let mut request = client
            .post(format!("{}/xapi/statements", app.address))
            .header("X-Experience-API-Version", "1.0.3")
            .json(&statement);
        if !authorization.is_empty() {
            request = request.header("Authorization", authorization);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
    }
    // A read token is not an ingest token.
    let read_key = herald::tokens::shown_prefix(&read).to_owned();
    assert_eq!(
        post_xapi(&app, &basic(&read_key, &read), &statement)
            .await
            .status(),
        403
    );
    // Invalid statements: 400 with the reason.
    let mut invalid = statement.clone();
    invalid["actor"] = json!({"mbox": "a@example.org"});
    let response = post_xapi(&app, &basic(&key, &ingest), &invalid).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("mailto"), "{body}");
    let nul = json!({"actor": {"mbox": "mailto:a@example.org", "name": "a\u{0}b"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}, "object": {"id": "https://x.example/a"}});
    assert_eq!(
        post_xapi(&app, &basic(&key, &ingest), &nul).await.status(),
        400
    );
    let twice = json!([
        {"id": "0f7b8ed8-6d3c-4d5c-8d1e-3c1c6f9e2a11", "actor": {"mbox": "mailto:a@example.org"}, "verb": {"id": "http://x.example/v"}, "object": {"id": "http://x.example/o"}},
        {"id": "0f7b8ed8-6d3c-4d5c-8d1e-3c1c6f9e2a11", "actor": {"mbox": "mailto:a@example.org"}, "verb": {"id": "http://x.example/v"}, "object": {"id": "http://x.example/o"}}
    ]);
    assert_eq!(
        post_xapi(&app, &basic(&key, &ingest), &twice)
            .await
            .status(),
        400
    );
    // PUT without statementId: 400. GET of the statements resource: 405 as JSON.
    let response = client
        .put(format!("{}/xapi/statements", app.address))
        .header("Authorization", basic(&key, &ingest))
        .header("X-Experience-API-Version", "1.0.3")
        .json(&statement)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = client
        .get(format!("{}/xapi/statements", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.json::<Value>().await.is_ok());

    // Caliper: no token 401, read token 403, another dataVersion 422, a bad event 400.
    let envelope = |version: &str, data: Value| json!({"sensor": "https://lms.example/s", "sendTime": "2026-11-04T15:50:00.000Z", "dataVersion": version, "data": data});
    let v1p1 = "http://purl.imsglobal.org/ctx/caliper/v1p1";
    let response = client
        .post(format!("{}/caliper", app.address))
        .json(&envelope(v1p1, json!([])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        post_caliper(&app, &read, &envelope(v1p1, json!([])))
            .await
            .status(),
        403
    );
    let response = post_caliper(
        &app,
        &ingest,
        &envelope("http://purl.imsglobal.org/ctx/caliper/v1p0", json!([])),
    )
    .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("dataVersion"),
        "{body}"
    );
    let response = post_caliper(
        &app,
        &ingest,
        &envelope(v1p1, json!([{"type": "ToolUseEvent", "action": "Used"}])),
    )
    .await;
    assert_eq!(response.status(), 400);
    let response = post_caliper(&app, &ingest, &json!([1, 2])).await;
    assert_eq!(response.status(), 400);
    // The token in the path, for senders that cannot add a header (Canvas over HTTPS).
    let keyed = |token: &str| format!("{}/caliper/{token}", app.address);
    let response = client
        .post(keyed(&ingest))
        .json(&envelope(v1p1, json!([])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client
        .post(keyed("hrld_unknown"))
        .json(&envelope(v1p1, json!([])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.json::<Value>().await.is_ok(), "answered as JSON");
}

#[tokio::test]
async fn a_test_event_to_an_lrs_is_a_statement_it_accepts_and_the_ping_is_refused_beside_the_type()
{
    let Some(lrs) = Lrs::start().await else {
        return;
    };
    let app = spawn_app().await;
    let (hook, _) = lrs_webhook(&app, &lrs, |i| {
        i.events = vec!["quiz.attempt_completed".into()];
    })
    .await;
    app.login_as(herald::domain::role::Role::Manager).await;
    // The header's "Send test ping" names no type: the first type the webhook carries goes.
    let response = app
        .post_form(&format!("/webhooks/{}/test", hook.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    let stored = lrs.statements().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0]["verb"]["id"],
        "http://adlnet.gov/expapi/verbs/passed"
    );
    // The ping itself has no xAPI mapping: said beside the type, nothing sent.
    let response = app
        .post_form(
            &format!("/webhooks/{}/test", hook.id),
            &[("event_type", "webhook.ping"), ("payload", "")],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("has no mapping for webhook.ping"), "{page}");
    // The same through the API.
    let manage = token(&app, Scope::Manage).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks/{}/ping", app.address, hook.id))
        .bearer_auth(&manage)
        .json(&json!({"event_type": "webhook.ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks/{}/ping", app.address, hook.id))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(lrs.statements().await.len(), 2);
}

#[tokio::test]
async fn the_form_and_the_api_want_both_addresses_for_a_standard_format() {
    let app = spawn_app().await;
    app.login_as(herald::domain::role::Role::Manager).await;
    // The form marks, per event type, the formats that skip it (herald.js shows the chosen one's).
    let form = app.get_html("/webhooks/new").await;
    assert!(
        form.contains(r#"data-skipped-by="xapi caliper_1_1 caliper_1_2""#),
        "user.created"
    );
    assert!(form.contains(r#"data-skipped-by="xapi""#), "course.created");
    // The console's valid form (`webhook_form`), switched to xAPI with bad addresses.
    use crate::webhook_form::{form as valid_form, set, submit};
    let mut fields = set(
        valid_form("LRS"),
        "endpoint_url",
        "https://lrs.example.edu/xapi",
    );
    fields = set(fields, "payload_format", "xapi");
    fields = set(fields, "actor_home_page", "javascript:alert(1)");
    fields = set(fields, "activity_base_iri", "");
    let response = submit(&app, "/webhooks/new", &fields).await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("id=\"actor_home_page-error\""), "{page}");
    assert!(page.contains("id=\"activity_base_iri-error\""), "{page}");
    assert!(page.contains("Enter an absolute http(s) address"));

    let manage = token(&app, Scope::Manage).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/api/v1/webhooks", app.address))
        .bearer_auth(&manage)
        .json(&json!({"name": "Caliper", "endpoint_url": "https://caliper.example.edu/events", "all_events": true,
                      "payload_format": "caliper_2_0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"]["payload_format"].is_array(), "{body}");
    let response = client
        .post(format!("{}/api/v1/webhooks", app.address))
        .bearer_auth(&manage)
        .json(&json!({"name": "Caliper", "endpoint_url": "https://caliper.example.edu/events", "all_events": true,
                      "payload_format": "caliper_1_2", "actor_home_page": HOME, "activity_base_iri": BASE}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["webhook"]["payload_format"]
            .as_str()
            .or(body["payload_format"].as_str()),
        Some("caliper_1_2")
    );
}

#[tokio::test]
async fn an_lrs_client_posts_to_herald_unchanged() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    let (hook, _) = create_webhook(&app, &receiver.url, |i| {
        i.events = vec![
            "course.enrolled".into(),
            "course.completed".into(),
            "xapi.statement".into(),
        ];
    })
    .await;
    let ingest = token(&app, Scope::Ingest).await;
    let key = herald::tokens::shown_prefix(&ingest).to_owned();
    let course = json!({"objectType": "Activity", "id": "https://academy.example.com/xapi/courses/c42",
                        "definition": {"type": "http://adlnet.gov/expapi/activities/course"}});
    let statements = [
        json!({"actor": {"objectType": "Agent", "mbox": "mailto:lena@example.com"},
               "verb": {"id": "http://adlnet.gov/expapi/verbs/registered", "display": {"en-US": "registered"}},
               "object": course, "timestamp": "2026-11-23T10:00:00Z"}),
        json!({"actor": {"objectType": "Agent", "mbox": "mailto:lena@example.com"},
               "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
               "object": course, "timestamp": "2026-11-23T11:00:00Z"}),
        json!({"actor": {"objectType": "Agent", "mbox": "mailto:lena@example.com"},
               "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
               "object": {"id": "https://academy.example.com/xapi/videos/intro"}}),
    ];
    // Ralph's LRS client, pointed at Herald's statements resource.
    let Some(succeeded) = crate::peers::ralph_client_posts(
        &app.address,
        "/xapi/statements",
        &key,
        &ingest,
        &statements,
    )
    .await
    else {
        return;
    };
    assert!(succeeded, "ralph write reported a failure");
    let received = receiver.wait_for(3).await;
    let mut types: Vec<String> = received
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(
        types,
        ["course.completed", "course.enrolled", "xapi.statement"]
    );
    assert_eq!(deliveries_of(&app, hook.id).await.len(), 3);
}

#[tokio::test]
async fn a_dead_letter_replayed_to_an_lrs_is_stored_once() {
    let Some(lrs) = Lrs::start().await else {
        return;
    };
    let app = spawn_app().await;
    // Wrong LRS credentials: the LRS answers 401, the delivery is a dead letter.
    let (hook, _) = lrs_webhook(&app, &lrs, |i| {
        i.basic_password = "not-the-secret".into();
        i.events = vec!["course.completed".into()];
    })
    .await;
    let ingest = token(&app, Scope::Ingest).await;
    let data = example(&app, "course.completed").await;
    assert_eq!(
        post_events(
            &app,
            &ingest,
            &json!({"type": "course.completed", "data": data})
        )
        .await
        .status(),
        202
    );
    let dead = crate::delivery_helpers::delivery_reaches(&app, hook.id, "dead").await;
    assert!(lrs.statements().await.is_empty());

    // The administrator fixes the secret and replays the dead letter, twice over.
    let manage = token(&app, Scope::Manage).await;
    let client = reqwest::Client::new();
    let response = client
        .patch(format!("{}/api/v1/webhooks/{}", app.address, hook.id))
        .bearer_auth(&manage)
        .json(&json!({"basic_password": lrs.secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let replay = || async {
        client
            .post(format!("{}/api/v1/dead-letters/replay", app.address))
            .bearer_auth(&manage)
            .json(&json!({"ids": [dead.id]}))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(replay().await.status(), 200);
    all_delivered(&app, hook.id, 1).await;
    let response = client
        .post(format!(
            "{}/api/v1/deliveries/{}/redeliver",
            app.address, dead.id
        ))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    eventually(
        std::time::Duration::from_secs(30),
        "the second delivery",
        || async {
            crate::delivery_helpers::attempts_of(&app, dead.id)
                .await
                .into_iter()
                .filter(|a| a.outcome == "delivered")
                .nth(1)
        },
    )
    .await;
    let stored = lrs.statements().await;
    assert_eq!(
        stored.len(),
        1,
        "one statement for one event, whatever was resent"
    );
    assert_eq!(
        stored[0]["id"],
        herald::standards::xapi_out::statement_id(hook.id, dead.event_id.unwrap()).to_string()
    );
}

#[tokio::test]
async fn records_herald_could_not_keep_exactly_are_refused_and_resends_stay_one() {
    let app = spawn_app().await;
    let ingest = token(&app, Scope::Ingest).await;
    let key = herald::tokens::shown_prefix(&ingest).to_owned();
    let auth = basic(&key, &ingest);
    let client = reqwest::Client::new();
    let statement = |extra: Value| {
        let mut s = json!({"actor": {"mbox": "mailto:a@example.org"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}, "object": {"id": "https://x.example/a"}});
        s["result"] = extra;
        s
    };
    let events = || async {
        app.with_conn(|conn| {
            use diesel::prelude::*;
            herald::db::schema::events::table
                .count()
                .get_result::<i64>(conn)
                .unwrap()
        })
        .await
    };
    // A number jsonb would keep as 309 digits, and nesting Herald could not read back.
    let huge = statement(json!({"extensions": {"http://x.example/n": 1.7976931348623157e308}}));
    assert_eq!(post_xapi(&app, &auth, &huge).await.status(), 400);
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let deep = statement(json!({"extensions": {"http://x.example/d": deep}}));
    assert_eq!(post_xapi(&app, &auth, &deep).await.status(), 400);
    // The same through the events API: 422 naming the path.
    let response = post_events(
        &app,
        &ingest,
        &json!({"type": "course.completed", "data": {"n": 1.7976931348623157e308}}),
    )
    .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"]["data.n"].is_array(), "{body}");
    // Text that only looks like NUL is fine.
    let text = statement(json!({"response": "C:\\u0000dir"}));
    assert_eq!(post_xapi(&app, &auth, &text).await.status(), 200);

    // Many significant digits: the identical resend is the same statement (200), stored once.
    // (Sent as text: the digits as a client would write them, more than a double holds.)
    let precise = |id: &str| {
        format!(
            r#"{{"id": "{id}", "actor": {{"mbox": "mailto:a@example.org"}},
                "verb": {{"id": "http://adlnet.gov/expapi/verbs/scored"}}, "object": {{"id": "https://x.example/q"}},
                "result": {{"score": {{"raw": 123456789.123456789, "min": 0, "max": 10000000000}}}}}}"#
        )
    };
    let post_text = |body: String| {
        client
            .post(format!("{}/xapi/statements", app.address))
            .header("Authorization", &auth)
            .header("X-Experience-API-Version", "1.0.3")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let id = "6690e6c9-3ef0-4ed3-8b37-7f3964730bee";
    assert_eq!(post_text(precise(id)).await.unwrap().status(), 200);
    assert_eq!(post_text(precise(id)).await.unwrap().status(), 200);
    // Upper case is the same id.
    assert_eq!(
        post_text(precise(&id.to_uppercase()))
            .await
            .unwrap()
            .status(),
        200
    );
    let stored = events().await;
    assert_eq!(stored, 2, "the text statement and the precise one");

    // PUT with a non-string id in the body; a bad token with a broken body: 401 first.
    let response = client
        .put(format!(
            "{}/xapi/statements?statementId=0f7b8ed8-6d3c-4d5c-8d1e-3c1c6f9e2a11",
            app.address
        ))
        .header("Authorization", &auth)
        .header("X-Experience-API-Version", "1.0.3")
        .json(&{
            let mut s = statement(json!({}));
            s["id"] = json!(12345);
            s
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = client
        .post(format!("{}/xapi/statements", app.address))
        .header("Authorization", "Bearer not-a-token")
        .header("Content-Type", "application/json")
        .body("{bad json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Scheme names in any case.
    let lower = format!("basic {}", auth.trim_start_matches("Basic "));
    assert_eq!(
        post_xapi(&app, &lower, &statement(json!({})))
            .await
            .status(),
        200
    );
    assert_eq!(
        post_xapi(&app, &format!("bearer {ingest}"), &statement(json!({})))
            .await
            .status(),
        200
    );

    // Caliper: one event whatever the case of its id; other spellings of a UUID refused.
    let envelope = |id: &str| {
        json!({"sensor": "https://lms.example/s", "sendTime": "2026-11-04T15:50:00.000Z",
               "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1",
               "data": [{"id": id, "type": "ToolUseEvent", "action": "Used",
                         "actor": {"id": "https://lms.example/u/1", "type": "Person"},
                         "object": {"id": "https://lms.example", "type": "SoftwareApplication"},
                         "eventTime": "2026-11-04T15:45:00.000Z"}]})
    };
    let uuid = "a50ca17f-5971-47bb-8fca-4e6e6879001d";
    let answer: Value = post_caliper(&app, &ingest, &envelope(&format!("urn:uuid:{uuid}")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["duplicates"], 0);
    let answer: Value = post_caliper(
        &app,
        &ingest,
        &envelope(&format!("urn:uuid:{}", uuid.to_uppercase())),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(answer["duplicates"], 1);
    for odd in [
        format!("urn:uuid:{{{uuid}}}"),
        format!("urn:uuid:urn:uuid:{uuid}"),
    ] {
        assert_eq!(
            post_caliper(&app, &ingest, &envelope(&odd)).await.status(),
            400,
            "{odd}"
        );
    }
    let mut twice = envelope(&format!("urn:uuid:{uuid}"));
    let again = twice["data"][0].clone();
    twice["data"].as_array_mut().unwrap().push(again);
    assert_eq!(post_caliper(&app, &ingest, &twice).await.status(), 400);
    let mut not_objects = envelope(&format!("urn:uuid:{uuid}"));
    not_objects["data"] = json!([1, "x", null]);
    assert_eq!(
        post_caliper(&app, &ingest, &not_objects).await.status(),
        400
    );
    let lower = client
        .post(format!("{}/caliper", app.address))
        .header("Authorization", format!("bearer {ingest}"))
        .json(&envelope(&format!("urn:uuid:{uuid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), 200);
    assert_eq!(
        events().await,
        stored + 3,
        "two statements (basic, bearer) and one Caliper event, however often sent"
    );
}

#[tokio::test]
async fn a_statement_by_a_group_stays_generic_and_caliper_webhooks_never_get_it() {
    let app = spawn_app().await;
    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    let (caliper, _) = create_webhook(&app, &receiver.url, |i| {
        i.payload_format = "caliper_1_1".into();
        i.actor_home_page = HOME.into();
        i.activity_base_iri = BASE.into();
        i.all_events = Some("on".into());
    })
    .await;
    let ingest = token(&app, Scope::Ingest).await;
    let key = herald::tokens::shown_prefix(&ingest).to_owned();
    let by_group = json!({
        "actor": {"objectType": "Group", "member": [{"mbox": "mailto:a@example.org"}]},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://x.example/course/1", "definition": {"type": "http://adlnet.gov/expapi/activities/course"}}
    });
    assert_eq!(
        post_xapi(&app, &basic(&key, &ingest), &by_group)
            .await
            .status(),
        200
    );
    let types = app
        .with_conn(|conn| {
            use diesel::prelude::*;
            herald::db::schema::events::table
                .select(herald::db::schema::events::event_type)
                .load::<String>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(types, ["xapi.statement"]);
    // Caliper has no mapping for a generic statement: nothing is queued (and nothing dies).
    assert!(deliveries_of(&app, caliper.id).await.is_empty());
}
