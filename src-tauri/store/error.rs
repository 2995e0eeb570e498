//! Store errors: what happened and what to do, with a stable code the UI can
//! classify. Never PHI, never SQL, never key material.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error(
        "Cannot decrypt this database with the key in the keyring ({path}). The file was not changed. If the keyring was reset or this database was copied from another workstation, restore the matching keyring entry; otherwise ask IT (IT guide: \"cannot decrypt\")."
    )]
    CannotDecrypt { path: PathBuf },
    #[error(
        "The database file {path} exists but the keyring holds no key for it, so it cannot be opened. Nothing was changed. Restore the keyring entry from backup, or ask IT to retire this cache."
    )]
    KeyMissing { path: PathBuf },
    #[error(
        "{path} is an unencrypted SQLite file. Wardbook keeps patient data only in encrypted databases, so it will not open or change it. Move the file away and ask IT."
    )]
    Plaintext { path: PathBuf },
    #[error(
        "This build's SQLite has no SQLCipher encryption (PRAGMA cipher_version is empty); refusing to store patient data unencrypted. Reinstall Wardbook from the official package."
    )]
    NoSqlCipher,
    #[error(
        "The local database was damaged and has been moved aside to {quarantined_to}; nothing was deleted, so unsynced edits and audit events there can still be recovered by IT. Start Wardbook again to create a fresh cache and sync it."
    )]
    Corrupt { quarantined_to: PathBuf },
    #[error(
        "Database schema step {version} ({name}) differs from the one already applied to this database, so this build of Wardbook does not match it. Nothing was changed. Reinstall the matching version of Wardbook."
    )]
    MigrationEdited { version: i64, name: String },
    #[error(
        "This database was written by a newer version of Wardbook (schema {database_version}; this version knows up to {app_version}). Nothing was changed. Install Wardbook at the newer version (or ask IT)."
    )]
    DatabaseNewer { database_version: i64, app_version: i64 },
    #[error(
        "Updating the database schema to step {version} failed; that step was rolled back and nothing else changed. Run `wardbook doctor` and give its output to IT."
    )]
    MigrationFailed { version: i64 },
    #[error(
        "Could not record the audit event for this view, so the data is not shown. Try again; if it persists, run `wardbook doctor` and call IT."
    )]
    AuditWriteFailed,
    #[error("That record is not in this workstation's cache. Sync, then try again.")]
    NotFound,
    #[error("The record was refused: {0}. Correct it and save again.")]
    Invalid(#[from] wardbook_protocol::ValidationErrors),
    #[error(
        "A file operation in the data directory failed ({action}: {cause}). Check free space and permissions of the data directory."
    )]
    Io { action: &'static str, cause: String },
    #[error("The local database reported an error ({0}). Try again; if it persists, run `wardbook doctor`.")]
    Sqlite(SqliteCode),
    #[error("A stored record could not be read back ({0}). Run `wardbook doctor`; the cache may need a fresh sync.")]
    BadRow(&'static str),
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
}

/// The SQLite result code of an error, without its message (messages can
/// quote SQL).
#[derive(Debug)]
pub struct SqliteCode(pub String);

impl std::fmt::Display for SqliteCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> StoreError {
        let code = match &err {
            // SQLite's primary codes rusqlite has no name for (SQLITE_ERROR among
            // them) keep their number, extended code included.
            rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::Unknown => {
                format!("Unknown({})", e.extended_code)
            }
            rusqlite::Error::SqliteFailure(e, _) => format!("{:?}", e.code),
            rusqlite::Error::QueryReturnedNoRows => return StoreError::NotFound,
            rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
                return StoreError::BadRow("unexpected column value");
            }
            other => variant_name(other),
        };
        StoreError::Sqlite(SqliteCode(code))
    }
}

fn variant_name(err: &rusqlite::Error) -> String {
    let debug = format!("{err:?}");
    debug.split(['(', ' ', '{']).next().unwrap_or("Unknown").to_owned()
}

impl StoreError {
    /// True when SQLite found the file damaged (a page failing its HMAC
    /// reads as corrupt).
    pub fn is_damage(&self) -> bool {
        matches!(self, StoreError::Sqlite(SqliteCode(code)) if code == "DatabaseCorrupt" || code == "NotADatabase")
    }

    /// A stable code for the UI and logs.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::CannotDecrypt { .. } => "cannot-decrypt",
            StoreError::KeyMissing { .. } => "key-missing",
            StoreError::Plaintext { .. } => "plaintext-database",
            StoreError::NoSqlCipher => "no-sqlcipher",
            StoreError::Corrupt { .. } => "corrupt-database",
            StoreError::MigrationEdited { .. } => "migration-edited",
            StoreError::DatabaseNewer { .. } => "database-newer",
            StoreError::MigrationFailed { .. } => "migration-failed",
            StoreError::AuditWriteFailed => "audit-write-failed",
            StoreError::NotFound => "not-found",
            StoreError::Invalid(_) => "invalid",
            StoreError::Io { .. } => "io",
            StoreError::Sqlite(_) => "database",
            StoreError::BadRow(_) => "bad-row",
            StoreError::Key(_) => "keyring",
        }
    }

    pub(crate) fn io(action: &'static str, err: std::io::Error) -> StoreError {
        StoreError::Io { action, cause: err.kind().to_string() }
    }
}
