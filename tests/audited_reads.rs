//! Every PHI read writes exactly one audit event in its own transaction (a
//! chart open too: its header, allergies and vitals tab are one event);
//! a read whose audit write fails returns an error and no data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use uuid::Uuid;
use wardbook::audit::reads::{self, Source};
use wardbook::audit::{AccessContext, recent_events};
use wardbook::store::StoreError;
use wardbook_protocol::{
    AuditAction, AuditSubtype, BreakGlassResponse, Criticality, ObservationCategory, PurposeOfUse,
};

/// Runs `read`, then checks that exactly one event was added, with `subtype`
/// and `patient`, and returns the read's result.
fn one_event<T>(
    store: &mut wardbook::store::Store,
    subtype: AuditSubtype,
    patient: Option<Uuid>,
    read: impl FnOnce(&mut wardbook::store::Store) -> Result<T, StoreError>,
) -> T {
    let before = recent_events(store, 10_000).expect("events").len();
    let result = read(store).expect("read");
    let events = recent_events(store, 10_000).expect("events");
    assert_eq!(events.len(), before + 1, "exactly one new audit event for {subtype}");
    let last = events.last().expect("event");
    assert_eq!(last.subtype, subtype);
    assert_eq!(last.patient_id, patient);
    assert_eq!(last.action, AuditAction::Read);
    assert_eq!(last.purpose_of_use, PurposeOfUse::Treatment);
    assert_eq!(last.user_id, "test-clinician");
    assert_eq!(last.device_id, store.device_id());
    result
}

#[test]
fn each_audited_read_leaves_exactly_one_event() {
    let db = TestDb::new();
    let ward = ward(6);
    let mut store = db.open();
    seed(&mut store, &ward);
    let ctx = ctx();
    let first = &ward.patients[0];

    let census = one_event(&mut store, AuditSubtype::CensusList, None, |s| reads::census(s, &ctx, None));
    assert_eq!(census.len(), ward.patients.len());

    let found =
        one_event(&mut store, AuditSubtype::PatientSearch, None, |s| reads::search(s, &ctx, &first.family_name[..3]));
    assert!(found.iter().any(|p| p.id == first.id), "name prefix finds the patient");
    let by_mrn = one_event(&mut store, AuditSubtype::PatientSearch, None, |s| reads::search(s, &ctx, &first.mrn));
    assert_eq!(by_mrn.iter().map(|p| p.id).collect::<Vec<_>>(), vec![first.id]);

    // The header, the allergies and the vitals tab: one event for the three.
    let opened = one_event(&mut store, AuditSubtype::ChartOpen, Some(first.id), |s| {
        reads::open_chart(s, &ctx, first.id, &Source::Cache)
    });
    let chart = &opened.header;
    assert_eq!(chart.patient.mrn, first.mrn);
    assert!(
        chart.allergies.iter().any(|a| a.criticality == Criticality::High),
        "patient 0 of the generator has a high-criticality allergy"
    );
    assert!(!opened.vitals.is_empty() && opened.vitals.len() <= reads::TAB_LIMIT as usize);
    let shown: Vec<_> = opened.vitals.iter().map(|r| r.observation.clone()).collect();
    assert!(shown.windows(2).all(|w| w[0].effective_at >= w[1].effective_at), "newest first");
    assert!(shown.iter().all(|o| o.patient_id == first.id && o.category == ObservationCategory::VitalSigns));

    // The vitals tab opened again later: its own event, the same rows.
    let vitals = one_event(&mut store, AuditSubtype::VitalsView, Some(first.id), |s| {
        reads::vitals_tab(s, &ctx, first.id, &Source::Cache)
    });
    assert_eq!(vitals, opened.vitals);

    let labs = one_event(&mut store, AuditSubtype::LabsView, Some(first.id), |s| {
        reads::labs_tab(s, &ctx, first.id, &Source::Cache)
    });
    assert!(!labs.is_empty());

    let allergies = one_event(&mut store, AuditSubtype::AllergiesView, Some(first.id), |s| {
        reads::allergies_tab(s, &ctx, first.id, &Source::Cache)
    });
    assert_eq!(allergies.into_iter().map(|r| r.allergy).collect::<Vec<_>>(), chart.allergies);
}

#[test]
fn a_patient_without_allergies_has_an_empty_list() {
    let db = TestDb::new();
    let ward = ward(6);
    let mut store = db.open();
    seed(&mut store, &ward);
    let third = ward.patients[2].id;
    let chart = reads::open_chart(&mut store, &ctx(), third, &Source::Cache).expect("chart");
    assert!(chart.header.allergies.is_empty(), "patient 2 of the generator has no known allergies");
}

#[test]
fn a_read_whose_audit_insert_fails_returns_an_error_and_no_data() {
    let db = TestDb::new();
    let ward = ward(3);
    let mut store = db.open();
    seed(&mut store, &ward);
    let raw = db.raw();
    raw.execute_batch(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events
         BEGIN SELECT RAISE(ABORT, 'simulated audit failure'); END;",
    )
    .expect("trigger");
    let ctx = ctx();
    let patient = ward.patients[0].id;
    let err = reads::open_chart(&mut store, &ctx, patient, &Source::Cache).expect_err("must fail");
    assert!(matches!(err, StoreError::AuditWriteFailed), "{err:?}");
    assert!(!err.to_string().contains(&ward.patients[0].family_name));
    assert!(matches!(reads::census(&mut store, &ctx, None), Err(StoreError::AuditWriteFailed)));
    assert!(matches!(reads::vitals_tab(&mut store, &ctx, patient, &Source::Cache), Err(StoreError::AuditWriteFailed)));
    let held = Source::Held(Box::new(held_records(&ward, 0)));
    assert!(matches!(reads::allergies_tab(&mut store, &ctx, patient, &held), Err(StoreError::AuditWriteFailed)));
    assert_eq!(count_audit_rows(&raw), 0);
    // Once auditing works again, so do reads.
    raw.execute_batch("DROP TRIGGER refuse_audit").expect("drop");
    reads::open_chart(&mut store, &ctx, patient, &Source::Cache).expect("chart after repair");
    assert_eq!(count_audit_rows(&raw), 1);
}

#[test]
fn opening_an_unknown_chart_is_not_found_and_not_audited_as_a_view() {
    let db = TestDb::new();
    let mut store = db.open();
    seed(&mut store, &ward(2));
    let err = reads::open_chart(&mut store, &ctx(), Uuid::now_v7(), &Source::Cache).expect_err("unknown");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(count_audit_rows(&db.raw()), 0, "nothing was shown, the transaction rolled back");
}

/// What a break-the-glass access to patient `index` of `ward` holds.
fn held_records(ward: &wardbook_protocol::synthetic::SyntheticWard, index: usize) -> BreakGlassResponse {
    let patient = ward.patients[index].clone();
    BreakGlassResponse {
        access_id: Uuid::now_v7(),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(30),
        observations: ward.observations.iter().filter(|o| o.patient_id == patient.id).cloned().collect(),
        allergies: ward.allergies.iter().filter(|a| a.patient_id == patient.id).cloned().collect(),
        medication_requests: ward.medication_requests.iter().filter(|o| o.patient_id == patient.id).cloned().collect(),
        medication_administrations: ward
            .medication_administrations
            .iter()
            .filter(|a| a.patient_id == patient.id)
            .cloned()
            .collect(),
        patient,
    }
}

#[test]
fn held_records_are_shown_from_memory_with_one_event_each_in_the_given_context() {
    let db = TestDb::new();
    let ward = ward(6);
    let mut store = db.open();
    // Only the others are cached: the held patient's rows exist nowhere but in memory.
    let patient = ward.patients[0].id;
    let mut cached = ward.clone();
    cached.patients.retain(|p| p.id != patient);
    cached.observations.retain(|o| o.patient_id != patient);
    cached.allergies.retain(|a| a.patient_id != patient);
    seed(&mut store, &cached);
    let held = held_records(&ward, 0);
    let source = Source::Held(Box::new(held.clone()));
    let emergency = AccessContext { purpose: PurposeOfUse::EmergencyTreatment, ..ctx() };
    let viewed = |store: &wardbook::store::Store, subtype: AuditSubtype| {
        let events = recent_events(store, 10_000).expect("events");
        let last = events.last().expect("an event");
        assert_eq!((last.subtype, last.patient_id), (subtype, Some(patient)));
        assert_eq!(last.purpose_of_use, PurposeOfUse::EmergencyTreatment);
        events.len()
    };

    // The chart open shows the header, the allergies and the vitals tab under one event.
    let before = recent_events(&store, 10_000).expect("events").len();
    let opened = reads::open_chart(&mut store, &emergency, patient, &source).expect("chart");
    let n = viewed(&store, AuditSubtype::ChartOpen);
    assert_eq!(n, before + 1, "one event for the chart open");
    let chart = &opened.header;
    assert_eq!(chart.patient, held.patient);
    assert_eq!(chart.allergies, held.allergies.iter().filter(|a| !a.deleted).cloned().collect::<Vec<_>>());
    assert!(!opened.vitals.is_empty() && opened.vitals.iter().all(|r| !r.pending));
    assert!(opened.vitals.iter().all(|r| r.observation.category == ObservationCategory::VitalSigns));
    assert!(opened.vitals.windows(2).all(|w| w[0].observation.effective_at >= w[1].observation.effective_at));

    let vitals = reads::vitals_tab(&mut store, &emergency, patient, &source).expect("vitals");
    assert_eq!(viewed(&store, AuditSubtype::VitalsView), n + 1);
    assert_eq!(vitals, opened.vitals);

    let labs = reads::labs_tab(&mut store, &emergency, patient, &source).expect("labs");
    assert_eq!(viewed(&store, AuditSubtype::LabsView), n + 2);
    assert!(labs.iter().all(|r| r.observation.category == ObservationCategory::Laboratory));

    let allergies = reads::allergies_tab(&mut store, &emergency, patient, &source).expect("allergies");
    assert_eq!(viewed(&store, AuditSubtype::AllergiesView), n + 3);
    assert_eq!(allergies.into_iter().map(|r| r.allergy).collect::<Vec<_>>(), chart.allergies);

    // Held records are shown only under their own patient's event.
    let other = ward.patients[1].id;
    let err = reads::open_chart(&mut store, &emergency, other, &source).expect_err("another patient");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(recent_events(&store, 10_000).expect("events").len(), n + 3, "no event, nothing shown");
}
