//! Administrations: the FHIR MedicationAdministration as a JSON body plus
//! the columns the service indexes (order, status, due and given times).
//! Append-only: a stored record is updated only to mark it entered-in-error
//! ([`MedicationAdministration::may_become`], checked by the push).

use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement, Transaction};
use uuid::Uuid;
use wardbook_protocol::medication::MedicationAdministration;

use super::body;
use crate::error::Result;

/// The version and patient, locked for a mutation (`$1` the id).
pub(crate) const CURRENT: &str = "SELECT version, patient_id FROM medication_administrations WHERE id = $1 FOR UPDATE";

/// Inserts an administration with the parameters of [`write()`].
pub(crate) const INSERT: &str = "INSERT INTO medication_administrations
       (id, patient_id, synthetic, deleted, request_id, status, due_at, given_at, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING version";

/// Updates one (to entered-in-error) with the parameters of [`write()`];
/// never moves it to another patient or order.
pub(crate) const UPDATE: &str = "UPDATE medication_administrations
        SET synthetic = $3, deleted = $4, status = $6, due_at = $7, given_at = $8, body = $9
      WHERE id = $1 AND patient_id = $2 AND request_id = $5 RETURNING version";

/// The patient of an order (`$1`), to check an administration names an
/// order of its own patient.
pub(crate) const ORDER_PATIENT: &str = "SELECT patient_id FROM medication_requests WHERE id = $1";

/// The stored administration (`id`) as the feed would send it.
pub(crate) async fn read(tx: &Transaction<'_>, id: Uuid) -> Result<MedicationAdministration> {
    decode(&tx.query_one(&super::row_query("medication_administrations"), &[&id]).await?)
}

/// The patient's administrations that are not deleted, by id.
pub(crate) async fn of_patient(tx: &Transaction<'_>, patient_id: Uuid) -> Result<Vec<MedicationAdministration>> {
    let rows = tx.query(&super::patient_rows_query("medication_administrations"), &[&patient_id]).await?;
    rows.iter().map(decode).collect()
}

/// One administration row (see [`super`]).
pub(crate) fn decode(row: &Row) -> Result<MedicationAdministration> {
    super::decode_body(row, "medication administration", |a: &mut MedicationAdministration| {
        (&mut a.version, &mut a.updated_at, &mut a.deleted, &mut a.synthetic)
    })
}

/// Inserts or updates with [`INSERT`] or [`UPDATE`] prepared as `statement`.
pub(crate) async fn write(tx: &Transaction<'_>, a: &MedicationAdministration, statement: &Statement) -> Result<i64> {
    let body = body(a)?;
    let params: [&(dyn ToSql + Sync); 9] = [
        &a.id,
        &a.patient_id,
        &a.synthetic,
        &a.deleted,
        &a.request_id,
        &a.status.as_str(),
        &a.due_at,
        &a.given_at,
        &body,
    ];
    Ok(tx.query_one(statement, &params).await?.get(0))
}
