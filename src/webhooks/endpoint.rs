//! The receiver's URL: absolute, https (http only when allowed), no credentials, ≤ 2048 chars.

use std::fmt;

pub const MAX_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    pub fn parse(raw: &str, allow_http: bool) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("Enter the URL Herald sends events to.".into());
        }
        if raw.len() > MAX_LEN {
            return Err(format!("Use at most {MAX_LEN} characters."));
        }
        let url =
            url::Url::parse(raw).map_err(|err| format!("This is not a valid URL ({err})."))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            "http" => {
                return Err("Use an https:// URL (plain http is allowed only when HERALD_ALLOW_HTTP_TARGETS=true).".into());
            }
            other => return Err(format!("Use an https:// URL, not {other}:.")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("The URL needs a host name.".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "Do not put a username or password in the URL: use Basic authentication below."
                    .into(),
            );
        }
        if url.fragment().is_some() {
            return Err("Remove the #fragment: it is never sent to the receiver.".into());
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Scheme, host and port: what a credential given for this receiver is bound to.
    pub fn origin(&self) -> url::Origin {
        self.0.origin()
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::EndpointUrl;

    #[test]
    fn https_urls_are_accepted() {
        assert_eq!(
            EndpointUrl::parse(" https://hooks.example.com/lms?x=1 ", false)
                .unwrap()
                .as_str(),
            "https://hooks.example.com/lms?x=1"
        );
    }

    #[test]
    fn http_needs_the_setting() {
        assert!(EndpointUrl::parse("http://127.0.0.1:9000/hook", false).is_err());
        assert!(EndpointUrl::parse("http://127.0.0.1:9000/hook", true).is_ok());
    }

    #[test]
    fn bad_urls_are_rejected_with_a_reason() {
        for bad in [
            "",
            "not a url",
            "ftp://example.com/x",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "javascript:alert(1)",
        ] {
            assert!(EndpointUrl::parse(bad, true).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(
            EndpointUrl::parse(&long, true)
                .unwrap_err()
                .contains("2048")
        );
    }
}
