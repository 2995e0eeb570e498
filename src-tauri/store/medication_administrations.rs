//! The `medication_administrations` table (FHIR MedicationAdministration):
//! doses given or not given, recorded at workstations and pulled from the
//! service. Append-only facts: a row changes only to be marked
//! entered-in-error (`MedicationAdministration::may_become`). Each row is
//! kept whole in `body` (see migration V7). Its rows are PHI: read only with
//! an [`AuditedRead`] (or, for a dose being recorded or marked, an [`Edit`]).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use uuid::Uuid;
use wardbook_protocol::medication::MedicationAdministration;

use super::StoreError;
use super::access::{AuditedRead, Edit};
use super::rows::{body_text, collect, from_body, get_uuid, time_text};

/// Writes to `medication_administrations`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MedicationAdministrationsMut<'a>(pub(super) &'a Connection);

impl MedicationAdministrationsMut<'_> {
    /// Inserts or replaces rows.
    pub(crate) fn upsert(self, rows: &[MedicationAdministration]) -> Result<(), StoreError> {
        upsert(self.0, rows)
    }

    /// Writes a server row: a tombstone deletes.
    pub(crate) fn write(self, administration: &MedicationAdministration) -> Result<(), StoreError> {
        write(self.0, administration)
    }
}

pub(super) fn write(conn: &Connection, administration: &MedicationAdministration) -> Result<(), StoreError> {
    if administration.deleted {
        conn.prepare_cached("DELETE FROM medication_administrations WHERE id = ?1")?
            .execute([administration.id.to_string()])?;
        Ok(())
    } else {
        upsert(conn, std::slice::from_ref(administration))
    }
}

pub(super) fn upsert(conn: &Connection, rows: &[MedicationAdministration]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO medication_administrations (id, version, updated_at, deleted, synthetic, patient_id,
             request_id, due_at, status, given_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET
             version = excluded.version, updated_at = excluded.updated_at, deleted = excluded.deleted,
             synthetic = excluded.synthetic, patient_id = excluded.patient_id,
             request_id = excluded.request_id, due_at = excluded.due_at, status = excluded.status,
             given_at = excluded.given_at, body = excluded.body",
    )?;
    for a in rows {
        stmt.execute(params![
            a.id.to_string(),
            a.version,
            time_text(&a.updated_at),
            a.deleted,
            a.synthetic,
            a.patient_id.to_string(),
            a.request_id.to_string(),
            a.due_at.as_ref().map(time_text),
            a.status.as_str(),
            time_text(&a.given_at),
            body_text(a, "medication administration")?,
        ])?;
    }
    Ok(())
}

/// The administration an edit marks (not deleted).
pub(crate) fn for_edit(edit: &Edit<'_>, id: Uuid) -> Result<Option<MedicationAdministration>, StoreError> {
    let mut stmt =
        edit.conn().prepare_cached("SELECT * FROM medication_administrations WHERE id = ?1 AND deleted = 0")?;
    Ok(collect(&mut stmt, [id.to_string()], from_row)?.pop())
}

/// Every administration of one order (not deleted): what the checks before
/// a new dose compare with.
pub(crate) fn of_order_for_edit(edit: &Edit<'_>, request: Uuid) -> Result<Vec<MedicationAdministration>, StoreError> {
    of_order(edit.conn(), request)
}

pub(super) fn of_order(conn: &Connection, request: Uuid) -> Result<Vec<MedicationAdministration>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM medication_administrations WHERE request_id = ?1 AND deleted = 0 ORDER BY given_at",
    )?;
    collect(&mut stmt, [request.to_string()], from_row)
}

/// A patient's administrations (not deleted), oldest first.
pub(crate) fn for_patient(read: &AuditedRead<'_>, patient: Uuid) -> Result<Vec<MedicationAdministration>, StoreError> {
    let mut stmt = read.conn().prepare_cached(
        "SELECT * FROM medication_administrations WHERE patient_id = ?1 AND deleted = 0 ORDER BY given_at",
    )?;
    collect(&mut stmt, [patient.to_string()], from_row)
}

/// Administrations answering a due time in `[from, to)`, of every cached
/// patient (of `location` when given): what the census's "next due" and
/// overdue count compare the due times with, in one query.
pub(super) fn due_in_census(
    conn: &Connection,
    location: Option<&str>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<MedicationAdministration>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.* FROM medication_administrations a JOIN patients p ON p.id = a.patient_id
         WHERE a.due_at >= ?2 AND a.due_at < ?3 AND a.deleted = 0 AND p.deleted = 0
           AND (?1 IS NULL OR p.location = ?1)",
    )?;
    collect(&mut stmt, params![location, time_text(&from), time_text(&to)], from_row)
}

/// Orders (patient, order) that may have a double dose: two records counted
/// as given for one due time of a scheduled order, or two consecutive given
/// doses of a PRN order closer than its minimum interval (a second's slack:
/// SQLite's day fractions are coarser than a microsecond). A superset: the
/// caller asks `medication::double_doses`, the one rule, of each (it also
/// knows the reviews). Identifiers only, so no audit is needed for it; rare
/// rows, so the rule reads few.
pub(super) fn double_dose_candidates(conn: &Connection) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        // Both halves read covering partial indexes (local migration V10):
        // the given doses grouped by due time, without a row; and only the
        // PRN orders' doses, in order. The whole table is never read, and
        // neither are the doses' bodies: this runs for every census and
        // every status-bar refresh.
        "SELECT g.patient_id, g.request_id FROM (
             SELECT patient_id, request_id, due_at FROM medication_administrations
              WHERE status = 'completed' AND deleted = 0 AND due_at IS NOT NULL
              GROUP BY request_id, due_at, patient_id HAVING count(*) >= 2) g
           JOIN medication_requests r ON r.id = g.request_id
          WHERE r.prn_min_interval_minutes IS NULL
         UNION
         SELECT patient_id, request_id FROM (
             SELECT a.patient_id, a.request_id, a.given_at, r.prn_min_interval_minutes AS interval,
                    lag(a.given_at) OVER (PARTITION BY a.request_id ORDER BY a.given_at, a.id) AS previous
             FROM medication_requests r CROSS JOIN medication_administrations a ON a.request_id = r.id
             WHERE r.prn_min_interval_minutes IS NOT NULL AND a.status = 'completed' AND a.deleted = 0)
         WHERE previous IS NOT NULL
           AND (julianday(given_at) - julianday(previous)) * 1440.0 < interval + 1.0 / 60.0",
    )?;
    collect(&mut stmt, [], |row| Ok((get_uuid(row, "patient_id")?, get_uuid(row, "request_id")?)))
}

pub(super) fn from_row(row: &rusqlite::Row<'_>) -> Result<MedicationAdministration, StoreError> {
    from_body(row, "medication administration", |a: &mut MedicationAdministration, v| a.version = v)
}
