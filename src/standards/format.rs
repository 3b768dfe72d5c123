//! A webhook's payload format and the settings the standards formats need.

use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaliperVersion {
    V1p1,
    V1p2,
}

impl CaliperVersion {
    /// The `dataVersion` of an envelope and the `@context` of its events.
    pub fn context(self) -> &'static str {
        match self {
            Self::V1p1 => "http://purl.imsglobal.org/ctx/caliper/v1p1",
            Self::V1p2 => "http://purl.imsglobal.org/ctx/caliper/v1p2",
        }
    }

    pub fn of_context(context: &str) -> Option<Self> {
        match context.trim_end_matches('/') {
            "http://purl.imsglobal.org/ctx/caliper/v1p1" => Some(Self::V1p1),
            "http://purl.imsglobal.org/ctx/caliper/v1p2" => Some(Self::V1p2),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PayloadFormat {
    /// Herald's own JSON body (Totara's fields).
    #[default]
    Herald,
    /// xAPI 1.0.3 statements, posted to `{endpoint}/statements` as an array.
    Xapi,
    /// A Caliper envelope of events.
    Caliper(CaliperVersion),
}

impl PayloadFormat {
    pub const CHOICES: [(&'static str, &'static str); 4] = [
        ("herald", "Herald JSON"),
        (
            "xapi",
            "xAPI 1.0.3 statements (for a Learning Record Store)",
        ),
        ("caliper_1_1", "Caliper 1.1 envelope"),
        ("caliper_1_2", "Caliper 1.2 envelope"),
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "" | "herald" => Some(Self::Herald),
            "xapi" => Some(Self::Xapi),
            "caliper_1_1" => Some(Self::Caliper(CaliperVersion::V1p1)),
            "caliper_1_2" => Some(Self::Caliper(CaliperVersion::V1p2)),
            _ => None,
        }
    }

    /// Stored form (the `payload_format` column).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Herald => "herald",
            Self::Xapi => "xapi",
            Self::Caliper(CaliperVersion::V1p1) => "caliper_1_1",
            Self::Caliper(CaliperVersion::V1p2) => "caliper_1_2",
        }
    }

    /// A column value written by an older Herald or by hand reads as Herald JSON.
    pub fn from_column(raw: &str) -> Self {
        Self::parse(raw).unwrap_or_default()
    }

    pub fn label(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(key, _)| *key == self.as_str())
            .map_or("Herald JSON", |(_, label)| label)
    }

    pub fn is_standard(self) -> bool {
        self != Self::Herald
    }
}

/// What the xAPI and Caliper bodies are built from besides the event: where the learners'
/// accounts live and under which IRI the learning activities are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardsSettings {
    /// The LMS's home page: the `homePage` of account actors, Caliper's `edApp`, and the
    /// statement's `context.platform` (its host).
    pub home_page: Url,
    /// Activities are `{activity_base}/courses/{id}`, `…/lessons/{id}` and so on.
    pub activity_base: Url,
}

impl StandardsSettings {
    /// Parses the two form fields; problems come back per field.
    pub fn parse(
        home_page: &str,
        activity_base: &str,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let home_page = absolute_iri("actor_home_page", home_page, &mut problems);
        let activity_base = absolute_iri("activity_base_iri", activity_base, &mut problems);
        match (home_page, activity_base) {
            (Some(home_page), Some(activity_base)) if problems.is_empty() => Ok(Self {
                home_page,
                activity_base,
            }),
            _ => Err(problems),
        }
    }

    /// The platform name in `context.platform`: the home page's host.
    pub fn platform(&self) -> &str {
        self.home_page.host_str().unwrap_or("LMS")
    }
}

fn absolute_iri(
    field: &'static str,
    raw: &str,
    problems: &mut Vec<(&'static str, String)>,
) -> Option<Url> {
    let raw = raw.trim();
    if raw.is_empty() {
        problems.push((
            field,
            "Enter an absolute http(s) address, such as https://lms.example.edu.".into(),
        ));
        return None;
    }
    if raw.len() > 500 || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        problems.push((
            field,
            "Use at most 500 characters, without spaces or control characters.".into(),
        ));
        return None;
    }
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            if url.query().is_some() || url.fragment().is_some() {
                problems.push((field, "Leave out the query (?…) and fragment (#…).".into()));
                None
            } else if !url.username().is_empty() || url.password().is_some() {
                // It is sent to receivers in every record: no credentials in it.
                problems.push((field, "Leave out user:password@.".into()));
                None
            } else {
                Some(url)
            }
        }
        _ => {
            problems.push((
                field,
                "Enter an absolute http(s) address, such as https://lms.example.edu.".into(),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_through_their_column() {
        for (key, _) in PayloadFormat::CHOICES {
            assert_eq!(PayloadFormat::parse(key).unwrap().as_str(), key);
        }
        assert_eq!(PayloadFormat::parse("caliper"), None);
        assert_eq!(PayloadFormat::from_column("unknown"), PayloadFormat::Herald);
    }

    #[test]
    fn settings_want_absolute_web_addresses() {
        let ok =
            StandardsSettings::parse("https://lms.example.edu", "https://lms.example.edu/xapi")
                .unwrap();
        assert_eq!(ok.platform(), "lms.example.edu");
        let problems =
            StandardsSettings::parse("lms.example.edu", "javascript:alert(1)").unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["actor_home_page", "activity_base_iri"]);
        assert!(StandardsSettings::parse("https://a.example/?x=1", "https://a.example").is_err());
        assert!(StandardsSettings::parse("", "https://a.example").is_err());
        assert!(
            StandardsSettings::parse("https://user:pass@a.example", "https://a.example").is_err()
        );
    }
}
