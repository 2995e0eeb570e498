//! The data keys in PostgreSQL (`data_keys`): created by `keys init`, made
//! current by `keys rotate`, re-wrapped by `keys rotate-kek`, retired once no
//! row uses them; and the rows each key seals, for `keys status`, health and
//! the compliance report.

use std::collections::HashMap;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use rand::RngCore;
use tokio_postgres::GenericClient;
use wardbook_protocol::api::{EncryptionStatus, KeyRows};
use zeroize::Zeroizing;

use super::{Kek, KeyError, KeySet};
use crate::error::Result;

/// The tables whose rows carry a `key_id`.
pub const SEALED_TABLES: [&str; 3] = ["phi.patient_identities", "phi.external_ids", "phi.hl7_messages"];

/// Serialises key creation and rotation across processes.
const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('wardbook data keys'))";

fn new_key() -> Zeroizing<Vec<u8>> {
    let mut key = Zeroizing::new(vec![0u8; 32]);
    rand::rng().fill_bytes(&mut key);
    key
}

async fn insert_key(db: &impl GenericClient, kek: &Kek, purpose: &str) -> Result<i32> {
    let id: i32 = db.query_one("SELECT coalesce(max(id), 0) + 1 FROM data_keys", &[]).await?.get(0);
    let key = new_key();
    db.execute("UPDATE data_keys SET current = false WHERE purpose = $1 AND current", &[&purpose]).await?;
    db.execute(
        "INSERT INTO data_keys (id, purpose, wrapped, kek_fingerprint, current) VALUES ($1, $2, $3, $4, true)",
        &[&id, &purpose, &kek.wrap(id, purpose, &key), &kek.fingerprint()],
    )
    .await?;
    Ok(id)
}

/// `keys init`: the first data key and the index key. Refused when the
/// database has keys already.
pub async fn init(db: &mut tokio_postgres::Client, kek: &Kek) -> Result<()> {
    let tx = db.transaction().await?;
    tx.execute(LOCK, &[]).await?;
    let existing: i64 = tx.query_one("SELECT count(*) FROM data_keys", &[]).await?.get(0);
    if existing > 0 {
        return Err(KeyError::AlreadyInitialised.into());
    }
    insert_key(&tx, kek, "data").await?;
    insert_key(&tx, kek, "index").await?;
    tx.commit().await?;
    tracing::info!(kek = %kek.fingerprint(), "encryption keys created");
    Ok(())
}

/// Unwraps every live key. A KEK other than the one that wrapped them is
/// named as such; nothing is read or written then.
pub async fn load(db: &impl GenericClient, kek: &Kek) -> Result<KeySet> {
    let rows = db
        .query(
            "SELECT id, purpose, wrapped, kek_fingerprint, current FROM data_keys WHERE retired_at IS NULL ORDER BY id",
            &[],
        )
        .await?;
    if rows.is_empty() {
        return Err(KeyError::NotInitialised.into());
    }
    let mut data = HashMap::new();
    let (mut current, mut index) = (None, None);
    for row in &rows {
        let (id, purpose, wrapped, fingerprint, is_current): (i32, String, Vec<u8>, String, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        if fingerprint != kek.fingerprint() {
            return Err(KeyError::WrongKek {
                path: kek.path().display().to_string(),
                found: kek.fingerprint().to_owned(),
                expected: fingerprint,
            }
            .into());
        }
        let key = kek.unwrap(id, &purpose, &wrapped).ok_or(KeyError::DamagedKey { key_id: id })?;
        match purpose.as_str() {
            "index" if is_current => index = Some(key),
            "index" => {}
            _ => {
                data.insert(id, Aes256Gcm::new_from_slice(&key).map_err(|_| KeyError::DamagedKey { key_id: id })?);
                if is_current {
                    current = Some(id);
                }
            }
        }
    }
    match (current, index) {
        (Some(current), Some(index)) => Ok(KeySet { current, data, index }),
        _ => Err(KeyError::NotInitialised.into()),
    }
}

/// `keys rotate`: a new data key becomes current. Rows move to it in the
/// background ([`super::reencrypt`]). Returns the new key's id.
pub async fn rotate(db: &mut tokio_postgres::Client, kek: &Kek) -> Result<i32> {
    let tx = db.transaction().await?;
    tx.execute(LOCK, &[]).await?;
    load(&tx, kek).await?; // the right KEK, and keys to rotate
    let id = insert_key(&tx, kek, "data").await?;
    tx.commit().await?;
    tracing::info!(key_id = id, "new data key is current; rows are re-encrypted in the background");
    Ok(id)
}

/// `keys rotate-kek`: every live key re-wrapped under `new`; no row changes.
pub async fn rotate_kek(db: &mut tokio_postgres::Client, old: &Kek, new: &Kek) -> Result<usize> {
    let tx = db.transaction().await?;
    tx.execute(LOCK, &[]).await?;
    load(&tx, old).await?;
    let rows = tx.query("SELECT id, purpose, wrapped FROM data_keys WHERE retired_at IS NULL", &[]).await?;
    for row in &rows {
        let (id, purpose, wrapped): (i32, String, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
        let key = old.unwrap(id, &purpose, &wrapped).ok_or(KeyError::DamagedKey { key_id: id })?;
        tx.execute(
            "UPDATE data_keys SET wrapped = $2, kek_fingerprint = $3 WHERE id = $1",
            &[&id, &new.wrap(id, &purpose, &key), &new.fingerprint()],
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(keys = rows.len(), kek = %new.fingerprint(), "data keys re-wrapped under a new key-encryption key");
    Ok(rows.len())
}

/// Retires (destroys) every data key that is not current and seals no row.
pub async fn retire_unused(db: &impl GenericClient) -> Result<Vec<i32>> {
    let uses: String = SEALED_TABLES
        .iter()
        .map(|t| format!("NOT EXISTS (SELECT 1 FROM {t} WHERE key_id = k.id)"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let rows = db
        .query(
            &format!(
                "UPDATE data_keys k SET wrapped = NULL, retired_at = now()
                  WHERE k.purpose = 'data' AND NOT k.current AND k.retired_at IS NULL AND {uses}
              RETURNING k.id"
            ),
            &[],
        )
        .await?;
    let ids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    for id in &ids {
        tracing::info!(key_id = id, "data key retired: no row uses it");
    }
    Ok(ids)
}

/// Rows per key, in clear text and not yet under the current key.
pub async fn status(db: &impl GenericClient, throwaway_kek: bool) -> Result<EncryptionStatus> {
    let counts: String = SEALED_TABLES
        .iter()
        .map(|t| format!("SELECT key_id, count(*) AS n FROM {t} GROUP BY key_id"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let per_key = db.query(&format!("SELECT key_id, sum(n)::bigint FROM ({counts}) c GROUP BY key_id"), &[]).await?;
    let mut rows_of: HashMap<Option<i32>, i64> = HashMap::new();
    for row in &per_key {
        rows_of.insert(row.get(0), row.get(1));
    }
    let keys = db
        .query(
            "SELECT id, current, retired_at IS NOT NULL, created_at FROM data_keys WHERE purpose = 'data' ORDER BY id",
            &[],
        )
        .await?;
    let mut current_key_id = None;
    let mut list = Vec::new();
    for k in &keys {
        let (id, current, retired): (i32, bool, bool) = (k.get(0), k.get(1), k.get(2));
        if current {
            current_key_id = Some(id);
        }
        let state = if current {
            "current"
        } else if retired {
            "retired"
        } else {
            "active"
        };
        list.push(KeyRows {
            key_id: id,
            state: state.to_owned(),
            rows: rows_of.get(&Some(id)).copied().unwrap_or(0),
            created_at: k.get(3),
        });
    }
    let clear_rows = rows_of.get(&None).copied().unwrap_or(0);
    let pending_rows = rows_of.iter().filter(|(k, _)| **k != current_key_id || k.is_none()).map(|(_, n)| n).sum();
    Ok(EncryptionStatus { current_key_id, keys: list, clear_rows, pending_rows, throwaway_kek })
}
