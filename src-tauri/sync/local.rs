//! The sync engine's side of the local store. Every function is one local
//! transaction: a pulled page with the cursor that covers it, a push answer
//! with every outbox change it causes, an acknowledgement of uploaded audit
//! events. A process killed at any point leaves either all of a step or
//! none of it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;
use wardbook_protocol::api::{Change, Mutation, MutationOutcome, MutationResult, PullResponse, Record};
use wardbook_protocol::{AuditEvent, SyncProgress};

use super::plan::{PendingEdit, Snapshot};
use crate::store::rows::{get_time, get_uuid, time_text};
use crate::store::{Store, StoreError, allergies, observations, patients};

/// Keys of the `sync_state` table.
pub(crate) mod key {
    pub const CURSOR: &str = "pull_cursor";
    pub const INITIAL_DONE: &str = "initial_sync_done";
    pub const INITIAL_ROWS_DONE: &str = "initial_rows_done";
    pub const INITIAL_ROWS_EXPECTED: &str = "initial_rows_expected";
    pub const DATA_AS_OF: &str = "data_as_of";
    pub const LAST_SUCCESS: &str = "last_success";
    pub const LAST_ERROR: &str = "last_error";
    pub const ONLINE: &str = "online";
    pub const STATE_SINCE: &str = "state_since";
    pub const SERVER_URL: &str = "enrolled_server_url";
    pub const LOCATIONS: &str = "enrolled_locations";
}

pub(crate) fn get_state(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn.prepare_cached("SELECT value FROM sync_state WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?)
}

pub(crate) fn set_state(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sync_state (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?
    .execute(params![key, value, time_text(&Utc::now())])?;
    Ok(())
}

fn delete_state(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sync_state WHERE key = ?1")?.execute([key])?;
    Ok(())
}

fn state_time(conn: &Connection, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(get_state(conn, key)?.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc)))
}

/// When the cache last completed a pull (`None` before the first).
pub(crate) fn data_as_of(conn: &Connection) -> Result<Option<DateTime<Utc>>, StoreError> {
    state_time(conn, key::DATA_AS_OF)
}

fn state_i64(conn: &Connection, key: &str) -> Result<Option<i64>, StoreError> {
    Ok(get_state(conn, key)?.and_then(|v| v.parse().ok()))
}

/// What the planner needs to know, read in one go. `retention_cutoff`:
/// acknowledged events recorded before it may be removed.
pub(crate) fn snapshot(store: &Store, retention_cutoff: DateTime<Utc>) -> Result<Snapshot, StoreError> {
    let conn = store.conn();
    let mut stmt = conn.prepare_cached(
        "SELECT mutation_id, entity_id, patient_id FROM outbox WHERE state = 'pending' ORDER BY created_at, rowid",
    )?;
    let pending = crate::store::rows::collect(&mut stmt, [], |row| {
        Ok(PendingEdit {
            mutation_id: get_uuid(row, "mutation_id")?,
            entity_id: get_uuid(row, "entity_id")?,
            patient_id: get_uuid(row, "patient_id")?,
        })
    })?;
    let mut stmt = conn.prepare_cached("SELECT patient_id FROM pending_purges ORDER BY patient_id")?;
    let pending_purges = crate::store::rows::collect(&mut stmt, [], |row| get_uuid(row, "patient_id"))?;
    let (acknowledged, pruned_through): (i64, i64) = conn.query_row(
        "SELECT acknowledged_sequence, pruned_through_sequence FROM audit_upload WHERE singleton = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let audit_head: i64 = conn.query_row("SELECT coalesce(max(sequence), 0) FROM audit_events", [], |r| r.get(0))?;
    // recorded_at is RFC 3339 UTC with fixed precision: text order is time order.
    let retention_boundary: i64 = conn.query_row(
        "SELECT coalesce(max(sequence), 0) FROM audit_events WHERE recorded_at < ?1",
        [time_text(&retention_cutoff)],
        |r| r.get(0),
    )?;
    Ok(Snapshot {
        pending,
        pending_purges,
        audit_acknowledged: acknowledged,
        audit_head,
        pruned_through,
        retention_boundary,
    })
}

/// Up to `limit` audit events after `after`, in sequence order.
pub(crate) fn audit_batch(store: &Store, after: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
    let mut stmt =
        store.conn().prepare_cached("SELECT * FROM audit_events WHERE sequence > ?1 ORDER BY sequence LIMIT ?2")?;
    crate::store::rows::collect(&mut stmt, params![after, limit], crate::audit::verify::event_from_row)
}

/// Records the server's acknowledgement (its highest stored sequence).
pub(crate) fn acknowledge_audit(store: &Store, highest: i64) -> Result<(), StoreError> {
    store.conn().execute(
        "UPDATE audit_upload SET acknowledged_sequence = max(acknowledged_sequence,
                min(?1, (SELECT coalesce(max(sequence), 0) FROM audit_events)))
          WHERE singleton = 1",
        [highest],
    )?;
    Ok(())
}

/// Removes acknowledged events through `through` (the planner has checked
/// acknowledgement and retention; the trigger checks acknowledgement again),
/// keeping the newest removed event's hash as the anchor of what remains.
pub(crate) fn prune_audit(store: &mut Store, through: i64) -> Result<u64, StoreError> {
    let tx = store.conn_mut().transaction()?;
    let anchor: Option<(i64, String)> = tx
        .query_row(
            "SELECT sequence, hash FROM audit_events WHERE sequence <= ?1 ORDER BY sequence DESC LIMIT 1",
            [through],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((sequence, hash)) = anchor else { return Ok(0) };
    let removed = tx.execute("DELETE FROM audit_events WHERE sequence <= ?1", [sequence])?;
    tx.execute(
        "UPDATE audit_upload SET pruned_through_sequence = ?1, pruned_through_hash = ?2 WHERE singleton = 1",
        params![sequence, hash],
    )?;
    tx.commit()?;
    Ok(removed as u64)
}

/// The outbox entries `ids` as mutations, in the given order.
pub(crate) fn mutations(store: &Store, ids: &[Uuid]) -> Result<Vec<Mutation>, StoreError> {
    let mut stmt = store.conn().prepare_cached(
        "SELECT mutation_id, base_version, author, authored_at, payload_json FROM outbox WHERE mutation_id = ?1",
    )?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let mut rows = stmt.query([id.to_string()])?;
        let Some(row) = rows.next()? else { continue };
        let payload: String = row.get("payload_json")?;
        out.push(Mutation {
            id: get_uuid(row, "mutation_id")?,
            base_version: row.get("base_version")?,
            author: row.get("author")?,
            authored_at: get_time(row, "authored_at")?,
            record: serde_json::from_str(&payload).map_err(|_| StoreError::BadRow("outbox entry"))?,
        });
    }
    Ok(out)
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
    let tx = store.conn_mut().transaction()?;
    let mut counts = PushCounts::default();
    for result in results {
        let id = result.id.to_string();
        let entry: Option<(String, String, Option<String>)> = tx
            .prepare_cached(
                "SELECT entity, entity_id, prior_json FROM outbox WHERE mutation_id = ?1 AND state = 'pending'",
            )?
            .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((entity, entity_id, prior)) = entry else { continue }; // answered before
        match &result.outcome {
            MutationOutcome::Applied { version } | MutationOutcome::AlreadyApplied { version } => {
                tx.prepare_cached("DELETE FROM outbox WHERE mutation_id = ?1")?.execute([&id])?;
                tx.execute(
                    &format!("UPDATE {} SET version = ?2 WHERE id = ?1", table(&entity)?),
                    params![entity_id, version],
                )?;
                // The entity's next edit was made on top of this one.
                tx.prepare_cached(
                    "UPDATE outbox SET base_version = ?2 WHERE entity_id = ?1 AND state = 'pending' AND base_version IS NOT NULL",
                )?
                .execute(params![entity_id, version])?;
                counts.applied += 1;
            }
            MutationOutcome::Conflict { current } => {
                let server_row = serde_json::to_string(current).map_err(|_| StoreError::BadRow("server row"))?;
                tx.prepare_cached("UPDATE outbox SET state = 'conflict', server_row_json = ?2 WHERE mutation_id = ?1")?
                    .execute(params![id, server_row])?;
                write_record(&tx, current)?; // the server kept its row: so does the cache
                counts.conflicts += 1;
            }
            MutationOutcome::Rejected { reason, message } => {
                let reason = serde_json::to_value(reason).ok().and_then(|v| v.as_str().map(str::to_owned));
                let text = format!("{}: {message}", reason.unwrap_or_default());
                tx.prepare_cached("UPDATE outbox SET state = 'rejected', server_reason = ?2 WHERE mutation_id = ?1")?
                    .execute(params![id, text])?;
                // The server does not have this edit: the cache goes back to what it had.
                match prior {
                    Some(prior) => {
                        let prior: Record =
                            serde_json::from_str(&prior).map_err(|_| StoreError::BadRow("outbox entry"))?;
                        write_record(&tx, &prior)?;
                    }
                    None => {
                        tx.execute(&format!("DELETE FROM {} WHERE id = ?1", table(&entity)?), [&entity_id])?;
                    }
                }
                counts.rejected += 1;
            }
        }
    }
    tx.commit()?;
    Ok(counts)
}

fn table(entity: &str) -> Result<&'static str, StoreError> {
    match entity {
        "patient" => Ok("patients"),
        "observation" => Ok("observations"),
        "allergy" => Ok("allergies"),
        _ => Err(StoreError::BadRow("outbox entity")),
    }
}

/// Writes a server row into the cache: a tombstone deletes.
fn write_record(tx: &Transaction<'_>, record: &Record) -> Result<(), StoreError> {
    match record {
        Record::Patient { patient } => write_patient(tx, patient),
        Record::Observation { observation } => write_observation(tx, observation),
        Record::Allergy { allergy } => write_allergy(tx, allergy),
    }
}

fn write_patient(tx: &Transaction<'_>, patient: &wardbook_protocol::Patient) -> Result<(), StoreError> {
    if patient.deleted { purge_patient(tx, patient.id) } else { patients::upsert(tx, std::slice::from_ref(patient)) }
}

fn write_observation(tx: &Transaction<'_>, observation: &wardbook_protocol::Observation) -> Result<(), StoreError> {
    if observation.deleted {
        tx.prepare_cached("DELETE FROM observations WHERE id = ?1")?.execute([observation.id.to_string()])?;
        Ok(())
    } else {
        observations::upsert(tx, std::slice::from_ref(observation))
    }
}

fn write_allergy(tx: &Transaction<'_>, allergy: &wardbook_protocol::Allergy) -> Result<(), StoreError> {
    if allergy.deleted {
        tx.prepare_cached("DELETE FROM allergies WHERE id = ?1")?.execute([allergy.id.to_string()])?;
        Ok(())
    } else {
        allergies::upsert(tx, std::slice::from_ref(allergy))
    }
}

fn purge_patient(tx: &Transaction<'_>, patient: Uuid) -> Result<(), StoreError> {
    // Observations and allergies go with the patient (ON DELETE CASCADE).
    tx.prepare_cached("DELETE FROM patients WHERE id = ?1")?.execute([patient.to_string()])?;
    tx.prepare_cached("DELETE FROM pending_purges WHERE patient_id = ?1")?.execute([patient.to_string()])?;
    Ok(())
}

/// Purges patients that left scope once their edits are settled (the
/// planner picked those with nothing pending).
pub(crate) fn purge(store: &mut Store, patients: &[Uuid]) -> Result<(), StoreError> {
    let tx = store.conn_mut().transaction()?;
    for patient in patients {
        let pending: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE patient_id = ?1 AND state = 'pending')",
            [patient.to_string()],
            |r| r.get(0),
        )?;
        if !pending {
            purge_patient(&tx, *patient)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The cursor to pull from (`None`: from the beginning).
pub(crate) fn cursor(store: &Store) -> Result<Option<String>, StoreError> {
    get_state(store.conn(), key::CURSOR)
}

/// Page cache during an initial sync, and after it (SQLite's default), in
/// KiB (negative values of `cache_size` are KiB).
const INITIAL_SYNC_CACHE_KIB: i64 = -128 * 1024;
const DEFAULT_CACHE_KIB: i64 = -2000;

/// Applies pulled pages (consecutive, oldest first) and stores the cursor of
/// the last, in one transaction. A row with an edit waiting to be pushed is
/// left as the clinician edited it: the push decides. Returns the rows applied.
pub(crate) fn apply_pages(store: &mut Store, pages: &[PullResponse]) -> Result<u64, StoreError> {
    let Some(last) = pages.last() else { return Ok(0) };
    let tx = store.conn_mut().transaction()?;
    // Rows and patients with an edit waiting to be pushed (usually none).
    let (mut pending_rows, mut pending_patients) = (HashSet::new(), HashSet::new());
    {
        let mut stmt = tx.prepare_cached("SELECT entity_id, patient_id FROM outbox WHERE state = 'pending'")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            pending_rows.insert(get_uuid(row, "entity_id")?);
            pending_patients.insert(get_uuid(row, "patient_id")?);
        }
    }
    let initial = get_state(&tx, key::INITIAL_DONE)?.is_none();
    if initial {
        // An initial sync inserts rows all over the observation id index; a
        // bigger page cache for its duration keeps that index in memory.
        tx.pragma_update(None, "cache_size", INITIAL_SYNC_CACHE_KIB)?;
    }
    for change in pages.iter().flat_map(|page| &page.changes) {
        match change {
            Change::Remove { patient_id } if pending_patients.contains(patient_id) => {
                tx.prepare_cached("INSERT OR IGNORE INTO pending_purges (patient_id, since) VALUES (?1, ?2)")?
                    .execute(params![patient_id.to_string(), time_text(&Utc::now())])?;
            }
            Change::Remove { patient_id } => purge_patient(&tx, *patient_id)?,
            Change::Patient { patient } if !pending_rows.contains(&patient.id) => write_patient(&tx, patient)?,
            Change::Observation { observation } if !pending_rows.contains(&observation.id) => {
                write_observation(&tx, observation)?;
            }
            Change::Allergy { allergy } if !pending_rows.contains(&allergy.id) => write_allergy(&tx, allergy)?,
            // A row the clinician has edited: the push decides.
            Change::Patient { .. } | Change::Observation { .. } | Change::Allergy { .. } => {}
        }
    }
    let applied = pages.iter().map(|page| page.changes.len() as u64).sum::<u64>();
    set_state(&tx, key::CURSOR, &last.cursor)?;
    if initial {
        if let Some(expected) = pages.iter().find_map(|page| page.expected_rows) {
            set_state(&tx, key::INITIAL_ROWS_EXPECTED, &expected.to_string())?;
        }
        let done = state_i64(&tx, key::INITIAL_ROWS_DONE)?.unwrap_or(0) + applied as i64;
        set_state(&tx, key::INITIAL_ROWS_DONE, &done.to_string())?;
    }
    if !last.has_more {
        set_state(&tx, key::INITIAL_DONE, &time_text(&Utc::now()))?;
        set_state(&tx, key::DATA_AS_OF, &time_text(&Utc::now()))?;
    }
    tx.commit()?;
    if initial && !last.has_more {
        store.conn().pragma_update(None, "cache_size", DEFAULT_CACHE_KIB)?;
    }
    Ok(applied)
}

/// Records the end of a cycle: success clears the last error.
pub(crate) fn record_outcome(store: &Store, error: Option<&str>, online: bool) -> Result<(), StoreError> {
    let conn = store.conn();
    let now = time_text(&Utc::now());
    if get_state(conn, key::ONLINE)?.as_deref() != Some(if online { "1" } else { "0" }) {
        set_state(conn, key::ONLINE, if online { "1" } else { "0" })?;
        set_state(conn, key::STATE_SINCE, &now)?;
    }
    match error {
        None => {
            set_state(conn, key::LAST_SUCCESS, &now)?;
            delete_state(conn, key::LAST_ERROR)
        }
        Some(message) => set_state(conn, key::LAST_ERROR, message),
    }
}

/// Records a completed enrolment.
pub(crate) fn enrolled_locations(store: &Store) -> Result<Vec<String>, StoreError> {
    Ok(get_state(store.conn(), key::LOCATIONS)?
        .map(|text| text.split(',').filter(|l| !l.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default())
}

pub(crate) fn record_enrolment(store: &Store, server_url: &str, locations: &[String]) -> Result<(), StoreError> {
    set_state(store.conn(), key::SERVER_URL, server_url)?;
    set_state(store.conn(), key::LOCATIONS, &locations.join(","))
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
    let tx = store.conn_mut().transaction()?;
    tx.execute(
        "INSERT OR IGNORE INTO pending_purges (patient_id, since)
         SELECT DISTINCT patient_id, ?1 FROM outbox WHERE patient_id IS NOT NULL",
        [time_text(&Utc::now())],
    )?;
    // Observations and allergies go with their patient (ON DELETE CASCADE).
    tx.execute("DELETE FROM patients WHERE id NOT IN (SELECT patient_id FROM pending_purges)", [])?;
    for state in [key::CURSOR, key::INITIAL_DONE, key::INITIAL_ROWS_DONE, key::INITIAL_ROWS_EXPECTED, key::DATA_AS_OF] {
        delete_state(&tx, state)?;
    }
    set_state(&tx, key::SERVER_URL, server_url)?;
    set_state(&tx, key::LOCATIONS, &locations.join(","))?;
    tx.commit()?;
    Ok(())
}

/// The server this workstation enrolled with, if any.
pub(crate) fn enrolled_server(store: &Store) -> Result<Option<String>, StoreError> {
    get_state(store.conn(), key::SERVER_URL)
}

/// Counts and times for the status (the caller adds enrolment and server).
pub(crate) fn status_parts(store: &Store) -> Result<wardbook_protocol::SyncStatus, StoreError> {
    let conn = store.conn();
    let count = |state: &str| -> Result<i64, StoreError> {
        Ok(conn.query_row("SELECT count(*) FROM outbox WHERE state = ?1", [state], |r| r.get(0))?)
    };
    let pending_audit: i64 = conn.query_row(
        "SELECT count(*) FROM audit_events WHERE sequence > (SELECT acknowledged_sequence FROM audit_upload)",
        [],
        |r| r.get(0),
    )?;
    let initial_sync = if get_state(conn, key::INITIAL_DONE)?.is_none() {
        state_i64(conn, key::INITIAL_ROWS_DONE)?.map(|rows_done| SyncProgress {
            rows_done,
            rows_expected: state_i64(conn, key::INITIAL_ROWS_EXPECTED).ok().flatten(),
        })
    } else {
        None
    };
    Ok(wardbook_protocol::SyncStatus {
        enrolled: false,
        server_url: None,
        online: get_state(conn, key::ONLINE)?.map(|v| v == "1"),
        state_since: state_time(conn, key::STATE_SINCE)?,
        last_success: state_time(conn, key::LAST_SUCCESS)?,
        data_as_of: state_time(conn, key::DATA_AS_OF)?,
        pending_edits: count("pending")?,
        pending_entries: conn.query_row(
            "SELECT count(DISTINCT coalesce(entry_id, mutation_id)) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?,
        pending_audit_events: pending_audit,
        conflicts: count("conflict")?,
        rejected_edits: count("rejected")?,
        initial_sync,
        last_error: get_state(conn, key::LAST_ERROR)?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use chrono::TimeZone;
    use wardbook_protocol::api::{MutationOutcome, MutationResult};
    use wardbook_protocol::synthetic::{SyntheticConfig, generate};

    use super::*;
    use crate::audit::AccessContext;
    use crate::keys::DbKey;
    use crate::sync::plan::plan;

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
        let exists = |store: &Store, p: Uuid| patients::get(store.conn(), p).unwrap().is_some();
        assert!(!exists(&store, quiet), "nothing pending: purged at once");
        assert!(exists(&store, busy), "a pending edit keeps the patient");
        let cutoff = Utc::now();
        assert!(plan(&snapshot(&store, cutoff).unwrap()).purge.is_empty(), "not while the edit is pending");

        let mutation = snapshot(&store, cutoff).unwrap().pending[0].mutation_id;
        let answer = MutationResult { id: mutation, outcome: MutationOutcome::Applied { version: 1 } };
        apply_push_results(&mut store, &[answer]).unwrap();
        assert_eq!(observations::get(store.conn(), edit.id).unwrap().map(|o| o.version), Some(1));
        let purge_now = plan(&snapshot(&store, cutoff).unwrap()).purge;
        assert_eq!(purge_now, vec![busy], "pushed: now it goes");
        purge(&mut store, &purge_now).unwrap();
        assert!(!exists(&store, busy));
        assert!(observations::get(store.conn(), edit.id).unwrap().is_none(), "its rows go with it");
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
        let cached = observations::get(store.conn(), original.id).unwrap().unwrap();
        assert_eq!(cached.status, edited.status, "the clinician's pending edit stays");

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
        let cached = observations::get(store.conn(), original.id).unwrap().unwrap();
        assert_eq!(cached.status, original.status, "the refused edit is no longer shown as the record");
        let (state, reason): (String, String) = store
            .conn()
            .query_row("SELECT state, server_reason FROM outbox WHERE mutation_id = ?1", [mutation.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(state, "rejected", "kept, with the server's reason");
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
}
