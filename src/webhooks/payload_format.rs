//! The "Payload format" setting, parsed: the format and, for xAPI and Caliper, where learner
//! accounts live and the base of activity IRIs.

use crate::standards::{PayloadFormat, StandardsSettings};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormatChoice {
    pub format: PayloadFormat,
    /// Present exactly when `format` is a standard.
    pub settings: Option<StandardsSettings>,
}

impl FormatChoice {
    /// Problems come back per form field.
    pub fn parse(
        format: &str,
        home_page: &str,
        activity_base: &str,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let Some(format) = PayloadFormat::parse(format) else {
            return Err(vec![(
                "payload_format",
                "Choose Herald JSON, xAPI statements or a Caliper envelope.".into(),
            )]);
        };
        if !format.is_standard() {
            return Ok(Self {
                format,
                settings: None,
            });
        }
        let settings = StandardsSettings::parse(home_page, activity_base)?;
        Ok(Self {
            format,
            settings: Some(settings),
        })
    }

    /// The columns: format, actor home page, activity base IRI.
    pub fn columns(&self) -> (String, Option<String>, Option<String>) {
        (
            self.format.as_str().to_owned(),
            self.settings.as_ref().map(|s| s.home_page.to_string()),
            self.settings.as_ref().map(|s| s.activity_base.to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn herald_json_needs_nothing_and_the_standards_need_both_addresses() {
        assert_eq!(
            FormatChoice::parse("", "", "").unwrap().format,
            PayloadFormat::Herald
        );
        let problems = FormatChoice::parse("xapi", "", "https://lms.example.edu/xapi").unwrap_err();
        assert_eq!(problems[0].0, "actor_home_page");
        let xapi = FormatChoice::parse(
            "xapi",
            "https://lms.example.edu",
            "https://lms.example.edu/xapi",
        )
        .unwrap();
        assert_eq!(xapi.columns().0, "xapi");
        assert_eq!(
            FormatChoice::parse("rss", "", "").unwrap_err()[0].0,
            "payload_format"
        );
    }
}
