//! Local edits: a new observation, an entered-in-error status, a new or
//! changed allergy, a demographics correction (doses and dose reviews are
//! `crate::medications`'). Each writes the row and its
//! outbox entry (client-generated UUID v7 mutation id, base version, author)
//! in one transaction, so an edit can never exist without the entry that
//! pushes it, nor the other way round.
//!
//! Rows created here carry version 0 until the server answers with its
//! version. The base version of an edit is the version the cache holds; when
//! an entity already has an edit waiting, the sync engine rewrites the later
//! edits' base as the earlier ones are applied (see `store::outbox`).
//!
//! Each edit runs in `Store::edit`, which hands out the rows it changes
//! and writes the outbox entry with them. What re-applying a conflict writes
//! is decided by a pure function, [`merge::merge`].

pub mod merge;

use chrono::{SubsecRound, Utc};
use uuid::Uuid;
use wardbook_protocol::api::Record;
use wardbook_protocol::validation::{validate_allergy, validate_observation, validate_patient};
use wardbook_protocol::{Allergy, Observation, ObservationStatus, Patient};

use crate::audit::AccessContext;
use crate::store::outbox::{NewEntry, OutboxState};
use crate::store::records::version_of;
use crate::store::{Edit, Store, StoreError, allergies, conflicts, observations, patients};

pub use crate::store::ConflictEntry;

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
    store.edit(|edit| {
        require_patient(edit, observation.patient_id)?;
        edit.db().observations_mut().upsert(std::slice::from_ref(&observation))?;
        let record = Record::Observation { observation: observation.clone() };
        enqueue(edit, ctx, &record, None, None)
    })?;
    Ok(observation)
}

/// Marks an observation entered-in-error (it stays in the record, flagged).
pub fn set_observation_status(
    store: &mut Store,
    ctx: &AccessContext,
    id: Uuid,
    status: ObservationStatus,
) -> Result<Observation, StoreError> {
    store.edit(|edit| {
        let prior = observations::for_edit(edit, id)?.filter(|o| !o.deleted).ok_or(StoreError::NotFound)?;
        let mut observation = prior.clone();
        observation.status = status;
        observation.updated_at = now();
        validate_observation(&observation)?;
        edit.db().observations_mut().upsert(std::slice::from_ref(&observation))?;
        let base = prior.version;
        enqueue(
            edit,
            ctx,
            &Record::Observation { observation: observation.clone() },
            Some(base),
            Some(&Record::Observation { observation: prior }),
        )?;
        Ok(observation)
    })
}

/// Saves an allergy: new when its id is not in the cache (a fresh id is
/// given), otherwise a change of the cached one.
pub fn save_allergy(store: &mut Store, ctx: &AccessContext, mut allergy: Allergy) -> Result<Allergy, StoreError> {
    store.edit(|edit| {
        let prior = allergies::for_edit(edit, allergy.id)?.filter(|a| !a.deleted);
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
                require_patient(edit, allergy.patient_id)?;
            }
        }
        validate_allergy(&allergy)?;
        edit.db().allergies_mut().upsert(std::slice::from_ref(&allergy))?;
        let record = Record::Allergy { allergy: allergy.clone() };
        let prior_record = prior.map(|allergy| Record::Allergy { allergy });
        enqueue(edit, ctx, &record, prior_record.as_ref().map(version_of), prior_record.as_ref())?;
        Ok(allergy)
    })
}

/// Corrects a patient's demographics (name, date of birth, contact details).
pub fn correct_demographics(
    store: &mut Store,
    ctx: &AccessContext,
    mut patient: Patient,
) -> Result<Patient, StoreError> {
    store.edit(|edit| {
        let prior = patients::for_edit(edit, patient.id)?.ok_or(StoreError::NotFound)?;
        patient.version = prior.version;
        patient.updated_at = now();
        patient.deleted = false;
        patient.source_system.clone_from(&prior.source_system);
        validate_patient(&patient, Utc::now().date_naive())?;
        edit.db().patients_mut().upsert(std::slice::from_ref(&patient))?;
        enqueue(
            edit,
            ctx,
            &Record::Patient { patient: patient.clone() },
            Some(prior.version),
            Some(&Record::Patient { patient: prior }),
        )?;
        Ok(patient)
    })
}

fn now() -> chrono::DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn moved(field: &str) -> wardbook_protocol::ValidationErrors {
    let mut errors = wardbook_protocol::ValidationErrors::new();
    errors.push(field, "cannot change: a record stays with its patient");
    errors
}

/// The patient must be in the cache (and not deleted) to be charted on.
fn require_patient(edit: &Edit<'_>, patient: Uuid) -> Result<(), StoreError> {
    if edit.db().patients().exists(patient)? { Ok(()) } else { Err(StoreError::NotFound) }
}

/// Appends the outbox entry of an edit, inside the edit's transaction.
fn enqueue(
    edit: &Edit<'_>,
    ctx: &AccessContext,
    record: &Record,
    base_version: Option<i64>,
    prior: Option<&Record>,
) -> Result<Uuid, StoreError> {
    edit.enqueue(&NewEntry { record, base_version, prior, author: &ctx.user_id, entry: None })
}

/// Edits the server answered with a conflict, oldest first (identifiers
/// only; both versions of one are [`crate::audit::reads::conflict_versions`]).
pub fn conflicts(store: &Store) -> Result<Vec<ConflictEntry>, StoreError> {
    store.db().outbox().conflicts()
}

/// Re-applies the clinician's edit on top of the server's row: what
/// [`merge::merge`] makes of the three versions the outbox kept, as a new
/// edit based on the server's version, by the acting user; the conflict
/// record is settled in the same transaction.
pub fn reapply_conflict(store: &mut Store, ctx: &AccessContext, mutation_id: Uuid) -> Result<Uuid, StoreError> {
    store.edit(|edit| {
        let (mine, theirs, prior) = conflicts::for_edit(edit, mutation_id)?;
        let merged = merge::merge(prior.as_ref(), &mine, &theirs).map_err(|_| StoreError::BadRow("conflict"))?;
        match &merged {
            Record::Patient { patient } => edit.db().patients_mut().upsert(std::slice::from_ref(patient))?,
            Record::Observation { observation } => {
                edit.db().observations_mut().upsert(std::slice::from_ref(observation))?;
            }
            Record::Allergy { allergy } => edit.db().allergies_mut().upsert(std::slice::from_ref(allergy))?,
            Record::MedicationAdministration { medication_administration } => {
                edit.db().medication_administrations_mut().upsert(std::slice::from_ref(medication_administration))?;
            }
            Record::DoseReview { dose_review } => {
                edit.db().dose_reviews_mut().upsert(std::slice::from_ref(dose_review))?
            }
        }
        let id = enqueue(edit, ctx, &merged, Some(version_of(&theirs)), Some(&theirs))?;
        edit.db().outbox_mut().remove(mutation_id)?;
        Ok(id)
    })
}

/// Discards the clinician's edit: the server's row (already in the cache) stands.
pub fn discard_conflict(store: &mut Store, mutation_id: Uuid) -> Result<(), StoreError> {
    if !store.db().outbox_mut().remove_in(mutation_id, OutboxState::Conflict)? {
        return Err(StoreError::NotFound);
    }
    Ok(())
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
    store.edit(|edit| {
        for observation in &batch {
            require_patient(edit, observation.patient_id)?;
            edit.db().observations_mut().upsert(std::slice::from_ref(observation))?;
            let record = Record::Observation { observation: observation.clone() };
            edit.enqueue(&NewEntry {
                record: &record,
                base_version: None,
                prior: None,
                author: &ctx.user_id,
                entry: Some(entry),
            })?;
        }
        Ok(())
    })?;
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
    store.edit(|edit| {
        let prior = observations::for_edit(edit, id)?.filter(|o| !o.deleted).ok_or(StoreError::NotFound)?;
        let mut observation = prior.clone();
        observation.status = ObservationStatus::EnteredInError;
        observation.status_reason = Some(reason.to_owned());
        observation.updated_at = now();
        validate_observation(&observation)?;
        edit.db().observations_mut().upsert(std::slice::from_ref(&observation))?;
        enqueue(
            edit,
            ctx,
            &Record::Observation { observation: observation.clone() },
            Some(prior.version),
            Some(&Record::Observation { observation: prior }),
        )?;
        Ok(observation)
    })
}
