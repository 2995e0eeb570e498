//! Observations: the resource as a JSON body plus the columns the service
//! indexes and checks (category, code, status, effective_at).

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Statement, Transaction};
use uuid::Uuid;
use wardbook_protocol::Observation;

use super::{body, body_text};
use crate::error::Result;

/// The version and patient, locked for a mutation (`$1` the id).
pub(crate) const CURRENT: &str = "SELECT version, patient_id FROM observations WHERE id = $1 FOR UPDATE";

/// Inserts an observation from its [`ObservationColumns`].
pub(crate) const INSERT: &str =
    "INSERT INTO observations (id, patient_id, synthetic, deleted, category, code, status, effective_at, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING version";

/// Updates an observation from its [`ObservationColumns`]; never moves it to
/// another patient.
pub(crate) const UPDATE: &str =
    "UPDATE observations SET synthetic = $3, deleted = $4, category = $5, code = $6, status = $7,
                    effective_at = $8, body = $9 WHERE id = $1 AND patient_id = $2 RETURNING version";

/// Inserts many observations in one statement, from arrays of their
/// [`ObservationColumns`] (see [`write_many`]).
pub(crate) const INSERT_MANY: &str =
    "INSERT INTO observations (id, patient_id, synthetic, deleted, category, code, status, effective_at, body)
     SELECT id, patient_id, synthetic, deleted, category, code, status, effective_at, body::jsonb
       FROM UNNEST($1::uuid[], $2::uuid[], $3::bool[], $4::bool[], $5::text[], $6::text[], $7::text[],
                   $8::timestamptz[], $9::text[])
            AS u (id, patient_id, synthetic, deleted, category, code, status, effective_at, body)
     RETURNING id, version";

/// Updates many observations in one statement, as [`UPDATE`] does one.
pub(crate) const UPDATE_MANY: &str = "UPDATE observations o
        SET synthetic = u.synthetic, deleted = u.deleted, category = u.category, code = u.code, status = u.status,
            effective_at = u.effective_at, body = u.body::jsonb
       FROM UNNEST($1::uuid[], $2::uuid[], $3::bool[], $4::bool[], $5::text[], $6::text[], $7::text[],
                   $8::timestamptz[], $9::text[])
            AS u (id, patient_id, synthetic, deleted, category, code, status, effective_at, body)
      WHERE o.id = u.id AND o.patient_id = u.patient_id
     RETURNING o.id, o.version";

/// The stored observation (`id`) as the feed would send it.
pub(crate) async fn read(tx: &Transaction<'_>, id: Uuid) -> Result<Observation> {
    decode(&tx.query_one(&super::row_query("observations"), &[&id]).await?)
}

/// The patient's observations that are not deleted, by id.
pub(crate) async fn of_patient(tx: &Transaction<'_>, patient_id: Uuid) -> Result<Vec<Observation>> {
    let rows = tx.query(&super::patient_rows_query("observations"), &[&patient_id]).await?;
    rows.iter().map(decode).collect()
}

/// One observation row (see [`super`]): the stored body with the
/// server-managed fields laid over it.
pub(crate) fn decode(row: &Row) -> Result<Observation> {
    let (id, json) = super::id_and_json(row);
    let mut observation = serde_json::from_str::<Observation>(json).map_err(|_| super::corrupt("observation", id))?;
    (observation.version, observation.updated_at, observation.deleted, observation.synthetic) =
        (row.get(3), row.get(4), row.get(5), row.get(6));
    Ok(observation)
}

/// Inserts or updates with [`INSERT`] or [`UPDATE`] prepared as `statement`;
/// the trigger sets version and updated_at.
pub(crate) async fn write(tx: &Transaction<'_>, observation: &Observation, statement: &Statement) -> Result<i64> {
    let columns = ObservationColumns::new(observation)?;
    Ok(tx.query_one(statement, &columns.params()).await?.get(0))
}

/// Inserts or updates `observations` with [`INSERT_MANY`] or [`UPDATE_MANY`]
/// prepared as `statement`: one statement for all of them. Returns each
/// written row's id and the version the trigger gave it (none written,
/// no statement sent, for none given).
pub(crate) async fn write_many(
    tx: &Transaction<'_>,
    observations: &[&Observation],
    statement: &Statement,
) -> Result<Vec<(Uuid, i64)>> {
    if observations.is_empty() {
        return Ok(Vec::new());
    }
    let n = observations.len();
    let (mut ids, mut patients, mut synthetic, mut deleted) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut categories, mut codes, mut statuses, mut effective, mut bodies) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for o in observations {
        ids.push(o.id);
        patients.push(o.patient_id);
        synthetic.push(o.synthetic);
        deleted.push(o.deleted);
        categories.push(o.category.as_str());
        codes.push(o.code.code.as_str());
        statuses.push(o.status.as_str());
        effective.push(o.effective_at);
        bodies.push(body_text(o)?);
    }
    let params: [&(dyn ToSql + Sync); 9] =
        [&ids, &patients, &synthetic, &deleted, &categories, &codes, &statuses, &effective, &bodies];
    let rows = tx.query(statement, &params).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Inserts `observations` by binary COPY (a million take seconds) and
/// returns how many.
pub(crate) async fn copy_in(tx: &Transaction<'_>, observations: &[Observation]) -> Result<u64> {
    let sink = tx
        .copy_in(
            "COPY observations (id, patient_id, synthetic, deleted, category, code, status, effective_at, body)
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    let types = [
        Type::UUID,
        Type::UUID,
        Type::BOOL,
        Type::BOOL,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::JSONB,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    for o in observations {
        writer.as_mut().write(&ObservationColumns::new(o)?.params()).await?;
    }
    Ok(writer.as_mut().finish().await?)
}

/// An observation as the `observations` table's columns, in the order
/// (id, patient_id, synthetic, deleted, category, code, status,
/// effective_at, body) every insert, update and COPY uses.
struct ObservationColumns<'a> {
    observation: &'a Observation,
    category: &'static str,
    status: &'static str,
    body: serde_json::Value,
}

impl<'a> ObservationColumns<'a> {
    fn new(observation: &'a Observation) -> Result<Self> {
        Ok(ObservationColumns {
            observation,
            category: observation.category.as_str(),
            status: observation.status.as_str(),
            body: body(observation)?,
        })
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 9] {
        let o = self.observation;
        [
            &o.id,
            &o.patient_id,
            &o.synthetic,
            &o.deleted,
            &self.category,
            &o.code.code,
            &self.status,
            &o.effective_at,
            &self.body,
        ]
    }
}
