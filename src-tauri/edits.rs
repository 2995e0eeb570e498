//! Local edits: a new observation, an entered-in-error status, a new or
//! changed allergy, a demographics correction. Each writes the row and its
//! outbox entry (client-generated UUID v7 mutation id, base version, author)
//! in one transaction, so an edit can never exist without the entry that
//! pushes it, nor the other way round.
//!
//! Rows created here carry version 0 until the server answers with its
//! version. The base version of an edit is the version the cache holds; when
//! an entity already has an edit waiting, the sync engine rewrites the later
//! edits' base as the earlier ones are applied (see `sync::local`).

use chrono::{SubsecRound, Utc};
use rusqlite::{Connection, params};
use uuid::Uuid;
use wardbook_protocol::api::Record;
use wardbook_protocol::validation::{validate_allergy, validate_observation, validate_patient};
use wardbook_protocol::{
    Allergy, ConflictView, EditsNeedingAttention, Observation, ObservationStatus, Patient, RejectedEdit,
};

use crate::audit::AccessContext;
use crate::store::rows::time_text;
use crate::store::{Store, StoreError, allergies, observations, patients};

/// Records a new observation (vital signs, a bedside lab). The id, version,
/// times and author are set here; the caller fills in the clinical content.
pub fn record_observation(
    store: &mut Store,
    ctx: &AccessContext,
    mut observation: Observation,
) -> Result<Observation, StoreError> {
    observation.id = Uuid::now_v7();
    observation.version = 0;
    observation.updated_at = now();
    observation.deleted = false;
    observation.recorded_by = ctx.user_id.clone();
    validate_observation(&observation)?;
    let tx = store.conn_mut().transaction()?;
    patients::get(&tx, observation.patient_id)?.ok_or(StoreError::NotFound)?;
    observations::upsert(&tx, std::slice::from_ref(&observation))?;
    let record = Record::Observation { observation: observation.clone() };
    enqueue(&tx, ctx, &record, None, None)?;
    tx.commit()?;
    Ok(observation)
}

/// Marks an observation entered-in-error (it stays in the record, flagged).
pub fn set_observation_status(
    store: &mut Store,
    ctx: &AccessContext,
    id: Uuid,
    status: ObservationStatus,
) -> Result<Observation, StoreError> {
    let tx = store.conn_mut().transaction()?;
    let prior = observations::get(&tx, id)?.filter(|o| !o.deleted).ok_or(StoreError::NotFound)?;
    let mut observation = prior.clone();
    observation.status = status;
    observation.updated_at = now();
    validate_observation(&observation)?;
    observations::upsert(&tx, std::slice::from_ref(&observation))?;
    let base = prior.version;
    enqueue(
        &tx,
        ctx,
        &Record::Observation { observation: observation.clone() },
        Some(base),
        Some(&Record::Observation { observation: prior }),
    )?;
    tx.commit()?;
    Ok(observation)
}

/// Saves an allergy: new when its id is not in the cache (a fresh id is
/// given), otherwise a change of the cached one.
pub fn save_allergy(store: &mut Store, ctx: &AccessContext, mut allergy: Allergy) -> Result<Allergy, StoreError> {
    let tx = store.conn_mut().transaction()?;
    let prior = allergies::get(&tx, allergy.id)?.filter(|a| !a.deleted);
    allergy.updated_at = now();
    allergy.deleted = false;
    match &prior {
        Some(prior) => {
            if prior.patient_id != allergy.patient_id {
                return Err(StoreError::Invalid(moved("patient_id")));
            }
            allergy.version = prior.version;
            allergy.recorded_by = prior.recorded_by.clone();
            allergy.recorded_at = prior.recorded_at;
        }
        None => {
            allergy.id = Uuid::now_v7();
            allergy.version = 0;
            allergy.recorded_by = ctx.user_id.clone();
            allergy.recorded_at = allergy.updated_at;
            patients::get(&tx, allergy.patient_id)?.ok_or(StoreError::NotFound)?;
        }
    }
    validate_allergy(&allergy)?;
    allergies::upsert(&tx, std::slice::from_ref(&allergy))?;
    let record = Record::Allergy { allergy: allergy.clone() };
    let prior_record = prior.map(|allergy| Record::Allergy { allergy });
    enqueue(&tx, ctx, &record, prior_record.as_ref().map(version_of), prior_record.as_ref())?;
    tx.commit()?;
    Ok(allergy)
}

/// Corrects a patient's demographics (name, date of birth, contact details).
pub fn correct_demographics(
    store: &mut Store,
    ctx: &AccessContext,
    mut patient: Patient,
) -> Result<Patient, StoreError> {
    let tx = store.conn_mut().transaction()?;
    let prior = patients::get(&tx, patient.id)?.ok_or(StoreError::NotFound)?;
    patient.version = prior.version;
    patient.updated_at = now();
    patient.deleted = false;
    patient.source_system.clone_from(&prior.source_system);
    validate_patient(&patient, Utc::now().date_naive())?;
    patients::upsert(&tx, std::slice::from_ref(&patient))?;
    enqueue(
        &tx,
        ctx,
        &Record::Patient { patient: patient.clone() },
        Some(prior.version),
        Some(&Record::Patient { patient: prior }),
    )?;
    tx.commit()?;
    Ok(patient)
}

fn now() -> chrono::DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn moved(field: &str) -> wardbook_protocol::ValidationErrors {
    let mut errors = wardbook_protocol::ValidationErrors::new();
    errors.push(field, "cannot change: a record stays with its patient");
    errors
}

/// (entity name, entity id, patient id) of a record.
pub(crate) fn identity(record: &Record) -> (&'static str, Uuid, Uuid) {
    match record {
        Record::Patient { patient } => ("patient", patient.id, patient.id),
        Record::Observation { observation } => ("observation", observation.id, observation.patient_id),
        Record::Allergy { allergy } => ("allergy", allergy.id, allergy.patient_id),
    }
}

pub(crate) fn version_of(record: &Record) -> i64 {
    match record {
        Record::Patient { patient } => patient.version,
        Record::Observation { observation } => observation.version,
        Record::Allergy { allergy } => allergy.version,
    }
}

/// Appends the outbox entry of an edit, inside the edit's transaction.
fn enqueue(
    conn: &Connection,
    ctx: &AccessContext,
    record: &Record,
    base_version: Option<i64>,
    prior: Option<&Record>,
) -> Result<Uuid, StoreError> {
    enqueue_in_entry(conn, ctx, record, base_version, prior, None)
}

/// [`enqueue`], as part of one charting entry made of several edits (a set
/// of vitals): the status bar counts the entry once.
fn enqueue_in_entry(
    conn: &Connection,
    ctx: &AccessContext,
    record: &Record,
    base_version: Option<i64>,
    prior: Option<&Record>,
    entry: Option<Uuid>,
) -> Result<Uuid, StoreError> {
    let (entity, entity_id, patient_id) = identity(record);
    let id = Uuid::now_v7();
    let now = time_text(&now());
    let payload = serde_json::to_string(record).map_err(|_| StoreError::BadRow("edit"))?;
    let prior = prior.map(serde_json::to_string).transpose().map_err(|_| StoreError::BadRow("edit"))?;
    conn.prepare_cached(
        "INSERT INTO outbox (mutation_id, created_at, entity, entity_id, patient_id, operation, base_version,
             author, authored_at, payload_json, prior_json, entry_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?2, ?9, ?10, ?11)",
    )?
    .execute(params![
        id.to_string(),
        now,
        entity,
        entity_id.to_string(),
        patient_id.to_string(),
        if base_version.is_some() { "update" } else { "create" },
        base_version,
        ctx.user_id,
        payload,
        prior,
        entry.map(|e| e.to_string()),
    ])?;
    Ok(id)
}

/// A conflict as the UI lists it: identifiers only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictEntry {
    pub mutation_id: Uuid,
    pub entity: String,
    pub entity_id: Uuid,
    pub patient_id: Uuid,
}

/// Edits the server answered with a conflict, oldest first.
pub fn conflicts(store: &Store) -> Result<Vec<ConflictEntry>, StoreError> {
    let mut stmt = store.conn().prepare_cached(
        "SELECT mutation_id, entity, entity_id, patient_id FROM outbox WHERE state = 'conflict' ORDER BY created_at, rowid",
    )?;
    crate::store::rows::collect(&mut stmt, [], |row| {
        Ok(ConflictEntry {
            mutation_id: crate::store::rows::get_uuid(row, "mutation_id")?,
            entity: row.get("entity")?,
            entity_id: crate::store::rows::get_uuid(row, "entity_id")?,
            patient_id: crate::store::rows::get_uuid(row, "patient_id")?,
        })
    })
}

/// Both versions of a conflict: the clinician's edit and the server's row.
pub fn conflict_versions(store: &Store, mutation_id: Uuid) -> Result<(Record, Record), StoreError> {
    let (mine, theirs, _) = conflict_records(store.conn(), mutation_id)?;
    Ok((mine, theirs))
}

/// The clinician's edit, the server's row and, for a change (not a new
/// record), the row the clinician edited.
fn conflict_records(conn: &Connection, mutation_id: Uuid) -> Result<(Record, Record, Option<Record>), StoreError> {
    let (mine, theirs, prior): (String, String, Option<String>) = conn
        .query_row(
            "SELECT payload_json, server_row_json, prior_json FROM outbox WHERE mutation_id = ?1 AND state = 'conflict'",
            [mutation_id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            e => e.into(),
        })?;
    let decode = |text: &str| serde_json::from_str::<Record>(text).map_err(|_| StoreError::BadRow("conflict"));
    Ok((decode(&mine)?, decode(&theirs)?, prior.as_deref().map(decode).transpose()?))
}

/// Re-applies the clinician's edit on top of the server's row: the fields
/// the clinician changed laid over the server's row (see
/// [`merge_onto_server`]), as a new edit based on the server's version, by
/// the acting user; the conflict record is settled in the same transaction.
pub fn reapply_conflict(store: &mut Store, ctx: &AccessContext, mutation_id: Uuid) -> Result<Uuid, StoreError> {
    let tx = store.conn_mut().transaction()?;
    let (mine, theirs, prior) = conflict_records(&tx, mutation_id)?;
    let mut mine = match prior {
        Some(prior) => merge_onto_server(&prior, &mine, &theirs)?,
        // A new record has nothing to merge with.
        None => mine,
    };
    let base = version_of(&theirs);
    match &mut mine {
        Record::Patient { patient } => patient.version = base,
        Record::Observation { observation } => observation.version = base,
        Record::Allergy { allergy } => allergy.version = base,
    }
    match &mine {
        Record::Patient { patient } => patients::upsert(&tx, std::slice::from_ref(patient))?,
        Record::Observation { observation } => observations::upsert(&tx, std::slice::from_ref(observation))?,
        Record::Allergy { allergy } => allergies::upsert(&tx, std::slice::from_ref(allergy))?,
    }
    let id = enqueue(&tx, ctx, &mine, Some(base), Some(&theirs))?;
    tx.execute("DELETE FROM outbox WHERE mutation_id = ?1", [mutation_id.to_string()])?;
    tx.commit()?;
    Ok(id)
}

/// Three-way merge of a conflicting edit: the fields the clinician changed
/// (`mine` against the `prior` row they edited) laid over the server's
/// current row, so a re-apply does not undo what someone else changed
/// meanwhile in fields the clinician left alone. Nested objects merge field
/// by field; lists and values are taken whole.
fn merge_onto_server(prior: &Record, mine: &Record, theirs: &Record) -> Result<Record, StoreError> {
    fn merge(prior: &serde_json::Value, mine: &serde_json::Value, theirs: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match (prior, mine, theirs) {
            (Value::Object(p), Value::Object(m), Value::Object(t)) => {
                let mut out = t.clone();
                for (key, mine_value) in m {
                    let prior_value = p.get(key).unwrap_or(&Value::Null);
                    match t.get(key) {
                        Some(theirs_value) => {
                            out.insert(key.clone(), merge(prior_value, mine_value, theirs_value));
                        }
                        None if mine_value != prior_value => {
                            out.insert(key.clone(), mine_value.clone());
                        }
                        None => {}
                    }
                }
                Value::Object(out)
            }
            _ if mine != prior => mine.clone(),
            _ => theirs.clone(),
        }
    }
    let value = |r: &Record| serde_json::to_value(r).map_err(|_| StoreError::BadRow("conflict"));
    serde_json::from_value(merge(&value(prior)?, &value(mine)?, &value(theirs)?))
        .map_err(|_| StoreError::BadRow("conflict"))
}

/// Discards the clinician's edit: the server's row (already in the cache) stands.
pub fn discard_conflict(store: &mut Store, mutation_id: Uuid) -> Result<(), StoreError> {
    let n = store
        .conn()
        .execute("DELETE FROM outbox WHERE mutation_id = ?1 AND state = 'conflict'", [mutation_id.to_string()])?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Conflicts and rejected edits with both versions, oldest first, each
/// with its patient's name and MRN for the list. Called through the audited
/// read (`audit::reads::edits_needing_attention`). The author is named as
/// the clinician knows them (the display name kept for offline sign-in on
/// this workstation), or by user id when this workstation no longer has it.
pub(crate) fn needing_attention(conn: &Connection) -> Result<EditsNeedingAttention, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT mutation_id, patient_id, created_at, state, payload_json, server_row_json, server_reason,
                coalesce((SELECT v.display_name FROM offline_verifiers v WHERE v.user_id = outbox.author LIMIT 1),
                         author) AS author
         FROM outbox WHERE state IN ('conflict', 'rejected') ORDER BY created_at, rowid",
    )?;
    let rows = crate::store::rows::collect(&mut stmt, [], |row| {
        Ok((
            crate::store::rows::get_uuid(row, "mutation_id")?,
            crate::store::rows::get_uuid(row, "patient_id")?,
            crate::store::rows::get_time(row, "created_at")?,
            row.get::<_, String>("author")?,
            row.get::<_, String>("state")?,
            row.get::<_, String>("payload_json")?,
            row.get::<_, Option<String>>("server_row_json")?,
            row.get::<_, Option<String>>("server_reason")?,
        ))
    })?;
    let decode = |text: &str| serde_json::from_str::<Record>(text).map_err(|_| StoreError::BadRow("edit"));
    let mut out = EditsNeedingAttention { conflicts: Vec::new(), rejected: Vec::new() };
    for (mutation_id, patient_id, created_at, author, state, mine, server, reason) in rows {
        let (patient_name, mrn) = match patients::get(conn, patient_id)? {
            Some(p) => (format!("{}, {}", p.family_name, p.given_name), p.mrn),
            None => (String::from("Patient no longer on this workstation"), String::new()),
        };
        let mine = decode(&mine)?;
        if state == "conflict" {
            let server = decode(server.as_deref().ok_or(StoreError::BadRow("conflict"))?)?;
            out.conflicts.push(ConflictView {
                mutation_id,
                patient_id,
                patient_name,
                mrn,
                created_at,
                author,
                mine,
                server,
            });
        } else {
            out.rejected.push(RejectedEdit {
                mutation_id,
                patient_id,
                patient_name,
                mrn,
                created_at,
                mine,
                reason: reason.unwrap_or_else(|| String::from("The service gave no reason.")),
            });
        }
    }
    Ok(out)
}

/// Records several observations (one set of vitals) in one transaction:
/// all of them or none.
pub fn record_observations(
    store: &mut Store,
    ctx: &AccessContext,
    mut batch: Vec<Observation>,
) -> Result<Vec<Observation>, StoreError> {
    let now = now();
    for observation in &mut batch {
        observation.id = Uuid::now_v7();
        observation.version = 0;
        observation.updated_at = now;
        observation.deleted = false;
        observation.recorded_by = ctx.user_id.clone();
        validate_observation(observation)?;
    }
    let entry = Uuid::now_v7();
    let tx = store.conn_mut().transaction()?;
    for observation in &batch {
        patients::get(&tx, observation.patient_id)?.ok_or(StoreError::NotFound)?;
        observations::upsert(&tx, std::slice::from_ref(observation))?;
        let record = Record::Observation { observation: observation.clone() };
        enqueue_in_entry(&tx, ctx, &record, None, None, Some(entry))?;
    }
    tx.commit()?;
    Ok(batch)
}

/// Marks an observation entered-in-error with the clinician's reason.
pub fn mark_entered_in_error(
    store: &mut Store,
    ctx: &AccessContext,
    id: Uuid,
    reason: &str,
) -> Result<Observation, StoreError> {
    let reason = reason.trim();
    if reason.is_empty() {
        let mut errors = wardbook_protocol::ValidationErrors::new();
        errors.push("reason", "a reason is required to mark a result entered-in-error");
        return Err(StoreError::Invalid(errors));
    }
    let tx = store.conn_mut().transaction()?;
    let prior = observations::get(&tx, id)?.filter(|o| !o.deleted).ok_or(StoreError::NotFound)?;
    let mut observation = prior.clone();
    observation.status = ObservationStatus::EnteredInError;
    observation.status_reason = Some(reason.to_owned());
    observation.updated_at = now();
    validate_observation(&observation)?;
    observations::upsert(&tx, std::slice::from_ref(&observation))?;
    enqueue(
        &tx,
        ctx,
        &Record::Observation { observation: observation.clone() },
        Some(prior.version),
        Some(&Record::Observation { observation: prior }),
    )?;
    tx.commit()?;
    Ok(observation)
}
