//! The ward's views of medications on a real SQLCipher store: the census's
//! next due dose, overdue count and double-dose flag (and the status bar's
//! count) until a review clears it; the Medications tab and the MAR
//! printout as audited reads; pulled rows applied, kept under a pending
//! edit and purged with their patient; an entered-in-error mark never left
//! as a conflict.

use chrono::Duration;
use wardbook_protocol::api::{Change, MutationOutcome, MutationResult, PullResponse, Record};
use wardbook_protocol::medication::{
    AdministrationInError, AdministrationStatus, DoseReview, DoseReviewEntry, DoseReviewOutcome,
    MedicationRequestStatus, RecordAdministrationOutcome, Timing,
};
use wardbook_protocol::{AuditSubtype, PatientSummary};

use super::fixture::*;
use crate::audit::reads::{self, Source};
use crate::medications::{administration_entered_in_error, record_administration, review_double_dose};
use crate::store::StoreError;
use crate::store::outbox::OutboxState;
use crate::sync::local;

fn page(changes: Vec<Change>) -> PullResponse {
    PullResponse { changes, cursor: "c".into(), has_more: false, expected_rows: None, revoked_users: Vec::new() }
}

/// The census line of one of the fixture's patients.
fn line(f: &mut Fixture, patient: fn(&Fixture) -> uuid::Uuid) -> PatientSummary {
    let id = patient(f);
    let census = reads::census(&mut f.store, &f.ctx, None).unwrap();
    census.into_iter().find(|l| l.id == id).unwrap()
}

fn first(f: &Fixture) -> uuid::Uuid {
    f.patient
}

fn second(f: &Fixture) -> uuid::Uuid {
    f.other
}

fn double_dose_patients(f: &Fixture) -> u32 {
    local::status_parts(&f.store).unwrap().double_dose_patients
}

#[test]
fn the_census_shows_next_due_overdue_and_a_double_dose_until_a_review_clears_it() {
    let mut f = Fixture::new();
    let mut q4h = order(f.patient, Timing::EveryHours { hours: 4 });
    q4h.start = now() - Duration::hours(10);
    f.store.upsert_medications(std::slice::from_ref(&q4h), &[], &[]).unwrap();
    // Due 10, 6 and 2 hours ago (all overdue), and in 2 hours.
    let census = line(&mut f, first);
    assert_eq!(census.overdue_doses, 3);
    let next = census.next_due.clone().unwrap();
    assert_eq!((next.due_at, next.medication.as_str()), (q4h.start + Duration::hours(12), "Paracetamol"));
    assert!(!census.possible_double_dose);
    let quiet = line(&mut f, second);
    assert_eq!((quiet.next_due, quiet.overdue_doses, quiet.possible_double_dose), (None, 0, false));

    let due = q4h.start + Duration::hours(4);
    let mut e = entry(q4h.id);
    (e.due_at, e.given_at) = (Some(due), Some(due + Duration::minutes(10)));
    let RecordAdministrationOutcome::Saved { row: mine, .. } =
        record_administration(&mut f.store, &f.ctx, f.patient, &e).unwrap()
    else {
        panic!("saved")
    };
    assert_eq!(line(&mut f, first).overdue_doses, 2);
    assert_eq!(double_dose_patients(&f), 0);

    // The same due dose, given by a nurse on another workstation, arrives.
    let theirs = given(&q4h, due + Duration::minutes(20), Some(due), 1000.0);
    let change = Change::MedicationAdministration { medication_administration: theirs.clone() };
    local::apply_pages(&mut f.store, &[page(vec![change])]).unwrap();
    assert!(line(&mut f, first).possible_double_dose, "both records kept, the patient flagged");
    assert_eq!(double_dose_patients(&f), 1);
    let view = reads::medications(
        &mut f.store,
        &f.ctx,
        f.patient,
        &Source::Cache,
        (now() - Duration::hours(24), now()),
        now(),
    )
    .unwrap();
    let mut both = vec![mine.administration.id, theirs.id];
    both.sort();
    assert_eq!(view.double_doses.len(), 1);
    assert_eq!((view.double_doses[0].due_at, &view.double_doses[0].administration_ids), (Some(due), &both));

    let review = |ids: Vec<uuid::Uuid>, note: &str| DoseReviewEntry {
        patient_id: f.patient,
        request_id: q4h.id,
        due_at: Some(due),
        administration_ids: ids,
        outcome: DoseReviewOutcome::DuplicateRecord,
        note: note.into(),
    };
    let before = f.counts();
    for bad in [review(both.clone(), "  "), review(vec![theirs.id], "one record"), review(vec![theirs.id, q4h.id], "x")]
    {
        let err = review_double_dose(&mut f.store, &f.ctx, &bad).unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    }
    assert_eq!(f.counts(), before, "nothing saved or audited");
    let saved =
        review_double_dose(&mut f.store, &f.ctx, &review(both.clone(), "Charted twice; one dose given.")).unwrap();
    assert_eq!((saved.reviewed_by.as_str(), saved.administration_ids.clone()), (NURSE, both));
    let after = f.counts();
    assert_eq!((after.reviews, after.pending_edits, after.events), (1, before.pending_edits + 1, before.events + 1));
    let event = f.last_event();
    assert_eq!((event.subtype, event.patient_id), (AuditSubtype::DoubleDoseReview, Some(f.patient)));
    assert!(!line(&mut f, first).possible_double_dose, "the review clears the flag");
    assert_eq!(double_dose_patients(&f), 0);

    // A third record for that due time flags it again: the review covered two.
    let third = given(&q4h, due + Duration::minutes(30), Some(due), 1000.0);
    f.store.upsert_medications(&[], std::slice::from_ref(&third), &[]).unwrap();
    assert_eq!(double_dose_patients(&f), 1);
}

#[test]
fn prn_doses_closer_than_the_interval_are_a_double_dose_until_one_is_entered_in_error() {
    let mut f = Fixture::new();
    let as_needed = order(f.other, prn(240, None));
    let start = now() - Duration::hours(8);
    let earlier = given(&as_needed, start, None, 1000.0);
    let apart = given(&as_needed, start + Duration::minutes(240), None, 1000.0);
    f.store.upsert_medications(std::slice::from_ref(&as_needed), &[earlier, apart], &[]).unwrap();
    assert_eq!(double_dose_patients(&f), 0, "exactly the interval apart is no double dose");
    let close = given(&as_needed, start + Duration::minutes(30), None, 1000.0);
    f.store.upsert_medications(&[], std::slice::from_ref(&close), &[]).unwrap();
    assert_eq!(double_dose_patients(&f), 1);
    assert!(line(&mut f, second).possible_double_dose);
    let request = AdministrationInError { administration_id: close.id, reason: "charted on the wrong order".into() };
    administration_entered_in_error(&mut f.store, &f.ctx, &request).unwrap();
    assert_eq!(double_dose_patients(&f), 0, "a record in error is no dose");
}

#[test]
fn the_medications_tab_is_an_audited_view_that_marks_pending_doses() {
    let mut f = Fixture::new();
    let mut stopped = order(f.patient, Timing::TimesPerDay { count: 2 });
    stopped.status = MedicationRequestStatus::Stopped;
    stopped.medication.display = "Amoxicillin".into();
    let as_needed = order(f.patient, prn(60, Some(4000.0)));
    let pulled = given(&as_needed, now() - Duration::hours(5), None, 1000.0);
    f.store.upsert_medications(&[stopped.clone(), as_needed.clone()], std::slice::from_ref(&pulled), &[]).unwrap();
    let RecordAdministrationOutcome::Saved { row, .. } =
        record_administration(&mut f.store, &f.ctx, f.patient, &entry(as_needed.id)).unwrap()
    else {
        panic!("saved")
    };
    let before = f.counts().events;
    let window = reads::mar_window(None, None, now()).unwrap();
    assert_eq!(window.1 - window.0, Duration::hours(48));
    let view = reads::medications(&mut f.store, &f.ctx, f.patient, &Source::Cache, window, now()).unwrap();
    assert_eq!(f.counts().events, before + 1);
    let event = f.last_event();
    assert_eq!((event.subtype, event.patient_id), (AuditSubtype::MedicationsView, Some(f.patient)));
    let ids: Vec<_> = view.orders.iter().map(|o| o.order.id).collect();
    assert_eq!(ids, [as_needed.id, stopped.id], "current orders first");
    assert_eq!(view.time_zone, "Europe/London");
    let rows = &view.orders[0].administrations;
    let pending: Vec<_> = rows.iter().map(|r| (r.administration.id, r.pending)).collect();
    assert_eq!(pending, [(row.administration.id, true), (pulled.id, false)], "newest first");
    assert_eq!(view.orders[0].prn.as_ref().map(|p| p.doses_last_24h), Some(2));

    let t = now();
    for ((start, end), why) in [((t, t), "must end after it starts"), ((t, t + Duration::days(15)), "at most 14 days")]
    {
        let err = reads::mar_window(Some(start), Some(end), t).unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(e) if e.has_field("window_end")), "{err:?}");
        assert!(err.to_string().contains(why), "{err}");
    }
    let unknown = reads::medications(&mut f.store, &f.ctx, uuid::Uuid::now_v7(), &Source::Cache, window, now());
    assert!(matches!(unknown, Err(StoreError::NotFound)));
    assert_eq!(f.counts().events, before + 1, "nothing shown, nothing audited as a view");

    // The downtime summary lists the current orders.
    let summary = reads::downtime_summary(&mut f.store, &f.ctx, f.patient, now()).unwrap();
    let listed: Vec<_> = summary.medications.iter().map(|o| o.id).collect();
    assert_eq!(listed, [as_needed.id]);
}

#[test]
fn the_ward_mar_prints_every_census_patient_once_each_an_audited_print() {
    let mut f = Fixture::new();
    for patient in [f.patient, f.other, f.third] {
        let o = order(patient, Timing::FixedTimes { times: vec![chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap()] });
        f.store.upsert_medications(std::slice::from_ref(&o), &[], &[]).unwrap();
    }
    let census: Vec<_> = reads::census(&mut f.store, &f.ctx, None).unwrap().into_iter().map(|l| l.id).collect();
    let before = f.counts().events;
    let at = now();
    let print = reads::print_mar(&mut f.store, &f.ctx, None, 48, at).unwrap();
    let pages: Vec<_> = print.pages.iter().map(|p| p.header.patient.id).collect();
    assert_eq!(pages, census, "one page a patient, in census order");
    assert_eq!(f.counts().events, before + 3);
    let events = f.events(3);
    let printed: Vec<_> = events.iter().map(|e| (e.subtype, e.patient_id.unwrap())).collect();
    assert_eq!(printed, census.iter().map(|id| (AuditSubtype::Print, *id)).collect::<Vec<_>>());
    let page = &print.pages[0].medications;
    assert_eq!((page.window_start, page.window_end), (at - Duration::hours(24), at + Duration::hours(48)));
    assert!(page.orders[0].slots.len() >= 3, "yesterday's, today's and the next two days' 08:00");

    let one = reads::print_mar(&mut f.store, &f.ctx, Some(f.third), 24, at).unwrap();
    assert_eq!(one.pages.len(), 1);
    assert_eq!((f.last_event().subtype, f.last_event().patient_id), (AuditSubtype::Print, Some(f.third)));
    let events = f.counts().events;
    let err = reads::print_mar(&mut f.store, &f.ctx, None, 12, at).unwrap_err();
    assert!(err.to_string().contains("24 or 48"), "{err}");

    let raw = f.raw();
    raw.execute_batch(&format!(
        "CREATE TRIGGER refuse_print BEFORE INSERT ON audit_events WHEN NEW.sequence = {}
         BEGIN SELECT RAISE(ABORT, 'simulated audit failure'); END;",
        events + 2
    ))
    .unwrap();
    let failed = reads::print_mar(&mut f.store, &f.ctx, None, 24, at);
    assert!(matches!(failed, Err(StoreError::AuditWriteFailed)), "{failed:?}");
    assert_eq!(f.counts().events, events, "the second page's event failed: no event kept, nothing printed");
}

#[test]
fn pulled_medication_rows_are_applied_kept_under_a_pending_edit_and_purged_with_the_patient() {
    let mut f = Fixture::new();
    let o = order(f.other, prn(60, None));
    let a = given(&o, now() - Duration::hours(1), None, 1000.0);
    let review = DoseReview {
        id: uuid::Uuid::now_v7(),
        version: 1,
        updated_at: now(),
        deleted: false,
        synthetic: true,
        patient_id: f.other,
        request_id: o.id,
        due_at: None,
        administration_ids: vec![a.id, uuid::Uuid::now_v7()],
        outcome: DoseReviewOutcome::DoubleDoseConfirmed,
        note: "Assessed; prescriber informed.".into(),
        reviewed_by: "dr-2".into(),
        reviewed_at: now(),
    };
    let changes = vec![
        Change::MedicationRequest { medication_request: o.clone() },
        Change::MedicationAdministration { medication_administration: a.clone() },
        Change::DoseReview { dose_review: review.clone() },
    ];
    local::apply_pages(&mut f.store, &[page(changes)]).unwrap();
    let digest = f.store.digest().unwrap();
    for (kind, id) in [("medication_request", o.id), ("medication_administration", a.id), ("dose_review", review.id)] {
        assert!(digest.contains_key(&(kind, id)), "{kind} applied");
    }

    // A pending mark is not overwritten by a pulled row.
    let request = AdministrationInError { administration_id: a.id, reason: "wrong order".into() };
    administration_entered_in_error(&mut f.store, &f.ctx, &request).unwrap();
    let mut newer = a.clone();
    newer.version = 2;
    local::apply_pages(
        &mut f.store,
        &[page(vec![Change::MedicationAdministration { medication_administration: newer }])],
    )
    .unwrap();
    let view =
        reads::medications(&mut f.store, &f.ctx, f.other, &Source::Cache, (now() - Duration::hours(2), now()), now())
            .unwrap();
    assert_eq!(view.orders[0].administrations[0].administration.status, AdministrationStatus::EnteredInError);

    // A tombstone removes the order; the dose stays (a fact outlives its order's row).
    let mut gone = o.clone();
    (gone.deleted, gone.version) = (true, 2);
    local::apply_pages(&mut f.store, &[page(vec![Change::MedicationRequest { medication_request: gone }])]).unwrap();
    let digest = f.store.digest().unwrap();
    assert!(!digest.contains_key(&("medication_request", o.id)));
    assert!(digest.contains_key(&("medication_administration", a.id)));

    // Leaving scope: kept while the mark waits, purged with every row once it is pushed.
    local::apply_pages(&mut f.store, &[page(vec![Change::Remove { patient_id: f.other }])]).unwrap();
    assert!(f.store.digest().unwrap().contains_key(&("medication_administration", a.id)));
    let pending = f.pending();
    let answer = MutationResult { id: pending[0], outcome: MutationOutcome::Applied { version: 3 } };
    local::apply_push_results(&mut f.store, &[answer]).unwrap();
    local::purge(&mut f.store, &[f.other]).unwrap();
    let digest = f.store.digest().unwrap();
    for (kind, id) in [("medication_administration", a.id), ("dose_review", review.id)] {
        assert!(!digest.contains_key(&(kind, id)), "{kind} purged with the patient");
    }
}

#[test]
fn a_conflict_on_an_entered_in_error_mark_is_pushed_again_or_settled_never_left_to_a_clinician() {
    let mut f = Fixture::new();
    let o = order(f.patient, prn(60, None));
    let a = given(&o, now() - Duration::hours(1), None, 1000.0);
    let b = given(&o, now() - Duration::hours(3), None, 1000.0);
    f.store.upsert_medications(std::slice::from_ref(&o), &[a.clone(), b.clone()], &[]).unwrap();
    let mark = |f: &mut Fixture, id| {
        let request = AdministrationInError { administration_id: id, reason: "wrong patient".into() };
        administration_entered_in_error(&mut f.store, &f.ctx, &request).unwrap();
        *f.pending().last().unwrap()
    };
    let conflict = |current: &wardbook_protocol::medication::MedicationAdministration| MutationOutcome::Conflict {
        current: Box::new(Record::MedicationAdministration { medication_administration: current.clone() }),
    };

    // The server's row moved on (version 3): the mark goes up again on it.
    let first_mark = mark(&mut f, a.id);
    let mut server = a.clone();
    server.version = 3;
    let counts =
        local::apply_push_results(&mut f.store, &[MutationResult { id: first_mark, outcome: conflict(&server) }])
            .unwrap();
    assert_eq!(counts.conflicts, 0);
    let again = f.pending();
    assert_eq!(again.len(), 1);
    assert_ne!(again[0], first_mark, "a new mutation id");
    let pushed = local::mutations(&f.store, &again).unwrap();
    assert_eq!(pushed[0].base_version, Some(3));
    let Record::MedicationAdministration { medication_administration: m } = &pushed[0].record else { panic!("a dose") };
    assert_eq!((m.status, m.version), (AdministrationStatus::EnteredInError, 3));
    assert_eq!(m.performer, a.performer, "the server's record, marked");

    // Refused again at the server's own version: kept as a conflict, never dropped.
    let counts =
        local::apply_push_results(&mut f.store, &[MutationResult { id: again[0], outcome: conflict(&server) }])
            .unwrap();
    assert_eq!(counts.conflicts, 1);
    assert_eq!(f.store.db().outbox().count(OutboxState::Conflict).unwrap(), 1);

    // Marked on the server already: settled, nothing left.
    let second = mark(&mut f, b.id);
    let mut marked = b.clone();
    (marked.version, marked.status, marked.error_reason) =
        (4, AdministrationStatus::EnteredInError, Some("duplicate".into()));
    let counts =
        local::apply_push_results(&mut f.store, &[MutationResult { id: second, outcome: conflict(&marked) }]).unwrap();
    assert_eq!((counts.applied, counts.conflicts), (1, 0));
    assert!(f.pending().is_empty());
    let digest = f.store.digest().unwrap();
    assert_eq!(digest[&("medication_administration", b.id)].0, 4);
}

#[test]
fn the_census_scores_news2_from_recent_vital_signs_only() {
    use wardbook_protocol::news2::News2Parameter;
    use wardbook_protocol::vitals::{HEART_RATE, vital_spec};
    use wardbook_protocol::{Observation, ObservationCategory, ObservationStatus, ObservationValue, Quantity};
    let mut f = Fixture::new();
    let heart_rate = |patient: uuid::Uuid, bpm: f64, hours_ago: i64| {
        let spec = vital_spec(HEART_RATE).unwrap();
        Observation {
            id: uuid::Uuid::now_v7(),
            version: 1,
            updated_at: now(),
            deleted: false,
            synthetic: true,
            patient_id: patient,
            category: ObservationCategory::VitalSigns,
            code: spec.coding(),
            panel: None,
            value: ObservationValue::Quantity(Quantity { value: bpm, unit: spec.ucum.to_owned() }),
            reference_range: None,
            interpretation: None,
            status: ObservationStatus::Final,
            status_reason: None,
            effective_at: now() - Duration::hours(hours_ago),
            recorded_by: NURSE.into(),
        }
    };
    let mut in_error = heart_rate(f.patient, 60.0, 0);
    in_error.status = ObservationStatus::EnteredInError;
    let rows =
        [heart_rate(f.patient, 135.0, 1), heart_rate(f.patient, 70.0, 2), in_error, heart_rate(f.other, 135.0, 13)];
    f.store.upsert_observations(&rows).unwrap();
    let score = line(&mut f, first).news2.unwrap();
    assert_eq!((score.total, score.any_red, score.complete), (3, true, false), "the latest pulse not in error, alone");
    assert_eq!(score.score_of(News2Parameter::Pulse), Some(3));
    assert!(score.missing.contains(&News2Parameter::RespirationRate));
    assert_eq!(line(&mut f, second).news2, None, "older than news2_max_age_hours: no score");
    assert_eq!(line(&mut f, |f| f.third).news2, None, "no vital signs");
    let clinical = *f.store.clinical();
    f.store.set_clinical(crate::config::ClinicalSettings { news2_max_age: Duration::hours(14), ..clinical });
    assert_eq!(line(&mut f, second).news2.map(|s| s.total), Some(3));
}
