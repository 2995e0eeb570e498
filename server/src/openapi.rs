//! The API document as served at `/v1/openapi.json` and kept in
//! `server/openapi.json`: what utoipa derives from the handlers and the
//! protocol types, completed with the two things its derive cannot say.
//!
//! - **Every answer an operation can give.** The refusals that come from an
//!   operation's shape rather than its logic are added here, once, from that
//!   shape: a body can be malformed (400), too large (413) or not JSON (415);
//!   a parameter can be invalid (400); a credential can be missing or refused
//!   (401); and any operation that reaches PostgreSQL can find it gone (503).
//!   Refusals that come from an operation's logic (403, 404, 409, 429) are
//!   listed on the handler itself, next to the code that returns them.
//! - **Tagged variants that wrap a struct.** serde writes
//!   `ObservationValue::Quantity(Quantity)` as one object, `{"kind":
//!   "quantity", "value": .., "unit": ..}`; utoipa describes it as an `allOf`
//!   of the struct (which admits no other field) and the tag (which the struct
//!   refuses), a schema that no value satisfies. Such an `allOf` is flattened
//!   into the one object the wire carries.

use serde_json::{Map, Value, json};

/// The standard refusals, as `components.responses`, each with the error body.
const STANDARD: &[(&str, &str, &str)] = &[
    (
        "400",
        "BadRequest",
        "The request is malformed: a body that is not valid JSON or not of the documented shape, or a parameter or cursor out of its documented range. `code` says which; `message` names the field, never its value.",
    ),
    ("401", "Unauthorized", "No credential, or one the service does not accept (unknown, expired, revoked)."),
    ("413", "PayloadTooLarge", "The body is larger than the service accepts (`body_too_large`): send smaller batches."),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not sent as `Content-Type: application/json` (`unsupported_media_type`).",
    ),
    (
        "503",
        "DatabaseUnavailable",
        "The central database is unreachable (`database_unavailable`), or a concurrent change to the same records rolled this request back whole (`concurrent_change`); the message says what to do. Retry later.",
    ),
];

/// Operations that never touch the database, so never answer 503 for it.
const NO_DATABASE: &[&str] = &["/v1/openapi.json"];

/// Completes the document utoipa generated (see the module docs).
pub fn complete(doc: &mut Value) {
    let responses = doc.pointer_mut("/components").and_then(Value::as_object_mut).map(|components| {
        let responses = components.entry("responses").or_insert_with(|| json!({}));
        for (_, name, description) in STANDARD {
            responses[*name] = json!({
                "description": description,
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiError" } } }
            });
        }
    });
    debug_assert!(responses.is_some(), "the document has components");
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, operation) in item.iter_mut() {
                if matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                    add_standard_responses(path, operation);
                }
            }
        }
    }
    let schemas: Map<String, Value> =
        doc.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(components) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for schema in components.values_mut() {
            flatten_all_of(schema, &schemas);
        }
    }
}

fn add_standard_responses(path: &str, operation: &mut Value) {
    let has_body = operation.get("requestBody").is_some();
    let has_params = operation.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty());
    let secured = operation.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { return };
    for (status, name, _) in STANDARD {
        let applies = match *status {
            "400" => has_body || has_params,
            "401" => secured,
            "413" | "415" => has_body,
            "503" => !NO_DATABASE.contains(&path),
            _ => false,
        };
        // A handler's own entry wins when it says more than the standard one.
        let own_description = responses.get(*status).and_then(|r| r.get("description")).and_then(Value::as_str);
        if applies && own_description.is_none_or(str::is_empty) {
            responses.insert((*status).to_owned(), json!({ "$ref": format!("#/components/responses/{name}") }));
        }
    }
    // OpenAPI requires a description on every response: the status's reason
    // phrase where the handler gave none.
    for (status, response) in responses.iter_mut() {
        if response.get("description").and_then(Value::as_str) == Some("") {
            let phrase = status
                .parse::<u16>()
                .ok()
                .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                .and_then(|s| s.canonical_reason());
            response["description"] = json!(phrase.unwrap_or("See the body."));
        }
    }
}

/// Replaces, anywhere in `schema`, an `allOf` of object schemas (inline or
/// referenced) by the single object they describe together.
fn flatten_all_of(schema: &mut Value, schemas: &Map<String, Value>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(parts)) = map.get("allOf")
                && let Some(merged) = merge_objects(parts, schemas)
            {
                map.remove("allOf");
                for (key, value) in merged {
                    map.entry(key).or_insert(value);
                }
            }
            for value in map.values_mut() {
                flatten_all_of(value, schemas);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| flatten_all_of(v, schemas)),
        _ => {}
    }
}

/// The one object described by `parts`, when every part is an object schema
/// with its own properties (after following a `$ref`); otherwise `None`, and
/// the `allOf` stays as it is.
fn merge_objects(parts: &[Value], schemas: &Map<String, Value>) -> Option<Map<String, Value>> {
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut closed = false;
    for part in parts {
        let part = match part.get("$ref").and_then(Value::as_str) {
            Some(reference) => schemas.get(reference.strip_prefix("#/components/schemas/")?)?,
            None => part,
        };
        if part.get("type").and_then(Value::as_str) != Some("object") {
            return None;
        }
        properties.extend(part.get("properties")?.as_object()?.clone());
        for name in part.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !required.contains(name) {
                required.push(name.clone());
            }
        }
        closed |= part.get("additionalProperties") == Some(&Value::Bool(false));
    }
    let mut merged = Map::new();
    merged.insert("type".into(), json!("object"));
    merged.insert("required".into(), Value::Array(required));
    merged.insert("properties".into(), Value::Object(properties));
    if closed {
        merged.insert("additionalProperties".into(), Value::Bool(false));
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tagged_newtype_variant_becomes_one_closed_object() {
        let schemas = json!({ "Quantity": { "type": "object", "required": ["value", "unit"], "additionalProperties": false,
            "properties": { "value": { "type": "number" }, "unit": { "type": "string" } } } });
        let mut value = json!({ "oneOf": [{ "allOf": [{ "$ref": "#/components/schemas/Quantity" },
            { "type": "object", "required": ["kind"], "properties": { "kind": { "type": "string", "enum": ["quantity"] } } }] }] });
        flatten_all_of(&mut value, schemas.as_object().unwrap_or(&Map::new()));
        let variant = &value["oneOf"][0];
        assert!(variant.get("allOf").is_none(), "{variant}");
        assert_eq!(variant["required"], json!(["value", "unit", "kind"]));
        assert_eq!(variant["additionalProperties"], json!(false));
        assert_eq!(variant["properties"]["kind"]["enum"], json!(["quantity"]));
        assert_eq!(variant["properties"]["unit"]["type"], json!("string"));
    }

    #[test]
    fn an_all_of_that_is_not_all_objects_is_left_alone() {
        let mut value = json!({ "allOf": [{ "type": "string" }, { "minLength": 1 }] });
        let before = value.clone();
        flatten_all_of(&mut value, &Map::new());
        assert_eq!(value, before);
    }

    #[test]
    fn refusals_follow_the_operation_shape_and_keep_the_handlers_own() {
        let mut op = json!({ "requestBody": {}, "security": [{ "device": [] }],
            "responses": { "200": { "description": "" }, "400": { "description": "own" }, "401": { "description": "" } } });
        add_standard_responses("/v1/sync/push", &mut op);
        let r = &op["responses"];
        assert_eq!(r["400"]["description"], "own");
        assert_eq!(r["200"]["description"], "OK");
        for status in ["401", "413", "415", "503"] {
            assert!(r[status]["$ref"].is_string(), "{status}: {r}");
        }
        let mut open = json!({ "responses": { "200": { "description": "The document" } } });
        add_standard_responses("/v1/openapi.json", &mut open);
        assert_eq!(open["responses"].as_object().map(Map::len), Some(1), "{open}");
    }
}
