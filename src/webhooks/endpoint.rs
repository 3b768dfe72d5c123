//! The receiver's URL: absolute, https (http only when allowed), no credentials, ≤ 2048 chars.

use std::fmt;

pub const MAX_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

/// The example every address message points to.
const EXAMPLE: &str = "https://hr.example.com/hooks";

impl EndpointUrl {
    /// The URL, or every problem with it in plain words (one message each).
    pub fn parse(raw: &str, allow_http: bool) -> Result<Self, Vec<String>> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(vec!["Enter the URL Herald sends events to.".into()]);
        }
        let mut problems = Vec::new();
        if raw.len() > MAX_LEN {
            problems.push(format!("Use at most {MAX_LEN} characters."));
        }
        let url = match url::Url::parse(raw) {
            Ok(url) => url,
            Err(err) => {
                problems.push(unreadable(err));
                return Err(problems);
            }
        };
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            "http" => problems.push(
                "Use an https:// URL (plain http is allowed only when HERALD_ALLOW_HTTP_TARGETS=true).".into(),
            ),
            other => problems.push(format!(
                "Use an https:// URL, not {other}:. For example {EXAMPLE}"
            )),
        }
        if url.host_str().is_none_or(str::is_empty) {
            problems.push(format!(
                "Add the receiver's host name after https://, as in {EXAMPLE}"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            problems.push(
                "Do not put a username or password in the URL: use Basic authentication below."
                    .into(),
            );
        }
        if url.fragment().is_some() {
            problems.push("Remove the #fragment: it is never sent to the receiver.".into());
        }
        if problems.is_empty() {
            Ok(Self(url))
        } else {
            Err(problems)
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Scheme, host and port: what a credential given for this receiver is bound to.
    pub fn origin(&self) -> url::Origin {
        self.0.origin()
    }
}

/// What a URL that cannot be read at all means, in words instead of the parser's.
fn unreadable(err: url::ParseError) -> String {
    use url::ParseError as E;
    match err {
        E::RelativeUrlWithoutBase | E::RelativeUrlWithCannotBeABaseBase => {
            format!("Enter a full address starting with https://, such as {EXAMPLE}")
        }
        E::EmptyHost => format!("Add the receiver's host name after https://, as in {EXAMPLE}"),
        E::InvalidPort => {
            "The port (the number after the host's colon) must be from 1 to 65535.".into()
        }
        E::InvalidIpv4Address | E::InvalidIpv6Address => {
            "The IP address in it is not valid: check its numbers (IPv6 goes in [brackets]).".into()
        }
        E::InvalidDomainCharacter | E::IdnaError => {
            "The host name has characters a host name cannot have (such as spaces or %).".into()
        }
        _ => format!("This is not a web address Herald can use. Enter one such as {EXAMPLE}"),
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
        assert!(EndpointUrl::parse(&long, true).unwrap_err()[0].contains("2048"));
    }

    #[test]
    fn messages_are_plain_words_and_every_problem_is_listed() {
        let relative = EndpointUrl::parse("hr.example.com/hooks", false).unwrap_err();
        assert_eq!(
            relative,
            ["Enter a full address starting with https://, such as https://hr.example.com/hooks"]
        );
        let port = EndpointUrl::parse("https://hr.example.com:99999/", false).unwrap_err();
        assert!(port[0].contains("1 to 65535"), "{port:?}");
        let several =
            EndpointUrl::parse("http://user:pw@hr.example.com/hooks#top", false).unwrap_err();
        assert_eq!(several.len(), 3, "{several:?}");
        assert!(several[0].starts_with("Use an https:// URL"));
        assert!(several[1].contains("username or password"));
        assert!(several[2].contains("#fragment"));
    }
}
