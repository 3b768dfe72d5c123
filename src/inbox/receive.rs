//! Storing a request an inbox received (blocking): the verdict on its signature against the
//! webhooks that send to the inbox, headers with credentials masked, and the body.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Map, Value};

use super::InboxToken;
use super::verify::{self, Signer, Verdict};
use crate::delivery::masking::{self, MASK};
use crate::delivery::target::Target;
use crate::domain::secret_box::SecretBox;
use crate::model::test_inbox::{self, NewInboxRequest};

/// Headers kept per request; a request with more keeps the first ones.
const MAX_HEADERS: usize = 64;

/// Where a request came from.
#[derive(Debug, Clone, Copy)]
pub enum Via {
    /// Handed over inside Herald by a delivery or a test event.
    Delivery,
    /// Posted to `POST /inbox/{token}`.
    Http,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Delivery => "delivery",
            Via::Http => "http",
        }
    }
}

/// Stores the request; `None` when no inbox has this token.
pub fn receive(
    conn: &mut PgConnection,
    secrets: &SecretBox,
    token: &InboxToken,
    via: Via,
    headers: &[(String, String)],
    body: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Option<Verdict>> {
    let Some(inbox) = test_inbox::find_by_token(conn, token.as_str())? else {
        return Ok(None);
    };
    let signers = signers_of(conn, secrets, token, now)?;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let verdict = verify::verify(header, body, &signers, now);
    test_inbox::insert_request(
        conn,
        &NewInboxRequest {
            inbox_id: inbox.id,
            via: via.as_str(),
            headers: stored_headers(headers),
            body: &String::from_utf8_lossy(body),
            signature: verdict.code(),
            signature_detail: &verdict.detail(),
        },
    )?;
    Ok(Some(verdict))
}

/// The signing secrets of every webhook sending to this inbox. A webhook whose secret cannot
/// be decrypted signs nothing Herald could check, so it is left out.
fn signers_of(
    conn: &mut PgConnection,
    secrets: &SecretBox,
    token: &InboxToken,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Signer>> {
    let mut signers = Vec::new();
    for (id, _) in test_inbox::webhooks_sending_to(conn, &token.webhook_url())? {
        match Target::load(conn, id, secrets) {
            Ok(Some(target)) => signers.push(Signer {
                webhook_name: target.name.clone(),
                secrets: target.signing_secrets(now),
            }),
            Ok(None) | Err(crate::delivery::target::TargetError::Unusable(_)) => {}
            Err(crate::delivery::target::TargetError::Database(err)) => return Err(err),
        }
    }
    Ok(signers)
}

/// Headers as stored: lower-case names, credentials masked as in the attempt history.
fn stored_headers(headers: &[(String, String)]) -> Value {
    let mut stored = Map::new();
    for (name, value) in headers.iter().take(MAX_HEADERS) {
        let name = name.to_ascii_lowercase();
        let shown = match name.as_str() {
            // Already masked when handed over by a delivery; masking again keeps it masked.
            "authorization" | "proxy-authorization" if value != MASK => {
                masking::authorization(value)
            }
            "cookie" => MASK.to_owned(),
            _ => value.chars().take(1024).collect(),
        };
        match stored.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&shown);
            }
            _ => {
                stored.insert(name, Value::String(shown));
            }
        }
    }
    Value::Object(stored)
}
