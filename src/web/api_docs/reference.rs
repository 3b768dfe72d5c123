//! The API reference as the console shows it: the OpenAPI document (generated from the
//! handlers, see `web::api::openapi`) turned into plain rows for a template — each operation
//! with its parameters, request fields and responses, and every schema with its fields. It
//! reads the document as JSON, so it shows whatever the document says and cannot drift.

use serde_json::{Map, Value};

const SCHEMA_PREFIX: &str = "#/components/schemas/";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// How deep inline objects inside fields are spelled out (`a.b.c`).
const MAX_NESTING: usize = 3;

/// A piece of description text; `code` for what the document writes in backticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub code: bool,
}

/// A piece of a type as a reader sees it: words, or a schema's name linking to it below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypePart {
    pub text: String,
    pub schema: bool,
}

impl TypePart {
    fn words(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            schema: false,
        }
    }

    fn schema(name: &str) -> Self {
        Self {
            text: name.to_owned(),
            schema: true,
        }
    }

    /// The schema's anchor on the page (`schema-WebhookView`).
    pub fn anchor(&self) -> String {
        schema_anchor(&self.text)
    }
}

#[derive(Debug, Clone)]
pub struct Reference {
    pub title: String,
    pub version: String,
    pub description: Vec<Span>,
    pub groups: Vec<Group>,
    pub schemas: Vec<SchemaDoc>,
}

/// The operations of one tag.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub anchor: String,
    pub description: Vec<Span>,
    pub operations: Vec<Operation>,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub anchor: String,
    /// Upper case: `GET`.
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: Vec<Span>,
    pub parameters: Vec<Field>,
    pub body: Option<Body>,
    pub responses: Vec<ResponseDoc>,
}

impl Operation {
    pub fn method_class(&self) -> String {
        format!("method-{}", self.method.to_ascii_lowercase())
    }
}

/// A parameter (with where it goes) or a field of a body.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    /// `query` or `path` for parameters; empty for fields.
    pub location: String,
    pub kind: Vec<TypePart>,
    pub required: bool,
    pub description: Vec<Span>,
}

#[derive(Debug, Clone)]
pub struct Body {
    pub content_types: Vec<String>,
    pub kind: Vec<TypePart>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub struct ResponseDoc {
    pub status: String,
    pub description: Vec<Span>,
    pub kind: Vec<TypePart>,
    /// Response headers: name and what they say.
    pub headers: Vec<(String, String)>,
}

impl ResponseDoc {
    pub fn status_class(&self) -> &'static str {
        match self.status.chars().next() {
            Some('2') => "code-2xx",
            Some('3') => "code-3xx",
            Some('4') => "code-4xx",
            Some('5') => "code-5xx",
            _ => "",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SchemaDoc {
    pub name: String,
    pub anchor: String,
    pub description: Vec<Span>,
    pub kind: Vec<TypePart>,
    pub fields: Vec<Field>,
}

/// Everything the page shows, from the OpenAPI document as JSON.
pub fn build(doc: &Value) -> Reference {
    let empty = Map::new();
    let schemas = doc["components"]["schemas"].as_object().unwrap_or(&empty);
    let mut groups: Vec<Group> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tag| {
            let name = tag["name"].as_str()?;
            Some(group(name, text(&tag["description"])))
        })
        .collect();
    for (path, item) in doc["paths"].as_object().unwrap_or(&empty) {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let tag = op["tags"][0].as_str().unwrap_or("other");
            let index = match groups.iter().position(|g| g.name == tag) {
                Some(index) => index,
                None => {
                    groups.push(group(tag, Vec::new()));
                    groups.len() - 1
                }
            };
            groups[index]
                .operations
                .push(operation(schemas, method, path, op));
        }
    }
    groups.retain(|g| !g.operations.is_empty());
    Reference {
        title: doc["info"]["title"].as_str().unwrap_or("API").to_owned(),
        version: doc["info"]["version"].as_str().unwrap_or("").to_owned(),
        description: text(&doc["info"]["description"]),
        groups,
        schemas: schemas
            .iter()
            .map(|(name, schema)| SchemaDoc {
                name: name.clone(),
                anchor: schema_anchor(name),
                description: text(&schema["description"]),
                kind: shape(schemas, schema, true),
                fields: fields(schemas, schema, "", 0),
            })
            .collect(),
    }
}

fn group(name: &str, description: Vec<Span>) -> Group {
    Group {
        name: name.to_owned(),
        anchor: format!("tag-{}", slug(name)),
        description,
        operations: Vec::new(),
    }
}

fn operation(schemas: &Map<String, Value>, method: &str, path: &str, op: &Value) -> Operation {
    let parameters = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Field {
            name: p["name"].as_str().unwrap_or("").to_owned(),
            location: p["in"].as_str().unwrap_or("").to_owned(),
            kind: describe(schemas, &p["schema"]),
            required: p["required"].as_bool().unwrap_or(false),
            description: text(&p["description"]),
        })
        .collect();
    let body = op["requestBody"]["content"].as_object().map(|content| {
        let schema = content
            .values()
            .next()
            .map_or(&Value::Null, |c| &c["schema"]);
        Body {
            content_types: content.keys().cloned().collect(),
            kind: describe(schemas, schema),
            fields: fields(schemas, schema, "", 0),
        }
    });
    let responses = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, response)| {
            let mut description = text(&response["description"]);
            if description.is_empty() {
                description = plain(reason(status));
            }
            let schema = response["content"]
                .as_object()
                .and_then(|content| content.values().next())
                .map_or(&Value::Null, |c| &c["schema"]);
            ResponseDoc {
                status: status.clone(),
                description,
                kind: if schema.is_null() {
                    Vec::new()
                } else {
                    describe(schemas, schema)
                },
                headers: response["headers"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, header)| {
                        let about = header["description"].as_str().unwrap_or("");
                        (name.clone(), about.to_owned())
                    })
                    .collect(),
            }
        })
        .collect();
    Operation {
        anchor: format!("{method}-{}", slug(path)),
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
        summary: op["summary"].as_str().unwrap_or("").to_owned(),
        description: text(&op["description"]),
        parameters,
        body,
        responses,
    }
}

/// A schema as a type name: a link for a named schema (or an inline copy of one), else its
/// shape.
fn describe(schemas: &Map<String, Value>, schema: &Value) -> Vec<TypePart> {
    shape(schemas, schema, false)
}

/// `own`: describing a named schema itself, so it must not be shown as a link to itself.
fn shape(schemas: &Map<String, Value>, schema: &Value, own: bool) -> Vec<TypePart> {
    if let Some(name) = schema["$ref"].as_str() {
        return vec![TypePart::schema(name.trim_start_matches(SCHEMA_PREFIX))];
    }
    for (key, joiner) in [("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")] {
        if let Some(options) = schema[key].as_array() {
            return join(options.iter().map(|s| describe(schemas, s)), joiner);
        }
    }
    if !own && let Some((name, _)) = schemas.iter().find(|(_, named)| *named == schema) {
        return vec![TypePart::schema(name)];
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let nullable = types.contains(&"null");
    let mut parts = join(
        types
            .iter()
            .filter(|t| **t != "null")
            .map(|t| one_type(schemas, schema, t)),
        " or ",
    );
    if parts.is_empty() {
        parts.push(TypePart::words(if nullable { "null" } else { "any" }));
    } else if nullable {
        parts.push(TypePart::words(" or null"));
    }
    parts
}

fn one_type(schemas: &Map<String, Value>, schema: &Value, kind: &str) -> Vec<TypePart> {
    match kind {
        "array" => {
            let mut parts = vec![TypePart::words("array of ")];
            parts.extend(describe(schemas, &schema["items"]));
            parts
        }
        "object" if schema["additionalProperties"].is_object() => {
            let mut parts = vec![TypePart::words("object of name → ")];
            parts.extend(describe(schemas, &schema["additionalProperties"]));
            parts
        }
        _ => {
            let mut words = kind.to_owned();
            if let Some(values) = schema["enum"].as_array() {
                let values: Vec<String> = values
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect();
                words.push_str(&format!(": {}", values.join(" | ")));
            } else if let Some(format) = schema["format"].as_str()
                // Sizes of numbers say nothing to a reader of JSON.
                && !matches!(format, "int32" | "int64" | "double" | "float")
            {
                words.push_str(&format!(" ({format})"));
            }
            vec![TypePart::words(words)]
        }
    }
}

fn join(parts: impl Iterator<Item = Vec<TypePart>>, joiner: &str) -> Vec<TypePart> {
    let mut out = Vec::new();
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push(TypePart::words(joiner));
        }
        out.extend(part);
    }
    out
}

/// The fields of an object schema (through a reference, and every part of an `allOf`); an
/// inline object inside a field is spelled out as `field.inner` (and `field[].inner` for an
/// array of them).
fn fields(schemas: &Map<String, Value>, schema: &Value, prefix: &str, depth: usize) -> Vec<Field> {
    if depth > MAX_NESTING {
        return Vec::new();
    }
    if let Some(name) = schema["$ref"].as_str() {
        let name = name.trim_start_matches(SCHEMA_PREFIX);
        return match schemas.get(name) {
            // A named schema nested in a field has its own entry below: link, don't repeat.
            Some(named) if depth == 0 => fields(schemas, named, prefix, depth),
            _ => Vec::new(),
        };
    }
    if let Some(parts) = schema["allOf"].as_array() {
        return parts
            .iter()
            .flat_map(|part| fields(schemas, part, prefix, depth))
            .collect();
    }
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut out = Vec::new();
    for (name, property) in properties {
        let full = format!("{prefix}{name}");
        out.push(Field {
            name: full.clone(),
            location: String::new(),
            kind: describe(schemas, property),
            required: required.contains(&name.as_str()),
            description: text(&property["description"]),
        });
        let named = |s: &Value| schemas.values().any(|n| n == s);
        if property["properties"].is_object() && !named(property) {
            out.extend(fields(schemas, property, &format!("{full}."), depth + 1));
        } else if property["items"]["properties"].is_object() && !named(&property["items"]) {
            out.extend(fields(
                schemas,
                &property["items"],
                &format!("{full}[]."),
                depth + 1,
            ));
        }
    }
    out
}

/// Description text with its `code` spans; empty for no text.
fn text(value: &Value) -> Vec<Span> {
    let Some(raw) = value.as_str() else {
        return Vec::new();
    };
    raw.split('`')
        .enumerate()
        .filter(|(_, piece)| !piece.is_empty())
        .map(|(i, piece)| Span {
            text: piece.to_owned(),
            code: i % 2 == 1,
        })
        .collect()
}

fn plain(words: &str) -> Vec<Span> {
    vec![Span {
        text: words.to_owned(),
        code: false,
    }]
}

fn reason(status: &str) -> &'static str {
    status
        .parse::<u16>()
        .ok()
        .and_then(|code| actix_web::http::StatusCode::from_u16(code).ok())
        .and_then(|code| code.canonical_reason())
        .unwrap_or("")
}

fn schema_anchor(name: &str) -> String {
    format!("schema-{}", slug(name))
}

/// Lower-case letters, digits and dashes: `/api/v1/webhooks/{id}` → `api-v1-webhooks-id`.
fn slug(raw: &str) -> String {
    raw.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|piece| !piece.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(parts: &[TypePart]) -> String {
        parts
            .iter()
            .map(|p| {
                if p.schema {
                    format!("[{}]", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    fn sample() -> Value {
        json!({
            "info": {"title": "Herald API", "version": "1.2.3", "description": "Use `Bearer` tokens."},
            "tags": [{"name": "webhooks", "description": "Receivers."}],
            "paths": {
                "/api/v1/webhooks/{id}": {
                    "patch": {
                        "tags": ["webhooks"], "summary": "Change a webhook",
                        "parameters": [{"name": "id", "in": "path", "required": true,
                                        "schema": {"type": "integer", "format": "int64"}}],
                        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Req"}}}},
                        "responses": {
                            "200": {"description": "", "content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "integer"}}}}}},
                            "503": {"description": "Busy", "headers": {"Retry-After": {"description": "Seconds"}}}
                        }
                    },
                    "get": {"tags": ["webhooks"], "summary": "Get a webhook", "responses": {}}
                },
                "/api/v1/events": {"post": {"tags": ["events"], "responses": {}}}
            },
            "components": {"schemas": {
                "Req": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string", "description": "Unique, `1–120` characters."},
                    "limit": {"type": ["integer", "null"], "format": "int32"},
                    "state": {"$ref": "#/components/schemas/State"},
                    "headers": {"type": ["array", "null"], "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                    "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                    "when": {"type": "string", "format": "date-time"},
                    "copy": {"type": "string", "enum": ["a", "b"]}
                }},
                "State": {"type": "string", "enum": ["a", "b"]},
                "Body": {"oneOf": [{"$ref": "#/components/schemas/Req"}, {"type": "array", "items": {"$ref": "#/components/schemas/Req"}}]}
            }}
        })
    }

    #[test]
    fn operations_are_grouped_by_tag_in_the_documents_tag_order() {
        let reference = build(&sample());
        let names: Vec<&str> = reference.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["webhooks", "events"]);
        let ops: Vec<(&str, &str)> = reference.groups[0]
            .operations
            .iter()
            .map(|o| (o.method.as_str(), o.anchor.as_str()))
            .collect();
        assert_eq!(
            ops,
            [
                ("GET", "get-api-v1-webhooks-id"),
                ("PATCH", "patch-api-v1-webhooks-id")
            ]
        );
        assert_eq!(
            reference.description,
            [
                Span {
                    text: "Use ".into(),
                    code: false
                },
                Span {
                    text: "Bearer".into(),
                    code: true
                },
                Span {
                    text: " tokens.".into(),
                    code: false
                },
            ]
        );
    }

    #[test]
    fn parameters_body_fields_and_responses_are_spelled_out() {
        let reference = build(&sample());
        let patch = &reference.groups[0].operations[1];
        assert_eq!(patch.parameters[0].name, "id");
        assert_eq!(patch.parameters[0].location, "path");
        assert!(patch.parameters[0].required);
        assert_eq!(words(&patch.parameters[0].kind), "integer");

        let body = patch.body.as_ref().unwrap();
        assert_eq!(body.content_types, ["application/json"]);
        assert_eq!(words(&body.kind), "[Req]");
        let by_name = |name: &str| body.fields.iter().find(|f| f.name == name).unwrap();
        assert!(by_name("name").required && !by_name("limit").required);
        assert_eq!(words(&by_name("limit").kind), "integer or null");
        assert_eq!(words(&by_name("state").kind), "[State]");
        assert_eq!(words(&by_name("headers").kind), "array of object or null");
        assert_eq!(by_name("headers[].name").location, "");
        assert_eq!(
            words(&by_name("errors").kind),
            "object of name → array of string"
        );
        assert_eq!(words(&by_name("when").kind), "string (date-time)");
        // An inline copy of a named schema links to it.
        assert_eq!(words(&by_name("copy").kind), "[State]");

        assert_eq!(patch.responses[0].status, "200");
        // No description in the document: the status's reason.
        assert_eq!(patch.responses[0].description, plain("OK"));
        assert_eq!(
            patch.responses[1].headers,
            [("Retry-After".to_owned(), "Seconds".to_owned())]
        );
        assert!(patch.responses[1].kind.is_empty());
    }

    #[test]
    fn every_schema_is_listed_with_its_own_shape() {
        let reference = build(&sample());
        let names: Vec<&str> = reference.schemas.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Req", "State", "Body"]);
        assert_eq!(words(&reference.schemas[1].kind), "string: a | b");
        assert_eq!(words(&reference.schemas[2].kind), "[Req] or array of [Req]");
        assert_eq!(reference.schemas[0].anchor, "schema-req");
        assert_eq!(reference.schemas[0].fields.len(), 8);
    }
}
