//! How secret request headers appear in the attempt history (stored with each attempt, shown
//! to viewers and `read` tokens): never their value. An `Authorization` value keeps its first
//! word only when that word is a known authentication scheme; anything else could be part of
//! the secret (`APIKEY123 secret`), so it is masked whole.

/// What the history shows instead of a secret.
pub const MASK: &str = "••••••••";

/// Scheme words shown in clear (matched ignoring case, shown as spelled here): the HTTP
/// schemes in common use (IANA's registry: Basic, Bearer, Digest, DPoP, Negotiate, OAuth),
/// NTLM, and the two informal ones receivers often expect, Token and ApiKey.
pub const KNOWN_SCHEMES: [&str; 9] = [
    "Basic",
    "Bearer",
    "Digest",
    "DPoP",
    "Negotiate",
    "NTLM",
    "OAuth",
    "Token",
    "ApiKey",
];

/// A verbatim `Authorization` value as the history shows it: `Bearer ••••••••` for a known
/// scheme followed by credentials, `••••••••` for anything else.
pub fn authorization(value: &str) -> String {
    let scheme = value
        .split_once([' ', '\t'])
        .filter(|(_, credentials)| !credentials.trim().is_empty())
        .and_then(|(word, _)| {
            KNOWN_SCHEMES
                .iter()
                .find(|known| known.eq_ignore_ascii_case(word))
        });
    match scheme {
        Some(scheme) => format!("{scheme} {MASK}"),
        None => MASK.to_owned(),
    }
}

/// Basic credentials as the history shows them: the username is not a secret (the edit form
/// shows it too), the password is.
pub fn basic(username: &str) -> String {
    format!("Basic {MASK} (user {username})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_scheme_word_stays_readable_and_the_rest_is_masked() {
        assert_eq!(authorization("Bearer abc.def.ghi"), "Bearer ••••••••");
        assert_eq!(authorization("bearer abc"), "Bearer ••••••••");
        assert_eq!(authorization("TOKEN 123"), "Token ••••••••");
        assert_eq!(authorization("apikey k-1"), "ApiKey ••••••••");
        assert_eq!(
            authorization("Digest username=\"lms\", nonce=\"x\""),
            "Digest ••••••••"
        );
        assert_eq!(authorization("Basic\tbG1zOnB3"), "Basic ••••••••");
        for scheme in KNOWN_SCHEMES {
            assert_eq!(
                authorization(&format!("{scheme} secret")),
                format!("{scheme} {MASK}")
            );
        }
    }

    #[test]
    fn a_value_without_a_known_scheme_word_is_masked_whole() {
        for value in [
            "APIKEY123 secret",
            "s3cr3t-t0ken",
            "abc def ghi",
            "Bearerish xyz",
            "X-Bearer xyz",
            " Bearer leading-space",
            "Bearer",
            "Bearer   ",
            "",
        ] {
            assert_eq!(authorization(value), MASK, "{value:?}");
            assert!(
                !authorization(value).contains("APIKEY123"),
                "nothing of {value:?} shows"
            );
        }
    }

    #[test]
    fn basic_credentials_show_the_username_only() {
        assert_eq!(basic("lms"), "Basic •••••••• (user lms)");
    }
}
