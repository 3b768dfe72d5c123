//! A request body that does not arrive in time is answered 400 and its connection closed,
//! on console forms and on ingest alike.

use std::time::Duration;

use herald::tokens::Scope;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::delivery_helpers::token;
use crate::helpers::spawn_app_with;

/// Sends `head` (no body follows), then reads until the server closes the connection.
async fn answer_to_a_head_without_its_body(address: &str, head: String) -> String {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer))
        .await
        .expect("no answer and no close within 15 s: the body is still awaited")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_console_form_whose_body_never_comes_is_answered_400() {
    let app =
        spawn_app_with(|settings| settings.request_body_timeout = Duration::from_secs(1)).await;
    let head = "POST /login HTTP/1.1\r\nHost: herald\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
        .to_owned();
    let answer = answer_to_a_head_without_its_body(&app.address, head).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn an_ingest_body_that_stalls_is_answered_400_in_json() {
    let app =
        spawn_app_with(|settings| settings.request_body_timeout = Duration::from_secs(1)).await;
    let token = token(&app, Scope::Ingest).await;
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"type\":"
    );
    let answer = answer_to_a_head_without_its_body(&app.address, head).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("did not arrive within 1 s"), "{answer}");
}
