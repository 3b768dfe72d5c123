//! The bound on open connections: clients beyond it are served in turn, never starved by
//! clients that keep their connections busy, and nobody is disconnected while nobody waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::helpers::spawn_app_with;

/// A client with a connection of its own.
fn own_connection() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn closes_connection(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONNECTION)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"))
}

#[tokio::test]
async fn clients_beyond_the_connection_limit_are_served_in_turn() {
    let app = spawn_app_with(|settings| settings.max_connections = Some(2)).await;
    let url = format!("{}/healthz", app.address);

    // Two clients keep both connections busy until the others are done.
    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicUsize::new(0));
    let mut busy = Vec::new();
    for _ in 0..2 {
        let (client, url, stop, closed) =
            (own_connection(), url.clone(), stop.clone(), closed.clone());
        busy.push(tokio::spawn(async move {
            let mut answered = 0;
            while !stop.load(Ordering::SeqCst) {
                let response = client.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                if closes_connection(&response) {
                    closed.fetch_add(1, Ordering::SeqCst);
                }
                answered += 1;
            }
            answered
        }));
    }

    // Four more wait in the accept queue; each must get all its answers. Were the busy
    // clients allowed to keep their connections, none of these would ever be accepted.
    let mut waiting = Vec::new();
    for _ in 0..4 {
        let (client, url) = (own_connection(), url.clone());
        waiting.push(tokio::spawn(async move {
            for _ in 0..3 {
                let response = client.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
            }
        }));
    }
    let served = tokio::time::timeout(Duration::from_secs(20), async {
        for client in waiting {
            client.await.unwrap();
        }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    assert!(
        served.is_ok(),
        "clients beyond the limit were not served within 20 s"
    );
    for client in busy {
        assert!(client.await.unwrap() > 0);
    }
    assert!(
        closed.load(Ordering::SeqCst) > 0,
        "no answer made room for the waiting clients"
    );
}

#[tokio::test]
async fn at_the_limit_connections_stay_open_while_nobody_waits() {
    let app = spawn_app_with(|settings| settings.max_connections = Some(2)).await;
    let url = format!("{}/healthz", app.address);
    let clients = [own_connection(), own_connection()];
    for _ in 0..5 {
        for client in &clients {
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert!(
                !closes_connection(&response),
                "a connection was closed though nobody waited"
            );
        }
    }
}
