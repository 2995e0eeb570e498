//! The OpenAPI document is generated from the code, served at
//! `/v1/openapi.json`, and the copy checked into the repository is current.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;
use wardbook_server::config::Settings;
use wardbook_server::routes::openapi_json;
use wardbook_server::{AppState, app};

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[test]
fn the_checked_in_document_is_current() {
    let current = openapi_json();
    let on_disk = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        on_disk == current,
        "server/openapi.json is stale: regenerate it with `cargo run -p wardbook-server -- openapi > server/openapi.json` and commit it"
    );
    let doc: serde_json::Value = serde_json::from_str(&current).expect("valid JSON");
    for path in [
        "/v1/enrol",
        "/v1/login",
        "/v1/sync/pull",
        "/v1/sync/push",
        "/v1/audit/events",
        "/v1/audit/reports",
        "/v1/health",
        "/v1/openapi.json",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    for schema in
        ["PullResponse", "PushRequest", "Mutation", "AuditEvent", "Patient", "Observation", "Health", "ApiError"]
    {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema} is documented");
    }
}

#[tokio::test]
async fn the_service_serves_the_same_document() {
    // No request here touches the database: the pool connects lazily.
    let state = AppState::new(Settings::for_tests("postgres://wardbook@127.0.0.1:1/none".into())).expect("state");
    let response = app(state)
        .oneshot(Request::get("/v1/openapi.json").body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    assert_eq!(String::from_utf8_lossy(&body), openapi_json());
}

/// The document, parsed.
fn document() -> serde_json::Value {
    serde_json::from_str(&openapi_json()).expect("valid JSON")
}

/// A validator for one component schema, with the document as its root so
/// that references resolve (the `jsonschema` crate: not the project's own).
fn validator_for(doc: &serde_json::Value, schema: &str) -> jsonschema::Validator {
    let mut root = doc.clone();
    root["$ref"] = serde_json::json!(format!("#/components/schemas/{schema}"));
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("{schema} does not compile: {e}"))
}

fn errors(validator: &jsonschema::Validator, value: &serde_json::Value) -> Vec<String> {
    validator.iter_errors(value).map(|e| format!("{e} at {}", e.instance_path())).take(3).collect()
}

#[test]
fn enums_are_published_with_their_wire_spellings() {
    use wardbook_protocol::*;
    let doc = document();
    let published = |name: &str| -> Vec<String> {
        doc["components"]["schemas"][name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is an enum in the document"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    macro_rules! same {
        ($($t:ident),+) => {$(
            let wire: Vec<String> = $t::ALL.iter().map(|v| serde_json::to_value(v).unwrap().as_str().unwrap().to_owned()).collect();
            assert_eq!(published(stringify!($t)), wire, "{} in the document", stringify!($t));
            assert_eq!(wire, $t::ALL.iter().map(|v| v.as_str().to_owned()).collect::<Vec<_>>());
        )+};
    }
    same!(
        ObservationCategory,
        ObservationStatus,
        Interpretation,
        AllergyType,
        AllergyCategory,
        AllergyClinicalStatus,
        AllergyVerificationStatus,
        Criticality,
        ReactionSeverity,
        AuditAction,
        AuditSubtype,
        AuditOutcome,
        PurposeOfUse
    );
}

#[test]
fn every_kind_of_change_validates_against_the_document() {
    use wardbook_protocol::api::Change;
    use wardbook_protocol::synthetic::{SyntheticConfig, generate};
    use wardbook_protocol::{Coding, ObservationValue};
    let doc = document();
    let change = validator_for(&doc, "Change");
    let ward = generate(&SyntheticConfig::new(11, 4, chrono::Utc::now()));
    let mut changes: Vec<Change> = Vec::new();
    changes.extend(ward.patients.iter().cloned().map(|patient| Change::Patient { patient }));
    changes.extend(ward.allergies.iter().cloned().map(|allergy| Change::Allergy { allergy }));
    // Every kind of observation value, whatever the generator happened to make.
    let base = ward.observations[0].clone();
    let quantity_at = changes.len();
    for value in [
        ObservationValue::Quantity(wardbook_protocol::Quantity { value: 72.0, unit: "/min".into() }),
        ObservationValue::String { text: "synthetic".into() },
        ObservationValue::Boolean { value: true },
        ObservationValue::Coded(Coding::new("http://snomed.info/sct", "260385009", "Negative")),
    ] {
        changes.push(Change::Observation { observation: wardbook_protocol::Observation { value, ..base.clone() } });
    }
    changes.extend(ward.observations.iter().take(50).cloned().map(|observation| Change::Observation { observation }));
    changes.push(Change::Remove { patient_id: uuid::Uuid::now_v7() });
    for c in &changes {
        let value = serde_json::to_value(c).unwrap();
        let found = errors(&change, &value);
        assert!(found.is_empty(), "a change the service sends does not validate: {found:?}");
    }
    // And the document refuses what the service refuses: a quantity with a
    // field it does not know, a value of an unknown kind.
    let mut extra = serde_json::to_value(&changes[quantity_at]).unwrap();
    extra["observation"]["value"]["colour"] = serde_json::json!("blue");
    assert!(!errors(&change, &extra).is_empty(), "an unknown field in a quantity is invalid");
    extra["observation"]["value"] = serde_json::json!({ "kind": "ratio", "value": 1 });
    assert!(!errors(&change, &extra).is_empty(), "an unknown kind of value is invalid");
}

#[test]
fn constraints_the_service_enforces_are_in_the_document() {
    use wardbook_protocol::api::DEVICE_NAME_MAX_CHARS;
    use wardbook_protocol::{BREAK_GLASS_REASON_MAX_CHARS, BREAK_GLASS_REASON_MIN_CHARS, break_glass_reason_ok};
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let name = &schemas["EnrolRequest"]["properties"]["device_name"];
    assert_eq!(name["minLength"], 1);
    assert_eq!(name["maxLength"], DEVICE_NAME_MAX_CHARS);
    let reason = &schemas["BreakGlassRequest"]["properties"]["reason"];
    assert_eq!(reason["maxLength"], BREAK_GLASS_REASON_MAX_CHARS);
    assert!(
        reason["pattern"].as_str().unwrap().contains(&format!("{{{BREAK_GLASS_REASON_MIN_CHARS}}}")),
        "the pattern asks for the minimum: {reason}"
    );
    // The pattern and the rule agree, on both sides of each bound.
    let request = validator_for(&doc, "BreakGlassRequest");
    for text in [
        "x".repeat(9),
        "x".repeat(10),
        format!("{}  {}", "x".repeat(5), "y".repeat(4)),
        format!("{}\u{85}\u{a0}\u{3000}x", "x".repeat(8)),
        format!("{}\u{1c}", "x".repeat(9)),
        "\u{85}".repeat(12),
        format!("{}\u{2000}\u{200a}\t", "\u{0}".repeat(10)),
        " ".repeat(30),
        format!("  {} ", "a b c d e f g h i j"),
        "z".repeat(500),
        "z".repeat(501),
    ] {
        let valid = errors(&request, &serde_json::json!({ "mrn": "SYN-1", "reason": text })).is_empty();
        assert_eq!(valid, break_glass_reason_ok(&text), "{text:?}");
    }
    assert_eq!(schemas["PushRequest"]["properties"]["mutations"]["maxItems"], wardbook_server::push::MAX_BATCH);
    assert_eq!(schemas["AuditUploadRequest"]["properties"]["events"]["maxItems"], wardbook_server::audit::MAX_BATCH);
    let enrol = validator_for(&doc, "EnrolRequest");
    for (name, valid) in
        [("ward-7a-ws1", true), (" x ", true), ("", false), ("   ", false), ("\u{85}\u{3000}", false), ("a\0b", false)]
    {
        let body = serde_json::json!({ "code": "ABCD-EFGH", "device_name": name });
        assert_eq!(errors(&enrol, &body).is_empty(), valid, "{name:?}");
    }
    let pull = &doc["paths"]["/v1/sync/pull"]["get"]["parameters"];
    let limit = pull.as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["schema"]["minimum"], 1);
    let report = doc["paths"]["/v1/audit/reports"]["get"]["parameters"].as_array().unwrap().clone();
    let size = report.iter().find(|p| p["name"] == "page_size").unwrap();
    assert_eq!(size["schema"]["maximum"], wardbook_server::audit::MAX_PAGE_SIZE);
}

#[test]
fn the_cursor_pattern_admits_exactly_the_cursors_the_service_reads() {
    use wardbook_server::feed::Cursor;
    let doc = document();
    let param = doc["paths"]["/v1/sync/pull"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cursor")
        .unwrap()
        .clone();
    let cursor = jsonschema::validator_for(&param["schema"]).expect("the cursor's schema compiles");
    let (a, b) = (uuid::Uuid::now_v7().simple().to_string(), uuid::Uuid::now_v7().simple().to_string());
    let good = [
        String::new(),
        Cursor::START.to_string(),
        format!("2.0.17.3.{a}.{b}"),
        format!("2.0.17.6.{a}.{b}"),
        "2.123.0.1..".to_owned(),
        "2.999999999999999999.999999999999999999.0..".to_owned(),
    ];
    for text in &good {
        assert!(cursor.is_valid(&serde_json::json!(text)), "{text} matches the pattern");
        assert!(text.is_empty() || Cursor::parse(text).is_ok(), "{text} is read");
    }
    let bad = ["2.01..0..", "2.1.-1.0..", "2.1..0.{a}.{b}", "2.1.2.7..", "3.0..0..", "2.0.1.0.{a}.", "garbage"];
    for text in bad {
        let text = text.replace("{a}", &a).replace("{b}", &b);
        assert!(!cursor.is_valid(&serde_json::json!(text)), "{text} does not match");
        assert!(Cursor::parse(&text).is_err(), "{text} is refused");
    }
}
