//! The `dose_reviews` table: clinicians' reviews of possible double doses,
//! recorded at workstations and pulled from the service. Append-only; each
//! row is kept whole in `body` (see migration V7). Its rows are PHI (the
//! note): read only with an [`AuditedRead`].

use rusqlite::{Connection, params};
use uuid::Uuid;
use wardbook_protocol::medication::DoseReview;

use super::StoreError;
use super::access::AuditedRead;
use super::rows::{body_text, collect, from_body, time_text};

/// Writes to `dose_reviews`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DoseReviewsMut<'a>(pub(super) &'a Connection);

impl DoseReviewsMut<'_> {
    /// Inserts or replaces rows.
    pub(crate) fn upsert(self, rows: &[DoseReview]) -> Result<(), StoreError> {
        upsert(self.0, rows)
    }

    /// Writes a server row: a tombstone deletes.
    pub(crate) fn write(self, review: &DoseReview) -> Result<(), StoreError> {
        write(self.0, review)
    }
}

pub(super) fn write(conn: &Connection, review: &DoseReview) -> Result<(), StoreError> {
    if review.deleted {
        conn.prepare_cached("DELETE FROM dose_reviews WHERE id = ?1")?.execute([review.id.to_string()])?;
        Ok(())
    } else {
        upsert(conn, std::slice::from_ref(review))
    }
}

pub(super) fn upsert(conn: &Connection, rows: &[DoseReview]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO dose_reviews (id, version, updated_at, deleted, synthetic, patient_id, request_id, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET
             version = excluded.version, updated_at = excluded.updated_at, deleted = excluded.deleted,
             synthetic = excluded.synthetic, patient_id = excluded.patient_id,
             request_id = excluded.request_id, body = excluded.body",
    )?;
    for r in rows {
        stmt.execute(params![
            r.id.to_string(),
            r.version,
            time_text(&r.updated_at),
            r.deleted,
            r.synthetic,
            r.patient_id.to_string(),
            r.request_id.to_string(),
            body_text(r, "dose review")?,
        ])?;
    }
    Ok(())
}

/// A patient's reviews (not deleted).
pub(crate) fn for_patient(read: &AuditedRead<'_>, patient: Uuid) -> Result<Vec<DoseReview>, StoreError> {
    let mut stmt = read.conn().prepare_cached("SELECT * FROM dose_reviews WHERE patient_id = ?1 AND deleted = 0")?;
    collect(&mut stmt, [patient.to_string()], from_row)
}

/// One order's reviews (not deleted).
pub(super) fn of_order(conn: &Connection, request: Uuid) -> Result<Vec<DoseReview>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT * FROM dose_reviews WHERE request_id = ?1 AND deleted = 0")?;
    collect(&mut stmt, [request.to_string()], from_row)
}

pub(super) fn from_row(row: &rusqlite::Row<'_>) -> Result<DoseReview, StoreError> {
    from_body(row, "dose review", |r: &mut DoseReview, v| r.version = v)
}
