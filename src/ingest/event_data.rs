//! An event's `data` as the JSON text it was sent in, from the request body to the insert
//! (PostgreSQL parses it into `jsonb`). A tree of maps and strings takes several times the
//! text's memory, and ingest holds every event of a group until it is committed: four
//! 500-event batches at once were most of Herald's peak memory.

use std::io::Write;

use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Jsonb;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::storable::{MAX_DEPTH, MAX_MAGNITUDE};

/// Valid JSON text (one value), as sent or as serialized from a value.
#[derive(Debug, Clone, AsExpression)]
#[diesel(sql_type = Jsonb)]
pub struct EventData(Box<RawValue>);

impl EventData {
    pub fn from_raw(raw: Box<RawValue>) -> Self {
        Self(raw)
    }

    /// The text of `value` (learning records arrive parsed: they are checked and rewritten).
    pub fn from_value(value: &serde_json::Value) -> Self {
        // Serializing a `Value` cannot fail: its keys are strings and its numbers finite.
        Self(serde_json::value::to_raw_value(value).expect("a JSON value serializes"))
    }

    pub fn text(&self) -> &str {
        self.0.get()
    }

    pub fn is_null(&self) -> bool {
        self.text() == "null"
    }

    /// The parsed value. Text that passed the syntax check can still fail here: a number
    /// beyond a double's range, nesting past serde_json's limit of 128, an escaped lone
    /// surrogate (`"\ud800"`); none of them is storable either (`holds_only_storable`).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.text())
    }

    /// Whether the text holds nothing `storable::problems` would name (NUL, a number beyond
    /// ±1e300, nesting deeper than `MAX_DEPTH`), checked while reading it, without a tree.
    pub fn holds_only_storable(&self) -> bool {
        let mut reader = serde_json::Deserializer::from_str(self.text());
        Storable { depth: 0 }.deserialize(&mut reader).is_ok()
    }
}

impl PartialEq for EventData {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl ToSql<Jsonb, Pg> for EventData {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        // jsonb's binary format: a version byte, then the JSON text.
        out.write_all(&[1])?;
        out.write_all(self.text().as_bytes())?;
        Ok(IsNull::No)
    }
}

/// Reads one value and fails at the first thing that cannot be stored.
struct Storable {
    depth: usize,
}

/// The reason is not kept: the caller finds every problem, by path, in the parsed value.
fn refused<E: de::Error>() -> E {
    E::custom("not storable")
}

impl<'de> DeserializeSeed<'de> for Storable {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Storable {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<(), E> {
        if n.is_finite() && n.abs() <= MAX_MAGNITUDE {
            Ok(())
        } else {
            Err(refused())
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        if text.contains('\0') {
            Err(refused())
        } else {
            Ok(())
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(refused());
        }
        while items
            .next_element_seed(Storable {
                depth: self.depth + 1,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(refused());
        }
        // A key is a string: the same check as a string value, at any depth.
        while members.next_key_seed(Storable { depth: 0 })?.is_some() {
            members.next_value_seed(Storable {
                depth: self.depth + 1,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(text: &str) -> EventData {
        EventData::from_raw(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn storable_text_agrees_with_the_problems_found_in_the_parsed_value() {
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        let mut shallow_enough = json!(1);
        for _ in 0..MAX_DEPTH - 1 {
            shallow_enough = json!({ "a": shallow_enough });
        }
        let cases = [
            json!({"user": {"id": 7, "email": "a@b.c"}, "tags": ["x", 1.5, -3, 1e299, null, true]}),
            json!({"name": "a\u{0}b"}),
            json!({"a\u{0}": 1}),
            json!({"deep": {"er": {"key\u{0}": 1}}}),
            json!({"n": 1.7976931348623157e308}),
            json!({"n": -1e301}),
            json!(["C:\\u0000dir", "line\none"]),
            deep,
            shallow_enough,
            json!(null),
        ];
        for value in cases {
            let from_text = data(&value.to_string()).holds_only_storable();
            let from_tree = super::super::storable::problems(&value, "data".into()).is_empty();
            assert_eq!(from_text, from_tree, "{value}");
        }
    }

    #[test]
    fn a_number_beyond_a_double_is_not_storable_and_has_no_value() {
        let huge = data(r#"{"n": 1e400}"#);
        assert!(!huge.holds_only_storable());
        assert!(huge.to_value().is_err());
        let surrogate = data(r#"{"k": "\ud800"}"#);
        assert!(!surrogate.holds_only_storable() && surrogate.to_value().is_err());
    }

    #[test]
    fn the_text_is_kept_as_sent_and_compared_by_text() {
        let sent = data(r#"{ "b": 1,  "a": [true] }"#);
        assert_eq!(sent.text(), r#"{ "b": 1,  "a": [true] }"#);
        assert_eq!(sent.to_value().unwrap(), json!({"a": [true], "b": 1}));
        assert_eq!(EventData::from_value(&json!({"b": 1})).text(), r#"{"b":1}"#);
        assert!(data("null").is_null() && !data("{}").is_null());
        assert_ne!(data("{}"), data("[]"));
    }
}
