//! Query strings for links that keep a page's filters: only the ones in use, so addresses
//! stay short and readable (`/webhooks?q=hr&page=2`, not `?q=hr&status=&event=&sort=&page=2`).

/// `pairs` without blank values, URL-encoded; empty when none is left.
pub fn filters(pairs: &[(&str, &str)]) -> String {
    let used: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, value)| !value.trim().is_empty())
        .collect();
    serde_urlencoded::to_string(used).unwrap_or_default()
}

/// `path?filters&` (or `path?`), ready for `page=N` to be appended.
pub fn page_base(path: &str, pairs: &[(&str, &str)]) -> String {
    match filters(pairs) {
        used if used.is_empty() => format!("{path}?"),
        used => format!("{path}?{used}&"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_filters_are_left_out() {
        assert_eq!(
            page_base("/audit", &[("actor", ""), ("action", " ")]),
            "/audit?"
        );
        assert_eq!(
            page_base("/webhooks", &[("q", "HR sync"), ("status", "")]),
            "/webhooks?q=HR+sync&"
        );
        assert_eq!(
            filters(&[("a", "1"), ("b", ""), ("c", "x&y")]),
            "a=1&c=x%26y"
        );
    }
}
