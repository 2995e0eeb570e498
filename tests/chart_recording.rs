//! The workstation's chart tabs, recording and edits needing attention on a
//! real SQLCipher store: rows stay marked pending until the server confirms,
//! a set of vitals is recorded all or nothing, entered-in-error needs a
//! reason, and the downtime summary and the conflict list are audited reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::*;
use wardbook::audit::reads::{self, Source};
use wardbook::audit::recent_events;
use wardbook::store::StoreError;
use wardbook::{edits, recording};
use wardbook_protocol::{
    AllergyCategory, AllergyClinicalStatus, AllergyEntry, AllergyType, AllergyVerificationStatus, AuditSubtype, Coding,
    Criticality, ObservationStatus, PurposeOfUse, ReactionEntry, ReactionSeverity, VitalsEntry,
};

fn last_subtype(store: &wardbook::store::Store) -> (AuditSubtype, Option<uuid::Uuid>) {
    let events = recent_events(store, 1).expect("events");
    let e = events.last().expect("an event");
    (e.subtype, e.patient_id)
}

#[test]
fn recorded_vitals_show_as_pending_in_the_vitals_tab() {
    let db = TestDb::new();
    let ward = ward(3);
    let mut store = db.open();
    seed(&mut store, &ward);
    let patient = ward.patients[0].id;
    let before = reads::vitals_tab(&mut store, &ctx(), patient, &Source::Cache).expect("tab");
    assert!(before.iter().all(|r| !r.pending), "seeded rows are confirmed");

    let entry =
        VitalsEntry { heart_rate: Some(112.0), systolic: Some(150.0), diastolic: Some(95.0), ..Default::default() };
    let recorded = recording::record_vitals(&mut store, &ctx(), patient, &entry).expect("record");
    assert_eq!(recorded.len(), 3);
    assert!(recorded.iter().all(|o| o.recorded_by == "test-clinician" && o.version == 0));

    let after = reads::vitals_tab(&mut store, &ctx(), patient, &Source::Cache).expect("tab");
    assert_eq!(last_subtype(&store), (AuditSubtype::VitalsView, Some(patient)));
    assert_eq!(after.len(), before.len() + 3);
    let pending: Vec<_> = after.iter().filter(|r| r.pending).map(|r| r.observation.id).collect();
    let mut ids: Vec<_> = recorded.iter().map(|o| o.id).collect();
    ids.sort();
    let mut pending_sorted = pending.clone();
    pending_sorted.sort();
    assert_eq!(pending_sorted, ids, "exactly the new rows are pending");
}

#[test]
fn an_impossible_value_records_nothing_of_the_set() {
    let db = TestDb::new();
    let ward = ward(2);
    let mut store = db.open();
    seed(&mut store, &ward);
    let patient = ward.patients[0].id;
    let before = reads::vitals_tab(&mut store, &ctx(), patient, &Source::Cache).expect("tab").len();
    let entry = VitalsEntry { heart_rate: Some(80.0), temperature: Some(80.0), ..Default::default() };
    let err = recording::record_vitals(&mut store, &ctx(), patient, &entry).expect_err("impossible");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("temperature"), "{err}");
    assert_eq!(
        reads::vitals_tab(&mut store, &ctx(), patient, &Source::Cache).expect("tab").len(),
        before,
        "nothing recorded"
    );
}

#[test]
fn entered_in_error_needs_a_reason_and_keeps_it() {
    let db = TestDb::new();
    let ward = ward(2);
    let mut store = db.open();
    seed(&mut store, &ward);
    let patient = ward.patients[0].id;
    let lab =
        reads::labs_tab(&mut store, &ctx(), patient, &Source::Cache).expect("labs").into_iter().next().expect("a lab");
    let id = lab.observation.id;
    let err = edits::mark_entered_in_error(&mut store, &ctx(), id, "   ").expect_err("no reason");
    assert!(err.to_string().contains("reason"), "{err}");

    let marked = edits::mark_entered_in_error(&mut store, &ctx(), id, "Wrong patient label").expect("mark");
    assert_eq!(marked.status, ObservationStatus::EnteredInError);
    let row = reads::labs_tab(&mut store, &ctx(), patient, &Source::Cache)
        .expect("labs")
        .into_iter()
        .find(|r| r.observation.id == id)
        .expect("still listed");
    assert!(row.pending);
    assert_eq!(row.observation.status, ObservationStatus::EnteredInError);
    assert_eq!(row.observation.status_reason.as_deref(), Some("Wrong patient label"));
}

#[test]
fn a_new_allergy_and_a_change_to_it_are_pending_and_a_stale_change_is_refused() {
    let db = TestDb::new();
    let ward = ward(2);
    let mut store = db.open();
    seed(&mut store, &ward);
    let patient = ward.patients[1].id;
    let mut entry = AllergyEntry {
        id: None,
        base_version: None,
        allergen: Coding {
            system: wardbook_protocol::RXNORM.into(),
            code: "7980".into(),
            display: "Penicillin G".into(),
        },
        allergy_type: AllergyType::Allergy,
        category: AllergyCategory::Medication,
        clinical_status: AllergyClinicalStatus::Active,
        verification_status: AllergyVerificationStatus::Unconfirmed,
        criticality: Criticality::High,
        reactions: vec![ReactionEntry {
            manifestation: Coding {
                system: wardbook_protocol::SNOMED_CT.into(),
                code: "39579001".into(),
                display: "Anaphylaxis".into(),
            },
            severity: Some(ReactionSeverity::Severe),
        }],
    };
    let saved = recording::save_allergy(&mut store, &ctx(), patient, &entry).expect("new allergy");
    let tab = reads::allergies_tab(&mut store, &ctx(), patient, &Source::Cache).expect("allergies");
    assert_eq!(last_subtype(&store), (AuditSubtype::AllergiesView, Some(patient)));
    assert!(tab.iter().any(|r| r.allergy.id == saved.id && r.pending));

    entry.id = Some(saved.id);
    entry.base_version = Some(saved.version);
    entry.verification_status = AllergyVerificationStatus::Confirmed;
    let changed = recording::save_allergy(&mut store, &ctx(), patient, &entry).expect("change");
    assert_eq!(changed.verification_status, AllergyVerificationStatus::Confirmed);

    entry.base_version = Some(saved.version + 7);
    let err = recording::save_allergy(&mut store, &ctx(), patient, &entry).expect_err("stale");
    assert!(err.to_string().contains("changed since it was opened"), "{err}");
}

#[test]
fn the_downtime_summary_is_a_print_event_with_the_last_day_of_vitals() {
    let db = TestDb::new();
    let ward = ward(2);
    let mut store = db.open();
    seed(&mut store, &ward);
    let patient = ward.patients[0].id;
    recording::record_vitals(&mut store, &ctx(), patient, &VitalsEntry { spo2: Some(93.0), ..Default::default() })
        .expect("record");
    let now = Utc::now();
    let summary = reads::downtime_summary(&mut store, &ctx(), patient, now).expect("summary");
    let events = recent_events(&store, 1).expect("events");
    let event = events.last().expect("event");
    assert_eq!((event.subtype, event.patient_id), (AuditSubtype::Print, Some(patient)));
    assert_eq!(event.purpose_of_use, PurposeOfUse::Treatment);
    assert_eq!(summary.header.patient.id, patient);
    assert!(!summary.vitals.is_empty(), "the vitals just recorded are in it");
    assert!(summary.vitals.iter().all(|o| o.effective_at >= now - chrono::Duration::hours(24)));
    assert!(summary.problems.is_empty());
    assert_eq!(summary.generated_by, "test-clinician");
}

#[test]
fn the_conflict_list_is_an_audited_read_even_when_empty() {
    let db = TestDb::new();
    let ward = ward(1);
    let mut store = db.open();
    seed(&mut store, &ward);
    let list = reads::edits_needing_attention(&mut store, &ctx()).expect("list");
    assert!(list.conflicts.is_empty() && list.rejected.is_empty());
    assert_eq!(last_subtype(&store), (AuditSubtype::ConflictsView, None));
}
