//! Medication orders: the FHIR MedicationRequest as a JSON body plus the
//! columns the service indexes (status, medication code). Written by the
//! feed (HL7 pharmacy orders, FHIR) only: workstations read them.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;
use wardbook_protocol::medication::MedicationRequest;

use super::body;
use crate::error::Result;

/// Inserts an order, or replaces it (`$1` id ... `$7` body); never moves it
/// to another patient. Returns the version.
pub(crate) const UPSERT: &str =
    "INSERT INTO medication_requests (id, patient_id, synthetic, deleted, status, medication_code, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (id) DO UPDATE SET synthetic = $3, deleted = $4, status = $5, medication_code = $6, body = $7
      WHERE medication_requests.patient_id = $2
     RETURNING version";

/// The stored order (`id`) as the feed would send it, if there is one.
pub(crate) async fn read(tx: &Transaction<'_>, id: Uuid) -> Result<Option<MedicationRequest>> {
    tx.query_opt(&super::row_query("medication_requests"), &[&id]).await?.as_ref().map(decode).transpose()
}

/// The patient's orders that are not deleted, by id.
pub(crate) async fn of_patient(tx: &Transaction<'_>, patient_id: Uuid) -> Result<Vec<MedicationRequest>> {
    let rows = tx.query(&super::patient_rows_query("medication_requests"), &[&patient_id]).await?;
    rows.iter().map(decode).collect()
}

/// One order row (see [`super`]).
pub(crate) fn decode(row: &Row) -> Result<MedicationRequest> {
    super::decode_body(row, "medication order", |o: &mut MedicationRequest| {
        (&mut o.version, &mut o.updated_at, &mut o.deleted, &mut o.synthetic)
    })
}

/// Inserts or replaces the order; the trigger sets version and updated_at.
/// `None` when the id belongs to another patient's order.
pub(crate) async fn write(tx: &Transaction<'_>, o: &MedicationRequest) -> Result<Option<i64>> {
    let body = body(o)?;
    let params: [&(dyn ToSql + Sync); 7] =
        [&o.id, &o.patient_id, &o.synthetic, &o.deleted, &o.status.as_str(), &o.medication.code, &body];
    Ok(tx.query_opt(UPSERT, &params).await?.map(|r| r.get(0)))
}
