//! The hospital's records coming in (HL7 v2 and FHIR R4 alike): a patient
//! found by the sender's identifiers or created, placed on a ward or taken
//! off every ward, a result or an allergy written under the sender's key so
//! that a repeat or a correction updates the same row, two records merged.
//!
//! One home for these rules; `hl7::apply` and the FHIR import only map
//! their message into these calls. Every write goes through `records` and
//! the tables' triggers, so the workstations receive it through the feed
//! like any other change. Nothing here commits: the caller's transaction
//! holds the message and its effects together.

use chrono::{NaiveDate, Utc};
use tokio_postgres::Transaction;
use tokio_postgres::types::Type;

/// A lock held to the end of the transaction on one key (`$1`).
///
/// The feed's statements go with their parameter types (`*_typed`): one
/// round trip each instead of a prepare and an execute, on the path every
/// message and every imported resource takes.
const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 14))";
use uuid::Uuid;
use wardbook_protocol::api::Record;
use wardbook_protocol::{Allergy, Observation, Patient, Sex, validate_allergy, validate_observation, validate_patient};

use crate::error::Result;
use crate::keys::KeySet;
pub use crate::records::external_ids::{link, linked};
use crate::records::{self, allergies, external_ids, observations, patients};

mod medications;
pub use medications::{set_order_status, upsert_medication_request};

/// A change to one stored value: keep it, clear it, or set it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Change<T> {
    Keep,
    Clear,
    Set(T),
}

impl<T: Clone> Change<T> {
    pub fn apply(&self, current: Option<T>) -> Option<T> {
        match self {
            Change::Keep => current,
            Change::Clear => None,
            Change::Set(v) => Some(v.clone()),
        }
    }
}

/// What a message says about who a patient is, each value kept, cleared or
/// set. The HL7 PID segment reads into it; PHI: `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct Demographics {
    pub family_name: Change<String>,
    pub given_name: Change<String>,
    pub birth_date: Change<NaiveDate>,
    pub sex: Change<Sex>,
    pub phone: Change<String>,
    pub email: Change<String>,
    pub address: Change<String>,
    pub language: Change<String>,
}

impl std::fmt::Debug for Demographics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demographics").finish_non_exhaustive()
    }
}

/// What a message says about a patient. PHI: never logged.
#[derive(Clone, PartialEq)]
pub struct PatientUpdate {
    /// (system, value) pairs; any one finds the patient.
    pub identifiers: Vec<(String, String)>,
    /// The medical record number shown to clinicians; empty when the
    /// message names none (a new patient then takes its first identifier).
    pub mrn: String,
    pub demographics: Demographics,
    pub synthetic: bool,
    pub source_system: String,
}

impl std::fmt::Debug for PatientUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientUpdate").field("identifiers", &self.identifiers.len()).finish_non_exhaustive()
    }
}

/// Why a record cannot be applied. Names the element (in the protocol's
/// terms, e.g. `birth_date`, `value.unit`), never its value; the HL7 and
/// FHIR callers translate it to their own field names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A new patient needs this element.
    Missing(&'static str),
    /// The element's value is not valid.
    Invalid(String),
    /// No patient has any of the identifiers.
    UnknownPatient,
    /// The location is neither mapped nor a location code.
    UnknownLocation,
    /// Another patient has this MRN already.
    MrnTaken,
}

pub type Outcome<T> = std::result::Result<T, Refusal>;

/// The patient with any of these identifiers, else with this MRN (a
/// patient loaded before the feed filed its identifiers), following merges
/// to the survivor.
pub async fn find_patient(
    tx: &Transaction<'_>,
    keys: &KeySet,
    identifiers: &[(String, String)],
    mrn: &str,
) -> Result<Option<Uuid>> {
    let survivor = |id: Uuid| async move {
        Ok::<Uuid, crate::Error>(
            tx.query_one("SELECT coalesce(merged_into, id) FROM patients WHERE id = $1", &[&id]).await?.get(0),
        )
    };
    for (system, value) in identifiers {
        if let Some(id) = external_ids::linked(tx, keys, "patient", system, value).await? {
            return Ok(Some(survivor(id).await?));
        }
    }
    if mrn.is_empty() {
        return Ok(None);
    }
    match patients::by_mrn(tx, keys, mrn).await? {
        Some(id) => Ok(Some(survivor(id).await?)),
        None => Ok(None),
    }
}

/// Finds the patient by identifier (or by MRN) and applies the update, or
/// creates the patient. Returns the id.
pub async fn upsert_patient(tx: &Transaction<'_>, keys: &KeySet, update: &PatientUpdate) -> Result<Outcome<Uuid>> {
    if update.identifiers.iter().any(|(system, value)| !key_fits(system, value)) {
        return Ok(Err(Refusal::Invalid("identifier".into())));
    }
    lock_identifiers(tx, &update.identifiers, &update.mrn).await?;
    let found = find_patient(tx, keys, &update.identifiers, &update.mrn).await?;
    let today = Utc::now().date_naive();
    let (patient, stored) = match found {
        Some(id) => {
            let stored = patients::read(tx, keys, id).await?;
            // Generated and real records never mix: a synthetic message does
            // not update a real patient, nor a real one a synthetic patient.
            if stored.synthetic != update.synthetic {
                return Ok(Err(Refusal::Invalid("synthetic".into())));
            }
            let mut p = stored.clone();
            merge_into(&mut p, update);
            (p, Some(stored))
        }
        None => {
            let d = &update.demographics;
            let Some(family_name) = d.family_name.apply(None) else {
                return Ok(Err(Refusal::Missing("family_name")));
            };
            let Some(given_name) = d.given_name.apply(None) else {
                return Ok(Err(Refusal::Missing("given_name")));
            };
            let Some(birth_date) = d.birth_date.apply(None) else {
                return Ok(Err(Refusal::Missing("birth_date")));
            };
            let mrn = match (update.mrn.as_str(), update.identifiers.first()) {
                ("", Some((_, first))) => first.clone(),
                ("", None) => return Ok(Err(Refusal::Missing("mrn"))),
                (mrn, _) => mrn.to_owned(),
            };
            let mut p = Patient {
                id: Uuid::now_v7(),
                version: 0,
                updated_at: Utc::now(),
                deleted: false,
                synthetic: update.synthetic,
                mrn,
                given_name,
                family_name,
                birth_date,
                sex: Sex::Unknown,
                phone: None,
                email: None,
                address: None,
                preferred_language: None,
                location: None,
                bed: None,
                source_system: update.source_system.clone(),
            };
            merge_into(&mut p, update);
            (p, None)
        }
    };
    if let Err(errors) = validate_patient(&patient, today) {
        let field = errors.0.first().map(|e| e.field.clone()).unwrap_or_default();
        return Ok(Err(Refusal::Invalid(field)));
    }
    let taken: bool = {
        let (index, clear) = patients::mrn_params(keys, &patient.mrn);
        tx.query_one(patients::MRN_TAKEN, &[&index, &clear, &patient.id]).await?.get(0)
    };
    if taken {
        return Ok(Err(Refusal::MrnTaken));
    }
    // A message that changes nothing writes nothing: no new version for
    // every workstation to pull (a re-import, a repeated A08).
    if stored.as_ref() != Some(&patient) {
        patients::write(tx, keys, &patient, stored.is_some()).await?;
    }
    for (system, value) in &update.identifiers {
        link(tx, keys, "patient", system, value, patient.id).await?;
    }
    Ok(Ok(patient.id))
}

/// Two messages about one new patient, on two connections at once, would
/// both create it: each takes a transaction lock on the patient's
/// identifiers (in one order, so they cannot deadlock) before looking.
async fn lock_identifiers(tx: &Transaction<'_>, identifiers: &[(String, String)], mrn: &str) -> Result<()> {
    let mut keys: Vec<String> = identifiers.iter().map(|(s, v)| format!("{s}|{v}")).collect();
    keys.push(format!("mrn|{mrn}"));
    keys.sort();
    keys.dedup();
    for key in keys {
        tx.query_typed(LOCK, &[(&key, Type::TEXT)]).await?;
    }
    Ok(())
}

/// Lays the update's values over a stored (or new) patient.
fn merge_into(p: &mut Patient, u: &PatientUpdate) {
    let d = &u.demographics;
    if let Some(v) = d.family_name.apply(Some(p.family_name.clone())) {
        p.family_name = v;
    }
    if let Some(v) = d.given_name.apply(Some(p.given_name.clone())) {
        p.given_name = v;
    }
    if let Some(v) = d.birth_date.apply(Some(p.birth_date)) {
        p.birth_date = v;
    }
    p.sex = d.sex.apply(Some(p.sex)).unwrap_or(Sex::Unknown);
    p.phone = d.phone.apply(p.phone.take());
    p.email = d.email.apply(p.email.take());
    p.address = d.address.apply(p.address.take());
    p.preferred_language = d.language.apply(p.preferred_language.take());
    if !u.mrn.is_empty() {
        p.mrn = u.mrn.clone();
    }
    p.deleted = false;
}

/// A sender's identifier fits `phi.external_ids`: 1 to 300 characters each, no NUL.
fn key_fits(system: &str, value: &str) -> bool {
    (1..=300).contains(&system.chars().count())
        && (1..=300).contains(&value.chars().count())
        && !system.contains('\0')
        && !value.contains('\0')
}

/// Refuses a key that does not fit, and locks it for this transaction, so
/// that two imports of one new result cannot both create it.
async fn claim_key(tx: &Transaction<'_>, kind: &str, system: &str, value: &str) -> Result<Outcome<()>> {
    if !key_fits(system, value) {
        return Ok(Err(Refusal::Invalid("identifier".into())));
    }
    tx.query_typed(LOCK, &[(&format!("{kind}|{system}|{value}"), Type::TEXT)]).await?;
    Ok(Ok(()))
}

/// A location by code: the sender's code through the interface's map, or
/// a Wardbook location code as it is.
pub async fn location(
    tx: &Transaction<'_>,
    map: &serde_json::Value,
    sender_code: &str,
) -> Result<Outcome<(Uuid, String)>> {
    let code = map.get(sender_code).and_then(|v| v.as_str()).unwrap_or(sender_code);
    Ok(tx
        .query_typed_opt("SELECT id, code FROM locations WHERE code = $1", &[(&code, Type::TEXT)])
        .await?
        .map(|r| (r.get(0), r.get(1)))
        .ok_or(Refusal::UnknownLocation))
}

/// The patient is at `location` (in `bed`) and at no other: a workstation
/// of the old ward loses the patient at its next sync (after pushing its
/// pending edits), one of the new ward receives the patient.
pub async fn place(
    tx: &Transaction<'_>,
    patient_id: Uuid,
    (location_id, code): &(Uuid, String),
    bed: Option<&str>,
) -> Result<Outcome<()>> {
    if bed.is_some_and(|b| !wardbook_protocol::validation::bed_is_valid(b)) {
        return Ok(Err(Refusal::Invalid("bed".into())));
    }
    tx.execute_typed(
        "UPDATE patient_locations SET active = false WHERE patient_id = $1 AND location_id <> $2 AND active",
        &[(&patient_id, Type::UUID), (location_id, Type::UUID)],
    )
    .await?;
    tx.execute_typed(
        "INSERT INTO patient_locations (patient_id, location_id, active) VALUES ($1, $2, true)
         ON CONFLICT (patient_id, location_id) DO UPDATE SET active = true WHERE NOT patient_locations.active",
        &[(&patient_id, Type::UUID), (location_id, Type::UUID)],
    )
    .await?;
    tx.execute_typed(
        "UPDATE patients SET location = $2, bed = $3
          WHERE id = $1 AND (location IS DISTINCT FROM $2 OR bed IS DISTINCT FROM $3)",
        &[(&patient_id, Type::UUID), (code, Type::TEXT), (&bed, Type::TEXT)],
    )
    .await?;
    Ok(Ok(()))
}

/// The patient is on no ward (discharged, admission cancelled).
pub async fn leave(tx: &Transaction<'_>, patient_id: Uuid) -> Result<()> {
    tx.execute_typed(
        "UPDATE patient_locations SET active = false WHERE patient_id = $1 AND active",
        &[(&patient_id, Type::UUID)],
    )
    .await?;
    tx.execute_typed(
        "UPDATE patients SET location = NULL, bed = NULL WHERE id = $1 AND (location IS NOT NULL OR bed IS NOT NULL)",
        &[(&patient_id, Type::UUID)],
    )
    .await?;
    Ok(())
}

/// Writes an observation filed under the sender's key: a repeat or a
/// correction updates the same row (a new version), never a duplicate.
/// `observation.id` and `patient_id` are replaced by the stored ones when
/// the key is known.
pub async fn upsert_observation(
    tx: &Transaction<'_>,
    keys: &KeySet,
    (system, value): (&str, &str),
    mut observation: Observation,
) -> Result<Outcome<Uuid>> {
    if let Err(errors) = validate_observation(&observation) {
        return Ok(Err(Refusal::Invalid(errors.0.first().map(|e| e.field.clone()).unwrap_or_default())));
    }
    if let Err(refusal) = claim_key(tx, "observation", system, value).await? {
        return Ok(Err(refusal));
    }
    let existing = linked(tx, keys, "observation", system, value).await?;
    let id = existing.unwrap_or(observation.id);
    if let Some(id) = existing {
        // The stored row keeps its id and server-managed fields; when
        // nothing else differs, nothing is written. A key that names
        // another patient's row is refused: results never change patient.
        let stored = observations::read(tx, id).await?;
        if stored.patient_id != observation.patient_id {
            return Ok(Err(Refusal::Invalid("patient_id".into())));
        }
        (observation.id, observation.version, observation.updated_at) = (id, stored.version, stored.updated_at);
        if stored == observation {
            return Ok(Ok(id));
        }
    }
    write(tx, &Record::Observation { observation }, existing.is_some()).await?;
    link(tx, keys, "observation", system, value, id).await?;
    Ok(Ok(id))
}

/// Writes an allergy filed under the sender's key (see [`upsert_observation`]).
pub async fn upsert_allergy(
    tx: &Transaction<'_>,
    keys: &KeySet,
    (system, value): (&str, &str),
    mut allergy: Allergy,
) -> Result<Outcome<Uuid>> {
    if let Err(errors) = validate_allergy(&allergy) {
        return Ok(Err(Refusal::Invalid(errors.0.first().map(|e| e.field.clone()).unwrap_or_default())));
    }
    if let Err(refusal) = claim_key(tx, "allergy", system, value).await? {
        return Ok(Err(refusal));
    }
    let existing = linked(tx, keys, "allergy", system, value).await?;
    if let Some(id) = existing {
        let stored = allergies::read(tx, id).await?;
        if stored.patient_id != allergy.patient_id {
            return Ok(Err(Refusal::Invalid("patient_id".into())));
        }
        (allergy.id, allergy.version, allergy.updated_at) = (id, stored.version, stored.updated_at);
        if stored == allergy {
            return Ok(Ok(id));
        }
    }
    let id = allergy.id;
    write(tx, &Record::Allergy { allergy }, existing.is_some()).await?;
    link(tx, keys, "allergy", system, value, id).await?;
    Ok(Ok(id))
}

async fn write(tx: &Transaction<'_>, record: &Record, update: bool) -> Result<()> {
    let Some((insert, update_sql)) = records::write_sql(record) else { return Ok(()) };
    let statement = tx.prepare(if update { update_sql } else { insert }).await?;
    records::write_row(tx, record, &statement).await?;
    Ok(())
}

/// ADT^A40: `merged` becomes part of `survivor`. Its observations and
/// allergies move to the survivor, its identifiers resolve to the survivor,
/// and it is deleted (workstations drop it at their next sync).
pub async fn merge(tx: &Transaction<'_>, survivor: Uuid, merged: Uuid) -> Result<()> {
    if survivor == merged {
        return Ok(());
    }
    // The stored body carries the patient too: both move, or a workstation
    // would file the moved rows under the record it is told to drop.
    for table in ["observations", "allergies", "medication_requests", "medication_administrations", "dose_reviews"] {
        tx.execute(
            &format!(
                "UPDATE {table} SET patient_id = $1, body = jsonb_set(body, '{{patient_id}}', to_jsonb($3::text))
                  WHERE patient_id = $2"
            ),
            &[&survivor, &merged, &survivor.to_string()],
        )
        .await?;
    }
    tx.execute("UPDATE encounters SET patient_id = $1 WHERE patient_id = $2", &[&survivor, &merged]).await?;
    tx.execute(
        "UPDATE phi.external_ids SET entity_id = $1 WHERE kind = 'patient' AND entity_id = $2",
        &[&survivor, &merged],
    )
    .await?;
    // Records merged earlier into `merged` now resolve to the survivor too.
    tx.execute("UPDATE patients SET merged_into = $1 WHERE merged_into = $2", &[&survivor, &merged]).await?;
    leave(tx, merged).await?;
    tx.execute("UPDATE patients SET deleted = true, merged_into = $1 WHERE id = $2", &[&survivor, &merged]).await?;
    Ok(())
}
