//! Two workstations, one dose: two nurses offline on different workstations
//! record the same due dose. Both records reach the service and both
//! workstations; every workstation of the ward flags the patient "possible
//! double dose" (census, medications view, status bar) until a clinician's
//! review, which travels like the doses, clears it everywhere. Never
//! last-writer-wins, never a silent merge. Synthetic data only.

mod common;

use chrono::{Duration, Utc};
use common::central::{Central, Station};
use uuid::Uuid;
use wardbook::audit::reads::{self, Source};
use wardbook::medications;
use wardbook_protocol::medication::{
    AdministrationEntry, AdministrationStatus, DoseReviewEntry, DoseReviewOutcome, MedicationRequest,
    MedicationRequestStatus, MedicationsView, RecordAdministrationOutcome,
};

const WARD: &str = "Ward 7A";

fn view(station: &Station, patient: Uuid) -> MedicationsView {
    let now = Utc::now();
    station.with(|s| {
        reads::medications(
            s,
            &station.ctx,
            patient,
            &Source::Cache,
            (now - Duration::hours(24), now + Duration::hours(24)),
            now,
        )
        .expect("medications view")
    })
}

/// A patient of the ward with an active scheduled order that has a due time
/// with nothing recorded yet (the synthetic ward charted the past), no allergy that stops it and no witness needed.
fn scheduled_dose(station: &Station) -> (Uuid, MedicationRequest, chrono::DateTime<Utc>) {
    let census = station.with(|s| reads::census(s, &station.ctx, None).expect("census"));
    for line in census {
        let v = view(station, line.id);
        for o in &v.orders {
            let order = &o.order;
            if order.status != MedicationRequestStatus::Active || order.high_alert || order.timing.is_prn() {
                continue;
            }
            let free = o.slots.iter().find(|s| s.administration_ids.is_empty());
            // Patient 0's amoxicillin is what its penicillin allergy stops.
            if let Some(slot) = free.filter(|_| order.medication.code != "723") {
                return (line.id, order.clone(), slot.due_at);
            }
        }
    }
    panic!("the synthetic ward has a scheduled dose to give");
}

fn give(station: &Station, patient: Uuid, order: &MedicationRequest, due_at: chrono::DateTime<Utc>) -> Uuid {
    let entry = AdministrationEntry {
        request_id: order.id,
        due_at: Some(due_at),
        status: AdministrationStatus::Given,
        not_given_reason: None,
        dose: None,
        route: None,
        site: None,
        given_at: None,
        witness: None,
        overrides: Vec::new(),
    };
    match station.with(|s| medications::record_administration(s, &station.ctx, patient, &entry)).expect("record") {
        RecordAdministrationOutcome::Saved { row, .. } => {
            assert!(row.pending, "pending until the service has it");
            row.administration.id
        }
        RecordAdministrationOutcome::NeedsOverride { findings } => panic!("unexpected checks: {findings:?}"),
    }
}

fn flagged(station: &Station, patient: Uuid) -> bool {
    let census = station.with(|s| reads::census(s, &station.ctx, None).expect("census"));
    census.iter().find(|p| p.id == patient).expect("on the census").possible_double_dose
}

#[test]
fn two_workstations_offline_give_one_dose_twice_and_a_review_clears_the_flag_everywhere() {
    let mut central = Central::start();
    central.synth(6, 21);
    let mut a = Station::new("nurse.a.synthetic");
    a.enroll(&central, &central.url(), WARD);
    let mut b = Station::new("nurse.b.synthetic");
    b.enroll(&central, &central.url(), WARD);
    a.sync(&central).expect("initial sync");
    b.sync(&central).expect("initial sync");
    let (patient, order, due_at) = scheduled_dose(&a);
    assert!(!flagged(&a, patient) && !flagged(&b, patient));

    // Both offline: each nurse gives the dose on her own workstation.
    central.stop_service();
    let first = give(&a, patient, &order, due_at);
    let second = give(&b, patient, &order, due_at);
    assert!(a.sync(&central).is_err() && b.sync(&central).is_err(), "offline");
    assert!(!flagged(&a, patient), "each workstation knows only its own record yet");

    // Back online: both records are kept, on the service and on both workstations.
    central.start_service();
    a.sync(&central).expect("sync a");
    b.sync(&central).expect("sync b");
    a.sync(&central).expect("sync a again");
    let stored = central.query_i64(&format!(
        "SELECT count(*) FROM medication_administrations WHERE request_id = '{}' AND due_at = '{}' AND status = 'completed'",
        order.id,
        due_at.to_rfc3339()
    ));
    assert_eq!(stored, 2, "both doses are on the service");
    for station in [&a, &b] {
        let v = view(station, patient);
        let line = v.orders.iter().find(|o| o.order.id == order.id).expect("the order");
        let slot = line.slots.iter().find(|s| s.due_at == due_at).expect("the slot");
        let mut ids = slot.administration_ids.clone();
        ids.sort();
        let mut both = vec![first, second];
        both.sort();
        assert_eq!(ids, both, "both records on every workstation");
        assert!(line.administrations.iter().all(|r| !r.pending), "confirmed");
        assert_eq!(v.double_doses.len(), 1, "{:?}", v.double_doses);
        assert!(flagged(station, patient), "the census flags the patient");
        assert_eq!(station.status().double_dose_patients, 1, "and the status bar counts it");
    }

    // A clinician on workstation B reviews it; the review reaches A.
    let review = DoseReviewEntry {
        patient_id: patient,
        request_id: order.id,
        due_at: Some(due_at),
        administration_ids: vec![first, second],
        outcome: DoseReviewOutcome::DuplicateRecord,
        note: "One dose was given; the second record was charted in error during the outage.".into(),
    };
    b.with(|s| medications::review_double_dose(s, &b.ctx, &review)).expect("review");
    assert!(!flagged(&b, patient), "cleared where it was reviewed");
    b.sync(&central).expect("push the review");
    a.sync(&central).expect("pull the review");
    for station in [&a, &b] {
        assert!(!flagged(station, patient));
        assert!(view(station, patient).double_doses.is_empty());
        assert_eq!(station.status().double_dose_patients, 0);
    }
    assert_eq!(central.query_i64("SELECT count(*) FROM dose_reviews"), 1);
    // The review is audited on the workstation that made it.
    let events = b.with(|s| wardbook::audit::recent_events(s, 50).expect("events"));
    assert!(
        events
            .iter()
            .any(|e| e.subtype == wardbook_protocol::AuditSubtype::DoubleDoseReview && e.patient_id == Some(patient)),
        "the review is an audit event"
    );
}
