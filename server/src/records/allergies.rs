//! Allergies: the resource as a JSON body plus the columns the service
//! indexes and checks (criticality, clinical and verification status).

use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement, Transaction};
use uuid::Uuid;
use wardbook_protocol::Allergy;

use super::{body, body_text};
use crate::error::Result;

/// The version and patient, locked for a mutation (`$1` the id).
pub(crate) const CURRENT: &str = "SELECT version, patient_id FROM allergies WHERE id = $1 FOR UPDATE";

/// Inserts an allergy with the parameters of [`write()`].
pub(crate) const INSERT: &str =
    "INSERT INTO allergies (id, patient_id, synthetic, deleted, criticality, clinical_status, verification_status, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING version";

/// Updates an allergy with the parameters of [`write()`]; never moves it to
/// another patient.
pub(crate) const UPDATE: &str =
    "UPDATE allergies SET synthetic = $3, deleted = $4, criticality = $5, clinical_status = $6,
                    verification_status = $7, body = $8 WHERE id = $1 AND patient_id = $2 RETURNING version";

/// Inserts many allergies in one statement, from arrays of the parameters
/// of [`write()`] (see [`write_many`]).
pub(crate) const INSERT_MANY: &str =
    "INSERT INTO allergies (id, patient_id, synthetic, deleted, criticality, clinical_status, verification_status, body)
     SELECT id, patient_id, synthetic, deleted, criticality, clinical_status, verification_status, body::jsonb
       FROM UNNEST($1::uuid[], $2::uuid[], $3::bool[], $4::bool[], $5::text[], $6::text[], $7::text[], $8::text[])
            AS u (id, patient_id, synthetic, deleted, criticality, clinical_status, verification_status, body)
     RETURNING id, version";

/// Updates many allergies in one statement, as [`UPDATE`] does one.
pub(crate) const UPDATE_MANY: &str = "UPDATE allergies a
        SET synthetic = u.synthetic, deleted = u.deleted, criticality = u.criticality,
            clinical_status = u.clinical_status, verification_status = u.verification_status, body = u.body::jsonb
       FROM UNNEST($1::uuid[], $2::uuid[], $3::bool[], $4::bool[], $5::text[], $6::text[], $7::text[], $8::text[])
            AS u (id, patient_id, synthetic, deleted, criticality, clinical_status, verification_status, body)
      WHERE a.id = u.id AND a.patient_id = u.patient_id
     RETURNING a.id, a.version";

/// The stored allergy (`id`) as the feed would send it.
pub(crate) async fn read(tx: &Transaction<'_>, id: Uuid) -> Result<Allergy> {
    decode(&tx.query_one(&super::row_query("allergies"), &[&id]).await?)
}

/// The patient's allergies that are not deleted, by id.
pub(crate) async fn of_patient(tx: &Transaction<'_>, patient_id: Uuid) -> Result<Vec<Allergy>> {
    let rows = tx.query(&super::patient_rows_query("allergies"), &[&patient_id]).await?;
    rows.iter().map(decode).collect()
}

/// One allergy row (see [`super`]): the stored body with the server-managed
/// fields laid over it.
pub(crate) fn decode(row: &Row) -> Result<Allergy> {
    let (id, json) = super::id_and_json(row);
    let mut allergy = serde_json::from_str::<Allergy>(json).map_err(|_| super::corrupt("allergy", id))?;
    (allergy.version, allergy.updated_at, allergy.deleted, allergy.synthetic) =
        (row.get(3), row.get(4), row.get(5), row.get(6));
    Ok(allergy)
}

/// Inserts or updates with [`INSERT`] or [`UPDATE`] prepared as `statement`;
/// the trigger sets version and updated_at.
pub(crate) async fn write(tx: &Transaction<'_>, a: &Allergy, statement: &Statement) -> Result<i64> {
    let body = body(a)?;
    let params: [&(dyn ToSql + Sync); 8] = [
        &a.id,
        &a.patient_id,
        &a.synthetic,
        &a.deleted,
        &a.criticality.as_str(),
        &a.clinical_status.as_str(),
        &a.verification_status.as_str(),
        &body,
    ];
    Ok(tx.query_one(statement, &params).await?.get(0))
}

/// Inserts or updates `allergies` with [`INSERT_MANY`] or [`UPDATE_MANY`]
/// prepared as `statement`: one statement for all of them. Returns each
/// written row's id and the version the trigger gave it (none written,
/// no statement sent, for none given).
pub(crate) async fn write_many(
    tx: &Transaction<'_>,
    allergies: &[&Allergy],
    statement: &Statement,
) -> Result<Vec<(Uuid, i64)>> {
    if allergies.is_empty() {
        return Ok(Vec::new());
    }
    let n = allergies.len();
    let (mut ids, mut patients, mut synthetic, mut deleted) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut criticality, mut clinical, mut verification, mut bodies) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for a in allergies {
        ids.push(a.id);
        patients.push(a.patient_id);
        synthetic.push(a.synthetic);
        deleted.push(a.deleted);
        criticality.push(a.criticality.as_str());
        clinical.push(a.clinical_status.as_str());
        verification.push(a.verification_status.as_str());
        bodies.push(body_text(a)?);
    }
    let params: [&(dyn ToSql + Sync); 8] =
        [&ids, &patients, &synthetic, &deleted, &criticality, &clinical, &verification, &bodies];
    let rows = tx.query(statement, &params).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
