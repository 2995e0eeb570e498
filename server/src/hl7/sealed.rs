//! Raw HL7 text and what was parsed from it, sealed in `phi.hl7_messages`
//! ([`crate::keys`]). A message's identity in the associated data is its
//! unique key (direction, sending application and facility, control id),
//! which is known before the row is written and never changes.

use tokio_postgres::{Row, Transaction};

use crate::error::Result;
use crate::keys::{Column, KeySet};

/// The associated-data row id of a message.
fn row_id(direction: &str, application: &str, facility: &str, control_id: &str) -> String {
    format!("{direction}\0{application}\0{facility}\0{control_id}")
}

/// A message sealed for its row: (key id, raw, parsed).
pub(crate) struct Sealed {
    pub key_id: i32,
    pub raw: Vec<u8>,
    pub parsed: Option<Vec<u8>>,
}

pub(crate) fn seal(
    keys: &KeySet,
    (direction, application, facility, control_id): (&str, &str, &str, &str),
    raw: &str,
    parsed: Option<&serde_json::Value>,
) -> Sealed {
    let row = row_id(direction, application, facility, control_id);
    Sealed {
        key_id: keys.current(),
        raw: keys.seal_text(Column::Hl7Raw, &row, raw),
        parsed: parsed.map(|p| keys.seal(Column::Hl7Parsed, &row, p.to_string().as_bytes())),
    }
}

/// The columns [`open_raw`] reads, from `at`.
pub(crate) const RAW: &str = "raw, key_id, direction, sending_application, sending_facility, control_id";

/// The raw text of a row selected with [`RAW`] at column `at`.
pub(crate) fn open_raw(keys: &KeySet, row: &Row, at: usize) -> Result<String> {
    let key_id: Option<i32> = row.get(at + 1);
    let id = row_id(row.get(at + 2), row.get(at + 3), row.get(at + 4), row.get(at + 5));
    Ok(keys.open_text(key_id, Column::Hl7Raw, &id, row.get(at))?)
}

/// Re-seals up to `limit` messages not under the current key (or in clear
/// text) under it.
pub(crate) async fn reseal(tx: &Transaction<'_>, keys: &KeySet, limit: i64) -> Result<u64> {
    let rows = tx
        .query(
            &format!(
                "SELECT id, parsed, {RAW} FROM phi.hl7_messages WHERE key_id IS NULL OR key_id <> $1
                  ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"
            ),
            &[&keys.current(), &limit],
        )
        .await?;
    for row in &rows {
        let id: i64 = row.get(0);
        let raw = open_raw(keys, row, 2)?;
        let key_id: Option<i32> = row.get(3);
        let key = (row.get(4), row.get(5), row.get(6), row.get(7));
        let parsed = match row.get::<_, Option<&[u8]>>(1) {
            Some(stored) => {
                let text = keys.open_text(key_id, Column::Hl7Parsed, &row_id(key.0, key.1, key.2, key.3), stored)?;
                serde_json::from_str(&text).ok()
            }
            None => None,
        };
        let sealed = seal(keys, key, &raw, parsed.as_ref());
        tx.execute(
            "UPDATE phi.hl7_messages SET raw = $2, parsed = $3, key_id = $4 WHERE id = $1",
            &[&id, &sealed.raw, &sealed.parsed, &sealed.key_id],
        )
        .await?;
    }
    Ok(rows.len() as u64)
}
