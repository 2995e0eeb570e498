//! `rekey` changes the database key and the stored key together; after a
//! crash at any point some stored key still opens the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wardbook::keys::{DbKey, InsecureKeyFile, KeySlot, KeyStore};
use wardbook::store::StoreError;
use wardbook::store::rekey::{open_with_keys, rekey};

fn setup() -> (tempfile::TempDir, InsecureKeyFile) {
    let dir = tempfile::tempdir().expect("dir");
    let keys = InsecureKeyFile::new(dir.path().join("keys/db.key"));
    (dir, keys)
}

#[test]
fn first_start_creates_key_then_database_and_reopens() {
    let (dir, keys) = setup();
    let db = dir.path().join("wardbook.db");
    let (store, _) = open_with_keys(&db, &dir.path().join("q"), &keys).expect("create");
    drop(store);
    let key = keys.load(KeySlot::Current).expect("load").expect("key stored");
    raw_connection(&db, &key).query_row("SELECT count(*) FROM patients", [], |r| r.get::<_, i64>(0)).expect("opens");
    open_with_keys(&db, &dir.path().join("q"), &keys).expect("reopen");
}

#[test]
fn a_database_without_its_key_is_not_recreated() {
    let (dir, keys) = setup();
    let db = dir.path().join("wardbook.db");
    drop(open_with_keys(&db, &dir.path().join("q"), &keys).expect("create"));
    keys.delete(KeySlot::Current).expect("lose the key");
    let before = sha256_file(&db);
    let err = open_with_keys(&db, &dir.path().join("q"), &keys).expect_err("no key");
    assert!(matches!(err, StoreError::KeyMissing { .. }), "{err:?}");
    assert_eq!(before, sha256_file(&db));
    assert!(keys.load(KeySlot::Current).expect("load").is_none(), "no key was invented");
}

#[test]
fn rekey_changes_the_key_and_keeps_the_data() {
    let (dir, keys) = setup();
    let db = dir.path().join("wardbook.db");
    let q = dir.path().join("q");
    let (mut store, _) = open_with_keys(&db, &q, &keys).expect("create");
    seed(&mut store, &ward(3));
    let old = keys.load(KeySlot::Current).expect("load").expect("old");
    rekey(&mut store, &keys).expect("rekey");
    // The checkpoint connection is open again, with the new key.
    wardbook::audit::reads::census(&mut store, &ctx(), None).expect("census after the rekey");
    let pass = store.checkpoint_wal().expect("checkpoint after the rekey");
    assert!(pass.complete() && pass.log_frames > 0, "{pass:?}");
    drop(store);
    let new = keys.load(KeySlot::Current).expect("load").expect("new");
    assert_ne!(old, new);
    assert!(keys.load(KeySlot::Pending).expect("load").is_none());
    let err = wardbook::store::Store::open(&db, &old, &q).expect_err("old key no longer opens");
    assert!(matches!(err, StoreError::CannotDecrypt { .. }), "{err:?}");
    let (mut store, _) = open_with_keys(&db, &q, &keys).expect("new key opens");
    assert_eq!(wardbook::audit::reads::census(&mut store, &ctx(), None).expect("census").len(), 3);
}

#[test]
fn a_crash_after_the_pragma_but_before_the_key_is_stored_recovers() {
    let (dir, keys) = setup();
    let db = dir.path().join("wardbook.db");
    let q = dir.path().join("q");
    drop(open_with_keys(&db, &q, &keys).expect("create"));
    let old = keys.load(KeySlot::Current).expect("load").expect("old");
    // Steps 1 and 2 of rekey, then the "crash".
    let new = DbKey::generate();
    keys.save(KeySlot::Pending, &new).expect("pending");
    let raw = raw_connection(&db, &old);
    raw.execute_batch(&format!("PRAGMA journal_mode = DELETE; PRAGMA rekey = \"x'{}'\";", &*new.expose_hex()))
        .expect("rekey pragma");
    drop(raw);
    open_with_keys(&db, &q, &keys).expect("pending key opens and is promoted");
    assert_eq!(keys.load(KeySlot::Current).expect("load"), Some(new));
    assert!(keys.load(KeySlot::Pending).expect("load").is_none());
}

#[test]
fn a_crash_before_the_pragma_discards_the_pending_key() {
    let (dir, keys) = setup();
    let db = dir.path().join("wardbook.db");
    let q = dir.path().join("q");
    drop(open_with_keys(&db, &q, &keys).expect("create"));
    let old = keys.load(KeySlot::Current).expect("load");
    keys.save(KeySlot::Pending, &DbKey::generate()).expect("pending");
    open_with_keys(&db, &q, &keys).expect("current key still opens");
    assert_eq!(keys.load(KeySlot::Current).expect("load"), old);
    assert!(keys.load(KeySlot::Pending).expect("load").is_none());
}
