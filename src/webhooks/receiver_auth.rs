//! How Herald authenticates to the receiver: nothing, HTTP Basic (Skilljar, Adobe Learning
//! Manager), or an `Authorization` value sent verbatim (the reporting webhook seed).

/// A write-only secret on an edit form: blank keeps the stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretInput {
    Keep,
    Set(String),
}

impl SecretInput {
    pub fn from_field(raw: &str) -> Self {
        if raw.is_empty() {
            Self::Keep
        } else {
            Self::Set(raw.to_owned())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverAuth {
    None,
    Basic {
        username: String,
        password: SecretInput,
    },
    Header {
        value: SecretInput,
    },
}

impl ReceiverAuth {
    pub const KINDS: [(&'static str, &'static str); 3] = [
        ("none", "None"),
        ("basic", "Basic authentication (username and password)"),
        ("header", "Authorization header, sent exactly as written"),
    ];

    /// `has_header_value`: whether a stored Authorization value exists to keep.
    pub fn parse(
        kind: &str,
        username: &str,
        password: &str,
        header: &str,
        has_header_value: bool,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        match kind.trim() {
            "" | "none" => Ok(Self::None),
            "basic" => {
                let username = username.trim();
                let mut problems = Vec::new();
                if username.is_empty() {
                    problems.push((
                        "basic_username",
                        "Enter the username the receiver expects.".into(),
                    ));
                } else if username.contains(':')
                    || username.chars().any(char::is_control)
                    || username.len() > 200
                {
                    problems.push((
                        "basic_username",
                        "Use at most 200 characters, without colons or control characters.".into(),
                    ));
                }
                if password.chars().any(char::is_control) || password.len() > 500 {
                    problems.push((
                        "basic_password",
                        "Use at most 500 characters, without control characters.".into(),
                    ));
                }
                if !problems.is_empty() {
                    return Err(problems);
                }
                Ok(Self::Basic {
                    username: username.to_owned(),
                    password: SecretInput::from_field(password),
                })
            }
            "header" => {
                if header.is_empty() && !has_header_value {
                    return Err(vec![(
                        "auth_header",
                        "Enter the Authorization value, for example Bearer abc123.".into(),
                    )]);
                }
                if !header.is_empty()
                    && (reqwest::header::HeaderValue::from_str(header).is_err()
                        || header.len() > 4096)
                {
                    return Err(vec![(
                        "auth_header",
                        "Use at most 4096 visible characters, without line breaks.".into(),
                    )]);
                }
                Ok(Self::Header {
                    value: SecretInput::from_field(header),
                })
            }
            _ => Err(vec![("auth_kind", "Choose none, basic or header.".into())]),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Basic { .. } => "basic",
            Self::Header { .. } => "header",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_needs_a_username_and_header_needs_a_value_on_first_use() {
        assert_eq!(
            ReceiverAuth::parse("basic", "", "pw", "", false).unwrap_err()[0].0,
            "basic_username"
        );
        assert_eq!(
            ReceiverAuth::parse("header", "", "", "", false).unwrap_err()[0].0,
            "auth_header"
        );
        assert_eq!(
            ReceiverAuth::parse("header", "", "", "", true).unwrap(),
            ReceiverAuth::Header {
                value: SecretInput::Keep
            }
        );
        assert_eq!(
            ReceiverAuth::parse("header", "", "", "Bearer x\r\nEvil: 1", false).unwrap_err()[0].0,
            "auth_header"
        );
        assert!(ReceiverAuth::parse("kerberos", "", "", "", false).is_err());
    }
}
