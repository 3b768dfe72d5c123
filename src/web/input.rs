//! Query strings and form bodies, checked once at the edge before serde reads them: every name
//! and value must be UTF-8 once percent-decoded, and no query value may hold a control
//! character (no filter or search has a use for one, and PostgreSQL cannot store NUL). Form
//! values may: each form field says so beside the field, with the rest of the form kept.
//!
//! A query or form that fails is a 400 naming the parameter: the error page in the console
//! (the [`Query`] and [`Form`] extractors, which run after the role guard), JSON in the API
//! ([`parse_query`], which handlers call after checking the token).

use std::fmt;
use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::validation::NO_CONTROL_CHARACTERS;

/// The largest console form (the webhook form with every header row is far below it).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Why a query string or form could not be read, and which parameter, when one is to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<InputError> for AppError {
    fn from(err: InputError) -> Self {
        AppError::BadRequest(err.to_string())
    }
}

/// Reads a query string into `T`, after refusing invalid UTF-8 and control characters.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, InputError> {
    for (name, value) in decoded_pairs(query.as_bytes())? {
        if name.chars().chain(value.chars()).any(char::is_control) {
            return Err(InputError {
                field: Some(name),
                message: NO_CONTROL_CHARACTERS.into(),
            });
        }
    }
    serde_html_form::from_str(query).map_err(|err| InputError {
        field: None,
        message: format!("The address has a value Herald cannot read ({err})."),
    })
}

/// Reads a form body into `T`, after refusing invalid UTF-8 (control characters are left to
/// each field's rules, which answer beside the field).
pub fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, InputError> {
    check_utf8(body)?;
    serde_html_form::from_bytes(body).map_err(|err| InputError {
        field: None,
        message: format!("The form could not be read ({err})."),
    })
}

/// Every name and value of a form-encoded body or query is UTF-8 once percent-decoded
/// (otherwise serde would quietly turn the bad bytes into U+FFFD).
pub fn check_utf8(raw: &[u8]) -> Result<(), InputError> {
    decoded_pairs(raw).map(|_| ())
}

fn decoded_pairs(raw: &[u8]) -> Result<Vec<(String, String)>, InputError> {
    let decode = |part: &[u8]| {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        String::from_utf8(urlencoding::decode_binary(&spaced).into_owned())
    };
    let mut pairs = Vec::new();
    for piece in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match piece.iter().position(|&b| b == b'=') {
            Some(at) => (&piece[..at], &piece[at + 1..]),
            None => (piece, &[][..]),
        };
        let name = decode(name).map_err(|err| InputError {
            field: Some(String::from_utf8_lossy(err.as_bytes()).into_owned()),
            message: "This name is not valid UTF-8.".into(),
        })?;
        let value = decode(value).map_err(|_| InputError {
            field: Some(name.clone()),
            message: "This value is not valid UTF-8.".into(),
        })?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// `web::Query` for console pages: a bad query string is the 400 page naming the parameter.
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Query<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            parse_query(req.query_string())
                .map(Query)
                .map_err(|err| AppError::from(err).into()),
        )
    }
}

/// `web::Form` for console forms: invalid UTF-8 or a body that does not fit the form is the
/// 400 page; over [`MAX_FORM_BYTES`] is 413.
pub struct Form<T>(pub T);

impl<T> Form<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Form<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body.await?;
            if body.len() > MAX_FORM_BYTES {
                return Err(actix_web::error::ErrorPayloadTooLarge(format!(
                    "The form is larger than {} KiB.",
                    MAX_FORM_BYTES / 1024
                )));
            }
            parse_form(&body)
                .map(Form)
                .map_err(|err| AppError::from(err).into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Search {
        q: String,
        page: Option<i64>,
    }

    #[test]
    fn a_clean_query_is_read() {
        let search: Search = parse_query("q=caf%C3%A9+au+lait&page=2").unwrap();
        assert_eq!((search.q.as_str(), search.page), ("café au lait", Some(2)));
    }

    #[test]
    fn control_characters_and_invalid_utf8_name_the_parameter() {
        for (query, field) in [
            ("q=a%00b", "q"),
            ("q=a%0D%0Ab", "q"),
            ("page=1&q=%FF%FE", "q"),
        ] {
            let err = parse_query::<Search>(query).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{query}");
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_is_an_error_not_a_panic() {
        let err = parse_query::<Search>("q=x&page=abc").unwrap_err();
        assert!(err.message.contains("cannot read"), "{err}");
    }

    #[test]
    fn forms_keep_control_characters_for_their_fields_but_refuse_invalid_utf8() {
        let search: Search = parse_form(b"q=line%0Aone").unwrap();
        assert_eq!(search.q, "line\none");
        let err = parse_form::<Search>(b"q=%C3%28").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("q"));
    }
}
