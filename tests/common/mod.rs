//! Helpers shared by the integration tests: real SQLCipher files in
//! temporary folders, synthetic data only.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod central;
pub mod desk;

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use tempfile::TempDir;
use wardbook::audit::AccessContext;
use wardbook::keys::DbKey;
use wardbook::store::Store;
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate};

/// A data directory with a database keyed by `key`.
pub struct TestDb {
    pub dir: TempDir,
    pub key: DbKey,
}

impl TestDb {
    pub fn new() -> TestDb {
        TestDb { dir: tempfile::tempdir().expect("temp dir"), key: DbKey::generate() }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("wardbook.db")
    }

    pub fn quarantine(&self) -> PathBuf {
        self.dir.path().join("quarantine")
    }

    pub fn open(&self) -> Store {
        Store::open(&self.path(), &self.key, &self.quarantine()).expect("open store").0
    }

    /// A plain rusqlite connection with the key applied: for tampering, as an
    /// attacker or a bug with the key would.
    pub fn raw(&self) -> rusqlite::Connection {
        raw_connection(&self.path(), &self.key)
    }
}

pub fn raw_connection(path: &Path, key: &DbKey) -> rusqlite::Connection {
    let conn = wardbook::store::sqlcipher::open(path, rusqlite::OpenFlags::default()).expect("raw open");
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", &*key.expose_hex())).expect("key");
    conn
}

/// A small deterministic synthetic ward.
pub fn ward(patients: usize) -> SyntheticWard {
    let anchor = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("anchor");
    generate(&SyntheticConfig::new(7, patients, anchor))
}

pub fn seed(store: &mut Store, ward: &SyntheticWard) {
    store.upsert_patients(&ward.patients).expect("patients");
    store.upsert_observations(&ward.observations).expect("observations");
    store.upsert_allergies(&ward.allergies).expect("allergies");
}

pub fn ctx() -> AccessContext {
    AccessContext::treatment("test-clinician")
}

pub fn count_audit_rows(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM audit_events", [], |r| r.get(0)).expect("count")
}

/// Every file below `dir`, recursively.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).expect("read file")))
}

pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The app binary built with these tests.
pub fn wardbook_bin() -> &'static str {
    env!("CARGO_BIN_EXE_wardbook")
}
