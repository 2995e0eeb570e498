//! The store on real SQLCipher files: encrypted at rest, a wrong key touches
//! nothing, a damaged file opens at once and the background integrity check
//! has it quarantined at the next start, a plaintext file is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wardbook::audit::reads::{self, Source};
use wardbook::keys::DbKey;
use wardbook::store::{Store, StoreError, integrity};
use wardbook_protocol::IntegrityState;

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

/// Flips bytes inside the last page but one: the key still opens page 1 and
/// the schema, but that page's HMAC fails when anything reads it.
fn damage_a_late_page(db: &TestDb) -> Vec<u8> {
    let mut bytes = std::fs::read(db.path()).expect("read");
    assert!(bytes.len() > 4096 * 8, "several pages");
    let original = bytes.clone();
    let at = bytes.len() - 2 * 4096 + 1000;
    for b in &mut bytes[at..at + 64] {
        *b ^= 0x5a;
    }
    assert_ne!(bytes, original);
    std::fs::write(db.path(), &bytes).expect("write");
    bytes
}

#[test]
fn a_damaged_file_opens_at_once_and_the_background_check_finds_the_damage() {
    let db = TestDb::new();
    let mut store = db.open();
    seed(&mut store, &ward(20));
    drop(store);
    damage_a_late_page(&db);
    // No whole-file check on the start path: a damaged page nobody reads
    // does not hold the window back.
    let (mut store, _) = Store::open(&db.path(), &db.key, &db.quarantine()).expect("opens at once");
    assert_eq!(store.integrity_status().state, IntegrityState::NotChecked);
    let mut check = store.take_integrity_check().expect("the background check");
    assert!(store.take_integrity_check().is_none(), "taken once");
    let status = check.run();
    assert_eq!(status.state, IntegrityState::Damaged, "{status:?}");
    assert!(status.problems >= 1);
    assert!(status.checked_at.is_some());
    assert_eq!(store.integrity_status(), status, "the status bar sees what the check found");
    let marker = integrity::read_marker(&db.path()).expect("a marker next to the database");
    assert!(marker.contains("damage found by the background integrity check"), "{marker}");
    // The file in use is not moved under the running app.
    assert!(db.path().exists());
}

#[test]
fn a_file_the_check_found_damaged_is_quarantined_at_the_next_start_not_recreated() {
    let db = TestDb::new();
    let mut store = db.open();
    seed(&mut store, &ward(20));
    drop(store);
    let bytes = damage_a_late_page(&db);
    let (mut store, _) = Store::open(&db.path(), &db.key, &db.quarantine()).expect("opens at once");
    let mut check = store.take_integrity_check().expect("check");
    assert_eq!(check.run().state, IntegrityState::Damaged);
    drop(check);
    drop(store);

    let err = Store::open(&db.path(), &db.key, &db.quarantine()).expect_err("damaged");
    let StoreError::Corrupt { quarantined_to } = &err else { panic!("expected Corrupt, got {err:?}") };
    assert!(err.to_string().contains("moved aside"), "{err}");
    assert!(!db.path().exists(), "the damaged file is no longer in place");
    assert!(integrity::read_marker(&db.path()).is_none(), "the marker went with it");
    let moved = quarantined_to.join("wardbook.db");
    assert_eq!(std::fs::read(&moved).expect("quarantined copy"), bytes, "kept byte for byte");
    assert!(quarantined_to.join(format!("wardbook.db{}", "-damaged")).exists(), "the marker is kept for IT");
    // The next start makes a fresh database, whose check finds it sound; the
    // quarantined one stays.
    let (mut fresh, _) = Store::open(&db.path(), &db.key, &db.quarantine()).expect("fresh");
    let status = fresh.take_integrity_check().expect("check").run();
    assert_eq!(status.state, IntegrityState::Ok, "{status:?}");
    assert_eq!(status.problems, 0);
    assert!(integrity::read_marker(&db.path()).is_none());
    assert!(moved.exists());
}

#[test]
fn the_check_finds_a_healthy_cache_sound_while_the_app_writes() {
    let db = TestDb::new();
    let mut store = db.open();
    let ward = ward(20);
    seed(&mut store, &ward);
    let mut check = store.take_integrity_check().expect("check");
    // The check reads on its own connection while the store's keeps working.
    let first = ward.patients[0].id;
    let handle = std::thread::spawn(move || check.run());
    reads::open_chart(&mut store, &ctx(), first, &Source::Cache).expect("chart while checking");
    let status = handle.join().expect("check thread");
    assert_eq!(status.state, IntegrityState::Ok, "{status:?}");
    assert_eq!(store.integrity_status().state, IntegrityState::Ok);
    assert!(integrity::read_marker(&db.path()).is_none());
}

#[test]
fn a_plaintext_sqlite_file_is_refused_untouched() {
    let db = TestDb::new();
    {
        let conn = wardbook::store::sqlcipher::open(&db.path(), rusqlite::OpenFlags::default()).expect("plain");
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
