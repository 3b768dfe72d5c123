//! Which stored receiver credentials an edit keeps, replaces or clears. A blank secret field
//! keeps the stored value, but never across a change of the endpoint's origin (scheme, host or
//! port): a password given for one receiver must not reach another host because someone
//! changed the URL. The console and the API both save through `service::update`, which asks
//! this module, so the rule holds for every entry point.
//!
//! The signing secret is not among these: it never leaves Herald (receivers get signatures made
//! with it), and the Basic username is not a secret (the edit form shows it).

use std::collections::BTreeMap;

use serde::Serialize;

use super::endpoint::EndpointUrl;
use super::input::WebhookSpec;
use super::receiver_auth::{ReceiverAuth, SecretInput};

/// Why a secret is refused; put first in every message about it.
const HOST_CHANGED: &str = "The endpoint's host, scheme or port changed";
const NEVER_SENT: &str = "(stored secrets are never sent to a new host)";

/// The receiver credentials a webhook has stored now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSecrets {
    /// A non-empty Basic password (an empty one gives nothing away).
    pub basic_password: bool,
    /// An `Authorization` value.
    pub auth_header: bool,
    /// The custom headers (lower-case names), each with a stored value.
    pub header_names: Vec<String>,
}

/// What an edit does to one stored credential, as the audit log records it (never a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretChange {
    /// Entered where none was stored.
    Set,
    /// Entered again, replacing the stored one.
    Replaced,
    /// The stored one is dropped (auth kind changed, header removed).
    Cleared,
}

/// By credential (`auth.password`, `auth.header`, `headers.<name>`): what the edit does to it.
/// Credentials kept as they were are not listed.
pub type SecretChanges = BTreeMap<String, SecretChange>;

/// A secret the edit would carry to a new origin: the form field and the message beside it.
pub type Refusal = (&'static str, String);

/// Whether `stored_url` and `endpoint` share scheme, host and port (default ports count as
/// given). An unreadable stored URL is another origin.
pub fn same_origin(stored_url: &str, endpoint: &EndpointUrl) -> bool {
    url::Url::parse(stored_url).is_ok_and(|stored| stored.origin() == endpoint.origin())
}

/// What saving `spec` does to the `stored` credentials. When the origin changed, a blank field
/// may not keep a stored secret: each such field is refused, with a message saying so.
pub fn review(
    stored: &StoredSecrets,
    origin_changed: bool,
    spec: &WebhookSpec,
) -> Result<SecretChanges, Vec<Refusal>> {
    let mut changes = SecretChanges::new();
    let mut refusals = Vec::new();
    let entered = |was_stored: bool| {
        if was_stored {
            SecretChange::Replaced
        } else {
            SecretChange::Set
        }
    };

    match &spec.auth {
        ReceiverAuth::Basic {
            password: SecretInput::Set(_),
            ..
        } => {
            changes.insert("auth.password".into(), entered(stored.basic_password));
        }
        ReceiverAuth::Basic {
            password: SecretInput::Keep,
            ..
        } if origin_changed && stored.basic_password => refusals.push((
            "basic_password",
            format!("{HOST_CHANGED}: enter the password again {NEVER_SENT}."),
        )),
        _ if !matches!(spec.auth, ReceiverAuth::Basic { .. }) && stored.basic_password => {
            changes.insert("auth.password".into(), SecretChange::Cleared);
        }
        _ => {}
    }

    match &spec.auth {
        ReceiverAuth::Header {
            value: SecretInput::Set(_),
        } => {
            changes.insert("auth.header".into(), entered(stored.auth_header));
        }
        ReceiverAuth::Header {
            value: SecretInput::Keep,
        } if origin_changed || !stored.auth_header => refusals.push((
            "auth_header",
            if stored.auth_header {
                format!("{HOST_CHANGED}: enter the Authorization value again {NEVER_SENT}.")
            } else {
                "Enter the Authorization value, for example Bearer abc123.".to_owned()
            },
        )),
        _ if !matches!(spec.auth, ReceiverAuth::Header { .. }) && stored.auth_header => {
            changes.insert("auth.header".into(), SecretChange::Cleared);
        }
        _ => {}
    }

    let mut blank = Vec::new();
    for header in &spec.headers {
        let was_stored = stored.header_names.contains(&header.name);
        match header.value {
            SecretInput::Set(_) => {
                changes.insert(format!("headers.{}", header.name), entered(was_stored));
            }
            SecretInput::Keep if origin_changed || !was_stored => blank.push(header.name.as_str()),
            SecretInput::Keep => {}
        }
    }
    for name in &stored.header_names {
        if !spec.headers.iter().any(|h| &h.name == name) {
            changes.insert(format!("headers.{name}"), SecretChange::Cleared);
        }
    }
    if !blank.is_empty() {
        let names = blank.join(", ");
        let message = match (origin_changed, blank.len()) {
            (false, _) => format!("Enter a value for {names}."),
            (true, 1) => format!(
                "{HOST_CHANGED}: enter the value of {names} again, or remove the header {NEVER_SENT}."
            ),
            (true, _) => format!(
                "{HOST_CHANGED}: enter the values of {names} again, or remove those headers {NEVER_SENT}."
            ),
        };
        refusals.push(("headers", message));
    }

    if refusals.is_empty() {
        Ok(changes)
    } else {
        Err(refusals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::input::{ParseContext, WebhookInput};

    fn endpoint(raw: &str) -> EndpointUrl {
        EndpointUrl::parse(raw, true).unwrap()
    }

    /// A spec from form-like fields; `stored` says what blank fields may keep.
    fn edit(
        auth_kind: &str,
        password: &str,
        auth_header: &str,
        headers: &[(&str, &str)],
        stored: &StoredSecrets,
    ) -> WebhookSpec {
        let mut input = WebhookInput::defaults();
        input.name = "hook".into();
        input.endpoint_url = "https://new.example.com/hook".into();
        input.auth_kind = auth_kind.into();
        input.basic_username = "lms".into();
        input.basic_password = password.into();
        input.auth_header = auth_header.into();
        input.header_name = headers.iter().map(|(n, _)| n.to_string()).collect();
        input.header_value = headers.iter().map(|(_, v)| v.to_string()).collect();
        input
            .parse(&ParseContext {
                allow_http: true,
                catalog: &[],
                has_auth_header: stored.auth_header,
                header_names: &stored.header_names,
            })
            .unwrap()
    }

    fn basic_with_header() -> StoredSecrets {
        StoredSecrets {
            basic_password: true,
            auth_header: false,
            header_names: vec!["x-api-key".into()],
        }
    }

    #[test]
    fn the_origin_is_scheme_host_and_port() {
        let stored = "https://hooks.example.com/lms?x=1";
        assert!(same_origin(
            stored,
            &endpoint("https://hooks.example.com/other")
        ));
        assert!(same_origin(
            stored,
            &endpoint("https://HOOKS.example.com:443/")
        ));
        assert!(!same_origin(
            stored,
            &endpoint("https://evil.example.com/lms?x=1")
        ));
        assert!(!same_origin(
            stored,
            &endpoint("http://hooks.example.com/lms?x=1")
        ));
        assert!(!same_origin(
            stored,
            &endpoint("https://hooks.example.com:8443/lms")
        ));
        assert!(!same_origin(
            "not a url",
            &endpoint("https://hooks.example.com/")
        ));
    }

    #[test]
    fn on_the_same_origin_blank_fields_keep_the_stored_secrets() {
        let stored = basic_with_header();
        let spec = edit("basic", "", "", &[("X-Api-Key", "")], &stored);
        assert_eq!(review(&stored, false, &spec), Ok(SecretChanges::new()));
    }

    #[test]
    fn on_a_new_origin_every_blank_stored_secret_is_refused_beside_its_field() {
        let stored = basic_with_header();
        let spec = edit("basic", "", "", &[("X-Api-Key", "")], &stored);
        let refusals = review(&stored, true, &spec).unwrap_err();
        assert_eq!(
            refusals,
            vec![
                (
                    "basic_password",
                    "The endpoint's host, scheme or port changed: enter the password again (stored secrets are never sent to a new host).".to_owned()
                ),
                (
                    "headers",
                    "The endpoint's host, scheme or port changed: enter the value of x-api-key again, or remove the header (stored secrets are never sent to a new host).".to_owned()
                ),
            ]
        );

        let stored = StoredSecrets {
            auth_header: true,
            header_names: vec!["x-a".into(), "x-b".into()],
            ..Default::default()
        };
        let spec = edit("header", "", "", &[("X-A", ""), ("X-B", "")], &stored);
        let refusals = review(&stored, true, &spec).unwrap_err();
        assert_eq!(refusals[0].0, "auth_header");
        assert!(
            refusals[0]
                .1
                .contains("enter the Authorization value again")
        );
        assert!(
            refusals[1]
                .1
                .contains("enter the values of x-a, x-b again, or remove those headers")
        );
    }

    #[test]
    fn on_a_new_origin_re_entered_or_removed_secrets_are_recorded_as_such() {
        let stored = basic_with_header();
        // The password is entered again and the header removed.
        let spec = edit("basic", "new-password", "", &[], &stored);
        let changes = review(&stored, true, &spec).unwrap();
        assert_eq!(
            serde_json::to_value(&changes).unwrap(),
            serde_json::json!({"auth.password": "replaced", "headers.x-api-key": "cleared"})
        );

        // Switching to an Authorization value clears the password and sets the value.
        let spec = edit("header", "", "Bearer abc", &[("X-Api-Key", "k2")], &stored);
        let changes = review(&stored, true, &spec).unwrap();
        assert_eq!(
            serde_json::to_value(&changes).unwrap(),
            serde_json::json!({
                "auth.password": "cleared",
                "auth.header": "set",
                "headers.x-api-key": "replaced"
            })
        );
    }

    #[test]
    fn an_empty_stored_password_or_none_at_all_needs_nothing_re_entered() {
        let stored = StoredSecrets::default();
        let spec = edit("basic", "", "", &[], &stored);
        assert_eq!(review(&stored, true, &spec), Ok(SecretChanges::new()));
        let spec = edit("none", "", "", &[], &stored);
        assert_eq!(review(&stored, true, &spec), Ok(SecretChanges::new()));
    }

    #[test]
    fn a_secret_that_vanished_since_the_form_was_read_must_be_entered() {
        // The form was parsed while a value was stored; by saving time it is gone.
        let when_read = StoredSecrets {
            auth_header: true,
            header_names: vec!["x-a".into()],
            ..Default::default()
        };
        let spec = edit("header", "", "", &[("X-A", "")], &when_read);
        let refusals = review(&StoredSecrets::default(), false, &spec).unwrap_err();
        assert_eq!(
            refusals[0],
            (
                "auth_header",
                "Enter the Authorization value, for example Bearer abc123.".to_owned()
            )
        );
        assert_eq!(
            refusals[1],
            ("headers", "Enter a value for x-a.".to_owned())
        );
    }
}
