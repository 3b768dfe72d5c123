//! The signature-verification snippets on the webhook page are correct: each one — the Rust
//! compiled in here, the Python and Node.js run by their interpreters, all from the very text
//! the page shows — accepts a real delivery signed during a secret rotation with either
//! secret, and refuses another secret and a changed body.

use std::process::Command;
use std::time::Duration;

use herald::domain::role::Role;
use herald::model::audit::Actor;
use herald::tokens::Scope;
use herald::webhooks::signing::SigningSecret;
use herald::webhooks::snippets;
use serde_json::json;

use crate::delivery_helpers::{create_webhook, emit, token};
use crate::helpers::{TestApp, spawn_app};
use crate::receiver::{Received, Receiver};

mod rust_snippet {
    include!("../../src/webhooks/snippets/verify.rs");
}

/// A delivery signed with two secrets (a rotation in progress): the request, and the old and
/// new secrets.
async fn rotated_delivery(app: &TestApp) -> (i64, Received, SigningSecret, SigningSecret) {
    let receiver = Receiver::start(vec![]).await;
    let (hook, old) = create_webhook(app, &receiver.url, |_| {}).await;
    let secrets = app.secrets.clone();
    let (_, new, _) = app
        .with_conn(move |conn| {
            herald::webhooks::service::rotate_secret(
                conn,
                &Actor::system(),
                hook.id,
                Duration::from_secs(3600),
                &secrets,
            )
            .unwrap()
        })
        .await;
    let token = token(app, Scope::Ingest).await;
    emit(app, &token, json!({"user": {"id": 42, "name": "Zoë"}})).await;
    let request = receiver.wait_for(1).await.remove(0);
    assert_eq!(request.header("webhook-signature").split(' ').count(), 2);
    (hook.id, request, old.unwrap(), new)
}

/// The checks every snippet must answer `[true, true, false, false]`: the new secret, the
/// old one, a stranger's, and the new one over a body changed by one byte.
fn checks(request: &Received, old: &SigningSecret, new: &SigningSecret) -> Vec<(String, Vec<u8>)> {
    let mut tampered = request.body.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    vec![
        (new.expose().to_owned(), request.body.clone()),
        (old.expose().to_owned(), request.body.clone()),
        (
            SigningSecret::generate().expose().to_owned(),
            request.body.clone(),
        ),
        (new.expose().to_owned(), tampered),
    ]
}

const EXPECTED: [bool; 4] = [true, true, false, false];

/// The snippet's checks as `{"headers", "checks": [[secret, body as hex]…]}` for a script.
fn case_json(request: &Received, checks: &[(String, Vec<u8>)]) -> String {
    let headers: serde_json::Map<String, serde_json::Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|name| ((*name).to_owned(), json!(request.header(name))))
            .collect();
    json!({
        "headers": headers,
        "checks": checks.iter().map(|(secret, body)| json!([secret, hex::encode(body)])).collect::<Vec<_>>(),
    })
    .to_string()
}

/// Runs `program` with `interpreter` (`-c` / `-e`) and the case as its argument; its printed
/// JSON answers, or `None` when the interpreter is not installed (outside CI).
fn run_script(interpreter: &str, flag: &str, program: &str, case: &str) -> Option<Vec<bool>> {
    let output = match Command::new(interpreter)
        .args([flag, program, case])
        .output()
    {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but {interpreter} is missing: .ci/run must install it");
            }
            eprintln!("skipping the {interpreter} snippet: {interpreter} is not installed");
            return None;
        }
        Err(err) => panic!("could not run {interpreter}: {err}"),
    };
    assert!(
        output.status.success(),
        "{interpreter} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("the script prints a JSON list"))
}

#[tokio::test]
async fn the_rust_snippet_verifies_a_real_delivery() {
    let app = spawn_app().await;
    let (_, request, old, new) = rotated_delivery(&app).await;
    let now = chrono::Utc::now().timestamp();
    let answers: Vec<bool> = checks(&request, &old, &new)
        .iter()
        .map(|(secret, body)| {
            rust_snippet::verify(
                secret,
                request.header("webhook-id"),
                request.header("webhook-timestamp"),
                request.header("webhook-signature"),
                body,
                now,
            )
        })
        .collect();
    assert_eq!(answers, EXPECTED);
    // A request replayed an hour later is refused even with the right secret.
    assert!(!rust_snippet::verify(
        new.expose(),
        request.header("webhook-id"),
        request.header("webhook-timestamp"),
        request.header("webhook-signature"),
        &request.body,
        now + 3600,
    ));
    // The file compiled here is the text the page shows.
    assert_eq!(
        snippets::RUST,
        include_str!("../../src/webhooks/snippets/verify.rs")
    );
}

#[tokio::test]
async fn the_python_and_node_snippets_verify_a_real_delivery() {
    let app = spawn_app().await;
    let (_, request, old, new) = rotated_delivery(&app).await;
    let case = case_json(&request, &checks(&request, &old, &new));

    let python = format!(
        "{}\nimport json, sys\ncase = json.loads(sys.argv[1])\n\
         print(json.dumps([verify(s, case['headers'], bytes.fromhex(b)) for s, b in case['checks']]))",
        snippets::PYTHON
    );
    if let Some(answers) = run_script("python3", "-c", &python, &case) {
        assert_eq!(answers, EXPECTED, "python");
    }
    let node = format!(
        "{}\nconst c = JSON.parse(process.argv[1]);\n\
         console.log(JSON.stringify(c.checks.map(([s, b]) => verify(s, c.headers, Buffer.from(b, 'hex')))));",
        snippets::NODE
    );
    if let Some(answers) = run_script("node", "-e", &node, &case) {
        assert_eq!(answers, EXPECTED, "node");
    }
}

#[tokio::test]
async fn the_webhook_page_shows_the_snippets_in_a_collapsed_section() {
    let app = spawn_app().await;
    app.login_as(Role::Viewer).await;
    let (hook, _) = create_webhook(&app, "http://127.0.0.1:9/hook", |_| {}).await;
    let html = app.get_html(&format!("/webhooks/{}", hook.id)).await;
    let start = html
        .find(r#"<section class="card verify-snippet""#)
        .expect("the snippet section");
    let section = &html[start..];
    assert!(section.contains("<details>"));
    // Each snippet whole, escaped once: the reader sees exactly the tested code.
    let shown = section
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    for snippet in [snippets::PYTHON, snippets::NODE, snippets::RUST] {
        assert!(shown.contains(snippet), "{section}");
    }
}
