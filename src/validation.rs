//! Field-level error messages (for re-rendered forms and JSON 422 answers), filled from `validator` derives and from
//! domain parsing, keyed by the form field's name.

use std::collections::BTreeMap;

use validator::ValidationErrors;

/// Every problem of each field, in the order found (a field may have several).
#[derive(Debug, Default, Clone)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn from_validation(errors: &ValidationErrors) -> Self {
        let mut out = Self::default();
        for (field, field_errors) in errors.field_errors() {
            if let Some(first) = field_errors.first() {
                let message = first
                    .message
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| format!("This value is not valid ({}).", first.code));
                out.add(&field, message);
            }
        }
        out
    }

    /// Adds a problem to a field (the same message twice is kept once).
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let message = message.into();
        let messages = self.0.entry(field.to_owned()).or_default();
        if !messages.contains(&message) {
            messages.push(message);
        }
    }

    /// Runs `parse` unless the field already has an error, recording its error message.
    pub fn check<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce() -> Result<T, String>,
    ) -> Option<T> {
        if self.has(field) {
            return None;
        }
        match parse() {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    /// The first problem of a field: the most basic one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .get(field)
            .and_then(|messages| messages.first())
            .map(String::as_str)
    }

    /// Every problem of a field (empty when it has none).
    pub fn all(&self, field: &str) -> &[String] {
        self.0.get(field).map(Vec::as_slice).unwrap_or_default()
    }

    /// How many problems in all fields together.
    pub fn problem_count(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }

    /// The fields with problems, by name.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `{ field: [message, …] }`, the shape API errors use.
    pub fn to_map(&self) -> BTreeMap<String, Vec<String>> {
        self.0.clone()
    }
}

/// The message for text with control characters (NUL, line breaks in a one-line field…).
pub const NO_CONTROL_CHARACTERS: &str =
    "Remove the control characters (such as NUL or line breaks) from this value.";

/// One line of text, trimmed. PostgreSQL cannot store NUL, and no single-line value has a use
/// for any other control character, so they are refused rather than stored or stripped.
pub fn single_line(raw: &str) -> Result<&str, String> {
    let text = raw.trim();
    if text.chars().any(char::is_control) {
        Err(NO_CONTROL_CHARACTERS.to_owned())
    } else {
        Ok(text)
    }
}

/// Text that may span lines (a description), trimmed: line breaks and tabs are kept, every other
/// control character is refused.
pub fn multi_line(raw: &str) -> Result<&str, String> {
    let text = raw.trim();
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Err(
            "Remove the control characters (such as NUL) from this text; line breaks are fine."
                .to_owned(),
        )
    } else {
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_of_a_field_is_kept_once_in_order() {
        let mut errors = FieldErrors::default();
        errors.add("url", "first");
        errors.add("url", "second");
        errors.add("url", "first");
        errors.add("name", "only");
        assert_eq!(errors.get("url"), Some("first"));
        assert_eq!(errors.all("url"), ["first", "second"]);
        assert!(errors.all("timeout").is_empty());
        assert_eq!((errors.len(), errors.problem_count()), (2, 3));
        assert_eq!(errors.to_map()["url"], ["first", "second"]);
    }

    #[test]
    fn one_line_text_is_trimmed_and_refuses_control_characters() {
        assert_eq!(single_line("  LMS production\n").unwrap(), "LMS production");
        for bad in ["a\0b", "a\r\nb", "a\tb", "a\u{7f}b", "a\u{85}b"] {
            assert!(single_line(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn multi_line_text_keeps_line_breaks_and_refuses_nul() {
        assert_eq!(
            multi_line(" one\r\ntwo\tthree\n").unwrap(),
            "one\r\ntwo\tthree"
        );
        assert!(multi_line("a\0b").is_err());
        assert!(multi_line("a\u{1b}[31m").is_err());
    }
}
