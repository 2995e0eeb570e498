//! The local sync steps on a real SQLCipher store.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use chrono::TimeZone;
use wardbook_protocol::api::{MutationOutcome, MutationResult};
use wardbook_protocol::synthetic::{SyntheticConfig, generate};

use super::*;
use crate::audit::{AccessContext, reads};
use crate::keys::DbKey;
use crate::sync::plan::plan;

/// The cached observation `id` of `patient`, through an audited read.
fn cached(store: &mut Store, patient: Uuid, id: Uuid) -> Option<wardbook_protocol::Observation> {
    let ctx = AccessContext::treatment("nurse.synthetic");
    let vitals = reads::vitals_tab(store, &ctx, patient, &reads::Source::Cache).unwrap();
    let labs = reads::labs_tab(store, &ctx, patient, &reads::Source::Cache).unwrap();
    vitals.into_iter().chain(labs).map(|row| row.observation).find(|o| o.id == id)
}

fn store_with_ward() -> (tempfile::TempDir, Store, wardbook_protocol::synthetic::SyntheticWard) {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = Store::open(&dir.path().join("w.db"), &DbKey::generate(), &dir.path().join("q")).unwrap();
    let anchor = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().unwrap();
    let ward = generate(&SyntheticConfig::new(3, 2, anchor));
    store.upsert_patients(&ward.patients).unwrap();
    store.upsert_observations(&ward.observations).unwrap();
    (dir, store, ward)
}

fn page(changes: Vec<Change>) -> PullResponse {
    PullResponse { changes, cursor: "c".into(), has_more: false, expected_rows: None, revoked_users: Vec::new() }
}

fn vital(patient: Uuid, ward: &wardbook_protocol::synthetic::SyntheticWard) -> wardbook_protocol::Observation {
    let mut o = ward.observations.iter().find(|o| o.patient_id == patient).unwrap().clone();
    o.effective_at = Utc::now();
    o
}

#[test]
fn a_set_of_vitals_is_one_pending_entry_of_several_edits() {
    let (_dir, mut store, ward) = store_with_ward();
    let patient = ward.patients[0].id;
    let ctx = AccessContext::treatment("nurse.synthetic");
    let set = vec![vital(patient, &ward), vital(patient, &ward), vital(patient, &ward)];
    crate::edits::record_observations(&mut store, &ctx, set).unwrap();
    let status = status_parts(&store).unwrap();
    assert_eq!((status.pending_edits, status.pending_entries), (3, 1));

    crate::edits::record_observation(&mut store, &ctx, vital(patient, &ward)).unwrap();
    let status = status_parts(&store).unwrap();
    assert_eq!((status.pending_edits, status.pending_entries), (4, 2), "a single edit is an entry of its own");

    let first = snapshot(&store, Utc::now()).unwrap().pending[0].mutation_id;
    let answer = MutationResult { id: first, outcome: MutationOutcome::Applied { version: 1 } };
    apply_push_results(&mut store, &[answer]).unwrap();
    let status = status_parts(&store).unwrap();
    assert_eq!(
        (status.pending_edits, status.pending_entries),
        (3, 2),
        "the set stays pending until all of it is confirmed"
    );
}

#[test]
fn a_patient_leaving_scope_with_pending_edits_stays_until_they_are_pushed() {
    let (_dir, mut store, ward) = store_with_ward();
    let (busy, quiet) = (ward.patients[0].id, ward.patients[1].id);
    let ctx = AccessContext::treatment("nurse.synthetic");
    let edit = crate::edits::record_observation(&mut store, &ctx, vital(busy, &ward)).unwrap();

    apply_pages(&mut store, &[page(vec![Change::Remove { patient_id: busy }, Change::Remove { patient_id: quiet }])])
        .unwrap();
    let exists = |store: &Store, p: Uuid| store.db().patients().exists(p).unwrap();
    assert!(!exists(&store, quiet), "nothing pending: purged at once");
    assert!(exists(&store, busy), "a pending edit keeps the patient");
    let cutoff = Utc::now();
    assert!(plan(&snapshot(&store, cutoff).unwrap()).purge.is_empty(), "not while the edit is pending");

    let mutation = snapshot(&store, cutoff).unwrap().pending[0].mutation_id;
    let answer = MutationResult { id: mutation, outcome: MutationOutcome::Applied { version: 1 } };
    apply_push_results(&mut store, &[answer]).unwrap();
    assert_eq!(cached(&mut store, busy, edit.id).map(|o| o.version), Some(1));
    let purge_now = plan(&snapshot(&store, cutoff).unwrap()).purge;
    assert_eq!(purge_now, vec![busy], "pushed: now it goes");
    purge(&mut store, &purge_now).unwrap();
    assert!(!exists(&store, busy));
    assert!(cached(&mut store, busy, edit.id).is_none(), "its rows go with it");
}

#[test]
fn a_pulled_row_never_overwrites_a_pending_edit_and_a_rejection_restores_the_row() {
    let (_dir, mut store, ward) = store_with_ward();
    let ctx = AccessContext::treatment("nurse.synthetic");
    let original = ward.observations[0].clone();
    let edited = crate::edits::set_observation_status(
        &mut store,
        &ctx,
        original.id,
        wardbook_protocol::ObservationStatus::EnteredInError,
    )
    .unwrap();
    let mut from_server = original.clone();
    from_server.version += 1;
    from_server.status = wardbook_protocol::ObservationStatus::Amended;
    apply_pages(&mut store, &[page(vec![Change::Observation { observation: from_server }])]).unwrap();
    let row = cached(&mut store, original.patient_id, original.id).unwrap();
    assert_eq!(row.status, edited.status, "the clinician's pending edit stays");

    let mutation = snapshot(&store, Utc::now()).unwrap().pending[0].mutation_id;
    let answer = MutationResult {
        id: mutation,
        outcome: MutationOutcome::Rejected {
            reason: wardbook_protocol::api::RejectReason::Validation,
            message: "synthetic refusal".into(),
        },
    };
    let counts = apply_push_results(&mut store, std::slice::from_ref(&answer)).unwrap();
    assert_eq!(counts.rejected, 1);
    let row = cached(&mut store, original.patient_id, original.id).unwrap();
    assert_eq!(row.status, original.status, "the refused edit is no longer shown as the record");
    let (state, reason) = store.db().outbox().state_of(mutation).unwrap().unwrap();
    assert_eq!(state, OutboxState::Rejected, "kept, with the server's reason");
    let reason = reason.unwrap_or_default();
    assert!(reason.contains("synthetic refusal"), "{reason}");
    // The same answer again (a retried request) changes nothing.
    assert_eq!(apply_push_results(&mut store, &[answer]).unwrap(), PushCounts::default());
}

#[test]
fn a_later_edit_of_the_same_row_is_based_on_the_version_the_earlier_one_got() {
    let (_dir, mut store, ward) = store_with_ward();
    let ctx = AccessContext::treatment("nurse.synthetic");
    let mut allergy = crate::edits::save_allergy(&mut store, &ctx, {
        let mut a = ward.allergies.first().cloned().unwrap_or_else(|| panic!("the ward has allergies"));
        a.patient_id = ward.patients[0].id;
        a
    })
    .unwrap();
    allergy.criticality = wardbook_protocol::Criticality::Low;
    crate::edits::save_allergy(&mut store, &ctx, allergy).unwrap();
    let s = snapshot(&store, Utc::now()).unwrap();
    let p = plan(&s);
    assert_eq!(p.push, vec![vec![s.pending[0].mutation_id]], "one edit of the row per round");
    let answer = MutationResult { id: s.pending[0].mutation_id, outcome: MutationOutcome::Applied { version: 4 } };
    apply_push_results(&mut store, &[answer]).unwrap();
    let next = mutations(&store, &[s.pending[1].mutation_id]).unwrap();
    assert_eq!(next[0].base_version, Some(4));
}

#[test]
fn both_versions_of_a_conflict_are_read_only_as_an_audited_view() {
    let (_dir, mut store, ward) = store_with_ward();
    let ctx = AccessContext::treatment("nurse.synthetic");
    let original = ward.observations[0].clone();
    let mine = crate::edits::set_observation_status(
        &mut store,
        &ctx,
        original.id,
        wardbook_protocol::ObservationStatus::EnteredInError,
    )
    .unwrap();
    let mut theirs = original.clone();
    theirs.version += 1;
    theirs.status = wardbook_protocol::ObservationStatus::Amended;
    let mutation = snapshot(&store, Utc::now()).unwrap().pending[0].mutation_id;
    let current = Box::new(wardbook_protocol::api::Record::Observation { observation: theirs.clone() });
    let answer = MutationResult { id: mutation, outcome: MutationOutcome::Conflict { current } };
    assert_eq!(apply_push_results(&mut store, &[answer]).unwrap().conflicts, 1);
    let listed = crate::edits::conflicts(&store).unwrap();
    assert_eq!(
        listed.iter().map(|c| (c.mutation_id, c.patient_id)).collect::<Vec<_>>(),
        [(mutation, original.patient_id)]
    );

    let before = crate::audit::recent_events(&store, 1).unwrap();
    let (kept, server) = reads::conflict_versions(&mut store, &ctx, mutation).unwrap();
    let events = crate::audit::recent_events(&store, 1).unwrap();
    let event = events.last().unwrap();
    assert_ne!(before.last().map(|e| e.sequence), Some(event.sequence), "one new event");
    assert_eq!(event.subtype, wardbook_protocol::AuditSubtype::ConflictsView);
    assert_eq!(event.patient_id, Some(original.patient_id));
    let wardbook_protocol::api::Record::Observation { observation: kept } = kept else { panic!("observation") };
    let wardbook_protocol::api::Record::Observation { observation: server } = server else { panic!("observation") };
    assert_eq!(kept.status, mine.status, "the clinician's edit is kept");
    assert_eq!(server.status, theirs.status, "the server's row");

    let unknown = reads::conflict_versions(&mut store, &ctx, Uuid::now_v7()).unwrap_err();
    assert!(matches!(unknown, StoreError::NotFound), "{unknown:?}");
}
