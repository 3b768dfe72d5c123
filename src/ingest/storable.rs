//! What PostgreSQL's `jsonb` can keep and Herald can read back unchanged: no NUL character
//! (`\u0000`) in a string or key, no number beyond ±1e300 (`jsonb` stores a decimal that
//! reads back outside the range of a double), and at most `MAX_DEPTH` levels of nesting
//! (the event is read back inside an envelope, under serde_json's limit of 128).

use serde_json::Value;

/// The deepest nesting an event's data may have.
pub const MAX_DEPTH: usize = 64;
/// The largest magnitude a number may have.
pub const MAX_MAGNITUDE: f64 = 1e300;

pub const NUL_MESSAGE: &str =
    "Contains the NUL character (\\u0000), which Herald cannot store: remove it.";
pub const NUMBER_MESSAGE: &str =
    "Holds a number beyond ±1e300, which Herald cannot store exactly: send it as a string.";
pub const DEPTH_MESSAGE: &str = "Is nested more than 64 levels deep: flatten it.";

/// Every place in `value` Herald cannot store, as (JSON path, message), in path order; a
/// key is named by its own path, a too-deep part once by the path where it goes too deep.
pub fn problems(value: &Value, at: String) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    let mut stack = vec![(value, at, 0usize)];
    while let Some((value, at, depth)) = stack.pop() {
        match value {
            Value::String(text) if text.contains('\0') => found.push((at, NUL_MESSAGE)),
            Value::Number(number)
                if number
                    .as_f64()
                    .is_none_or(|n| !n.is_finite() || n.abs() > MAX_MAGNITUDE) =>
            {
                found.push((at, NUMBER_MESSAGE));
            }
            Value::Array(_) | Value::Object(_) if depth >= MAX_DEPTH => {
                found.push((at, DEPTH_MESSAGE));
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    stack.push((item, format!("{at}[{index}]"), depth + 1));
                }
            }
            Value::Object(members) => {
                for (key, member) in members {
                    let path = member_path(&at, key);
                    if key.contains('\0') {
                        found.push((path.clone(), NUL_MESSAGE));
                    }
                    stack.push((member, path, depth + 1));
                }
            }
            _ => {}
        }
    }
    found.sort();
    found
}

/// `at.key` for plain keys, `at["odd key"]` (JSON-escaped) for the rest.
fn member_path(at: &str, key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        format!("{at}.{key}")
    } else {
        format!("{at}[{}]", serde_json::Value::from(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_huge_numbers_and_deep_nesting_are_named_by_path() {
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        let value = json!({"name": "a\u{0}b", "a\u{0}": 1, "n": 1.7976931348623157e308,
                           "ok": [1.5, -3, 1e299, "C:\\u0000dir"], "deep": deep});
        let found = problems(&value, "data".into());
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths.len(), 4, "{found:?}");
        assert!(paths[0].starts_with("data.deep[0][0]") && found[0].1 == DEPTH_MESSAGE);
        assert_eq!(paths[1..], ["data.n", "data.name", "data[\"a\\u0000\"]"]);
        assert!(problems(&json!({"deep": [[[[1]]]]}), "data".into()).is_empty());
    }
}
