//! Every kind of resource the FHIR interface produces, built from synthetic
//! protocol data, is valid against HL7's FHIR R4 JSON schema
//! ([`fhir_support`]: the vendored schema, checked by the `jsonschema`
//! crate). No database, no network.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fhir_support;

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use fhir_support::{VALIDATOR, assert_valid};
use serde_json::{Value, json};
use uuid::Uuid;
use wardbook_protocol as proto;
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate};
use wardbook_server::fhir::FhirError;
use wardbook_server::fhir::audit_event::audit_event_to_fhir;
use wardbook_server::fhir::capability::capability_statement;
use wardbook_server::fhir::convert::{
    allergy_to_fhir, encounter_to_fhir, medication_administration_to_fhir, medication_request_to_fhir,
    observation_to_fhir, patient_to_fhir,
};
use wardbook_server::fhir::outcome;
use wardbook_server::fhir::resources::{
    Bundle, BundleEntry, BundleRequest, BundleType, HttpVerb, IssueType, Resource, SearchMode,
};

const BASE: &str = "https://wardbook.example/fhir/r4";
const MRN_SYSTEM: &str = "https://hospital.example/fhir/sid/mrn";
const USER_SYSTEM: &str = "https://hospital.example/fhir/sid/staff";

fn anchor() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().with_timezone(&Utc)
}

fn ward() -> SyntheticWard {
    generate(&SyntheticConfig::new(23, 6, anchor()))
}

fn to_json<T: serde::Serialize>(resource: &T) -> Value {
    serde_json::to_value(resource).unwrap()
}

#[test]
fn the_validator_rejects_what_hl7_rejects() {
    let patient = to_json(&patient_to_fhir(&ward().patients[0], MRN_SYSTEM));
    assert_valid("a synthetic patient", &patient);
    let broken: Vec<(&str, Value)> = vec![
        ("an unknown element", json!({"maritalStatusText": "x"})),
        ("a number for a code", json!({"gender": 5})),
        ("a code outside the value set", json!({"gender": "f"})),
        ("a partial birth date with a time", json!({"birthDate": "1980-02-03T10:00:00Z"})),
        ("an empty string", json!({"id": ""})),
        ("Medplum's meta.project", json!({"meta": {"project": "x"}})),
        ("Medplum's Reference.resource", json!({"generalPractitioner": [{"resource": {}}]})),
    ];
    for (what, change) in broken {
        let mut value = patient.clone();
        value.as_object_mut().unwrap().extend(change.as_object().unwrap().clone());
        assert!(!VALIDATOR.is_valid(&value), "{what} is refused");
    }
    assert!(!VALIDATOR.is_valid(&json!({"resourceType": "NotAResource"})));

    // Inside a Bundle too, and a failure names the element.
    let mut bad = patient.clone();
    bad["gender"] = json!("f");
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": bad}]});
    assert!(!VALIDATOR.is_valid(&bundle));
    let failure = std::panic::catch_unwind(|| assert_valid("a bad patient", &bad)).unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(message.contains("/gender"), "{message}");
}

#[test]
fn patients_and_encounters_are_valid() {
    let ward = ward();
    for p in &ward.patients {
        assert_valid("Patient", &to_json(&patient_to_fhir(p, MRN_SYSTEM)));
        let stay = encounter_to_fhir(p).expect("synthetic patients are on a ward");
        assert_valid("Encounter", &to_json(&stay));
        // And one of a real patient without a bed, language or contact.
        let mut bare = p.clone();
        (bare.synthetic, bare.bed, bare.phone, bare.email, bare.address, bare.preferred_language, bare.version) =
            (false, None, None, None, None, None, 0);
        assert_valid("Patient (bare)", &to_json(&patient_to_fhir(&bare, MRN_SYSTEM)));
        assert_valid("Encounter (no bed)", &to_json(&encounter_to_fhir(&bare).unwrap()));
    }
}

#[test]
fn observations_of_every_value_kind_are_valid() {
    let ward = ward();
    let started = Instant::now();
    for o in &ward.observations {
        assert_valid("Observation", &to_json(&observation_to_fhir(o)));
    }
    eprintln!("{} observations validated in {:?}", ward.observations.len(), started.elapsed());
    let o = ward.observations.iter().find(|o| o.reference_range.is_some() && o.interpretation.is_some()).unwrap();
    let kinds = [
        proto::ObservationValue::String { text: "Clear, straw-coloured".into() },
        proto::ObservationValue::Boolean { value: false },
        proto::ObservationValue::Coded(proto::Coding::new(proto::SNOMED_CT, "260385009", "Negative")),
    ];
    for value in kinds {
        let other = proto::Observation { value, reference_range: None, ..o.clone() };
        assert_valid("Observation (other kind)", &to_json(&observation_to_fhir(&other)));
    }
    for status in proto::ObservationStatus::ALL {
        for interpretation in proto::Interpretation::ALL {
            let other = proto::Observation { status: *status, interpretation: Some(*interpretation), ..o.clone() };
            assert_valid("Observation (status, interpretation)", &to_json(&observation_to_fhir(&other)));
        }
    }
    for category in proto::ObservationCategory::ALL {
        let other = proto::Observation { category: *category, ..o.clone() };
        assert_valid("Observation (category)", &to_json(&observation_to_fhir(&other)));
    }
}

#[test]
fn allergies_are_valid_in_every_status() {
    let ward = ward();
    assert!(!ward.allergies.is_empty());
    for a in &ward.allergies {
        assert_valid("AllergyIntolerance", &to_json(&allergy_to_fhir(a)));
    }
    let a = &ward.allergies[0];
    for clinical in proto::AllergyClinicalStatus::ALL {
        for verification in proto::AllergyVerificationStatus::ALL {
            for criticality in proto::Criticality::ALL {
                let other = proto::Allergy {
                    clinical_status: *clinical,
                    verification_status: *verification,
                    criticality: *criticality,
                    ..a.clone()
                };
                assert_valid("AllergyIntolerance (statuses)", &to_json(&allergy_to_fhir(&other)));
            }
        }
    }
    for (category, kind) in proto::AllergyCategory::ALL.iter().zip(proto::AllergyType::ALL.iter().cycle()) {
        let other = proto::Allergy { category: *category, allergy_type: *kind, reactions: Vec::new(), ..a.clone() };
        assert_valid("AllergyIntolerance (category)", &to_json(&allergy_to_fhir(&other)));
    }
}

#[test]
fn bundles_are_valid() {
    let ward = ward();
    let p = &ward.patients[0];
    // $everything: the patient, then what is theirs.
    let mut entries = vec![BundleEntry::search_result(
        BASE,
        Resource::Patient(Box::new(patient_to_fhir(p, MRN_SYSTEM))),
        SearchMode::Match,
    )];
    let include = |resource| BundleEntry::search_result(BASE, resource, SearchMode::Include);
    entries.extend(encounter_to_fhir(p).map(|e| include(Resource::Encounter(Box::new(e)))));
    entries.extend(
        ward.observations
            .iter()
            .filter(|o| o.patient_id == p.id)
            .take(20)
            .map(|o| include(Resource::Observation(Box::new(observation_to_fhir(o))))),
    );
    entries.extend(
        ward.allergies
            .iter()
            .filter(|a| a.patient_id == p.id)
            .map(|a| include(Resource::AllergyIntolerance(Box::new(allergy_to_fhir(a))))),
    );
    let total = u32::try_from(entries.len()).unwrap();
    let everything = Bundle::searchset(&format!("{BASE}/Patient/{}/$everything", p.id), total, entries);
    assert_valid("searchset Bundle", &to_json(&everything));

    let empty = Bundle::searchset(&format!("{BASE}/Patient?identifier={MRN_SYSTEM}|NONE"), 0, Vec::new());
    assert_valid("empty searchset Bundle", &to_json(&empty));

    let responses = vec![
        BundleEntry::response("201 Created", Some(format!("Patient/{}/_history/1", p.id)), None),
        BundleEntry::response(
            "200 OK",
            Some(format!("Observation/{}/_history/2", Uuid::from_u128(5))),
            Some(outcome::all_ok()),
        ),
        BundleEntry::response(
            "422 Unprocessable Entity",
            None,
            Some(outcome::from_error(&FhirError::Unsupported { paths: vec!["Observation.valueInteger".into()] })),
        ),
    ];
    assert_valid("transaction-response Bundle", &to_json(&Bundle::transaction_response(responses.clone())));
    assert_valid("batch-response Bundle", &to_json(&Bundle::batch_response(responses)));

    // A transaction as a client sends one (what the tests of the handlers will post).
    let mut transaction = Bundle::new(BundleType::Transaction);
    transaction.entry.push(BundleEntry {
        full_url: Some(format!("urn:uuid:{}", Uuid::from_u128(77))),
        resource: Some(Resource::Patient(Box::new(patient_to_fhir(p, MRN_SYSTEM)))),
        request: Some(BundleRequest {
            method: HttpVerb::Post,
            url: "Patient".into(),
            if_none_exist: Some(format!("identifier={MRN_SYSTEM}|{}", p.mrn)),
            other: serde_json::Map::new(),
        }),
        ..BundleEntry::default()
    });
    assert_valid("transaction Bundle", &to_json(&transaction));
}

#[test]
fn operation_outcomes_are_valid() {
    let errors = [
        FhirError::Syntax { line: 1, column: 1 },
        FhirError::Missing { path: "Patient.birthDate".into() },
        FhirError::Invalid { path: "Observation.valueQuantity.value".into(), expected: "a number" },
        FhirError::UnsupportedCode { path: "Observation.status".into() },
        FhirError::Refused { path: "Patient.telecom[1]".into(), reason: "one phone" },
        FhirError::Unsupported { paths: vec!["Patient.photo".into(), "Patient.name[0].period".into()] },
    ];
    for e in &errors {
        assert_valid("OperationOutcome", &to_json(&outcome::from_error(e)));
    }
    assert_valid("OperationOutcome", &to_json(&outcome::all_ok()));
    assert_valid(
        "OperationOutcome",
        &to_json(&outcome::warning(IssueType::Informational, "Patient.text", "Not kept.")),
    );
    assert_valid("OperationOutcome", &to_json(&outcome::error_without_path(IssueType::NotFound, "No such patient.")));
}

#[test]
fn the_capability_statement_is_valid() {
    assert_valid("CapabilityStatement", &to_json(&capability_statement(BASE)));
}

#[test]
fn audit_events_of_every_subtype_purpose_and_outcome_are_valid() {
    let ward = ward();
    let patient = ward.patients[0].id;
    let mut n = 0u32;
    for subtype in proto::AuditSubtype::ALL {
        for purpose in proto::PurposeOfUse::ALL {
            for outcome in proto::AuditOutcome::ALL {
                for patient_id in [Some(patient), None] {
                    n += 1;
                    let event = proto::AuditEvent {
                        id: Uuid::from_u128(u128::from(n)),
                        device_id: Uuid::from_u128(1000),
                        sequence: i64::from(n),
                        recorded_at: anchor() + Duration::microseconds(i64::from(n) * 1_234_567),
                        user_id: "nurse-7".into(),
                        session_id: Uuid::from_u128(2000),
                        action: proto::AuditAction::Read,
                        subtype: *subtype,
                        patient_id,
                        purpose_of_use: *purpose,
                        outcome: *outcome,
                        prev_hash: proto::GENESIS_HASH.into(),
                        hash: String::new(),
                    }
                    .seal();
                    let fhir = to_json(&audit_event_to_fhir(&event, USER_SYSTEM));
                    assert_valid(&format!("AuditEvent ({subtype}, {purpose}, {outcome})"), &fhir);
                }
            }
        }
    }
}

#[test]
fn medication_orders_of_every_timing_and_status_are_valid() {
    use chrono::NaiveTime;
    use proto::medication::{MedicationRequestStatus, Timing};
    let ward = ward();
    assert!(!ward.medication_requests.is_empty(), "the synthetic ward has orders");
    for o in &ward.medication_requests {
        assert_valid("MedicationRequest", &to_json(&medication_request_to_fhir(o)));
    }
    let o = &ward.medication_requests[0];
    let at = |h| NaiveTime::from_hms_opt(h, 30, 0).unwrap();
    let timings = [
        Timing::FixedTimes { times: vec![at(8), at(20)] },
        Timing::EveryHours { hours: 6 },
        Timing::TimesPerDay { count: 4 },
        Timing::Once,
        Timing::Prn { min_interval_minutes: 240, max_daily_dose: Some(4000.0) },
        Timing::Prn { min_interval_minutes: 30, max_daily_dose: None },
    ];
    for timing in timings {
        for status in MedicationRequestStatus::ALL {
            let other = proto::medication::MedicationRequest {
                timing: timing.clone(),
                status: *status,
                high_alert: true,
                end: Some(o.start + Duration::days(7)),
                ..o.clone()
            };
            assert_valid("MedicationRequest (timing, status)", &to_json(&medication_request_to_fhir(&other)));
        }
    }
    let bare = proto::medication::MedicationRequest {
        dose: None,
        route: None,
        prescriber: None,
        indication: None,
        instructions: None,
        synthetic: false,
        version: 0,
        timing: Timing::Prn { min_interval_minutes: 60, max_daily_dose: Some(8.0) },
        ..o.clone()
    };
    assert_valid("MedicationRequest (bare)", &to_json(&medication_request_to_fhir(&bare)));
}

#[test]
fn medication_administrations_given_not_given_and_in_error_are_valid() {
    use proto::medication::{AdministrationStatus, CheckOverride, NotGivenReason, SafetyCheck};
    let ward = ward();
    assert!(!ward.medication_administrations.is_empty(), "the synthetic ward has doses");
    let order_of = |id| ward.medication_requests.iter().find(|o| o.id == id);
    for a in &ward.medication_administrations {
        assert_valid(
            "MedicationAdministration",
            &to_json(&medication_administration_to_fhir(a, order_of(a.request_id))),
        );
    }
    let a = &ward.medication_administrations[0];
    let order = order_of(a.request_id);
    let given = proto::medication::MedicationAdministration {
        witness: Some("nurse.two".into()),
        site: Some("left deltoid".into()),
        overrides: vec![CheckOverride { check: SafetyCheck::NoWitness, reason: "Second nurse on the phone".into() }],
        due_at: None,
        ..a.clone()
    };
    assert_valid(
        "MedicationAdministration (PRN, witness)",
        &to_json(&medication_administration_to_fhir(&given, order)),
    );
    for reason in NotGivenReason::ALL {
        let not_given = proto::medication::MedicationAdministration {
            status: AdministrationStatus::NotGiven,
            not_given_reason: Some(*reason),
            dose: None,
            ..a.clone()
        };
        assert_valid(
            "MedicationAdministration (not given)",
            &to_json(&medication_administration_to_fhir(&not_given, order)),
        );
    }
    let in_error = proto::medication::MedicationAdministration {
        status: AdministrationStatus::EnteredInError,
        error_reason: Some("Wrong patient".into()),
        ..a.clone()
    };
    assert_valid("MedicationAdministration (in error)", &to_json(&medication_administration_to_fhir(&in_error, order)));
    assert_valid("MedicationAdministration (no order)", &to_json(&medication_administration_to_fhir(a, None)));
}
