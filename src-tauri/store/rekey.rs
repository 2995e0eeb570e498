//! Opening with the key store, and changing the key, so that no crash
//! leaves a database that no stored key opens.
//!
//! `rekey` runs four steps; the keyring holds a key that opens the database
//! after each of them:
//! 1. save the new key in the *pending* slot;
//! 2. `PRAGMA rekey` (SQLCipher re-encrypts every page in one transaction);
//! 3. save the new key in the *current* slot;
//! 4. delete the pending slot.
//!
//! `open_with_keys` completes or discards an interrupted rekey: if the
//! current key cannot decrypt and a pending key can, the pending key is
//! promoted; if the current key works, a leftover pending key is dropped.

use std::path::Path;

use rusqlite::Connection;

use super::checkpoints::Checkpoints;
use super::{OpenReport, Store, StoreError};
use crate::keys::{DbKey, KeySlot, KeyStore};

/// Opens the database at `path` with the key in `keys`, creating both on
/// first start. A database without a stored key is never recreated.
pub fn open_with_keys(
    path: &Path,
    quarantine_dir: &Path,
    keys: &dyn KeyStore,
) -> Result<(Store, OpenReport), StoreError> {
    let exists = std::fs::metadata(path).map(|m| m.len() > 0).unwrap_or(false);
    let current = keys.load(KeySlot::Current)?;
    let pending = keys.load(KeySlot::Pending)?;
    let Some(current) = current else {
        if let Some(pending) = pending {
            return promote(path, quarantine_dir, keys, &pending);
        }
        if exists {
            return Err(StoreError::KeyMissing { path: path.to_path_buf() });
        }
        let key = DbKey::generate();
        keys.save(KeySlot::Current, &key)?;
        // Only create the database once the key is known to read back.
        if keys.load(KeySlot::Current)?.as_ref() != Some(&key) {
            return Err(StoreError::Key(crate::keys::KeyError::SelfTestMismatch {
                tried: "the configured key store",
                hint: "the new database key did not read back; nothing was created.",
            }));
        }
        tracing::info!("created a new database key");
        return Store::open(path, &key, quarantine_dir);
    };
    match (Store::open(path, &current, quarantine_dir), pending) {
        (Ok(opened), pending) => {
            if pending.is_some() {
                tracing::warn!("discarding the key of a rekey that did not happen");
                keys.delete(KeySlot::Pending)?;
            }
            Ok(opened)
        }
        (Err(StoreError::CannotDecrypt { .. }), Some(pending)) => promote(path, quarantine_dir, keys, &pending),
        (Err(e), _) => Err(e),
    }
}

fn promote(
    path: &Path,
    quarantine_dir: &Path,
    keys: &dyn KeyStore,
    pending: &DbKey,
) -> Result<(Store, OpenReport), StoreError> {
    let opened = Store::open(path, pending, quarantine_dir)?;
    tracing::warn!("completing an interrupted rekey");
    keys.save(KeySlot::Current, pending)?;
    keys.delete(KeySlot::Pending)?;
    Ok(opened)
}

/// Re-encrypts the database with a fresh key and stores that key.
pub fn rekey(store: &mut Store, keys: &dyn KeyStore) -> Result<(), StoreError> {
    let new_key = DbKey::generate();
    keys.save(KeySlot::Pending, &new_key)?;
    // Leaving WAL needs the only connection to the file: close the integrity
    // check's and the checkpoint thread's (both hold the old key anyway).
    drop(store.take_integrity_check());
    drop(store.checkpoints.take());
    let rekeyed = reencrypt(store.conn_mut(), &new_key);
    store.checkpoints = match rekeyed {
        Ok(()) => Checkpoints::start(&store.path, &new_key)
            .inspect_err(|e| tracing::warn!(code = e.code(), "the checkpoint thread could not restart"))
            .ok(),
        Err(_) => None,
    };
    if store.checkpoints.is_none() {
        // No thread (after a failed rekey this code does not know the key that
        // opens the file): the connection checkpoints itself, SQLite's default.
        if let Err(e) = store.conn_mut().pragma_update(None, "wal_autocheckpoint", 1000) {
            tracing::warn!(code = StoreError::from(e).code(), "automatic checkpoints could not be turned back on");
        }
    }
    rekeyed?;
    keys.save(KeySlot::Current, &new_key)?;
    keys.delete(KeySlot::Pending)?;
    tracing::info!("database key changed");
    Ok(())
}

/// `PRAGMA rekey` on the store's connection, the only one to the file.
fn reencrypt(conn: &mut Connection, new_key: &DbKey) -> Result<(), StoreError> {
    // SQLCipher re-encrypts through the rollback journal; leave WAL for it.
    let _: (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let _: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    let result = conn.execute_batch(&new_key.expose_pragma("rekey"));
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    Ok(result?)
}
