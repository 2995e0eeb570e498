//! The `medication_requests` table (FHIR MedicationRequest): medication
//! orders, written only by the pull (workstations never write orders). Each
//! row is kept whole in `body` (see migration V7 for why). Its rows are PHI:
//! read only with an [`AuditedRead`] (or, for the order a dose is recorded
//! against, an [`Edit`]).

use rusqlite::{Connection, params};
use uuid::Uuid;
use wardbook_protocol::medication::{MedicationRequest, Timing};

use super::StoreError;
use super::access::{AuditedRead, Edit};
use super::rows::{body_text, collect, from_body, time_text};

/// Writes to `medication_requests`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MedicationRequestsMut<'a>(pub(super) &'a Connection);

impl MedicationRequestsMut<'_> {
    /// Writes a server row: a tombstone deletes.
    pub(crate) fn write(self, order: &MedicationRequest) -> Result<(), StoreError> {
        if order.deleted {
            self.0.prepare_cached("DELETE FROM medication_requests WHERE id = ?1")?.execute([order.id.to_string()])?;
            Ok(())
        } else {
            upsert(self.0, std::slice::from_ref(order))
        }
    }
}

pub(super) fn upsert(conn: &Connection, rows: &[MedicationRequest]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO medication_requests (id, version, updated_at, deleted, synthetic, patient_id, status,
             prn_min_interval_minutes, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET
             version = excluded.version, updated_at = excluded.updated_at, deleted = excluded.deleted,
             synthetic = excluded.synthetic, patient_id = excluded.patient_id, status = excluded.status,
             prn_min_interval_minutes = excluded.prn_min_interval_minutes, body = excluded.body",
    )?;
    for r in rows {
        let prn_interval = match r.timing {
            Timing::Prn { min_interval_minutes, .. } => Some(min_interval_minutes),
            _ => None,
        };
        stmt.execute(params![
            r.id.to_string(),
            r.version,
            time_text(&r.updated_at),
            r.deleted,
            r.synthetic,
            r.patient_id.to_string(),
            r.status.as_str(),
            prn_interval,
            body_text(r, "medication order")?,
        ])?;
    }
    Ok(())
}

/// The order a dose is recorded against (not deleted).
pub(crate) fn for_edit(edit: &Edit<'_>, id: Uuid) -> Result<Option<MedicationRequest>, StoreError> {
    get_in(edit.conn(), id)
}

/// One order by id (not deleted).
pub(super) fn get_in(conn: &Connection, id: Uuid) -> Result<Option<MedicationRequest>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT * FROM medication_requests WHERE id = ?1 AND deleted = 0")?;
    Ok(collect(&mut stmt, [id.to_string()], from_row)?.pop())
}

/// A patient's orders that are not deleted, whatever their status.
pub(crate) fn for_patient(read: &AuditedRead<'_>, patient: Uuid) -> Result<Vec<MedicationRequest>, StoreError> {
    let mut stmt =
        read.conn().prepare_cached("SELECT * FROM medication_requests WHERE patient_id = ?1 AND deleted = 0")?;
    collect(&mut stmt, [patient.to_string()], from_row)
}

/// A patient's current orders (active or on hold), by name: the downtime summary's list.
pub(crate) fn current_for_patient(read: &AuditedRead<'_>, patient: Uuid) -> Result<Vec<MedicationRequest>, StoreError> {
    let mut orders: Vec<MedicationRequest> =
        for_patient(read, patient)?.into_iter().filter(MedicationRequest::is_current).collect();
    orders.sort_by_key(|o| (o.medication.display.to_lowercase(), o.id));
    Ok(orders)
}

/// The active orders of every cached patient (of `location` when given):
/// what the census's "next due" is computed from, in one query.
pub(super) fn active_of_census(
    conn: &Connection,
    location: Option<&str>,
) -> Result<Vec<MedicationRequest>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.* FROM medication_requests r JOIN patients p ON p.id = r.patient_id
         WHERE r.deleted = 0 AND r.status = 'active' AND p.deleted = 0 AND (?1 IS NULL OR p.location = ?1)",
    )?;
    collect(&mut stmt, [location], from_row)
}

pub(super) fn from_row(row: &rusqlite::Row<'_>) -> Result<MedicationRequest, StoreError> {
    from_body(row, "medication order", |r: &mut MedicationRequest, v| r.version = v)
}
