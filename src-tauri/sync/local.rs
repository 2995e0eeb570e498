//! The sync engine's side of the local store. Every function is one local
//! step over the store's table handles, and a step that writes is one
//! transaction: a pulled page with the cursor that covers it, a push answer
//! with every outbox change it causes, an acknowledgement of uploaded audit
//! events. A process killed at any point leaves either all of a step or
//! none of it.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol::api::{Change, Mutation, MutationOutcome, MutationResult, PullResponse};
use wardbook_protocol::{AuditEvent, SyncProgress};

use super::plan::{PendingEdit, Snapshot};
use crate::store::outbox::OutboxState;
use crate::store::sync_state::SyncKey;
use crate::store::{Store, StoreError};

/// What the planner needs to know. `retention_cutoff`: acknowledged events
/// recorded before it may be removed.
pub(crate) fn snapshot(store: &Store, retention_cutoff: DateTime<Utc>) -> Result<Snapshot, StoreError> {
    let db = store.db();
    let pending = db
        .outbox()
        .pending()?
        .into_iter()
        .map(|e| PendingEdit { mutation_id: e.mutation_id, entity_id: e.entity_id, patient_id: e.patient_id })
        .collect();
    Ok(Snapshot {
        pending,
        pending_purges: db.pending_purges().list()?,
        audit_acknowledged: db.audit_upload().acknowledged()?,
        audit_head: db.audit_events().max_sequence()?,
        pruned_through: db.audit_upload().pruned_through()?.sequence,
        retention_boundary: db.audit_events().newest_before(&retention_cutoff)?,
    })
}

/// Up to `limit` audit events after `after`, in sequence order.
pub(crate) fn audit_batch(store: &Store, after: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
    store.db().audit_events().after(after, limit)
}

/// Records the server's acknowledgement (its highest stored sequence).
pub(crate) fn acknowledge_audit(store: &Store, highest: i64) -> Result<(), StoreError> {
    store.db().audit_upload_mut().acknowledge(highest)
}

/// Removes acknowledged events through `through` (the planner has checked
/// acknowledgement and retention; the trigger checks acknowledgement again),
/// keeping the newest removed event's hash as the anchor of what remains.
pub(crate) fn prune_audit(store: &mut Store, through: i64) -> Result<u64, StoreError> {
    store.transaction(|db| {
        let Some(anchor) = db.audit_events().newest_through(through)? else { return Ok(0) };
        let removed = db.audit_events_mut().remove_through(anchor.sequence)?;
        db.audit_upload_mut().set_pruned_through(&anchor)?;
        Ok(removed)
    })
}

/// The outbox entries `ids` as mutations, in the given order.
pub(crate) fn mutations(store: &Store, ids: &[Uuid]) -> Result<Vec<Mutation>, StoreError> {
    store.db().outbox().mutations(ids)
}

/// What one push answer did locally.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushCounts {
    pub applied: u64,
    pub conflicts: u64,
    pub rejected: u64,
}

/// Applies the server's per-mutation answers in one transaction.
pub(crate) fn apply_push_results(store: &mut Store, results: &[MutationResult]) -> Result<PushCounts, StoreError> {
    store.transaction(|db| {
        let mut counts = PushCounts::default();
        for result in results {
            let Some(entry) = db.outbox().pending_entry(result.id)? else { continue }; // answered before
            match &result.outcome {
                MutationOutcome::Applied { version } | MutationOutcome::AlreadyApplied { version } => {
                    db.outbox_mut().applied(&entry, *version)?;
                    counts.applied += 1;
                }
                MutationOutcome::Conflict { current } => {
                    // The server kept its row: so does the cache.
                    db.outbox_mut().conflict(entry.mutation_id, current)?;
                    counts.conflicts += 1;
                }
                MutationOutcome::Rejected { reason, message } => {
                    let reason = serde_json::to_value(reason).ok().and_then(|v| v.as_str().map(str::to_owned));
                    let text = format!("{}: {message}", reason.unwrap_or_default());
                    // The server does not have this edit: the cache goes back to what it had.
                    db.outbox_mut().rejected(&entry, &text)?;
                    counts.rejected += 1;
                }
            }
        }
        Ok(counts)
    })
}

/// Purges patients that left scope once their edits are settled (the
/// planner picked those with nothing pending).
pub(crate) fn purge(store: &mut Store, patients: &[Uuid]) -> Result<(), StoreError> {
    store.transaction(|db| {
        for patient in patients {
            if !db.outbox().has_pending_for(*patient)? {
                db.patients_mut().purge(*patient)?;
            }
        }
        Ok(())
    })
}

/// The cursor to pull from (`None`: from the beginning).
pub(crate) fn cursor(store: &Store) -> Result<Option<String>, StoreError> {
    store.db().sync_state().get(SyncKey::Cursor)
}

/// Page cache during an initial sync, and after it (SQLite's default), in KiB.
const INITIAL_SYNC_CACHE_KIB: i64 = 128 * 1024;
const DEFAULT_CACHE_KIB: i64 = 2000;

/// Applies pulled pages (consecutive, oldest first) and stores the cursor of
/// the last, in one transaction. A row with an edit waiting to be pushed is
/// left as the clinician edited it: the push decides. Returns the rows applied.
pub(crate) fn apply_pages(store: &mut Store, pages: &[PullResponse]) -> Result<u64, StoreError> {
    let Some(last) = pages.last() else { return Ok(0) };
    let initial = store.transaction(|db| {
        // Rows and patients with an edit waiting to be pushed (usually none).
        let (pending_rows, pending_patients) = db.outbox().pending_rows_and_patients()?;
        let initial = db.sync_state().get(SyncKey::InitialDone)?.is_none();
        if initial {
            // An initial sync inserts rows all over the observation id index; a
            // bigger page cache for its duration keeps that index in memory.
            db.set_page_cache_kib(INITIAL_SYNC_CACHE_KIB)?;
        }
        for change in pages.iter().flat_map(|page| &page.changes) {
            match change {
                Change::Remove { patient_id } if pending_patients.contains(patient_id) => {
                    db.pending_purges_mut().add(*patient_id)?;
                }
                Change::Remove { patient_id } => db.patients_mut().purge(*patient_id)?,
                Change::Patient { patient } if !pending_rows.contains(&patient.id) => {
                    db.patients_mut().write(patient)?;
                }
                Change::Observation { observation } if !pending_rows.contains(&observation.id) => {
                    db.observations_mut().write(observation)?;
                }
                Change::Allergy { allergy } if !pending_rows.contains(&allergy.id) => {
                    db.allergies_mut().write(allergy)?;
                }
                // A row the clinician has edited: the push decides.
                Change::Patient { .. } | Change::Observation { .. } | Change::Allergy { .. } => {}
            }
        }
        let state = db.sync_state_mut();
        state.set(SyncKey::Cursor, &last.cursor)?;
        if initial {
            if let Some(expected) = pages.iter().find_map(|page| page.expected_rows) {
                state.set(SyncKey::InitialRowsExpected, &expected.to_string())?;
            }
            let done = db.sync_state().number(SyncKey::InitialRowsDone)?.unwrap_or(0) + applied(pages) as i64;
            state.set(SyncKey::InitialRowsDone, &done.to_string())?;
        }
        if !last.has_more {
            state.set_time(SyncKey::InitialDone, &Utc::now())?;
            state.set_time(SyncKey::DataAsOf, &Utc::now())?;
        }
        Ok(initial)
    })?;
    if initial && !last.has_more {
        store.db().set_page_cache_kib(DEFAULT_CACHE_KIB)?;
    }
    Ok(applied(pages))
}

fn applied(pages: &[PullResponse]) -> u64 {
    pages.iter().map(|page| page.changes.len() as u64).sum::<u64>()
}

/// Records the end of a cycle: success clears the last error.
pub(crate) fn record_outcome(store: &Store, error: Option<&str>, online: bool) -> Result<(), StoreError> {
    let db = store.db();
    let now = Utc::now();
    let flag = if online { "1" } else { "0" };
    if db.sync_state().get(SyncKey::Online)?.as_deref() != Some(flag) {
        db.sync_state_mut().set(SyncKey::Online, flag)?;
        db.sync_state_mut().set_time(SyncKey::StateSince, &now)?;
    }
    match error {
        None => {
            db.sync_state_mut().set_time(SyncKey::LastSuccess, &now)?;
            db.sync_state_mut().delete(SyncKey::LastError)
        }
        Some(message) => db.sync_state_mut().set(SyncKey::LastError, message),
    }
}

/// The locations this workstation enrolled for (empty before enrolment).
pub(crate) fn enrolled_locations(store: &Store) -> Result<Vec<String>, StoreError> {
    Ok(store
        .db()
        .sync_state()
        .get(SyncKey::Locations)?
        .map(|text| text.split(',').filter(|l| !l.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default())
}

/// Records a completed enrolment.
pub(crate) fn record_enrolment(store: &Store, server_url: &str, locations: &[String]) -> Result<(), StoreError> {
    let state = store.db().sync_state_mut();
    state.set(SyncKey::ServerUrl, server_url)?;
    state.set(SyncKey::Locations, &locations.join(","))
}

/// After a move to another location: the old location's patients leave the
/// cache and the next pull starts from the beginning, in one transaction.
/// The caller checked that no edit was waiting; one made meanwhile (a
/// window open during the move) keeps its patient until it is settled, as
/// for any patient leaving scope. Audit events, their upload state and
/// offline sign-in verifiers stay.
pub(crate) fn reset_for_new_location(
    store: &mut Store,
    server_url: &str,
    locations: &[String],
) -> Result<(), StoreError> {
    store.transaction(|db| {
        db.pending_purges_mut().add_every_outbox_patient()?;
        db.patients_mut().purge_all_but_pending()?;
        let state = db.sync_state_mut();
        for key in [
            SyncKey::Cursor,
            SyncKey::InitialDone,
            SyncKey::InitialRowsDone,
            SyncKey::InitialRowsExpected,
            SyncKey::DataAsOf,
        ] {
            state.delete(key)?;
        }
        state.set(SyncKey::ServerUrl, server_url)?;
        state.set(SyncKey::Locations, &locations.join(","))
    })
}

/// The server this workstation enrolled with, if any.
pub(crate) fn enrolled_server(store: &Store) -> Result<Option<String>, StoreError> {
    store.db().sync_state().get(SyncKey::ServerUrl)
}

/// Counts and times for the status (the caller adds enrolment and server).
pub(crate) fn status_parts(store: &Store) -> Result<wardbook_protocol::SyncStatus, StoreError> {
    let db = store.db();
    let (outbox, state) = (db.outbox(), db.sync_state());
    let initial_sync = if state.get(SyncKey::InitialDone)?.is_none() {
        state.number(SyncKey::InitialRowsDone)?.map(|rows_done| SyncProgress {
            rows_done,
            rows_expected: state.number(SyncKey::InitialRowsExpected).ok().flatten(),
        })
    } else {
        None
    };
    Ok(wardbook_protocol::SyncStatus {
        enrolled: false,
        server_url: None,
        online: state.get(SyncKey::Online)?.map(|v| v == "1"),
        state_since: state.time(SyncKey::StateSince)?,
        last_success: state.time(SyncKey::LastSuccess)?,
        data_as_of: state.time(SyncKey::DataAsOf)?,
        pending_edits: outbox.count(OutboxState::Pending)?,
        pending_entries: outbox.pending_entries()?,
        pending_audit_events: db.audit_upload().unacknowledged_events()?,
        conflicts: outbox.count(OutboxState::Conflict)?,
        rejected_edits: outbox.count(OutboxState::Rejected)?,
        initial_sync,
        last_error: state.get(SyncKey::LastError)?,
    })
}

#[cfg(test)]
mod tests {
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
        PullResponse { changes, cursor: "c".into(), has_more: false, expected_rows: None }
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

        apply_pages(
            &mut store,
            &[page(vec![Change::Remove { patient_id: busy }, Change::Remove { patient_id: quiet }])],
        )
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
}
