//! Every answer a test receives is held against the API document the
//! service serves: its status must be one the document lists for the
//! operation, and its body must validate against the schema listed for that
//! status, by a JSON Schema validator the project did not write (the
//! `jsonschema` crate, draft 2020-12 as OpenAPI 3.1 uses, formats checked).
//! A test that triggers an undocumented answer fails where it happens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

struct Contract {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| Contract {
        doc: serde_json::from_str(&wardbook_server::routes::openapi_json()).expect("the API document is JSON"),
        validators: Mutex::new(HashMap::new()),
    })
}

/// The document's path template that `path` (no query) matches, if any.
fn template_for<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    doc["paths"].as_object()?.keys().map(String::as_str).find(|template| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts.iter().zip(&segments).all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
    })
}

/// Follows a `$ref` into the document (`#/components/...`).
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).unwrap_or(&Value::Null),
        None => value,
    }
}

fn validator(contract: &Contract, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
    let mut cache = contract.validators.lock().unwrap();
    cache
        .entry(key.to_owned())
        .or_insert_with(|| {
            // The document is the root, so that its `#/components/...`
            // references resolve; the response's schema is laid over it
            // (OpenAPI's own keys mean nothing to a JSON Schema validator).
            let mut root = contract.doc.clone();
            for (k, v) in schema.as_object().expect("a schema object") {
                root[k] = v.clone();
            }
            Arc::new(
                jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&root)
                    .unwrap_or_else(|e| panic!("the document's schema for {key} does not compile: {e}")),
            )
        })
        .clone()
}

/// Panics unless `status` and `body` are what the document promises for
/// `method` `path`.
pub fn check(method: &Method, path: &str, status: StatusCode, body: &Value) {
    let path = path.split('?').next().unwrap_or(path);
    // `/fhir/r4` is not part of the document: FHIR R4 defines it, and its
    // tests hold its answers against the FHIR schema (tests/fhir_support).
    if path == "/fhir" || path.starts_with("/fhir/") {
        return;
    }
    let contract = contract();
    let doc = &contract.doc;
    let operation =
        template_for(doc, path).and_then(|t| doc["paths"][t].get(method.as_str().to_lowercase()).map(|op| (t, op)));
    let Some((template, operation)) = operation else {
        // No such operation: the fallbacks answer 404 or 405 with an ApiError.
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is not in the document, yet answered {status}"
        );
        let key = "ApiError".to_owned();
        let errors: Vec<String> = validator(contract, &key, &json!({ "$ref": "#/components/schemas/ApiError" }))
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{method} {path} {status}: the error body is not an ApiError: {errors:?}");
        return;
    };
    let Some(response) = operation["responses"].get(status.as_str()) else {
        panic!(
            "{method} {template} answered {status}, which the document does not list (it lists {:?}): {body}",
            operation["responses"].as_object().map(|r| r.keys().cloned().collect::<Vec<_>>()).unwrap_or_default()
        );
    };
    let response = resolve(doc, response);
    match response.pointer("/content/application~1json/schema") {
        None => assert!(body.is_null(), "{method} {template} {status} has no documented body, yet sent {body}"),
        Some(schema) => {
            let key = format!("{method} {template} {status}");
            let errors: Vec<String> = validator(contract, &key, schema)
                .iter_errors(body)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .take(5)
                .collect();
            assert!(errors.is_empty(), "{key}: the body does not match the document: {errors:?}");
        }
    }
}
