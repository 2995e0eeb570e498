//! A clinical record of any kind ([`Record`]: patient, observation,
//! allergy, medication administration, dose review) and the table that
//! holds it: the outbox and a push answer name rows this way.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use uuid::Uuid;
use wardbook_protocol::api::Record;

use super::rows::collect;
use super::{
    StoreError, allergies, dose_reviews, medication_administrations, medication_requests, observations, patients,
};

/// The kind of a record, as the outbox stores it (`entity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entity {
    Patient,
    Observation,
    Allergy,
    MedicationAdministration,
    DoseReview,
}

impl Entity {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Entity::Patient => "patient",
            Entity::Observation => "observation",
            Entity::Allergy => "allergy",
            Entity::MedicationAdministration => "medication_administration",
            Entity::DoseReview => "dose_review",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Entity> {
        match text {
            "patient" => Some(Entity::Patient),
            "observation" => Some(Entity::Observation),
            "allergy" => Some(Entity::Allergy),
            "medication_administration" => Some(Entity::MedicationAdministration),
            "dose_review" => Some(Entity::DoseReview),
            _ => None,
        }
    }

    const fn table(self) -> &'static str {
        match self {
            Entity::Patient => "patients",
            Entity::Observation => "observations",
            Entity::Allergy => "allergies",
            Entity::MedicationAdministration => "medication_administrations",
            Entity::DoseReview => "dose_reviews",
        }
    }
}

/// (kind, id, patient id) of a record.
pub(crate) fn identity(record: &Record) -> (Entity, Uuid, Uuid) {
    match record {
        Record::Patient { patient } => (Entity::Patient, patient.id, patient.id),
        Record::Observation { observation } => (Entity::Observation, observation.id, observation.patient_id),
        Record::Allergy { allergy } => (Entity::Allergy, allergy.id, allergy.patient_id),
        Record::MedicationAdministration { medication_administration: a } => {
            (Entity::MedicationAdministration, a.id, a.patient_id)
        }
        Record::DoseReview { dose_review } => (Entity::DoseReview, dose_review.id, dose_review.patient_id),
    }
}

pub(crate) fn version_of(record: &Record) -> i64 {
    match record {
        Record::Patient { patient } => patient.version,
        Record::Observation { observation } => observation.version,
        Record::Allergy { allergy } => allergy.version,
        Record::MedicationAdministration { medication_administration } => medication_administration.version,
        Record::DoseReview { dose_review } => dose_review.version,
    }
}

/// Writes a server row into the cache: a tombstone deletes.
pub(super) fn write(conn: &Connection, record: &Record) -> Result<(), StoreError> {
    match record {
        Record::Patient { patient } => patients::write(conn, patient),
        Record::Observation { observation } => observations::write(conn, observation),
        Record::Allergy { allergy } => allergies::write(conn, allergy),
        Record::MedicationAdministration { medication_administration } => {
            medication_administrations::write(conn, medication_administration)
        }
        Record::DoseReview { dose_review } => dose_reviews::write(conn, dose_review),
    }
}

/// The version the server gave a row.
pub(super) fn set_version(conn: &Connection, entity: Entity, id: Uuid, version: i64) -> Result<(), StoreError> {
    conn.execute(
        &format!("UPDATE {} SET version = ?2 WHERE id = ?1", entity.table()),
        params![id.to_string(), version],
    )?;
    Ok(())
}

/// Deletes a row (an allergy's or observation's; a patient's takes its rows along).
pub(super) fn delete(conn: &Connection, entity: Entity, id: Uuid) -> Result<(), StoreError> {
    conn.execute(&format!("DELETE FROM {} WHERE id = ?1", entity.table()), [id.to_string()])?;
    Ok(())
}

/// (kind, id) of every cached row -> (version, SHA-256 of its content).
pub type Digest = BTreeMap<(&'static str, Uuid), (i64, String)>;

/// Every cached row as (kind, id) -> (version, SHA-256 of its content):
/// identifiers and digests only, no PHI, so no audit event. Two caches
/// that hold the same rows have equal digests.
pub(super) fn digest(conn: &Connection) -> Result<Digest, StoreError> {
    use sha2::{Digest as _, Sha256};
    let mut out = BTreeMap::new();
    let mut put = |record: Record| -> Result<(), StoreError> {
        let (kind, id, _) = identity(&record);
        let json = serde_json::to_vec(&record).map_err(|_| StoreError::BadRow("digest"))?;
        out.insert((kind.as_str(), id), (version_of(&record), hex::encode(Sha256::digest(&json))));
        Ok(())
    };
    let mut stmt = conn.prepare("SELECT * FROM patients")?;
    for patient in collect(&mut stmt, [], patients::from_row)? {
        put(Record::Patient { patient })?;
    }
    let mut stmt = conn.prepare(observations::SELECT_ALL)?;
    for observation in collect(&mut stmt, [], observations::from_row)? {
        put(Record::Observation { observation })?;
    }
    let mut stmt = conn.prepare("SELECT * FROM allergies")?;
    for allergy in collect(&mut stmt, [], allergies::from_row)? {
        put(Record::Allergy { allergy })?;
    }
    let mut stmt = conn.prepare("SELECT * FROM medication_administrations")?;
    for medication_administration in collect(&mut stmt, [], medication_administrations::from_row)? {
        put(Record::MedicationAdministration { medication_administration })?;
    }
    let mut stmt = conn.prepare("SELECT * FROM dose_reviews")?;
    for dose_review in collect(&mut stmt, [], dose_reviews::from_row)? {
        put(Record::DoseReview { dose_review })?;
    }
    // Orders are no `Record` (workstations never write them): digested as themselves.
    let mut stmt = conn.prepare("SELECT * FROM medication_requests")?;
    for order in collect(&mut stmt, [], medication_requests::from_row)? {
        let json = serde_json::to_vec(&order).map_err(|_| StoreError::BadRow("digest"))?;
        out.insert(("medication_request", order.id), (order.version, hex::encode(Sha256::digest(&json))));
    }
    Ok(out)
}
