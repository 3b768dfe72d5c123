//! Custom request headers (Skilljar's "additional headers"): valid HTTP names (at most 256
//! characters) and values, never one that Herald sets itself, and never one that a receiver
//! or its proxy could mistake for the client's own (cookies, proxy credentials, forwarding).

use super::receiver_auth::SecretInput;

/// Headers Herald owns, and hop-by-hop headers that belong to the connection (over HTTP/2 they
/// make a request fail): a custom header cannot be one of them.
pub const RESERVED: [&str; 17] = [
    "content-type",
    "content-length",
    "user-agent",
    "host",
    "authorization",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "trailer",
    "expect",
    "via",
];
pub const MAX_HEADERS: usize = 20;
pub const MAX_NAME_LEN: usize = 256;

/// Whether `lower` (a lower-case name) is a header a receiver, or a proxy in front of it, may
/// take as the client's own: cookies, proxy credentials and forwarding information.
fn refused(lower: &str) -> bool {
    matches!(
        lower,
        "cookie"
            | "proxy-authorization"
            | "forwarded"
            | "x-real-ip"
            | "x-client-ip"
            | "true-client-ip"
            | "cf-connecting-ip"
            | "fastly-client-ip"
            | "x-cluster-client-ip"
    ) || lower.starts_with("x-forwarded-")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomHeader {
    /// Lower-case, as HTTP/2 sends it.
    pub name: String,
    pub value: SecretInput,
}

/// Pairs the form's name/value rows; blank rows are skipped. `existing` lists the names that
/// already have a stored value (a blank value keeps it). Every bad row is reported.
pub fn parse_rows(
    names: &[String],
    values: &[String],
    existing: &[String],
) -> Result<Vec<CustomHeader>, Vec<String>> {
    let mut headers: Vec<CustomHeader> = Vec::new();
    let mut problems = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let value = values.get(index).map(String::as_str).unwrap_or("");
        match parse_row(index + 1, name.trim(), value, existing, &headers) {
            Ok(Some(header)) => headers.push(header),
            Ok(None) => {}
            Err(problem) => problems.push(problem),
        }
    }
    if headers.len() > MAX_HEADERS {
        problems.push(format!("Use at most {MAX_HEADERS} custom headers."));
    }
    if problems.is_empty() {
        Ok(headers)
    } else {
        Err(problems)
    }
}

/// One row (`row` counts from 1): `None` for a blank row.
fn parse_row(
    row: usize,
    name: &str,
    value: &str,
    existing: &[String],
    earlier: &[CustomHeader],
) -> Result<Option<CustomHeader>, String> {
    if name.is_empty() {
        if !value.is_empty() {
            return Err(format!("Row {row}: enter a header name for the value."));
        }
        return Ok(None);
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(format!(
            "Row {row}: use a header name of at most {MAX_NAME_LEN} characters."
        ));
    }
    let parsed = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        format!("{name:?} is not a valid header name (letters, digits and - only).")
    })?;
    let lower = parsed.as_str().to_owned();
    if RESERVED.contains(&lower.as_str()) {
        return Err(format!(
            "{name} is set by Herald itself (or belongs to the connection) and cannot be overridden."
        ));
    }
    if refused(&lower) {
        return Err(format!(
            "{name} cannot be a custom header: Herald never sends cookies, proxy credentials or forwarding headers (Cookie, Proxy-Authorization, Forwarded, X-Forwarded-*, X-Real-IP and other client-address headers)."
        ));
    }
    if earlier.iter().any(|h| h.name == lower) {
        return Err(format!("{name} appears twice."));
    }
    let value = if value.is_empty() {
        if !existing.contains(&lower) {
            return Err(format!("Enter a value for {name}."));
        }
        SecretInput::Keep
    } else {
        if reqwest::header::HeaderValue::from_str(value).is_err() || value.len() > 4096 {
            return Err(format!(
                "The value of {name} must be at most 4096 visible characters, without line breaks."
            ));
        }
        SecretInput::Set(value.to_owned())
    };
    Ok(Some(CustomHeader { name: lower, value }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn valid_rows_are_kept_and_blank_rows_skipped() {
        let headers = parse_rows(
            &strings(&["X-Client-Id", "", "client_secret"]),
            &strings(&["abc", "", "s3cret"]),
            &[],
        )
        .unwrap();
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[0].name, "x-client-id");
        assert_eq!(headers[1].value, SecretInput::Set("s3cret".into()));
    }

    #[test]
    fn reserved_invalid_and_duplicate_names_are_refused() {
        assert!(
            parse_rows(&strings(&["Content-Type"]), &strings(&["text/plain"]), &[])
                .unwrap_err()
                .join(" ")
                .contains("set by Herald")
        );
        assert!(parse_rows(&strings(&["webhook-signature"]), &strings(&["v1,x"]), &[]).is_err());
        assert!(
            parse_rows(&strings(&["bad name"]), &strings(&["x"]), &[])
                .unwrap_err()
                .join(" ")
                .contains("not a valid header name")
        );
        assert!(
            parse_rows(&strings(&["X-A", "x-a"]), &strings(&["1", "2"]), &[])
                .unwrap_err()
                .join(" ")
                .contains("twice")
        );
        assert!(parse_rows(&strings(&["X-A"]), &strings(&["line\nbreak"]), &[]).is_err());
        assert!(parse_rows(&strings(&[""]), &strings(&["orphan"]), &[]).is_err());
    }

    #[test]
    fn cookies_proxy_credentials_and_forwarding_headers_are_refused_in_any_case() {
        for name in [
            "Cookie",
            "COOKIE",
            "Proxy-Authorization",
            "proxy-authorization",
            "Forwarded",
            "X-Forwarded-For",
            "x-forwarded-host",
            "X-FORWARDED-PROTO",
            "X-Forwarded-Anything-Else",
            "X-Real-IP",
            "True-Client-IP",
            "CF-Connecting-IP",
            "x-client-ip",
        ] {
            let err = parse_rows(&strings(&[name]), &strings(&["x"]), &[])
                .unwrap_err()
                .join(" ");
            assert!(err.contains("cannot be a custom header"), "{name}: {err}");
            assert!(err.starts_with(name), "the message names the header: {err}");
        }
        // Look-alikes that are not those headers stay allowed.
        for name in ["X-Cookie-Consent", "X-Forwarded", "Proxy-Id", "X-Forwarder"] {
            assert!(
                parse_rows(&strings(&[name]), &strings(&["x"]), &[]).is_ok(),
                "{name}"
            );
        }
    }

    #[test]
    fn connection_headers_cannot_be_set() {
        for name in [
            "Keep-Alive",
            "Proxy-Connection",
            "Trailer",
            "Expect",
            "Via",
            "Upgrade",
        ] {
            let err = parse_rows(&strings(&[name]), &strings(&["x"]), &[])
                .unwrap_err()
                .join(" ");
            assert!(err.contains("set by Herald itself"), "{name}: {err}");
        }
    }

    #[test]
    fn header_names_are_at_most_256_characters() {
        let longest = format!("X-{}", "a".repeat(MAX_NAME_LEN - 2));
        assert!(parse_rows(std::slice::from_ref(&longest), &strings(&["x"]), &[]).is_ok());
        let err = parse_rows(&[format!("{longest}b")], &strings(&["x"]), &[]).unwrap_err();
        assert_eq!(err, ["Row 1: use a header name of at most 256 characters."]);
    }

    #[test]
    fn every_bad_row_is_reported() {
        let problems = parse_rows(
            &strings(&["Cookie", "X-Ok", "bad name", ""]),
            &strings(&["a", "b", "c", "orphan"]),
            &[],
        )
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[2].starts_with("Row 4"));
    }

    #[test]
    fn a_blank_value_keeps_an_existing_header_only() {
        assert!(parse_rows(&strings(&["X-A"]), &strings(&[""]), &[]).is_err());
        let kept = parse_rows(&strings(&["X-A"]), &strings(&[""]), &strings(&["x-a"])).unwrap();
        assert_eq!(kept[0].value, SecretInput::Keep);
    }
}
