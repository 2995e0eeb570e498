//! HL7's FHIR R4 JSON schema, for every test that checks what the FHIR
//! interface produces: the vendored `tests/fixtures/fhir/fhir.schema.json`
//! (see the README there), checked with the `jsonschema` crate, a validator
//! the project did not write. No network: references in the schema are
//! internal.
//!
//! Resources are validated as FHIR says a resource is: against the schema's
//! root, whose `oneOf` picks the definition by `resourceType`. The schema
//! is compiled once per test binary ([`VALIDATOR`]).
//!
//! The schema checks structure, types, value-set codes of `code` elements
//! and primitive formats; it does not check FHIR's invariants (FHIRPath
//! rules such as obs-3 or ait-2), which the conversions' unit tests cover.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::LazyLock;
use std::time::Instant;

use serde_json::{Value, json};

const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fhir/fhir.schema.json");

/// Properties Medplum added to HL7's definitions of types Wardbook emits
/// (README beside the schema). Removed before compiling, so that emitting
/// one of them fails as it would against HL7's own schema.
const MEDPLUM_ADDITIONS: &[(&str, &[&str])] = &[
    ("Meta", &["account", "author", "compartment", "project"]),
    ("Reference", &["resource"]),
    ("OperationOutcome", &["resource", "status"]),
];

/// The last of HL7's resource types in the schema's `oneOf` lists, which
/// are alphabetical; Medplum appends its own types after it.
const LAST_HL7_RESOURCE: &str = "#/definitions/VisionPrescription";

/// The vendored schema with Medplum's additions taken out again: its
/// resource types (whose definitions refer to `Resource` and `integer64`,
/// which the file does not define, so that it does not compile as shipped)
/// and the properties in [`MEDPLUM_ADDITIONS`]. What remains is HL7's.
pub static SCHEMA_JSON: LazyLock<Value> = LazyLock::new(|| {
    let text = std::fs::read_to_string(SCHEMA).expect("the vendored FHIR schema");
    let mut schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    for pointer in ["/oneOf", "/definitions/ResourceList/oneOf"] {
        let list = schema.pointer_mut(pointer).and_then(Value::as_array_mut).expect("a oneOf list");
        let last = list.iter().position(|r| r["$ref"] == LAST_HL7_RESOURCE).expect("HL7's last resource type");
        list.truncate(last + 1);
    }
    for (definition, properties) in MEDPLUM_ADDITIONS {
        let defined = schema["definitions"][definition]["properties"]
            .as_object_mut()
            .unwrap_or_else(|| panic!("{definition} is defined"));
        for property in *properties {
            assert!(defined.remove(*property).is_some(), "{definition}.{property} is Medplum's addition");
            defined.remove(&format!("_{property}"));
        }
    }
    // Keep the definitions the remaining resource types use.
    let mut reachable = std::collections::BTreeSet::new();
    let mut pending = references(&schema["oneOf"]);
    while let Some(name) = pending.pop() {
        if reachable.insert(name.clone()) {
            let definition = schema["definitions"].get(&name).unwrap_or_else(|| panic!("{name} is defined"));
            pending.extend(references(definition));
        }
    }
    schema["definitions"].as_object_mut().unwrap().retain(|name, _| reachable.contains(name));
    schema
});

/// The definitions `value` refers to (`"$ref": "#/definitions/{name}"`).
fn references(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, v)| match (key.as_str(), v.as_str()) {
                ("$ref", Some(target)) => {
                    vec![target.strip_prefix("#/definitions/").expect("an internal reference").to_owned()]
                }
                _ => references(v),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(references).collect(),
        _ => Vec::new(),
    }
}

/// The schema, compiled once: it is 3.6 MB and ~750 definitions.
pub static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let started = Instant::now();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft6)
        .build(&SCHEMA_JSON)
        .expect("the FHIR schema compiles");
    eprintln!("FHIR schema compiled in {:?}", started.elapsed());
    validator
});

/// Fails with the schema's errors for `value`. The root's `oneOf` only says
/// that no alternative matched, so on failure the errors are those of the
/// definition `resourceType` names.
pub fn assert_valid(what: &str, value: &Value) {
    if VALIDATOR.is_valid(value) {
        return;
    }
    let name = value["resourceType"].as_str().unwrap_or("?");
    let mut root = SCHEMA_JSON.clone();
    root["$ref"] = json!(format!("#/definitions/{name}"));
    let one = jsonschema::options().with_draft(jsonschema::Draft::Draft6).build(&root).unwrap();
    let errors: Vec<String> = one.iter_errors(value).map(|e| format!("{e} at {}", e.instance_path())).take(5).collect();
    panic!("{what} is not valid FHIR R4: {errors:#?}");
}
