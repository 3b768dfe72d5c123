//! IRIs for the people and activities in a learning record: an id that already is an
//! absolute IRI is kept (records that came in as xAPI or Caliper carry them); a platform id
//! such as `course:7374992` is placed under the webhook's base.

use url::Url;

/// Whether `id` is already an absolute IRI Herald may pass on unchanged.
pub fn is_absolute(id: &str) -> bool {
    is_iri(id)
        && Url::parse(id).is_ok_and(|url| matches!(url.scheme(), "http" | "https" | "urn" | "tag"))
}

/// An absolute IRI of any scheme (what xAPI asks for in ids, verbs and extension keys),
/// without the characters RFC 3987 leaves out (a URL parser would quietly encode them).
pub fn is_iri(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"<>{}|\\^`".contains(c))
        && Url::parse(text).is_ok()
}

/// `{base}/{collection}/{id}` with `id` percent-encoded as one path segment, or `id` itself
/// when it is absolute.
pub fn under(base: &Url, collection: &str, id: &str) -> String {
    if is_absolute(id) {
        return id.to_owned();
    }
    let base = base.as_str().trim_end_matches('/');
    format!("{base}/{collection}/{}", urlencoding::encode(id))
}

/// The last path segment of an IRI, decoded (`https://lms.example/courses/c%3A1` → `c:1`),
/// or the IRI when it has none.
pub fn last_segment(iri: &str) -> String {
    iri.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(|s| urlencoding::decode(s).map_or_else(|_| s.to_owned(), |d| d.into_owned()))
        .unwrap_or_else(|| iri.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_ids_go_under_the_base_and_iris_stay() {
        let base = Url::parse("https://lms.example.edu/xapi/").unwrap();
        assert_eq!(
            under(&base, "courses", "course:7374992"),
            "https://lms.example.edu/xapi/courses/course%3A7374992"
        );
        assert_eq!(
            under(&base, "courses", "https://other.example/c/1"),
            "https://other.example/c/1"
        );
        assert_eq!(
            under(&base, "users", "a b"),
            "https://lms.example.edu/xapi/users/a%20b"
        );
        assert_eq!(last_segment("https://lms.example/courses/c%3A1"), "c:1");
        assert!(!is_absolute("course:7374992"));
        assert!(is_absolute("urn:uuid:0f7b8ed8-6d3c-4d5c-8d1e-3c1c6f9e2a11"));
        assert!(is_iri("mailto:a@example.org") && !is_absolute("mailto:a@example.org"));
        assert!(!is_iri("https://lms.example/c/1?x=\"><script>"));
        assert!(!is_iri("not a uri"));
    }
}
