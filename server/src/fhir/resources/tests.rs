//! Reading FHIR JSON: unsupported elements by path, errors by path and
//! never by value, and `Debug` without patient data.

#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

fn body(value: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn unknown_elements_are_kept_and_reported_by_path() {
    let patient: Patient = parse(&body(json!({
        "resourceType": "Patient",
        "id": "p1",
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Ann</div>"},
        "maritalStatus": {"text": "married"},
        "name": [{"family": "Doe", "given": ["Ann"], "period": {"start": "2001-01-01"}}],
        "birthDate": "1980-02-03",
        "_birthDate": {"extension": [{"url": "http://example.org/x", "valueString": "y"}]},
        "telecom": [{"system": "phone", "value": "555 0100", "rank": 1}],
        "meta": {"tag": [{"code": "t"}]},
    })))
    .unwrap();
    let mut unsupported = patient.unsupported_elements();
    unsupported.sort();
    assert_eq!(
        unsupported,
        [
            "Patient._birthDate",
            "Patient.maritalStatus",
            "Patient.meta.tag",
            "Patient.name[0].period",
            "Patient.telecom[0].rank",
        ]
    );
    // Written back as they came: a parsed resource loses nothing.
    let again = serde_json::to_value(&patient).unwrap();
    assert_eq!(again["maritalStatus"], json!({"text": "married"}));
    assert_eq!(again["name"][0]["period"], json!({"start": "2001-01-01"}));
}

#[test]
fn a_member_not_named_like_an_element_is_not_repeated() {
    let patient: Patient = parse(&body(json!({"resourceType": "Patient", "Jane Doe 1970": true}))).unwrap();
    assert_eq!(patient.unsupported_elements(), ["Patient.<member not named like an element>"]);
}

#[test]
fn a_narrative_counts_as_supported_only_when_generated() {
    let with = |status: &str| -> Vec<String> {
        let patient: Patient = parse(&body(json!({
            "resourceType": "Patient",
            "text": {"status": status, "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
        })))
        .unwrap();
        patient.unsupported_elements()
    };
    assert!(with("generated").is_empty());
    assert_eq!(with("additional"), ["Patient.text"]);
    assert_eq!(with("extensions"), ["Patient.text"]);
}

#[test]
fn a_bad_value_is_reported_by_path_without_the_value() {
    let secret = "SECRET-7731";
    let error = parse::<Observation>(&body(json!({
        "resourceType": "Observation",
        "status": "final",
        "valueQuantity": {"value": secret, "unit": "mmol/L"},
    })))
    .unwrap_err();
    assert_eq!(error, FhirError::invalid("Observation.valueQuantity.value", "a value of the element's FHIR type"));
    assert!(!error.to_string().contains(secret), "{error}");
    assert!(!format!("{error:?}").contains(secret));

    // A string where an array belongs, deeper down.
    let error = parse::<Patient>(&body(json!({
        "resourceType": "Patient",
        "name": [{"family": "Doe", "given": secret}],
    })))
    .unwrap_err();
    assert_eq!(error.paths(), ["Patient.name[0].given"]);
    assert!(!error.to_string().contains(secret));

    // An unknown code of a typed element (serde would quote it).
    let error = parse::<Bundle>(&body(json!({"resourceType": "Bundle", "type": secret}))).unwrap_err();
    assert_eq!(error.paths(), ["Bundle.type"]);
    assert!(!error.to_string().contains(secret));
}

#[test]
fn missing_required_elements_are_named() {
    let error = parse::<Bundle>(&body(json!({"resourceType": "Bundle"}))).unwrap_err();
    assert_eq!(error, FhirError::missing("Bundle.type"));
    let error = parse::<Encounter>(&body(json!({"resourceType": "Encounter", "location": [{"status": "active"}]})))
        .unwrap_err();
    assert_eq!(error, FhirError::missing("Encounter.location[0].location"));
}

#[test]
fn the_resource_type_must_be_the_one_expected() {
    let error = parse::<Patient>(&body(json!({"resourceType": "Observation"}))).unwrap_err();
    assert_eq!(error.paths(), ["Patient.resourceType"]);
    let error = parse::<Patient>(&body(json!({"id": "x"}))).unwrap_err();
    assert_eq!(error, FhirError::missing("Patient.resourceType"));
    // A Patient with a second resourceType is read as JSON first: the last
    // member wins in serde_json, and is checked.
    let error = parse::<Patient>(b"{\"resourceType\":\"Patient\",\"resourceType\":\"Group\"}").unwrap_err();
    assert_eq!(error.paths(), ["Patient.resourceType"]);
}

#[test]
fn not_json_is_a_syntax_error_with_its_position_only() {
    let error = parse::<Patient>(b"{\"resourceType\": \"Patient\", \"name\": SECRET}").unwrap_err();
    assert!(matches!(error, FhirError::Syntax { line: 1, .. }), "{error:?}");
    assert!(!error.to_string().contains("SECRET"));
}

#[test]
fn errors_inside_bundle_entries_carry_the_entry_path() {
    let secret = "SECRET-55";
    let bundle = |resource: serde_json::Value| {
        body(json!({
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": {"resourceType": "Patient", "id": "a"}, "request": {"method": "POST", "url": "Patient"}},
                {"resource": resource, "request": {"method": "POST", "url": "Observation"}},
            ],
        }))
    };
    let error = parse::<Bundle>(&bundle(json!({
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "valueQuantity": {"value": secret},
    })))
    .unwrap_err();
    assert_eq!(error.paths(), ["Bundle.entry[1].resource.valueQuantity.value"]);
    assert!(!error.to_string().contains(secret));

    let error = parse::<Bundle>(&bundle(json!({"status": "final"}))).unwrap_err();
    assert_eq!(error, FhirError::missing("Bundle.entry[1].resource.resourceType"));

    let error = parse::<Bundle>(&bundle(json!({"resourceType": "Encounter", "location": [{}]}))).unwrap_err();
    assert_eq!(error, FhirError::missing("Bundle.entry[1].resource.location[0].location"));

    let error = parse::<Bundle>(&bundle(json!(secret))).unwrap_err();
    assert_eq!(error.paths(), ["Bundle.entry[1].resource"]);
    assert!(!error.to_string().contains(secret));
}

#[test]
fn bundles_read_their_entries_and_report_unsupported_ones() {
    let bundle: Bundle = parse(&body(json!({
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "fullUrl": "urn:uuid:6f1c1f0e-2b1a-4f55-8f0e-6c5d1f3b0a11",
                "resource": {"resourceType": "Patient", "gender": "female", "photo": [{"url": "x"}]},
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:mrn|123"},
            },
            {"resource": {"resourceType": "Condition", "id": "c1"}, "request": {"method": "POST", "url": "Condition"}},
            {"request": {"method": "GET", "url": "Patient/1"}, "link": [{"relation": "alternate", "url": "x"}]},
        ],
    })))
    .unwrap();
    assert_eq!(bundle.type_, BundleType::Batch);
    assert!(matches!(bundle.entry[0].resource, Some(Resource::Patient(_))));
    assert_eq!(bundle.entry[0].request.as_ref().map(|r| r.method), Some(HttpVerb::Post));
    assert_eq!(bundle.entry[1].resource.as_ref().and_then(Resource::resource_type), Some("Condition"));
    assert_eq!(
        bundle.unsupported_elements(),
        ["Bundle.entry[0].resource.photo", "Bundle.entry[1].resource", "Bundle.entry[2].link"]
    );
}

#[test]
fn debug_prints_no_patient_data() {
    let patient: Patient = parse(&body(json!({
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "Zebedee", "given": ["Quentin"]}],
        "telecom": [{"system": "phone", "value": "555 0199"}],
        "birthDate": "1931-05-06",
    })))
    .unwrap();
    let bundle = Bundle {
        entry: vec![BundleEntry {
            resource: Some(Resource::Patient(Box::new(patient.clone()))),
            ..BundleEntry::default()
        }],
        ..Bundle::new(BundleType::Collection)
    };
    let printed = format!("{patient:?} {bundle:?} {:?} {:?}", patient.name, patient.telecom);
    for phi in ["Zebedee", "Quentin", "555", "1931"] {
        assert!(!printed.contains(phi), "{printed}");
    }
    assert!(printed.contains("p1"), "{printed}");
}

#[test]
fn search_results_and_responses_are_built_with_their_urls() {
    let patient = Patient { id: Some("abc".into()), ..Patient::default() };
    let entry = BundleEntry::search_result(
        "https://h.example/fhir/r4/",
        Resource::Patient(Box::new(patient)),
        SearchMode::Match,
    );
    let bundle = Bundle::searchset("https://h.example/fhir/r4/Patient?identifier=x", 1, vec![entry]);
    let json = serde_json::to_value(&bundle).unwrap();
    assert_eq!(json["type"], "searchset");
    assert_eq!(json["total"], 1);
    assert_eq!(json["link"][0]["relation"], "self");
    assert_eq!(json["entry"][0]["fullUrl"], "https://h.example/fhir/r4/Patient/abc");
    assert_eq!(json["entry"][0]["search"]["mode"], "match");
    assert_eq!(json["entry"][0]["resource"]["resourceType"], "Patient");

    let response = Bundle::transaction_response(vec![BundleEntry::response(
        "201 Created",
        Some("Patient/abc/_history/1".into()),
        None,
    )]);
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["type"], "transaction-response");
    assert_eq!(json["entry"][0]["response"], json!({"status": "201 Created", "location": "Patient/abc/_history/1"}));
}
