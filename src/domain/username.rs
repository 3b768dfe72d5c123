//! A console username: 1–64 characters of letters, digits, `.`, `_`, `-`, stored lower-case
//! so `Alice` and `alice` cannot be two accounts.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim().to_ascii_lowercase();
        if value.is_empty() {
            return Err("Enter a username.".into());
        }
        if value.chars().count() > 64 {
            return Err("Use at most 64 characters.".into());
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err("Use only letters, digits, dots, underscores and hyphens.".into());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_to_lower_case() {
        assert_eq!(Username::parse(" Alice.B ").unwrap().as_str(), "alice.b");
    }

    #[test]
    fn bad_usernames_are_rejected_with_a_reason() {
        assert!(Username::parse("").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("<script>").is_err());
        assert!(Username::parse(&"x".repeat(65)).is_err());
    }
}
