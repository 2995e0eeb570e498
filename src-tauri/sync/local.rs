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
use crate::edits::merge::{OnConflict, on_conflict};
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

/// Applies the server's per-mutation answers in one transaction. A
/// conflict is kept for the clinician, except what `merge::on_conflict`
/// settles or pushes again (an administration's entered-in-error mark).
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
                    let decision = match db.outbox().pending_edit(entry.mutation_id)? {
                        Some(edit) => on_conflict(edit.prior.as_ref(), &edit.mine, current, edit.base_version),
                        None => OnConflict::Keep,
                    };
                    match decision {
                        // The server kept its row: so does the cache.
                        OnConflict::Keep => {
                            db.outbox_mut().conflict(entry.mutation_id, current)?;
                            counts.conflicts += 1;
                        }
                        OnConflict::Settled => {
                            db.outbox_mut().settled(&entry, current)?;
                            counts.applied += 1;
                        }
                        OnConflict::Rebase(record) => {
                            db.outbox_mut().rebase(&entry, &record, current)?;
                        }
                    }
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
/// the last, in one transaction, deleting the offline verifiers of the users
/// the pages say were revoked. A row with an edit waiting to be pushed is
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
                Change::MedicationRequest { medication_request } if !pending_rows.contains(&medication_request.id) => {
                    db.medication_requests_mut().write(medication_request)?;
                }
                Change::MedicationAdministration { medication_administration: a } if !pending_rows.contains(&a.id) => {
                    db.medication_administrations_mut().write(a)?;
                }
                Change::DoseReview { dose_review } if !pending_rows.contains(&dose_review.id) => {
                    db.dose_reviews_mut().write(dose_review)?;
                }
                // A row the clinician has edited: the push decides.
                Change::Patient { .. }
                | Change::Observation { .. }
                | Change::Allergy { .. }
                | Change::MedicationRequest { .. }
                | Change::MedicationAdministration { .. }
                | Change::DoseReview { .. } => {}
            }
        }
        // Leavers: no one unlocks this workstation offline as them any more.
        let revoked: Vec<uuid::Uuid> = pages.iter().flat_map(|page| page.revoked_users.iter().copied()).collect();
        if !revoked.is_empty() {
            let deleted = db.offline_verifiers_mut().delete_users(&revoked)?;
            if deleted > 0 {
                tracing::info!(deleted, "offline verifiers of revoked users deleted");
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
        double_dose_patients: db.medication_flags().double_dose_patients()?,
        integrity: store.integrity_status(),
    })
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
