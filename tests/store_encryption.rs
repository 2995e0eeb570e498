//! The store on real SQLCipher files: encrypted at rest, a wrong key touches
//! nothing, a damaged file is quarantined, a plaintext file is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wardbook::audit::reads::{self, Source};
use wardbook::keys::DbKey;
use wardbook::store::{Store, StoreError};

#[test]
fn the_file_is_not_plain_sqlite() {
    let db = TestDb::new();
    let mut store = db.open();
    seed(&mut store, &ward(3));
    drop(store);
    let bytes = std::fs::read(db.path()).expect("read db");
    assert!(bytes.len() > 4096);
    assert_ne!(&bytes[..16], b"SQLite format 3\0");
}

/// Shortest identifier searched for in encrypted files.
const MIN_NEEDLE: usize = 6;

#[test]
fn no_file_in_the_data_directory_contains_patient_identifiers() {
    let db = TestDb::new();
    let ward = ward(12);
    let mut store = db.open();
    seed(&mut store, &ward);
    // Reads write audit events and leave WAL frames behind: scan with the
    // store still open so the WAL and SHM are there too.
    let first = ward.patients[0].id;
    reads::open_chart(&mut store, &ctx(), first, &Source::Cache).expect("chart");
    reads::census(&mut store, &ctx(), None).expect("census");
    let files = files_below(db.dir.path());
    assert!(files.iter().any(|f| f.to_string_lossy().ends_with("-wal")), "WAL present: {files:?}");
    // Ciphertext is random bytes, so a short string turns up in it by chance
    // (a 3-byte name is in a 1 MiB WAL about one run in sixteen): only
    // identifiers of 6 bytes or more are searched for. Every patient keeps at
    // least the MRN (`SYN-` and six digits).
    let mut needles: Vec<&str> = Vec::new();
    for p in &ward.patients {
        needles.extend([p.mrn.as_str(), p.family_name.as_str(), p.given_name.as_str()]);
        needles.extend(p.email.as_deref());
    }
    needles.retain(|n| n.len() >= MIN_NEEDLE);
    assert!(needles.len() >= ward.patients.len(), "at least one needle per patient");
    for file in &files {
        let bytes = std::fs::read(file).expect("read");
        for needle in &needles {
            assert!(
                !contains_bytes(&bytes, needle.as_bytes()),
                "{} contains a synthetic identifier of {} bytes in plaintext",
                file.display(),
                needle.len()
            );
        }
    }
    // The scan can find things: the same identifiers are in the plaintext export of the ward.
    let plaintext = serde_json::to_vec(&ward.patients).expect("json");
    assert!(contains_bytes(&plaintext, ward.patients[0].mrn.as_bytes()));
}

#[test]
fn a_wrong_key_gives_a_clear_error_and_changes_no_byte() {
    let db = TestDb::new();
    let mut store = db.open();
    seed(&mut store, &ward(3));
    drop(store);
    let before: Vec<_> = files_below(db.dir.path()).into_iter().map(|f| (f.clone(), sha256_file(&f))).collect();
    let wrong = DbKey::generate();
    let err = Store::open(&db.path(), &wrong, &db.quarantine()).expect_err("wrong key");
    assert!(matches!(err, StoreError::CannotDecrypt { .. }), "{err:?}");
    assert!(err.to_string().contains("Cannot decrypt this database with the key in the keyring"), "{err}");
    let after: Vec<_> = files_below(db.dir.path()).into_iter().map(|f| (f.clone(), sha256_file(&f))).collect();
    assert_eq!(before, after, "no file added, removed or changed");
    // and the right key still opens it
    db.open();
}

#[test]
fn a_damaged_file_is_quarantined_not_recreated() {
    let db = TestDb::new();
    let mut store = db.open();
    seed(&mut store, &ward(20));
    drop(store);
    let mut bytes = std::fs::read(db.path()).expect("read");
    assert!(bytes.len() > 4096 * 8, "several pages");
    let original = bytes.clone();
    // Flip bytes inside a page after the first: the key still opens page 1,
    // but that page's HMAC fails.
    let at = 4096 * 5 + 1000;
    for b in &mut bytes[at..at + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(db.path(), &bytes).expect("write");
    let err = Store::open(&db.path(), &db.key, &db.quarantine()).expect_err("damaged");
    let StoreError::Corrupt { quarantined_to } = &err else { panic!("expected Corrupt, got {err:?}") };
    assert!(err.to_string().contains("moved aside"), "{err}");
    assert!(!db.path().exists(), "the damaged file is no longer in place");
    let moved = quarantined_to.join("wardbook.db");
    assert_eq!(std::fs::read(&moved).expect("quarantined copy"), bytes, "kept byte for byte");
    assert_ne!(bytes, original);
    // The next start makes a fresh database; the quarantined one stays.
    let fresh = db.open();
    drop(fresh);
    assert!(moved.exists());
}

#[test]
fn a_plaintext_sqlite_file_is_refused_untouched() {
    let db = TestDb::new();
    {
        let conn = rusqlite::Connection::open(db.path()).expect("plain");
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").expect("plain write");
    }
    let before = sha256_file(&db.path());
    let err = Store::open(&db.path(), &db.key, &db.quarantine()).expect_err("plaintext");
    assert!(matches!(err, StoreError::Plaintext { .. }), "{err:?}");
    assert_eq!(before, sha256_file(&db.path()));
}

#[test]
fn connection_settings_are_in_force() {
    let db = TestDb::new();
    drop(db.open());
    let raw = db.raw();
    let version: String = raw.query_row("PRAGMA cipher_version", [], |r| r.get(0)).expect("cipher");
    assert!(!version.is_empty());
    let mode: String = raw.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("mode");
    assert_eq!(mode, "wal", "WAL is persistent in the file");
}
