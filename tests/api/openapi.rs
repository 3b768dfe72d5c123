//! The OpenAPI document: served, generated from the code, and every response of every
//! endpoint (successes and errors) validated against it by a small JSON-schema checker.

use herald::tokens::Scope;
use reqwest::Method;
use serde_json::{Value, json};

use crate::delivery_helpers::{create_webhook, delivery_reaches, emit, token};
use crate::helpers::{TestApp, spawn_app};
use crate::receiver::{Receiver, Reply};

/// Problems of `value` against `schema` (empty = valid).
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, strict: bool) -> Vec<String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        return check(doc, &doc["components"]["schemas"][name], value, at, strict);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        return all
            .iter()
            .flat_map(|s| check(doc, s, value, at, false))
            .collect();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            if options
                .iter()
                .any(|s| check(doc, s, value, at, strict).is_empty())
            {
                return Vec::new();
            }
            return vec![format!("{at}: matches none of the {key} options: {value}")];
        }
    }
    let mut problems = Vec::new();
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return vec![format!("{at}: {value} is not one of {allowed:?}")];
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = |t: &str| match t {
            "null" => value.is_null(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        };
        if !types.iter().any(|t| fits(t)) {
            return vec![format!("{at}: {value} is not {types:?}")];
        }
    }
    if let Some(object) = value.as_object() {
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = required.as_str().unwrap();
            if !object.contains_key(key) {
                problems.push(format!("{at}: required {key} is missing"));
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (key, field) in object {
                match properties.get(key) {
                    Some(field_schema) => problems.extend(check(
                        doc,
                        field_schema,
                        field,
                        &format!("{at}.{key}"),
                        true,
                    )),
                    None if strict => problems.push(format!("{at}: {key} is not in the document")),
                    None => {}
                }
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            problems.extend(check(doc, items, item, &format!("{at}[{i}]"), true));
        }
    }
    problems
}

struct Checker<'a> {
    app: &'a TestApp,
    doc: Value,
    checked: usize,
}

impl Checker<'_> {
    /// Sends a request and validates the answer against the documented response.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        template: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let mut request =
            reqwest::Client::new().request(method.clone(), format!("{}{path}", self.app.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16().to_string();
        let text = response.text().await.unwrap();
        let operation = &self.doc["paths"][template][method.as_str().to_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        let documented = &operation["responses"][&status];
        assert!(
            documented.is_object(),
            "{method} {path}: status {status} is not documented ({text})"
        );
        self.checked += 1;
        if text.is_empty() {
            return Value::Null;
        }
        let value: Value = serde_json::from_str(&text).unwrap();
        let schema = &documented["content"]["application/json"]["schema"];
        let problems = check(&self.doc, schema, &value, "body", true);
        assert!(
            problems.is_empty(),
            "{method} {path} ({status}): {problems:#?}"
        );
        value
    }
}

#[tokio::test]
async fn every_response_matches_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(format!("{}/api/v1/openapi.json", app.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert_eq!(
        doc["components"]["schemas"]["FlowStateName"]["enum"],
        json!(["healthy", "failing", "paused", "recovering"])
    );
    let view = &doc["components"]["schemas"]["WebhookView"]["properties"];
    for field in ["max_in_flight", "rate_limit_per_second", "flow"] {
        assert!(
            view[field].is_object(),
            "WebhookView.{field} is not documented"
        );
    }
    let mut c = Checker {
        app: &app,
        doc,
        checked: 0,
    };
    let manage = token(&app, Scope::Manage).await;
    let ingest = token(&app, Scope::Ingest).await;
    let m = Some(manage.as_str());
    let receiver = Receiver::start(vec![Reply::status(400)]).await;
    let pinged = Receiver::start(vec![]).await;

    // Webhooks.
    let created = c.call(Method::POST, "/api/v1/webhooks", "/api/v1/webhooks", m, Some(json!({ "name": "Doc", "endpoint_url": "https://x.example.com/h", "events": ["course.completed"] }))).await;
    let id = created["id"].as_i64().unwrap();
    let one = format!("/api/v1/webhooks/{id}");
    c.call(Method::GET, "/api/v1/webhooks", "/api/v1/webhooks", m, None)
        .await;
    // A failing (breaker open) webhook fills every field of its flow state.
    app.with_conn(move |conn| {
        use diesel::RunQueryDsl;
        diesel::sql_query(format!(
            "UPDATE webhook_flow SET circuit = 'failing', consecutive_failures = 10,
                    failing_since = now(), next_probe_at = now() + interval '5 seconds',
                    paused_until = now() + interval '1 minute' WHERE webhook_id = {id}"
        ))
        .execute(conn)
        .unwrap()
    })
    .await;
    let failing = c
        .call(Method::GET, &one, "/api/v1/webhooks/{id}", m, None)
        .await;
    assert_eq!(failing["flow"]["state"], "failing");
    c.call(
        Method::PATCH,
        &one,
        "/api/v1/webhooks/{id}",
        m,
        Some(json!({ "description": "documented", "max_in_flight": 4, "rate_limit_per_second": null })),
    )
    .await;
    c.call(
        Method::PUT,
        &one,
        "/api/v1/webhooks/{id}",
        m,
        Some(json!({ "name": "Doc", "endpoint_url": &pinged.url, "all_events": true })),
    )
    .await;
    c.call(
        Method::POST,
        &format!("{one}/disable"),
        "/api/v1/webhooks/{id}/disable",
        m,
        Some(json!({ "reason": "docs" })),
    )
    .await;
    c.call(
        Method::POST,
        &format!("{one}/enable"),
        "/api/v1/webhooks/{id}/enable",
        m,
        None,
    )
    .await;
    c.call(
        Method::POST,
        &format!("{one}/rotate-secret"),
        "/api/v1/webhooks/{id}/rotate-secret",
        m,
        None,
    )
    .await;
    c.call(
        Method::POST,
        &format!("{one}/ping"),
        "/api/v1/webhooks/{id}/ping",
        m,
        None,
    )
    .await;
    c.call(
        Method::GET,
        "/api/v1/event-types",
        "/api/v1/event-types",
        m,
        None,
    )
    .await;
    // Errors.
    c.call(
        Method::GET,
        "/api/v1/webhooks",
        "/api/v1/webhooks",
        None,
        None,
    )
    .await;
    c.call(
        Method::GET,
        "/api/v1/webhooks",
        "/api/v1/webhooks",
        Some(&ingest),
        None,
    )
    .await;
    c.call(
        Method::GET,
        "/api/v1/webhooks/999999",
        "/api/v1/webhooks/{id}",
        m,
        None,
    )
    .await;
    c.call(Method::POST, "/api/v1/webhooks", "/api/v1/webhooks", m, Some(json!({ "name": "doc", "endpoint_url": "https://x.example.com/h", "events": ["course.completed"] }))).await;
    c.call(
        Method::POST,
        "/api/v1/webhooks",
        "/api/v1/webhooks",
        m,
        Some(json!({ "name": "" })),
    )
    .await;

    // Events, deliveries, dead letters.
    let (hook, _) = create_webhook(&app, &receiver.url, |_| {}).await;
    c.call(
        Method::POST,
        "/api/v1/events",
        "/api/v1/events",
        Some(&ingest),
        Some(json!({ "type": "course.completed", "data": {} })),
    )
    .await;
    c.call(
        Method::POST,
        "/api/v1/events",
        "/api/v1/events",
        Some(&ingest),
        Some(json!([{ "type": "badge.awarded", "data": {} }])),
    )
    .await;
    c.call(
        Method::POST,
        "/api/v1/events",
        "/api/v1/events",
        Some(&ingest),
        Some(json!({ "type": "nope.never", "data": {} })),
    )
    .await;
    // A batch with an event that cannot be stored: 422 with the refused positions.
    let refused = c
        .call(
            Method::POST,
            "/api/v1/events",
            "/api/v1/events",
            Some(&ingest),
            Some(json!([
                { "type": "course.completed", "data": {} },
                { "type": "course.completed", "data": { "name": "\u{0}" } },
            ])),
        )
        .await;
    assert_eq!(refused["refused"], json!([1]));
    // A query value that cannot be read: 400 by parameter.
    c.call(
        Method::GET,
        "/api/v1/webhooks?page=abc",
        "/api/v1/webhooks",
        m,
        None,
    )
    .await;
    let dead = delivery_reaches(&app, hook.id, "dead").await;
    emit(&app, &ingest, json!({})).await;
    c.call(
        Method::GET,
        "/api/v1/deliveries",
        "/api/v1/deliveries",
        m,
        None,
    )
    .await;
    c.call(
        Method::GET,
        &format!("/api/v1/deliveries/{}", dead.id),
        "/api/v1/deliveries/{id}",
        m,
        None,
    )
    .await;
    c.call(
        Method::GET,
        "/api/v1/dead-letters",
        "/api/v1/dead-letters",
        m,
        None,
    )
    .await;
    c.call(
        Method::POST,
        "/api/v1/dead-letters/replay",
        "/api/v1/dead-letters/replay",
        m,
        Some(json!({ "ids": [dead.id] })),
    )
    .await;
    delivery_reaches(&app, hook.id, "delivered").await;
    c.call(
        Method::POST,
        &format!("/api/v1/deliveries/{}/redeliver", dead.id),
        "/api/v1/deliveries/{id}/redeliver",
        m,
        None,
    )
    .await;
    c.call(Method::DELETE, &one, "/api/v1/webhooks/{id}", m, None)
        .await;
    assert_eq!(c.checked, 26, "every call above was checked");
}

#[test]
fn the_checker_catches_drift() {
    let doc = json!({ "components": { "schemas": { "T": { "type": "object", "required": ["a"], "properties": { "a": { "type": "integer" }, "b": { "type": ["string", "null"] } } } } } });
    let schema = json!({ "$ref": "#/components/schemas/T" });
    assert!(check(&doc, &schema, &json!({ "a": 1, "b": null }), "x", true).is_empty());
    assert!(
        !check(&doc, &schema, &json!({ "b": "s" }), "x", true).is_empty(),
        "missing required"
    );
    assert!(
        !check(&doc, &schema, &json!({ "a": "1" }), "x", true).is_empty(),
        "wrong type"
    );
    assert!(
        !check(&doc, &schema, &json!({ "a": 1, "c": 2 }), "x", true).is_empty(),
        "undocumented field"
    );
    let states = json!({ "type": "string", "enum": ["healthy", "failing"] });
    assert!(check(&doc, &states, &json!("failing"), "x", true).is_empty());
    assert!(
        !check(&doc, &states, &json!("sleeping"), "x", true).is_empty(),
        "not in the enum"
    );
}
