//! Patients: clinical columns in `patients`, direct identifiers apart in
//! `phi.patient_identities` (PHI segregation, docs/decisions.md). A patient
//! is read as one JSON object built from both and written as two rows.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;
use wardbook_protocol::Patient;

use crate::error::Result;

/// A patient as the protocol's JSON, from `patients p` joined with
/// `phi.patient_identities i`: the third column of a patient row.
pub(crate) const PATIENT_JSON: &str = "jsonb_build_object(
    'id', p.id, 'version', p.version, 'updated_at', p.updated_at, 'deleted', p.deleted, 'synthetic', p.synthetic,
    'mrn', i.mrn, 'given_name', i.given_name, 'family_name', i.family_name, 'birth_date', i.birth_date,
    'sex', p.sex, 'phone', i.phone, 'email', i.email, 'address', i.address,
    'preferred_language', p.preferred_language, 'location', p.location, 'bed', p.bed,
    'source_system', p.source_system)::text";

/// The version, locked for a mutation (`$1` the id).
pub(crate) const CURRENT: &str = "SELECT version, id FROM patients WHERE id = $1 FOR UPDATE";

/// Whether another patient (`$2`) holds the MRN `$1` already.
pub(crate) const MRN_TAKEN: &str =
    "SELECT EXISTS (SELECT 1 FROM phi.patient_identities WHERE mrn = $1 AND patient_id <> $2)";

/// The stored patient (`id`) as the feed would send it.
pub(crate) async fn read(tx: &Transaction<'_>, id: Uuid) -> Result<Patient> {
    decode(&tx.query_one(&row_query(), &[&id]).await?)
}

/// One patient row (see [`super`]), as read by [`read`] and the feed.
pub(crate) fn decode(row: &Row) -> Result<Patient> {
    let (id, json) = super::id_and_json(row);
    serde_json::from_str::<Patient>(json).map_err(|_| super::corrupt("patient", id))
}

/// The SQL for one patient (`$1` its id), for [`decode`].
fn row_query() -> String {
    format!(
        "SELECT p.id, p.id, {PATIENT_JSON} FROM patients p JOIN phi.patient_identities i ON i.patient_id = p.id
              WHERE p.id = $1"
    )
}

/// Writes both halves of a patient: clinical columns and, apart, the identifiers.
pub(crate) async fn write(tx: &Transaction<'_>, p: &Patient, update: bool) -> Result<i64> {
    let clinical: [&(dyn ToSql + Sync); 8] = [
        &p.id,
        &p.deleted,
        &p.synthetic,
        &p.sex.as_str(),
        &p.preferred_language,
        &p.location,
        &p.source_system,
        &p.bed,
    ];
    let identity: [&(dyn ToSql + Sync); 8] =
        [&p.id, &p.mrn, &p.given_name, &p.family_name, &p.birth_date, &p.phone, &p.email, &p.address];
    if update {
        tx.execute(
            "UPDATE phi.patient_identities SET mrn = $2, given_name = $3, family_name = $4, birth_date = $5,
                    phone = $6, email = $7, address = $8 WHERE patient_id = $1",
            &identity,
        )
        .await?;
        Ok(tx
            .query_one(
                "UPDATE patients SET deleted = $2, synthetic = $3, sex = $4, preferred_language = $5, location = $6,
                        source_system = $7, bed = $8 WHERE id = $1 RETURNING version",
                &clinical,
            )
            .await?
            .get(0))
    } else {
        let version = tx
            .query_one(
                "INSERT INTO patients (id, deleted, synthetic, sex, preferred_language, location, source_system, bed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING version",
                &clinical,
            )
            .await?
            .get(0);
        tx.execute(
            "INSERT INTO phi.patient_identities (patient_id, mrn, given_name, family_name, birth_date, phone, email, address)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &identity,
        )
        .await?;
        Ok(version)
    }
}
