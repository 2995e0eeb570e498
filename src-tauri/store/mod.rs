//! The encrypted local store: one SQLCipher file per data directory.
//!
//! Every connection, the store's and any other, opens through `sqlcipher`,
//! which completes SQLCipher's initialization before the process's first
//! key. Opening follows a fixed order, because each step protects the next:
//! 1. refuse a plaintext SQLite file (never "upgrade" PHI in place);
//! 2. `PRAGMA key` with the raw 32-byte key, as the very first statement,
//!    then SQLCipher's own log (standard error) turned off;
//! 3. refuse a SQLite without SQLCipher (`PRAGMA cipher_version` empty);
//! 4. read the schema: failure here means the key does not decrypt page 1,
//!    so stop with "cannot decrypt" having written nothing (a damaged first
//!    page looks the same, and guessing "corrupt" could destroy a good file);
//! 5. connection settings: WAL, `synchronous = FULL` (a committed audit event
//!    or outbox entry survives a killed process and a power cut), foreign
//!    keys, `temp_store = MEMORY` (no plaintext temp files), no automatic
//!    checkpoint (a thread of the store's own runs them, see `checkpoints`);
//! 6. a file the background integrity check found damaged (its marker, see
//!    `integrity`) is moved aside (quarantined), never recreated in place;
//!    there is no whole-file check here: it reads every page, seconds on a
//!    large cache, so it runs in the background after the window is up;
//! 7. migrations, then this installation's device id;
//! 8. the background check's own read-only connection, keyed alike, and the
//!    checkpoint thread's read-write one.
//!
//! The store owns every table: one module per table (its row type, a read
//! handle, a write handle), and no code outside `store/` sees the
//! connection. Callers take the handles from a `Db`: the store's own, or
//! one transaction's (`Store::transaction`). PHI readers require an
//! `AuditedRead`, which only `Store::audited` makes, in the transaction
//! that appends the read's audit event (see `tx`).

mod access;
pub(crate) mod allergies;
pub(crate) mod audit_events;
pub(crate) mod audit_upload;
mod checkpoints;
pub(crate) mod conflicts;
pub(crate) mod dose_reviews;
mod error;
pub mod integrity;
pub(crate) mod medication_administrations;
mod medication_census;
pub(crate) mod medication_requests;
pub mod migrations;
pub(crate) mod observations;
pub(crate) mod offline_verifiers;
pub(crate) mod outbox;
pub(crate) mod patients;
pub(crate) mod pending_purges;
pub(crate) mod records;
pub mod rekey;
mod rows;
pub mod sqlcipher;
pub(crate) mod sync_state;
mod tx;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};
use uuid::Uuid;
use wardbook_protocol::medication::{DoseReview, MedicationAdministration, MedicationRequest};
use wardbook_protocol::{Allergy, Observation, Patient};

pub(crate) use access::{AuditedRead, Db, Edit};
pub use checkpoints::WalCheckpoint;
pub use conflicts::ConflictEntry;
pub use error::{SqliteCode, StoreError};
pub use records::Digest;

use crate::config::ClinicalSettings;
use crate::keys::DbKey;

const PLAINTEXT_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// An open, keyed, migrated database.
pub struct Store {
    /// The WAL checkpoint thread and its connection, stopped first when the
    /// store is dropped (fields drop in order). `None` only while a rekey
    /// runs, or after one failed.
    checkpoints: Option<checkpoints::Checkpoints>,
    /// Frames in `conn`'s write-ahead log, as of its last commit.
    log: checkpoints::LogLength,
    conn: Connection,
    path: PathBuf,
    device_id: Uuid,
    /// The hospital's time zone and NEWS2 age: how the audited reads
    /// compute due times and scores from the rows.
    clinical: ClinicalSettings,
    /// The background integrity check's connection, until it is taken to run.
    integrity_check: Option<integrity::IntegrityCheck>,
    integrity: integrity::IntegrityMonitor,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("device_id", &self.device_id).finish()
    }
}

/// What `open` found, for `doctor`.
#[derive(Clone, Debug)]
pub struct OpenReport {
    pub migrations_applied_now: Vec<i64>,
    pub schema_version: i64,
}

impl Store {
    /// Opens (creating if absent) the database at `path` with `key`. A
    /// damaged file is moved into `quarantine_dir` and reported.
    pub fn open(path: &Path, key: &DbKey, quarantine_dir: &Path) -> Result<(Store, OpenReport), StoreError> {
        refuse_plaintext(path)?;
        let conn = sqlcipher::open(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        apply_key(&conn, key)?;
        match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
            Ok(_) => {}
            Err(e) if error_code(&e) == Some(ErrorCode::NotADatabase) => {
                return Err(StoreError::CannotDecrypt { path: path.to_path_buf() });
            }
            Err(e) => return Err(e.into()),
        }
        let mut conn = conn;
        let marked = integrity::marker_path(path).exists();
        match configure(&mut conn) {
            Ok(()) if !marked => {}
            Ok(()) | Err(Damage::Corrupt) => {
                drop(conn);
                return Err(quarantined(path, quarantine_dir));
            }
            Err(Damage::Other(e)) => return Err(e),
        }
        let shipped = migrations::shipped();
        // The schema history and the device id are the only pages read here:
        // damage in them is damage found at open.
        let opened = migrations::run(&mut conn, &shipped).and_then(|applied| Ok((applied, device_id(&conn)?)));
        let (migrations_applied_now, device_id) = match opened {
            Ok(pair) => pair,
            Err(e) if e.is_damage() => {
                drop(conn);
                return Err(quarantined(path, quarantine_dir));
            }
            Err(e) => return Err(e),
        };
        let report = OpenReport { migrations_applied_now, schema_version: migrations::latest_version(&shipped) };
        let clinical = ClinicalSettings::default();
        let monitor = integrity::IntegrityMonitor::default();
        let integrity_check = Some(integrity::IntegrityCheck::open(path, key, monitor.clone())?);
        let checkpoints = Some(checkpoints::Checkpoints::start(path, key)?);
        let log = checkpoints::LogLength::watch(&mut conn)?;
        let store = Store {
            checkpoints,
            log,
            conn,
            path: path.to_path_buf(),
            device_id,
            clinical,
            integrity_check,
            integrity: monitor,
        };
        Ok((store, report))
    }

    /// The background integrity check of this store's file, once: the caller
    /// runs it on a thread of its own (`IntegrityCheck::run`, as often as it
    /// likes). `None` when it was taken already.
    pub fn take_integrity_check(&mut self) -> Option<integrity::IntegrityCheck> {
        self.integrity_check.take()
    }

    /// The latest result of the background integrity check.
    pub fn integrity_status(&self) -> wardbook_protocol::IntegrityStatus {
        self.integrity.status()
    }

    /// This installation's id; audit events carry it as their device id.
    pub fn device_id(&self) -> Uuid {
        self.device_id
    }

    /// The settings the clinical rules read (UTC and 12 hours until set).
    pub fn clinical(&self) -> &ClinicalSettings {
        &self.clinical
    }

    /// Uses the workstation's clinical settings (`startup` sets them from
    /// the configuration when it opens the store).
    pub fn set_clinical(&mut self, clinical: ClinicalSettings) {
        self.clinical = clinical;
    }

    /// Called after each commit on `conn`: wakes the checkpoint thread.
    fn committed(&self) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.committed(self.log.frames());
        }
    }

    /// One PASSIVE checkpoint now, on the checkpoint thread's connection (not
    /// the one reads commit on): what the log holds and how much of it is now
    /// in the database file. The thread runs these by itself after commits.
    pub fn checkpoint_wal(&self) -> Result<WalCheckpoint, StoreError> {
        match &self.checkpoints {
            Some(checkpoints) => checkpoints.now(),
            // A rekey that failed midway (see `rekey`).
            None => checkpoints::passive(&self.conn),
        }
    }

    /// The raw connection, for connection-level work inside `store/` (rekey).
    pub(in crate::store) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// `PRAGMA cipher_integrity_check` (HMAC of every page) and
    /// `PRAGMA integrity_check`: the problems found, empty when healthy.
    pub fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let mut stmt = self.conn.prepare("PRAGMA cipher_integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for row in rows {
            problems.push(format!("cipher: {}", row?));
        }
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let row = row?;
            if row != "ok" {
                problems.push(format!("structure: {row}"));
            }
        }
        Ok(problems)
    }

    /// True when the cache holds any synthetic row.
    pub fn has_synthetic_data(&self) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE synthetic = 1)
                 OR EXISTS (SELECT 1 FROM observations WHERE synthetic = 1)
                 OR EXISTS (SELECT 1 FROM allergies WHERE synthetic = 1)
                 OR EXISTS (SELECT 1 FROM medication_requests WHERE synthetic = 1)",
            [],
            |r| r.get(0),
        )?)
    }

    /// True when the cache holds no patient at all (first start).
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(!self.conn.query_row("SELECT EXISTS (SELECT 1 FROM patients)", [], |r| r.get::<_, bool>(0))?)
    }

    /// Every cached row as (kind, id) -> (version, SHA-256 of its content):
    /// identifiers and digests only, no PHI, so no audit event. Two caches
    /// that hold the same rows have equal digests.
    pub fn digest(&self) -> Result<Digest, StoreError> {
        records::digest(&self.conn)
    }

    /// Inserts or replaces patients (sync apply, seeding), in one transaction.
    pub fn upsert_patients(&mut self, rows: &[Patient]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        patients::upsert(&tx, rows)?;
        tx.commit()?;
        self.committed();
        Ok(())
    }

    /// Inserts or replaces observations, in one transaction.
    pub fn upsert_observations(&mut self, rows: &[Observation]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        observations::upsert(&tx, rows)?;
        tx.commit()?;
        self.committed();
        Ok(())
    }

    /// Inserts or replaces allergies, in one transaction.
    pub fn upsert_allergies(&mut self, rows: &[Allergy]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        allergies::upsert(&tx, rows)?;
        tx.commit()?;
        self.committed();
        Ok(())
    }

    /// Inserts or replaces medication orders, administrations and dose
    /// reviews (seeding, tests), in one transaction.
    pub fn upsert_medications(
        &mut self,
        orders: &[MedicationRequest],
        administrations: &[MedicationAdministration],
        reviews: &[DoseReview],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        medication_requests::upsert(&tx, orders)?;
        medication_administrations::upsert(&tx, administrations)?;
        dose_reviews::upsert(&tx, reviews)?;
        tx.commit()?;
        self.committed();
        Ok(())
    }
}

fn error_code(err: &rusqlite::Error) -> Option<ErrorCode> {
    match err {
        rusqlite::Error::SqliteFailure(e, _) => Some(e.code),
        _ => None,
    }
}

fn refuse_plaintext(path: &Path) -> Result<(), StoreError> {
    use std::io::Read;
    let mut header = [0u8; 16];
    match std::fs::File::open(path) {
        Ok(mut file) => match file.read_exact(&mut header) {
            Ok(()) if &header == PLAINTEXT_HEADER => Err(StoreError::Plaintext { path: path.to_path_buf() }),
            _ => Ok(()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("reading the database header", e)),
    }
}

/// Applies the key as the first statement, silences SQLCipher's own log and
/// checks SQLCipher is present.
fn apply_key(conn: &Connection, key: &DbKey) -> Result<(), StoreError> {
    conn.execute_batch(&key.expose_pragma("key"))?;
    silence_cipher_log(conn)?;
    let version: Option<String> = match conn.query_row("PRAGMA cipher_version", [], |r| r.get(0)) {
        Ok(v) => v,
        Err(rusqlite::Error::QueryReturnedNoRows) => None,
        Err(e) => return Err(e.into()),
    };
    version.filter(|v| !v.trim().is_empty()).map(|_| ()).ok_or(StoreError::NoSqlCipher)
}

/// SQLCipher has a log of its own, written straight to standard error at
/// warning level and above unless told otherwise: a wrong key printed its
/// `ERROR CORE sqlcipher_page_cipher: hmac check failed` lines ahead of
/// Wardbook's own message. Every failure it logs reaches Wardbook as an error
/// code, which the caller turns into one clear message, so its log is turned
/// off. The setting is process-wide; it is made on every connection, after
/// the key and before the first page is read, so it holds whichever
/// connection a process opens first.
/// Best effort: a log setting that does not take is no reason to refuse the
/// cache (the failure it would have logged still reaches the caller).
fn silence_cipher_log(conn: &Connection) -> Result<(), StoreError> {
    match conn.query_row("PRAGMA cipher_log_level = NONE", [], |r| r.get::<_, String>(0)) {
        Ok(_) | Err(rusqlite::Error::QueryReturnedNoRows) => {}
        Err(e) => tracing::debug!(error = %StoreError::from(e), "SQLCipher's log level could not be set"),
    }
    Ok(())
}

enum Damage {
    Corrupt,
    Other(StoreError),
}

impl From<rusqlite::Error> for Damage {
    fn from(err: rusqlite::Error) -> Damage {
        if is_damage(&err) { Damage::Corrupt } else { Damage::Other(err.into()) }
    }
}

/// Prepared statements kept per connection. The census alone runs a dozen
/// (patients, allergies, the medication columns, NEWS2, the audit event)
/// and a clinician's round as many again; rusqlite's default of 16 would
/// prepare them afresh on every census, inside its write-locked transaction.
const STATEMENT_CACHE: usize = 64;

fn configure(conn: &mut Connection) -> Result<(), Damage> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Damage::Other(StoreError::Sqlite(SqliteCode(format!("journal mode {mode}")))));
    }
    // No automatic checkpoint: the checkpoint thread copies the log back
    // (`checkpoints`); once the log starts again, its file is cut back to
    // 64 MiB (`journal_size_limit`), the space a bulk load took given back.
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA wal_autocheckpoint = 0;
         PRAGMA journal_size_limit = 67108864;",
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    allergies::register_rules(conn)?;
    // Every transaction here writes (an audited read appends its event), so
    // each takes the write lock when it begins: a deferred one that read first
    // could not upgrade while another process writes, and would fail busy
    // instead of waiting.
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    Ok(())
}

/// True when SQLite reports the file damaged (a page failing its HMAC reads
/// as corrupt).
fn is_damage(err: &rusqlite::Error) -> bool {
    matches!(error_code(err), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase))
}

/// Moves the damaged database aside and says so (or why it could not).
fn quarantined(path: &Path, quarantine_dir: &Path) -> StoreError {
    match quarantine(path, quarantine_dir) {
        Ok(quarantined_to) => {
            tracing::error!(folder = %quarantined_to.display(), "damaged local database quarantined");
            StoreError::Corrupt { quarantined_to }
        }
        Err(e) => e,
    }
}

/// Moves the database and its WAL/SHM into a new, timestamped folder under
/// `quarantine_dir`, and returns that folder.
fn quarantine(path: &Path, quarantine_dir: &Path) -> Result<PathBuf, StoreError> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ").to_string();
    let folder = quarantine_dir.join(stamp);
    std::fs::create_dir_all(&folder).map_err(|e| StoreError::io("creating the quarantine folder", e))?;
    for suffix in ["", "-wal", "-shm", integrity::MARKER_SUFFIX] {
        let mut from = path.as_os_str().to_owned();
        from.push(suffix);
        let from = PathBuf::from(from);
        if from.exists() {
            let name = from.file_name().map(ToOwned::to_owned).unwrap_or_default();
            std::fs::rename(&from, folder.join(name))
                .map_err(|e| StoreError::io("moving the damaged database aside", e))?;
        }
    }
    Ok(folder)
}

fn device_id(conn: &Connection) -> Result<Uuid, StoreError> {
    conn.execute(
        "INSERT INTO device_identity (singleton, device_id, created_at) VALUES (1, ?1, ?2)
         ON CONFLICT (singleton) DO NOTHING",
        rusqlite::params![Uuid::now_v7().to_string(), crate::store::rows::now_text()],
    )?;
    let text: String = conn.query_row("SELECT device_id FROM device_identity", [], |r| r.get(0))?;
    Uuid::parse_str(&text).map_err(|_| StoreError::BadRow("device id"))
}

/// A migrated cache in memory, with the SQL functions the store registers
/// (the store's unit tests).
#[cfg(test)]
pub(crate) fn memory_cache() -> Connection {
    let mut conn = sqlcipher::open_in_memory().expect("in-memory database");
    allergies::register_rules(&conn).expect("register the rules");
    migrations::run(&mut conn, &migrations::shipped()).expect("migrations");
    conn
}
