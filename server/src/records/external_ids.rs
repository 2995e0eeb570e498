//! The senders' identifiers for our rows (`phi.external_ids`): a patient's
//! MRN under its assigning authority or FHIR identifier system, an order
//! number, a FHIR resource's business identifier. The value is sealed
//! ([`crate::keys`]) and found again through its blind index; the row's
//! identity in the associated data is (kind, system, index), which never
//! changes while the row lives (a merge moves only `entity_id`).

use tokio_postgres::{Row, Transaction};
use uuid::Uuid;

use crate::error::Result;
use crate::keys::{Column, KeySet};

/// The associated-data row id of an identifier.
fn row_id(kind: &str, system: &str, index: &[u8]) -> String {
    format!("{kind}\0{system}\0{}", hex::encode(index))
}

/// `e` (phi.external_ids) is the identifier of kind `$1`, system `$2`,
/// index `$3` or, not yet encrypted, clear value `$4`.
const MATCH: &str = "e.kind = $1 AND e.system = $2 AND (e.value_index = $3 OR (e.key_id IS NULL AND e.value = $4))";

/// Files a sender's identifier for one of our rows (moving it if it named
/// another row: the sender's word is the latest).
pub async fn link(
    tx: &Transaction<'_>,
    keys: &KeySet,
    kind: &str,
    system: &str,
    value: &str,
    entity_id: Uuid,
) -> Result<()> {
    let index = keys.external_id_index(kind, system, value);
    let clear = value.trim().as_bytes();
    let moved = tx
        .execute(
            &format!("UPDATE phi.external_ids e SET entity_id = $5 WHERE {MATCH} AND e.entity_id <> $5"),
            &[&kind, &system, &index, &clear, &entity_id],
        )
        .await?;
    if moved > 0 {
        return Ok(());
    }
    // Filed already (sealed, or still in clear from before encryption): a
    // second, sealed copy would collide with it once it is converted.
    let sealed = keys.seal_text(Column::ExternalIdValue, &row_id(kind, system, &index), value);
    tx.execute(
        &format!(
            "INSERT INTO phi.external_ids (kind, system, value, value_index, key_id, entity_id)
             SELECT $1, $2, $6, $3, $7, $5 WHERE NOT EXISTS (SELECT 1 FROM phi.external_ids e WHERE {MATCH})
             ON CONFLICT (kind, system, value_index) DO NOTHING"
        ),
        &[&kind, &system, &index, &clear, &entity_id, &sealed, &keys.current()],
    )
    .await?;
    Ok(())
}

/// Our row for a sender's identifier.
pub async fn linked(
    tx: &Transaction<'_>,
    keys: &KeySet,
    kind: &str,
    system: &str,
    value: &str,
) -> Result<Option<Uuid>> {
    let index = keys.external_id_index(kind, system, value);
    let clear = value.trim().as_bytes();
    Ok(tx
        .query_opt(
            &format!("SELECT e.entity_id FROM phi.external_ids e WHERE {MATCH}"),
            &[&kind, &system, &index, &clear],
        )
        .await?
        .map(|r| r.get(0)))
}

/// One identifier, opened: (kind, system, value, entity).
pub(crate) struct Linked {
    pub kind: String,
    pub system: String,
    pub value: String,
    pub entity_id: Uuid,
}

/// The columns [`open`] reads.
pub(crate) const COLUMNS: &str = "e.kind, e.system, e.value, e.value_index, e.key_id, e.entity_id";

/// A row of [`COLUMNS`], opened.
pub(crate) fn open(keys: &KeySet, row: &Row) -> Result<Linked> {
    let (kind, system): (String, String) = (row.get(0), row.get(1));
    let key_id: Option<i32> = row.get(4);
    let index: Option<&[u8]> = row.get(3);
    let value = keys.open_text(
        key_id,
        Column::ExternalIdValue,
        &row_id(&kind, &system, index.unwrap_or_default()),
        row.get(2),
    )?;
    Ok(Linked { kind, system, value, entity_id: row.get(5) })
}

/// Every identifier of these rows, opened, sorted by (system, value).
pub(crate) async fn of_entities(
    tx: &Transaction<'_>,
    keys: &KeySet,
    kinds: &[&str],
    ids: &[Uuid],
) -> Result<Vec<Linked>> {
    let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
    let rows = tx
        .query(
            &format!("SELECT {COLUMNS} FROM phi.external_ids e WHERE e.kind = ANY($1) AND e.entity_id = ANY($2)"),
            &[&kinds, &ids],
        )
        .await?;
    let mut out = rows.iter().map(|r| open(keys, r)).collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| (&a.system, &a.value).cmp(&(&b.system, &b.value)));
    Ok(out)
}

/// Re-seals up to `limit` identifiers not under the current key (or in
/// clear text), computing the index of those that had none.
pub(crate) async fn reseal(tx: &Transaction<'_>, keys: &KeySet, limit: i64) -> Result<u64> {
    let rows = tx
        .query(
            &format!(
                "SELECT {COLUMNS}, e.ctid::text FROM phi.external_ids e WHERE e.key_id IS NULL OR e.key_id <> $1
                  LIMIT $2 FOR UPDATE SKIP LOCKED"
            ),
            &[&keys.current(), &limit],
        )
        .await?;
    for row in &rows {
        let linked = open(keys, row)?;
        let index = keys.external_id_index(&linked.kind, &linked.system, &linked.value);
        let sealed =
            keys.seal_text(Column::ExternalIdValue, &row_id(&linked.kind, &linked.system, &index), &linked.value);
        let ctid: String = row.get(6);
        tx.execute(
            "UPDATE phi.external_ids SET value = $2, value_index = $3, key_id = $4 WHERE ctid = $1::text::tid",
            &[&ctid, &sealed, &index, &keys.current()],
        )
        .await?;
    }
    Ok(rows.len() as u64)
}
