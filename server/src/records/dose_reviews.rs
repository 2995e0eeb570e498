//! Reviews of possible double doses: append-only, written by workstations.

use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement, Transaction};
use uuid::Uuid;
use wardbook_protocol::medication::DoseReview;

use super::body;
use crate::error::Result;

/// The version and patient, locked for a mutation (`$1` the id).
pub(crate) const CURRENT: &str = "SELECT version, patient_id FROM dose_reviews WHERE id = $1 FOR UPDATE";

/// Inserts a review with the parameters of [`write()`].
pub(crate) const INSERT: &str = "INSERT INTO dose_reviews (id, patient_id, synthetic, deleted, request_id, body)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING version";

/// The stored review (`id`) as the feed would send it.
pub(crate) async fn read(tx: &Transaction<'_>, id: Uuid) -> Result<DoseReview> {
    decode(&tx.query_one(&super::row_query("dose_reviews"), &[&id]).await?)
}

/// One review row (see [`super`]).
pub(crate) fn decode(row: &Row) -> Result<DoseReview> {
    super::decode_body(row, "dose review", |r: &mut DoseReview| {
        (&mut r.version, &mut r.updated_at, &mut r.deleted, &mut r.synthetic)
    })
}

/// Inserts with [`INSERT`] prepared as `statement`.
pub(crate) async fn write(tx: &Transaction<'_>, r: &DoseReview, statement: &Statement) -> Result<i64> {
    let body = body(r)?;
    let params: [&(dyn ToSql + Sync); 6] = [&r.id, &r.patient_id, &r.synthetic, &r.deleted, &r.request_id, &body];
    Ok(tx.query_one(statement, &params).await?.get(0))
}
