//! The xAPI 1.0.3 data rules an LRS enforces on a statement (xAPI-Data, section 2): the
//! properties each object may have, the types of their values, one identifier per Agent,
//! IRIs, language maps, UUIDs in their canonical form, scores within range, ISO 8601 times
//! and durations. `Err` says what is wrong, naming the property.

use chrono::DateTime;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::iri;

/// The verb id and, for an Activity object, its `definition.type`.
pub struct Checked {
    pub verb_id: String,
    pub activity_type: Option<String>,
}

const STATEMENT: &[&str] = &[
    "id",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "stored",
    "authority",
    "version",
    "attachments",
];
const SUB_STATEMENT: &[&str] = &[
    "objectType",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "attachments",
];

/// A statement id: a UUID in its canonical 8-4-4-4-12 form (either case).
pub fn statement_id(raw: &str) -> Option<Uuid> {
    let canonical = raw.len() == 36
        && raw.char_indices().all(|(at, c)| match at {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    canonical.then(|| Uuid::parse_str(raw).ok()).flatten()
}

pub fn statement(members: &Map<String, Value>) -> Result<Checked, String> {
    only(members, STATEMENT, "a statement")?;
    if let Some(id) = members.get("id") {
        uuid_of(id, "id")?;
    }
    agent_or_group(required(members, "actor", "the statement")?, "actor")?;
    let verb_id = verb(required(members, "verb", "the statement")?)?;
    let activity_type = object(
        required(members, "object", "the statement")?,
        "object",
        true,
    )?;
    if let Some(value) = members.get("result") {
        result(value)?;
    }
    if let Some(value) = members.get("context") {
        context(value)?;
    }
    for field in ["timestamp", "stored"] {
        if let Some(value) = members.get(field) {
            timestamp(value, field)?;
        }
    }
    if let Some(value) = members.get("authority") {
        agent_or_group(value, "authority")?;
    }
    if let Some(value) = members.get("version")
        && !value.as_str().is_some_and(is_1_0_x)
    {
        return Err("\"version\" must be 1.0 or 1.0.x".into());
    }
    if let Some(value) = members.get("attachments") {
        attachments(value)?;
    }
    Ok(Checked {
        verb_id,
        activity_type,
    })
}

/// `1.0` or `1.0.N`.
pub fn is_1_0_x(version: &str) -> bool {
    match version.strip_prefix("1.0") {
        Some("") => true,
        Some(rest) => rest.strip_prefix('.').is_some_and(|n| {
            !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit())
        }),
        None => false,
    }
}

fn required<'a>(members: &'a Map<String, Value>, key: &str, of: &str) -> Result<&'a Value, String> {
    members
        .get(key)
        .ok_or_else(|| format!("\"{key}\" is required in {of}"))
}

fn object_of<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("\"{field}\" must be an object"))
}

fn only(members: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match members.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(format!("unknown property \"{}\" in {what}", clip(unknown))),
        None => Ok(()),
    }
}

fn uuid_of(value: &Value, field: &str) -> Result<Uuid, String> {
    value
        .as_str()
        .and_then(statement_id)
        .ok_or_else(|| format!("\"{field}\" must be a UUID (8-4-4-4-12 hexadecimal digits)"))
}

fn iri_of<'a>(value: &'a Value, field: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .filter(|v| iri::is_iri(v))
        .ok_or_else(|| format!("\"{field}\" must be an absolute IRI"))
}

fn string_of<'a>(value: &'a Value, field: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("\"{field}\" must be a string"))
}

/// `{"en-US": "completed", …}`: language tags to strings.
fn language_map(value: &Value, field: &str) -> Result<(), String> {
    let map = object_of(value, field)?;
    for (tag, text) in map {
        if !is_language_tag(tag) {
            return Err(format!(
                "\"{field}\" has \"{}\", which is not a language tag",
                clip(tag)
            ));
        }
        if !text.is_string() {
            return Err(format!("\"{field}.{tag}\" must be a string"));
        }
    }
    Ok(())
}

/// RFC 5646 in outline: subtags of 1–8 letters or digits joined by hyphens, the first letters.
fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    subtags.next().is_some_and(|first| {
        (1..=8).contains(&first.len()) && first.bytes().all(|b| b.is_ascii_alphabetic())
    }) && subtags
        .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn extensions(value: &Value, field: &str) -> Result<(), String> {
    let map = object_of(value, field)?;
    match map.keys().find(|k| !iri::is_iri(k)) {
        Some(key) => Err(format!(
            "\"{field}\" key \"{}\" must be an absolute IRI",
            clip(key)
        )),
        None => Ok(()),
    }
}

fn agent_or_group(value: &Value, field: &str) -> Result<(), String> {
    let members = object_of(value, field)?;
    let is_group = match members.get("objectType") {
        None => false,
        Some(Value::String(kind)) if kind == "Agent" => false,
        Some(Value::String(kind)) if kind == "Group" => true,
        Some(_) => {
            return Err(format!(
                "\"{field}.objectType\" must be \"Agent\" or \"Group\""
            ));
        }
    };
    let allowed: &[&str] = if is_group {
        &[
            "objectType",
            "name",
            "mbox",
            "mbox_sha1sum",
            "openid",
            "account",
            "member",
        ]
    } else {
        &[
            "objectType",
            "name",
            "mbox",
            "mbox_sha1sum",
            "openid",
            "account",
        ]
    };
    only(members, allowed, &format!("\"{field}\""))?;
    if let Some(name) = members.get("name") {
        string_of(name, &format!("{field}.name"))?;
    }
    let identifiers = ["mbox", "mbox_sha1sum", "openid", "account"]
        .iter()
        .filter(|k| members.contains_key(**k))
        .count();
    if identifiers > 1 {
        return Err(format!(
            "\"{field}\" must have exactly one inverse functional identifier"
        ));
    }
    if identifiers == 0 && !is_group {
        return Err(format!(
            "\"{field}\" needs one of mbox, mbox_sha1sum, openid or account"
        ));
    }
    if let Some(mbox) = members.get("mbox")
        && !mbox.as_str().is_some_and(is_mailto)
    {
        return Err(format!(
            "\"{field}.mbox\" must be a mailto: IRI with an address, such as mailto:learner@example.edu"
        ));
    }
    if let Some(sum) = members.get("mbox_sha1sum")
        && !sum
            .as_str()
            .is_some_and(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(format!(
            "\"{field}.mbox_sha1sum\" must be 40 hexadecimal digits"
        ));
    }
    if let Some(openid) = members.get("openid") {
        iri_of(openid, &format!("{field}.openid"))?;
    }
    if let Some(account) = members.get("account") {
        let account_field = format!("{field}.account");
        let account = object_of(account, &account_field)?;
        only(
            account,
            &["homePage", "name"],
            &format!("\"{account_field}\""),
        )?;
        iri_of(
            required(account, "homePage", &account_field)?,
            &format!("{account_field}.homePage"),
        )?;
        let name = string_of(
            required(account, "name", &account_field)?,
            &format!("{account_field}.name"),
        )?;
        if name.is_empty() {
            return Err(format!("\"{account_field}.name\" must not be empty"));
        }
    }
    if let Some(member) = members.get("member") {
        let list = member
            .as_array()
            .ok_or_else(|| format!("\"{field}.member\" must be an array of Agents"))?;
        if list.is_empty() && identifiers == 0 {
            return Err(format!("an anonymous Group (\"{field}\") needs members"));
        }
        for (index, agent) in list.iter().enumerate() {
            if agent.get("objectType").is_some_and(|t| t != "Agent") {
                return Err(format!("\"{field}.member[{index}]\" must be an Agent"));
            }
            agent_or_group(agent, &format!("{field}.member[{index}]"))?;
        }
    } else if identifiers == 0 {
        return Err(format!("an anonymous Group (\"{field}\") needs members"));
    }
    Ok(())
}

/// `mailto:` and an address: something@something, without spaces, quotes or brackets.
fn is_mailto(value: &str) -> bool {
    let Some(address) = value.strip_prefix("mailto:") else {
        return false;
    };
    let mut parts = address.split('@');
    matches!((parts.next(), parts.next(), parts.next()),
        (Some(local), Some(domain), None) if !local.is_empty() && !domain.is_empty())
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"<>()[]\\,;:".contains(c))
}

fn verb(value: &Value) -> Result<String, String> {
    let members = object_of(value, "verb")?;
    only(members, &["id", "display"], "\"verb\"")?;
    let id = iri_of(required(members, "id", "\"verb\"")?, "verb.id")?;
    if let Some(display) = members.get("display") {
        language_map(display, "verb.display")?;
    }
    Ok(id.to_owned())
}

/// Checks an object (or a SubStatement's); gives an Activity's `definition.type`.
fn object(value: &Value, field: &str, allow_sub: bool) -> Result<Option<String>, String> {
    let members = object_of(value, field)?;
    let kind = match members.get("objectType") {
        None => "Activity",
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(format!("\"{field}.objectType\" must be a string")),
    };
    match kind {
        "Activity" => activity(members, field),
        "Agent" | "Group" => agent_or_group(value, field).map(|_| None),
        "StatementRef" => {
            only(members, &["objectType", "id"], &format!("\"{field}\""))?;
            uuid_of(required(members, "id", field)?, &format!("{field}.id")).map(|_| None)
        }
        "SubStatement" if allow_sub => {
            only(members, SUB_STATEMENT, &format!("\"{field}\""))?;
            agent_or_group(
                required(members, "actor", field)?,
                &format!("{field}.actor"),
            )?;
            verb(required(members, "verb", field)?)?;
            object(
                required(members, "object", field)?,
                &format!("{field}.object"),
                false,
            )?;
            if let Some(value) = members.get("result") {
                result(value)?;
            }
            if let Some(value) = members.get("context") {
                context(value)?;
            }
            if let Some(value) = members.get("timestamp") {
                timestamp(value, &format!("{field}.timestamp"))?;
            }
            Ok(None)
        }
        "SubStatement" => Err("a SubStatement cannot hold another".into()),
        other => Err(format!(
            "unknown \"{field}.objectType\" \"{}\"",
            clip(other)
        )),
    }
}

fn activity(members: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    only(
        members,
        &["objectType", "id", "definition"],
        &format!("the Activity \"{field}\""),
    )?;
    iri_of(required(members, "id", field)?, &format!("{field}.id"))?;
    let Some(definition) = members.get("definition") else {
        return Ok(None);
    };
    let at = format!("{field}.definition");
    let definition = object_of(definition, &at)?;
    only(
        definition,
        &[
            "name",
            "description",
            "type",
            "moreInfo",
            "extensions",
            "interactionType",
            "correctResponsesPattern",
            "choices",
            "scale",
            "source",
            "target",
            "steps",
        ],
        &format!("\"{at}\""),
    )?;
    for map in ["name", "description"] {
        if let Some(value) = definition.get(map) {
            language_map(value, &format!("{at}.{map}"))?;
        }
    }
    if let Some(value) = definition.get("moreInfo") {
        iri_of(value, &format!("{at}.moreInfo"))?;
    }
    if let Some(value) = definition.get("extensions") {
        extensions(value, &format!("{at}.extensions"))?;
    }
    definition
        .get("type")
        .map(|t| iri_of(t, &format!("{at}.type")).map(str::to_owned))
        .transpose()
}

fn result(value: &Value) -> Result<(), String> {
    let members = object_of(value, "result")?;
    only(
        members,
        &[
            "score",
            "success",
            "completion",
            "response",
            "duration",
            "extensions",
        ],
        "\"result\"",
    )?;
    if let Some(score) = members.get("score") {
        let score = object_of(score, "result.score")?;
        only(score, &["scaled", "raw", "min", "max"], "\"result.score\"")?;
        let mut numbers = [None; 4];
        for (slot, key) in numbers.iter_mut().zip(["scaled", "raw", "min", "max"]) {
            if let Some(value) = score.get(key) {
                *slot = Some(
                    value
                        .as_f64()
                        .ok_or_else(|| format!("\"result.score.{key}\" must be a number"))?,
                );
            }
        }
        let [scaled, raw, min, max] = numbers;
        if scaled.is_some_and(|s| !(-1.0..=1.0).contains(&s)) {
            return Err("\"result.score.scaled\" must be a number from -1 to 1".into());
        }
        if let (Some(min), Some(max)) = (min, max)
            && min >= max
        {
            return Err("\"result.score.min\" must be below \"max\"".into());
        }
        if let (Some(raw), Some(min)) = (raw, min)
            && raw < min
        {
            return Err("\"result.score.raw\" is below \"min\"".into());
        }
        if let (Some(raw), Some(max)) = (raw, max)
            && raw > max
        {
            return Err("\"result.score.raw\" is above \"max\"".into());
        }
    }
    for flag in ["success", "completion"] {
        if members.get(flag).is_some_and(|v| !v.is_boolean()) {
            return Err(format!("\"result.{flag}\" must be true or false"));
        }
    }
    if let Some(response) = members.get("response") {
        string_of(response, "result.response")?;
    }
    if let Some(duration) = members.get("duration")
        && !duration.as_str().is_some_and(is_duration)
    {
        return Err("\"result.duration\" must be an ISO 8601 duration, such as PT4M30S".into());
    }
    if let Some(value) = members.get("extensions") {
        extensions(value, "result.extensions")?;
    }
    Ok(())
}

/// ISO 8601 durations as xAPI uses them: `P[nY][nM][nW][nD][T[nH][nM][n[.n]S]]`.
fn is_duration(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (rest, None),
    };
    let parts = |text: &str, units: &str| -> Option<usize> {
        let mut count = 0;
        let mut number = String::new();
        let mut allowed = units.chars();
        for c in text.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            // Each unit at most once, in order.
            allowed.by_ref().find(|u| *u == c)?;
            number.parse::<f64>().ok()?;
            number.clear();
            count += 1;
        }
        number.is_empty().then_some(count)
    };
    match (parts(date, "YMWD"), time.map(|t| parts(t, "HMS"))) {
        (Some(d), None) => d > 0,
        (Some(_), Some(Some(t))) => t > 0,
        _ => false,
    }
}

fn context(value: &Value) -> Result<(), String> {
    let members = object_of(value, "context")?;
    only(
        members,
        &[
            "registration",
            "instructor",
            "team",
            "contextActivities",
            "revision",
            "platform",
            "language",
            "statement",
            "extensions",
        ],
        "\"context\"",
    )?;
    if let Some(value) = members.get("registration") {
        uuid_of(value, "context.registration")?;
    }
    if let Some(value) = members.get("instructor") {
        agent_or_group(value, "context.instructor")?;
    }
    if let Some(value) = members.get("team") {
        agent_or_group(value, "context.team")?;
    }
    for text in ["revision", "platform", "language"] {
        if let Some(value) = members.get(text) {
            string_of(value, &format!("context.{text}"))?;
        }
    }
    if let Some(value) = members.get("statement") {
        let reference = object_of(value, "context.statement")?;
        if reference.get("objectType").and_then(Value::as_str) != Some("StatementRef") {
            return Err("\"context.statement\" must be a StatementRef".into());
        }
        object(value, "context.statement", false)?;
    }
    if let Some(value) = members.get("contextActivities") {
        let activities = object_of(value, "context.contextActivities")?;
        only(
            activities,
            &["parent", "grouping", "category", "other"],
            "\"context.contextActivities\"",
        )?;
        for (key, value) in activities {
            let field = format!("context.contextActivities.{key}");
            let list: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                Value::Object(_) => vec![value],
                _ => {
                    return Err(format!(
                        "\"{field}\" must be an Activity or an array of them"
                    ));
                }
            };
            for (index, item) in list.into_iter().enumerate() {
                let at = format!("{field}[{index}]");
                let item_members = object_of(item, &at)?;
                if item_members
                    .get("objectType")
                    .is_some_and(|t| t != "Activity")
                {
                    return Err(format!("\"{at}\" must be an Activity"));
                }
                activity(item_members, &at)?;
            }
        }
    }
    if let Some(value) = members.get("extensions") {
        extensions(value, "context.extensions")?;
    }
    Ok(())
}

fn timestamp(value: &Value, field: &str) -> Result<(), String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("\"{field}\" must be a string"))?;
    if text.ends_with("-00:00") || DateTime::parse_from_rfc3339(text).is_err() {
        return Err(format!(
            "\"{field}\" must be an ISO 8601 date-time with a time zone, not \"{}\"",
            clip(text)
        ));
    }
    Ok(())
}

fn attachments(value: &Value) -> Result<(), String> {
    let list = value.as_array().ok_or("\"attachments\" must be an array")?;
    for (index, item) in list.iter().enumerate() {
        let field = format!("attachments[{index}]");
        let members = object_of(item, &field)?;
        only(
            members,
            &[
                "usageType",
                "display",
                "description",
                "contentType",
                "length",
                "sha2",
                "fileUrl",
            ],
            &format!("\"{field}\""),
        )?;
        iri_of(
            required(members, "usageType", &field)?,
            &format!("{field}.usageType"),
        )?;
        language_map(
            required(members, "display", &field)?,
            &format!("{field}.display"),
        )?;
        string_of(
            required(members, "contentType", &field)?,
            &format!("{field}.contentType"),
        )?;
        if !required(members, "length", &field)?.is_u64() {
            return Err(format!("\"{field}.length\" must be a whole number"));
        }
        string_of(required(members, "sha2", &field)?, &format!("{field}.sha2"))?;
    }
    Ok(())
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"actor": {"mbox": "mailto:a@example.org"},
               "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
               "object": {"id": "http://x.example/o"}})
    }

    fn with(pointer: &str, value: Value) -> Value {
        let mut s = base();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut s
        } else {
            s.pointer_mut(parent).unwrap()
        };
        target[key] = value;
        s
    }

    fn check(value: &Value) -> Result<Checked, String> {
        statement(value.as_object().unwrap())
    }

    #[test]
    fn a_plain_statement_passes() {
        assert!(check(&base()).is_ok());
        let full = with(
            "/result",
            json!({"score": {"scaled": 0.5, "raw": 5, "min": 0, "max": 10}, "duration": "PT4M30.5S", "success": true}),
        );
        assert!(check(&full).is_ok());
        assert!(check(&with("/context", json!({"contextActivities": {"parent": [{"id": "http://x.example/c"}]}, "registration": "0f7b8ed8-6d3c-4d5c-8d1e-3c1c6f9e2a11"}))).is_ok());
        assert!(
            check(&with(
                "/actor",
                json!({"objectType": "Group", "member": [{"mbox": "mailto:a@example.org"}]})
            ))
            .is_ok()
        );
    }

    #[test]
    fn what_an_lrs_refuses_is_refused_with_the_property_named() {
        let cases: Vec<(Value, &str)> = vec![
            (with("/version", json!("1.0garbage")), "version"),
            (with("/attachments", json!("nope")), "attachments"),
            (with("/stored", json!("not a date")), "stored"),
            (with("/authority", json!(5)), "authority"),
            (
                with(
                    "/object",
                    json!({"objectType": "SubStatement", "actor": 1, "verb": 2, "object": 3}),
                ),
                "object.actor",
            ),
            (
                with("/result", json!({"score": {"raw": "x"}})),
                "result.score.raw",
            ),
            (with("/result", json!({"duration": "forever"})), "duration"),
            (
                with("/object/definition", json!({"type": 5})),
                "definition.type",
            ),
            (
                with("/object/definition", json!({"name": "notamap"})),
                "definition.name",
            ),
            (
                with("/verb/display", json!({"not a lang tag!": "x"})),
                "language tag",
            ),
            (with("/actor", json!({"mbox": "mailto:@"})), "mbox"),
            (
                with(
                    "/actor",
                    json!({"mbox": "mailto:\"><svg onload=x>@evil.example"}),
                ),
                "mbox",
            ),
            (with("/actor", json!({"mbox_sha1sum": 5})), "mbox_sha1sum"),
            (with("/actor", json!({"openid": "not a uri"})), "openid"),
            (
                with(
                    "/actor",
                    json!({"objectType": 5, "mbox": "mailto:a@example.org"}),
                ),
                "objectType",
            ),
            (with("/object/objectType", json!(null)), "objectType"),
            (with("/object/extra", json!(1)), "extra"),
            (
                with("/context", json!({"contextActivities": {"parent": "x"}})),
                "parent",
            ),
            (
                with("/actor", json!({"objectType": "Group", "member": []})),
                "anonymous Group",
            ),
            (
                with("/timestamp", json!("2026-11-04T15:00:00-00:00")),
                "timestamp",
            ),
            (
                with("/object/id", json!("https://lms.example/c/1?x=\"><script>")),
                "object.id",
            ),
            (
                with("/id", json!("{0f7b8ed8-6d3c-4d5c-8d1e-3c1c6f9e2a11}")),
                "id",
            ),
            (
                with(
                    "/id",
                    json!("urn:uuid:0f7b8ed8-6d3c-4d5c-8d1e-3c1c6f9e2a11"),
                ),
                "id",
            ),
            (with("/id", json!("0f7b8ed86d3c4d5c8d1e3c1c6f9e2a11")), "id"),
            (with("/colour", json!("red")), "colour"),
        ];
        for (statement, expected) in cases {
            let problem = check(&statement)
                .err()
                .unwrap_or_else(|| panic!("accepted: {statement}"));
            assert!(problem.contains(expected), "{statement} → {problem}");
        }
    }

    #[test]
    fn versions_and_durations() {
        for good in ["1.0", "1.0.0", "1.0.3"] {
            assert!(is_1_0_x(good), "{good}");
        }
        for bad in ["1.05", "1.0garbage", "1.0.", "2.0.0", ""] {
            assert!(!is_1_0_x(bad), "{bad}");
        }
        for good in ["PT4M30S", "P1D", "P1Y2M3DT4H5M6.5S", "PT0.25S"] {
            assert!(is_duration(good), "{good}");
        }
        for bad in ["P", "PT", "forever", "P1S", "PT1D", "P1M1Y", "4M"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }
}
