//! Delivering to an inbox URL inside the process: the request Herald would send (same body,
//! same signed headers, credentials masked) is stored straight into the inbox, and the
//! attempt gets the answer the public endpoint would give. Nothing goes over the network, so
//! the outbound guard (loopback and private addresses refused) stays as strict as ever.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::InboxToken;
use super::receive::{Via, receive};
use crate::db::PgPool;
use crate::delivery::sender::{Answer, ErrorKind, Exchange, Failure, recorded_request_headers};
use crate::delivery::target::Target;
use crate::domain::secret_box::SecretBox;

/// What the delivery path needs to reach the inboxes: the database and the key that opens
/// the webhooks' signing secrets.
#[derive(Clone)]
pub struct LocalInbox {
    pub pool: PgPool,
    pub secrets: SecretBox,
}

impl LocalInbox {
    /// Hands the request to inbox `token` and answers like `POST /inbox/{token}` would.
    pub async fn deliver(
        &self,
        token: InboxToken,
        target: &Target,
        delivery_id: Uuid,
        body: Vec<u8>,
    ) -> Exchange {
        let started_at = Utc::now();
        let recorded = recorded_request_headers(target, delivery_id, &body, started_at);
        let headers: Vec<(String, String)> = recorded
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
            .collect();
        let clock = Instant::now();
        let inbox = self.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let mut conn = inbox.pool.get().map_err(|err| err.to_string())?;
            receive(
                &mut conn,
                &inbox.secrets,
                &token,
                Via::Delivery,
                &headers,
                &body,
                started_at,
            )
            .map_err(|err| err.to_string())
        })
        .await
        .unwrap_or_else(|err| Err(err.to_string()));
        let result = match stored {
            Ok(Some(verdict)) => Ok(answer(
                200,
                json!({ "received": true, "signature": verdict.code() }),
            )),
            Ok(None) => Ok(answer(
                404,
                json!({ "error": "There is no inbox at this address." }),
            )),
            Err(message) => Err(Failure {
                kind: ErrorKind::Io,
                message: format!(
                    "the built-in test receiver could not store the request: {message}"
                ),
            }),
        };
        Exchange {
            started_at,
            duration: clock.elapsed().max(Duration::from_micros(1)),
            request_headers: recorded,
            result,
        }
    }
}

fn answer(status: u16, body: Value) -> Answer {
    let mut headers = Map::new();
    headers.insert(
        "content-type".into(),
        Value::String("application/json".into()),
    );
    Answer {
        status,
        headers: Value::Object(headers),
        body_excerpt: body.to_string(),
        retry_after: None,
    }
}
