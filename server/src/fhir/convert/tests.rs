//! Conversions: FHIR → input → protocol → FHIR keeps every supported
//! element; unsupported elements and bad values are refused by path, never
//! quoting the value.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;
use wardbook_protocol as proto;
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate};
use wardbook_protocol::{AllergyVerificationStatus, ObservationValue};

use super::*;
use crate::fhir::resources::{self, AllergyIntolerance, Encounter, Observation, Patient, parse};

const MRN_SYSTEM: &str = "https://hospital.example/fhir/sid/mrn";

fn ward() -> SyntheticWard {
    let anchor = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().with_timezone(&Utc);
    generate(&SyntheticConfig::new(11, 6, anchor))
}

/// Written as JSON and read back, as a client would send it.
fn through_json<T: FhirResource>(resource: &T) -> T {
    parse(&serde_json::to_vec(resource).unwrap()).unwrap()
}

fn value_of<T: serde::Serialize>(resource: &T) -> serde_json::Value {
    serde_json::to_value(resource).unwrap()
}

fn read<T: FhirResource>(value: serde_json::Value) -> T {
    resources::from_value(value).unwrap()
}

fn id_of(reference: &PatientRef) -> Uuid {
    match reference {
        PatientRef::Id(id) => *id,
        other => panic!("expected Patient/{{id}}, got {other:?}"),
    }
}

#[test]
fn patients_and_their_stays_round_trip() {
    let ward = ward();
    assert!(ward.patients.iter().any(|p| p.bed.is_some()), "the ward has beds to carry");
    for p in &ward.patients {
        let fhir = patient_to_fhir(p, MRN_SYSTEM);
        let input = patient_from_fhir(&through_json(&fhir), MRN_SYSTEM).unwrap();
        assert_eq!(input.id.as_deref(), Some(p.id.to_string().as_str()));
        let mut back = input.to_patient(p.id, p.updated_at, &p.source_system);
        back.version = p.version; // the server's to give
        let stay = encounter_to_fhir(p).expect("synthetic patients are on a ward");
        let stay_input = encounter_from_fhir(&through_json(&stay)).unwrap();
        assert_eq!(id_of(&stay_input.patient), p.id);
        stay_input.ward_change().apply_to(&mut back);
        assert!(back == *p, "patient {} changed on the way", p.id);
        assert_eq!(value_of(&patient_to_fhir(&back, MRN_SYSTEM)), value_of(&fhir));
        assert_eq!(encounter_to_fhir(&back).map(|e| value_of(&e)), Some(value_of(&stay)));
    }
}

#[test]
fn patient_out_has_the_mrn_as_type_mr_and_the_test_label() {
    let ward = ward();
    let p = &ward.patients[0];
    let json = value_of(&patient_to_fhir(p, MRN_SYSTEM));
    assert_eq!(
        json["identifier"][0],
        json!({
            "use": "usual",
            "type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                "code": "MR",
                "display": "Medical record number",
            }]},
            "system": MRN_SYSTEM,
            "value": p.mrn,
        })
    );
    assert_eq!(
        json["meta"]["security"],
        json!([{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST", "display": "test health data"}])
    );
    let mut real = p.clone();
    real.synthetic = false;
    let json = value_of(&patient_to_fhir(&real, MRN_SYSTEM));
    assert!(json["meta"].get("security").is_none(), "{}", json["meta"]);
    let input = patient_from_fhir(&read(json), MRN_SYSTEM).unwrap();
    assert!(!input.synthetic);
}

fn observation_kinds(o: &proto::Observation) -> Vec<proto::Observation> {
    let with = |value: ObservationValue| proto::Observation { value, reference_range: None, ..o.clone() };
    vec![
        o.clone(),
        with(ObservationValue::String { text: "Clear, straw-coloured".into() }),
        with(ObservationValue::Boolean { value: true }),
        with(ObservationValue::Coded(proto::Coding::new(proto::SNOMED_CT, "260385009", "Negative"))),
    ]
}

#[test]
fn observations_of_every_value_kind_round_trip() {
    let ward = ward();
    let lab = ward.observations.iter().find(|o| o.panel.is_some() && o.reference_range.is_some()).unwrap();
    let vital = ward.observations.iter().find(|o| o.category == proto::ObservationCategory::VitalSigns).unwrap();
    let mut cases = observation_kinds(lab);
    cases.push(vital.clone());
    cases.push(proto::Observation {
        status: proto::ObservationStatus::EnteredInError,
        interpretation: None,
        ..lab.clone()
    });
    for o in &cases {
        let fhir = observation_to_fhir(o);
        let input = observation_from_fhir(&through_json(&fhir)).unwrap();
        let id = uuid_from_identifiers(&input.identifiers).expect("the row's id as an identifier");
        let mut back = input.to_observation(id, id_of(&input.patient), &o.recorded_by, o.updated_at);
        back.version = o.version;
        assert_eq!(value_of(&observation_to_fhir(&back)), value_of(&fhir), "{o:?}");
        // What the FHIR subset does not carry, and nothing else, differs.
        let expected = proto::Observation { panel: None, status_reason: None, ..o.clone() };
        assert!(back == expected, "{o:?}");
    }
}

#[test]
fn observation_out_uses_the_standard_code_systems() {
    let ward = ward();
    let lab = ward.observations.iter().find(|o| o.interpretation.is_some() && o.reference_range.is_some()).unwrap();
    let json = value_of(&observation_to_fhir(lab));
    assert_eq!(json["category"][0]["coding"][0]["system"], systems::OBSERVATION_CATEGORY);
    assert_eq!(json["category"][0]["coding"][0]["code"], lab.category.as_str());
    assert_eq!(json["code"]["coding"][0]["system"], "http://loinc.org");
    assert_eq!(json["interpretation"][0]["coding"][0]["system"], systems::OBSERVATION_INTERPRETATION);
    assert_eq!(json["subject"]["reference"], format!("Patient/{}", lab.patient_id));
    assert_eq!(json["valueQuantity"]["system"], "http://unitsofmeasure.org");
    assert!(json["referenceRange"][0]["low"]["value"].is_number());
}

#[test]
fn allergies_round_trip_and_entered_in_error_follows_ait_2() {
    let ward = ward();
    assert!(!ward.allergies.is_empty());
    let mut cases = ward.allergies.clone();
    let mut in_error = ward.allergies[0].clone();
    in_error.verification_status = AllergyVerificationStatus::EnteredInError;
    in_error.clinical_status = proto::AllergyClinicalStatus::Inactive;
    cases.push(in_error);
    for a in &cases {
        let fhir = allergy_to_fhir(a);
        let json = value_of(&fhir);
        let in_error = a.verification_status == AllergyVerificationStatus::EnteredInError;
        assert_eq!(json.get("clinicalStatus").is_none(), in_error, "ait-1 and ait-2");
        let input = allergy_from_fhir(&through_json(&fhir)).unwrap();
        let id = uuid_from_identifiers(&input.identifiers).unwrap();
        let mut back = input.to_allergy(id, id_of(&input.patient), &a.recorded_by, a.updated_at);
        back.version = a.version;
        assert!(back == *a, "{a:?}");
        assert_eq!(value_of(&allergy_to_fhir(&back)), json);
    }
}

#[test]
fn several_manifestations_become_several_reactions() {
    let ward = ward();
    let mut json = value_of(&allergy_to_fhir(&ward.allergies[0]));
    json["reaction"] = json!([{
        "manifestation": [
            {"coding": [{"system": proto::SNOMED_CT, "code": "126485001", "display": "Urticaria"}]},
            {"coding": [{"system": proto::SNOMED_CT, "code": "39579001", "display": "Anaphylaxis"}]},
        ],
        "severity": "severe",
    }]);
    let input = allergy_from_fhir(&read(json)).unwrap();
    let codes: Vec<(&str, Option<proto::ReactionSeverity>)> =
        input.reactions.iter().map(|r| (r.manifestation.code.as_str(), r.severity)).collect();
    assert_eq!(
        codes,
        [("126485001", Some(proto::ReactionSeverity::Severe)), ("39579001", Some(proto::ReactionSeverity::Severe))]
    );
}

#[test]
fn an_encounter_gives_ward_bed_and_attending() {
    let patient = Uuid::from_u128(42);
    let encounter: Encounter = read(json!({
        "resourceType": "Encounter",
        "identifier": [{"system": "urn:pas:visit", "value": "V-1"}],
        "status": "in-progress",
        "class": {"system": systems::V3_ACT_CODE, "code": "IMP"},
        "subject": {"reference": format!("Patient/{patient}")},
        "participant": [{
            "type": [{"coding": [{"system": systems::V3_PARTICIPATION_TYPE, "code": "ATND"}]}],
            "individual": {"identifier": {"system": "urn:staff", "value": "dr-7"}, "display": "Dr Seven"},
        }],
        "period": {"start": "2026-02-27T08:30:00+01:00"},
        "location": [
            {"location": {"display": "Ward 6"}, "status": "completed"},
            {"location": {"display": "Ward 7A", "identifier": {"system": "urn:pas:ward", "value": "7A"}},
             "status": "active",
             "physicalType": {"coding": [{"system": systems::LOCATION_PHYSICAL_TYPE, "code": "wa"}]}},
            {"location": {"display": "12"},
             "physicalType": {"coding": [{"system": systems::LOCATION_PHYSICAL_TYPE, "code": "bd"}]}},
        ],
    }));
    let input = encounter_from_fhir(&encounter).unwrap();
    assert_eq!(input.status, EncounterStatus::InProgress);
    assert_eq!(input.class, Some((systems::V3_ACT_CODE.to_owned(), "IMP".to_owned())));
    assert_eq!(input.identifiers, [("urn:pas:visit".to_owned(), "V-1".to_owned())]);
    assert_eq!(input.patient, PatientRef::Id(patient));
    let ward = input.ward.clone().unwrap();
    assert_eq!(ward.display.as_deref(), Some("Ward 7A"));
    assert_eq!(ward.identifier, Some(("urn:pas:ward".to_owned(), "7A".to_owned())));
    let attending = input.attending.clone().unwrap();
    assert_eq!(attending.identifier, Some(("urn:staff".to_owned(), "dr-7".to_owned())));
    assert_eq!(input.period_start.map(|t| t.to_rfc3339()), Some("2026-02-27T07:30:00+00:00".to_owned()));
    assert_eq!(input.ward_change(), WardChange::Assign { location: "Ward 7A".into(), bed: Some("12".into()) });

    let finished = Encounter { status: Some("finished".into()), ..encounter.clone() };
    assert_eq!(encounter_from_fhir(&finished).unwrap().ward_change(), WardChange::Discharge);
    let planned = Encounter { status: Some("planned".into()), ..encounter };
    assert_eq!(encounter_from_fhir(&planned).unwrap().ward_change(), WardChange::Keep);
}

#[test]
fn patient_references_take_three_forms() {
    let id = Uuid::from_u128(9);
    let reference = |value: serde_json::Value| -> Result<PatientRef, FhirError> {
        let r: resources::Reference = serde_json::from_value(value).unwrap();
        patient_ref(Some(&r), "Observation.subject")
    };
    assert_eq!(reference(json!({"reference": format!("Patient/{id}")})), Ok(PatientRef::Id(id)));
    assert_eq!(
        reference(json!({"reference": "urn:uuid:0b8a0c55-4f47-4c8e-9c1e-2f5d2c2f1a00"})),
        Ok(PatientRef::Placeholder("urn:uuid:0b8a0c55-4f47-4c8e-9c1e-2f5d2c2f1a00".into()))
    );
    assert_eq!(
        reference(json!({"identifier": {"system": MRN_SYSTEM, "value": "MRN-1"}})),
        Ok(PatientRef::Identifier { system: MRN_SYSTEM.into(), value: "MRN-1".into() })
    );
    let error = reference(json!({"reference": "Patient/SECRET-1"})).unwrap_err();
    assert_eq!(error.paths(), ["Observation.subject.reference"]);
    assert!(!error.to_string().contains("SECRET"));
    assert_eq!(reference(json!({"display": "x"})), Err(FhirError::missing("Observation.subject.reference")));
    assert_eq!(patient_ref(None, "Observation.subject"), Err(FhirError::missing("Observation.subject")));
}

#[test]
fn unsupported_elements_are_refused_by_path() {
    let ward = ward();
    let mut json = value_of(&patient_to_fhir(&ward.patients[0], MRN_SYSTEM));
    json["maritalStatus"] = json!({"text": "SECRET"});
    json["name"][0]["period"] = json!({"start": "2001"});
    let error = patient_from_fhir(&read(json), MRN_SYSTEM).unwrap_err();
    let FhirError::Unsupported { mut paths } = error.clone() else { panic!("{error:?}") };
    paths.sort();
    assert_eq!(paths, ["Patient.maritalStatus", "Patient.name[0].period"]);
    assert!(!error.to_string().contains("SECRET"));

    let mut json = value_of(&observation_to_fhir(&ward.observations[0]));
    json["valueQuantity"]["comparator"] = json!("<");
    json["valueInteger"] = json!(5);
    let FhirError::Unsupported { mut paths } = observation_from_fhir(&read(json)).unwrap_err() else { panic!() };
    paths.sort();
    assert_eq!(paths, ["Observation.valueInteger", "Observation.valueQuantity.comparator"]);
}

/// (a change to a valid resource's JSON, the error it must give). No
/// message may contain the value that was sent.
#[test]
fn bad_values_are_refused_by_path_without_the_value() {
    let ward = ward();
    let secret = "SECRET-4411";
    let patient = value_of(&patient_to_fhir(&ward.patients[0], MRN_SYSTEM));
    let patient_cases: Vec<(serde_json::Value, FhirError)> = vec![
        (json!({"birthDate": secret}), FhirError::invalid("Patient.birthDate", "a full date, YYYY-MM-DD")),
        (json!({"birthDate": "1980-02"}), FhirError::invalid("Patient.birthDate", "a full date, YYYY-MM-DD")),
        (json!({"gender": secret}), FhirError::unsupported_code("Patient.gender")),
        (json!({"active": false}), FhirError::refused("Patient.active", "Wardbook keeps only patient records in use")),
        (json!({"identifier": [{"system": "urn:other", "value": secret}]}), FhirError::missing("Patient.identifier")),
        (json!({"identifier": [{"system": MRN_SYSTEM}]}), FhirError::missing("Patient.identifier[0].value")),
        (
            json!({"telecom": [{"system": "fax", "value": secret}]}),
            FhirError::unsupported_code("Patient.telecom[0].system"),
        ),
        (
            json!({"telecom": [{"system": "phone", "value": secret}, {"system": "phone", "value": "555 0100"}]}),
            FhirError::refused("Patient.telecom[1]", "a patient has one phone number in Wardbook"),
        ),
        (json!({"name": [{"given": [secret]}]}), FhirError::missing("Patient.name[0].family")),
        (
            json!({"meta": {"security": [{"system": systems::V3_ACT_REASON, "code": "R"}]}}),
            FhirError::unsupported_code("Patient.meta.security[0]"),
        ),
    ];
    for (change, expected) in patient_cases {
        let mut json = patient.clone();
        json.as_object_mut().unwrap().extend(change.as_object().unwrap().clone());
        let error = patient_from_fhir(&read(json), MRN_SYSTEM).unwrap_err();
        assert_eq!(error, expected);
        assert!(!error.to_string().contains(secret), "{error}");
    }

    let observation = value_of(&observation_to_fhir(&ward.observations[0]));
    let observation_cases: Vec<(serde_json::Value, FhirError)> = vec![
        (json!({"status": "corrected"}), FhirError::unsupported_code("Observation.status")),
        (
            json!({"effectiveDateTime": "2026-02"}),
            FhirError::invalid("Observation.effectiveDateTime", "a date and time to the second with a time zone"),
        ),
        (json!({"valueString": secret}), FhirError::invalid("Observation.value[x]", "one value")),
        (json!({"valueQuantity": {"unit": "mmHg"}}), FhirError::missing("Observation.valueQuantity.value")),
        (
            json!({"valueQuantity": {"value": 1.0, "system": "urn:local-units", "code": secret}}),
            FhirError::unsupported_code("Observation.valueQuantity.system"),
        ),
        (
            json!({"subject": {"reference": secret}}),
            FhirError::invalid("Observation.subject.reference", "Patient/{id} with a Wardbook patient id"),
        ),
        (
            json!({"interpretation": [{"coding": [{"system": systems::OBSERVATION_INTERPRETATION, "code": secret}]}]}),
            FhirError::unsupported_code("Observation.interpretation[0]"),
        ),
        (json!({"category": []}), FhirError::missing("Observation.category")),
        (json!({"code": {"text": secret}}), FhirError::missing("Observation.code.coding")),
    ];
    for (change, expected) in observation_cases {
        let mut json = observation.clone();
        json.as_object_mut().unwrap().extend(change.as_object().unwrap().clone());
        let error = observation_from_fhir(&read(json)).unwrap_err();
        assert_eq!(error, expected);
        assert!(!error.to_string().contains(secret), "{error}");
    }
    let mut json = observation.clone();
    json.as_object_mut().unwrap().remove("valueQuantity");
    assert_eq!(observation_from_fhir(&read(json)).unwrap_err(), FhirError::missing("Observation.value[x]"));
}

#[test]
fn htest_marks_incoming_resources_synthetic() {
    let ward = ward();
    let mut o = ward.observations[0].clone();
    for synthetic in [true, false] {
        o.synthetic = synthetic;
        let input = observation_from_fhir(&through_json(&observation_to_fhir(&o))).unwrap();
        assert_eq!(input.synthetic, synthetic);
    }
    let allergy: AllergyIntolerance = through_json(&allergy_to_fhir(&ward.allergies[0]));
    assert!(allergy_from_fhir(&allergy).unwrap().synthetic);
}

#[test]
fn inputs_print_no_patient_data() {
    let ward = ward();
    let p = &ward.patients[0];
    let input = patient_from_fhir(&read::<Patient>(value_of(&patient_to_fhir(p, MRN_SYSTEM))), MRN_SYSTEM).unwrap();
    let o = observation_from_fhir(&read::<Observation>(value_of(&observation_to_fhir(&ward.observations[0])))).unwrap();
    let printed = format!("{input:?} {o:?} {:?}", encounter_from_fhir(&encounter_to_fhir(p).unwrap()).unwrap());
    for phi in [p.family_name.as_str(), p.given_name.as_str(), p.mrn.as_str(), "Ward 7"] {
        assert!(!printed.contains(phi), "{printed}");
    }
}
