//! The clinical rows (patients, observations, allergies) as the service
//! stores and reads them: each table's SQL, a stored row decoded into the
//! protocol's types, and whether a device may see a patient now.
//!
//! The feed, push, break-the-glass, the patient read and the admin CLI share
//! these and keep only their own logic (the feed's paging and horizon, the
//! mutation flow, the access record, the synthetic ward). One file per
//! table; this one holds what all three share and dispatches on [`Entity`]
//! where the kind of row is known only at run time (a mutation).
//!
//! A row is read as (patient, id, JSON text, then for observations and
//! allergies version, updated_at, deleted and synthetic): the columns that
//! [`patients::decode`], [`observations::decode`] and [`allergies::decode`]
//! take, and that the feed's own queries select too.

pub(crate) mod allergies;
pub(crate) mod dose_reviews;
pub(crate) mod external_ids;
pub(crate) mod medication_administrations;
pub(crate) mod medication_requests;
pub(crate) mod observations;
pub(crate) mod patients;

use tokio_postgres::{Row, Statement, Transaction};
use uuid::Uuid;
use wardbook_protocol::api::Record;

use crate::auth::DeviceAuth;
use crate::error::{Error, Result};

/// The kind of clinical row a mutation carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Entity {
    Patient,
    Observation,
    Allergy,
    MedicationAdministration,
    DoseReview,
}

impl Entity {
    /// As recorded in `applied_mutations.entity`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Entity::Patient => "patient",
            Entity::Observation => "observation",
            Entity::Allergy => "allergy",
            Entity::MedicationAdministration => "medication_administration",
            Entity::DoseReview => "dose_review",
        }
    }
}

/// Those of the patients `$1` assigned now to one of the locations `$2`.
pub(crate) const IN_SCOPE_ANY: &str = "SELECT DISTINCT patient_id FROM patient_locations
     WHERE patient_id = ANY($1) AND location_id = ANY($2) AND active";

/// In scope now: assigned to one of the device's locations.
pub(crate) const IN_SCOPE: &str = "SELECT EXISTS (SELECT 1 FROM patient_locations
     WHERE patient_id = $1 AND location_id = ANY($2) AND active)";

/// The stored body as text and, after it, the server-managed fields that
/// [`observations::decode`] and [`allergies::decode`] lay over it (merging
/// them in SQL with `||` cost a third of the feed's time).
pub(crate) const BODY_JSON: &str = "t.body::text, t.version, t.updated_at, t.deleted, t.synthetic";

/// Is the patient assigned to one of the device's locations?
pub(crate) async fn in_scope(tx: &Transaction<'_>, device: &DeviceAuth, patient_id: Uuid) -> Result<bool> {
    Ok(tx.query_one(IN_SCOPE, &[&patient_id, &device.locations]).await?.get(0))
}

/// The stored row as the feed would send it.
pub(crate) async fn record(
    tx: &Transaction<'_>,
    keys: &crate::keys::KeySet,
    entity: Entity,
    id: Uuid,
) -> Result<Record> {
    Ok(match entity {
        Entity::Patient => Record::Patient { patient: patients::read(tx, keys, id).await? },
        Entity::Observation => Record::Observation { observation: observations::read(tx, id).await? },
        Entity::Allergy => Record::Allergy { allergy: allergies::read(tx, id).await? },
        Entity::MedicationAdministration => Record::MedicationAdministration {
            medication_administration: medication_administrations::read(tx, id).await?,
        },
        Entity::DoseReview => Record::DoseReview { dose_review: dose_reviews::read(tx, id).await? },
    })
}

/// The row's version and patient, locked for the mutation that is about to
/// change it (`$1` its id).
pub(crate) fn current_sql(entity: Entity) -> &'static str {
    match entity {
        Entity::Patient => patients::CURRENT,
        Entity::Observation => observations::CURRENT,
        Entity::Allergy => allergies::CURRENT,
        Entity::MedicationAdministration => medication_administrations::CURRENT,
        Entity::DoseReview => dose_reviews::CURRENT,
    }
}

/// The stored rows among ids `$1`, as (id, version, patient), locked for the
/// mutations about to change them, in id order (so two pushes lock shared
/// rows in the same order).
pub(crate) fn current_many_sql(entity: Entity) -> &'static str {
    match entity {
        Entity::Patient => "SELECT id, version, id FROM patients WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        Entity::Observation => {
            "SELECT id, version, patient_id FROM observations WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        }
        Entity::Allergy => "SELECT id, version, patient_id FROM allergies WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        Entity::MedicationAdministration => {
            "SELECT id, version, patient_id FROM medication_administrations WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        }
        Entity::DoseReview => {
            "SELECT id, version, patient_id FROM dose_reviews WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        }
    }
}

/// The (insert, update) statements of a row a workstation writes; patients
/// write two tables and go through [`patients::write`]. A review is never
/// updated (the push refuses it first), so its pair is the insert twice.
pub(crate) fn write_sql(record: &Record) -> Option<(&'static str, &'static str)> {
    match record {
        Record::Patient { .. } => None,
        Record::Observation { .. } => Some((observations::INSERT, observations::UPDATE)),
        Record::Allergy { .. } => Some((allergies::INSERT, allergies::UPDATE)),
        Record::MedicationAdministration { .. } => {
            Some((medication_administrations::INSERT, medication_administrations::UPDATE))
        }
        Record::DoseReview { .. } => Some((dose_reviews::INSERT, dose_reviews::INSERT)),
    }
}

/// Inserts or updates an observation or allergy with one of its
/// [`write_sql`] statements; the trigger sets version and updated_at.
pub(crate) async fn write_row(tx: &Transaction<'_>, record: &Record, statement: &Statement) -> Result<i64> {
    match record {
        Record::Observation { observation } => observations::write(tx, observation, statement).await,
        Record::Allergy { allergy } => allergies::write(tx, allergy, statement).await,
        Record::MedicationAdministration { medication_administration: a } => {
            medication_administrations::write(tx, a, statement).await
        }
        Record::DoseReview { dose_review } => dose_reviews::write(tx, dose_review, statement).await,
        Record::Patient { .. } => Err(Error::Internal("patients are written by patients::write".into())),
    }
}

/// The stored JSON body of an observation or allergy: the resource as the
/// protocol serialises it (server-managed fields are overlaid on read).
pub(crate) fn body<T: serde::Serialize>(row: &T) -> Result<serde_json::Value> {
    serde_json::to_value(row).map_err(|_| Error::Internal("a row did not serialise".into()))
}

/// The same body as [`body`], as JSON text (for a `text[]` cast to `jsonb`
/// by a multi-row write): serialised straight from the row, without the
/// intermediate `serde_json::Value`.
pub(crate) fn body_text<T: serde::Serialize>(row: &T) -> Result<String> {
    serde_json::to_string(row).map_err(|_| Error::Internal("a row did not serialise".into()))
}

/// The SQL for one observation or allergy (`$1` its id), for its table's
/// `decode`.
fn row_query(table: &str) -> String {
    format!("SELECT t.patient_id, t.id, {BODY_JSON} FROM {table} t WHERE t.id = $1")
}

/// The SQL for a patient's (`$1`) current observations or allergies, for
/// their table's `decode`: what a break-the-glass access shows.
fn patient_rows_query(table: &str) -> String {
    format!(
        "SELECT t.patient_id, t.id, {BODY_JSON} FROM {table} t WHERE t.patient_id = $1 AND NOT t.deleted ORDER BY t.id"
    )
}

/// A row's id and its JSON text (empty when NULL), as every `decode` reads them.
fn id_and_json(row: &Row) -> (Uuid, &str) {
    let json: Option<&str> = row.get(2);
    (row.get(1), json.unwrap_or_default())
}

/// A row with a JSON body: the body decoded and the server-managed fields
/// (version, updated_at, deleted, synthetic: columns 3 to 6) laid over it
/// through `fields`.
fn decode_body<T: serde::de::DeserializeOwned>(
    row: &Row,
    what: &str,
    fields: impl FnOnce(&mut T) -> (&mut i64, &mut chrono::DateTime<chrono::Utc>, &mut bool, &mut bool),
) -> Result<T> {
    let (id, json) = id_and_json(row);
    let mut value = serde_json::from_str::<T>(json).map_err(|_| corrupt(what, id))?;
    let (version, updated_at, deleted, synthetic) = fields(&mut value);
    (*version, *updated_at, *deleted, *synthetic) = (row.get(3), row.get(4), row.get(5), row.get(6));
    Ok(value)
}

/// A stored row that does not decode: named by kind and id, never by content.
fn corrupt(what: &str, id: Uuid) -> Error {
    Error::Internal(format!("stored {what} {id} does not decode"))
}
