#![allow(clippy::unwrap_used)]
use serde_json::{Value, json};

use super::*;
use crate::fhir::resources::from_value;

/// A synthetic order as an EHR sends it.
fn order() -> Value {
    json!({
        "resourceType": "MedicationRequest",
        "identifier": [{"system": "https://ehr.example/order", "value": "O-1"}],
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": systems::RXNORM, "code": "5224", "display": "Heparin"}]},
        "subject": {"reference": format!("Patient/{}", Uuid::from_u128(1))},
        "dosageInstruction": [{
            "timing": {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h",
                                  "boundsPeriod": {"start": "2026-03-01T08:00:00Z", "end": "2026-03-08T08:00:00Z"}}},
            "doseAndRate": [{"doseQuantity": {"value": 5000, "unit": "[iU]", "system": systems::UCUM, "code": "[iU]"}}],
        }],
    })
}

fn read(value: Value) -> Result<MedicationRequestInput, FhirError> {
    medication_request_from_fhir(&from_value(value).unwrap())
}

fn with(change: Value) -> Value {
    let mut value = order();
    for (key, v) in change.as_object().unwrap() {
        value[key] = v.clone();
    }
    value
}

#[test]
fn an_order_reads_with_its_dates_dose_and_the_high_alert_floor() {
    let input = read(order()).unwrap();
    assert_eq!(input.status, MedicationRequestStatus::Active);
    assert_eq!(input.timing, Timing::EveryHours { hours: 12 });
    assert_eq!(input.dose, Some(Dose { value: 5000.0, unit: "[iU]".into() }));
    assert_eq!(instant(input.start), "2026-03-01T08:00:00Z");
    assert_eq!(input.end.map(instant).as_deref(), Some("2026-03-08T08:00:00Z"));
    assert!(input.high_alert, "heparin is high-alert without a flag");
    assert_eq!(input.identifiers, [("https://ehr.example/order".to_owned(), "O-1".to_owned())]);
    // Cancelled is kept as stopped; the validity period and authoredOn stand in for the bounds.
    let mut v = with(json!({"status": "cancelled", "authoredOn": "2026-02-28T10:00:00Z"}));
    v["dosageInstruction"][0]["timing"]["repeat"].as_object_mut().unwrap().remove("boundsPeriod");
    let input = read(v.clone()).unwrap();
    assert_eq!((input.status, instant(input.start)), (MedicationRequestStatus::Stopped, "2026-02-28T10:00:00Z".into()));
    v["dispenseRequest"] = json!({"validityPeriod": {"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"}});
    let input = read(v).unwrap();
    assert_eq!(
        (instant(input.start), input.end.map(instant)),
        ("2026-03-02T00:00:00Z".into(), Some("2026-03-03T00:00:00Z".into()))
    );
}

#[test]
fn what_wardbook_does_not_keep_is_refused_by_path() {
    let unflagged = json!([{"url": "https://other.example/flag", "valueBoolean": true}]);
    let table: Vec<(Value, &str)> = vec![
        (with(json!({"status": "draft"})), "MedicationRequest.status"),
        (with(json!({"intent": "plan"})), "MedicationRequest.intent"),
        (with(json!({"extension": unflagged})), "MedicationRequest.extension[0]"),
        (with(json!({"category": [{"text": "inpatient"}]})), "MedicationRequest.category"),
        (with(json!({"medicationReference": {"reference": "Medication/1"}})), "MedicationRequest.medicationReference"),
        (
            with(json!({"dosageInstruction": [order()["dosageInstruction"][0].clone(), {"text": "x"}]})),
            "MedicationRequest.dosageInstruction[1]",
        ),
        (with(json!({"dosageInstruction": []})), "MedicationRequest.dosageInstruction"),
        (with(json!({"note": [{"authorString": "Dr X", "text": "x"}]})), "MedicationRequest.note[0].authorString"),
    ];
    for (value, path) in table {
        let error = read(value.clone()).unwrap_err();
        assert_eq!(error.paths(), [path], "{value}");
    }
    let mut no_start = order();
    no_start["dosageInstruction"][0]["timing"]["repeat"].as_object_mut().unwrap().remove("boundsPeriod");
    assert_eq!(
        read(no_start).unwrap_err().paths(),
        ["MedicationRequest.dosageInstruction[0].timing.repeat.boundsPeriod.start"]
    );
}

#[test]
fn an_order_written_out_reads_back_the_same() {
    let input = read(with(json!({
        "extension": [{"url": high_alert::FHIR_EXTENSION, "valueBoolean": true}],
        "requester": {"display": "Dr Synthetic"},
        "reasonCode": [{"text": "DVT prophylaxis"}],
    })))
    .unwrap();
    let row = input.to_request(Uuid::from_u128(2), Uuid::from_u128(1), chrono::Utc::now());
    let out = serde_json::to_value(medication_request_to_fhir(&row)).unwrap();
    let again = read(out).unwrap();
    let back = again.to_request(row.id, row.patient_id, row.updated_at);
    assert_eq!(back, row);
}
