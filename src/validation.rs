//! Field-level error messages (for re-rendered forms and JSON 422 answers), filled from `validator` derives and from
//! domain parsing, keyed by the form field's name.

use std::collections::BTreeMap;

use validator::ValidationErrors;

#[derive(Debug, Default, Clone)]
pub struct FieldErrors(BTreeMap<String, String>);

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

    /// Keeps the first message for a field: it is the most basic problem.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
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

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
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

    /// `{ field: [message] }`, the shape API errors use.
    pub fn to_map(&self) -> BTreeMap<String, Vec<String>> {
        self.0
            .iter()
            .map(|(field, message)| (field.clone(), vec![message.clone()]))
            .collect()
    }
}
