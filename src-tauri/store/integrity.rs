//! The whole-file integrity check, off the start path.
//!
//! `PRAGMA quick_check` reads every page: on a 1 GB cache that is seconds
//! with the file in memory and half a minute from disk, so it no longer runs
//! when the store opens. SQLCipher authenticates each page (its HMAC) as it
//! reads it, so damage in a page the app reads still fails that read at
//! once; the check finds damage in the pages nobody has read yet.
//!
//! The check runs on its own read-only connection, opened with the store's
//! key when the store opens, on a background thread ([`IntegrityCheck::run`]),
//! so the window and sync keep their connection meanwhile. Its result is
//! shared with the store ([`IntegrityMonitor`]): the status bar shows it,
//! and damage found leaves a marker file next to the database
//! (`wardbook.db-damaged`, a time and a count, never row contents). The next
//! open finds the marker and quarantines the file as damage found at open
//! always was: a file in use is never moved under the running app.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use wardbook_protocol::{IntegrityState, IntegrityStatus};

use super::StoreError;
use crate::keys::DbKey;

/// The marker's suffix, after the database's file name.
pub(crate) const MARKER_SUFFIX: &str = "-damaged";

/// The marker file of the database at `db_path`.
pub fn marker_path(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(MARKER_SUFFIX);
    PathBuf::from(name)
}

/// What the marker of the database at `db_path` says, if there is one: when
/// damage was found and how much.
pub fn read_marker(db_path: &Path) -> Option<String> {
    std::fs::read_to_string(marker_path(db_path)).ok().map(|s| s.trim().to_owned())
}

/// The latest result, shared by the store (for the status) and the check.
#[derive(Clone, Debug, Default)]
pub struct IntegrityMonitor(Arc<Mutex<IntegrityStatus>>);

impl IntegrityMonitor {
    pub fn status(&self) -> IntegrityStatus {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, status: IntegrityStatus) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = status;
    }
}

/// One database's background check: its own read-only connection and where
/// it reports.
pub struct IntegrityCheck {
    conn: Connection,
    db_path: PathBuf,
    monitor: IntegrityMonitor,
}

impl std::fmt::Debug for IntegrityCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrityCheck").field("db_path", &self.db_path).finish_non_exhaustive()
    }
}

impl IntegrityCheck {
    /// Opens the check's connection to the (already open and migrated)
    /// database at `db_path` with `key`. Cheap: the key is raw, nothing is
    /// read beyond the schema.
    pub(super) fn open(db_path: &Path, key: &DbKey, monitor: IntegrityMonitor) -> Result<IntegrityCheck, StoreError> {
        let conn = super::sqlcipher::open(db_path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        super::apply_key(&conn, key)?;
        conn.execute_batch("PRAGMA temp_store = MEMORY;")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(IntegrityCheck { conn, db_path: db_path.to_path_buf(), monitor })
    }

    /// Reads the whole file (`PRAGMA quick_check`, which authenticates every
    /// page it reads), reports the result to the monitor, and on damage
    /// writes the marker. Returns the status it reported.
    pub fn run(&mut self) -> IntegrityStatus {
        let started = Utc::now();
        self.monitor.set(IntegrityStatus { state: IntegrityState::Checking, checked_at: None, problems: 0 });
        let status = match quick_check(&self.conn) {
            Ok(0) => {
                tracing::info!(seconds = seconds_since(started), "local database integrity check: ok");
                IntegrityStatus { state: IntegrityState::Ok, checked_at: Some(Utc::now()), problems: 0 }
            }
            Ok(problems) => self.damaged(problems),
            Err(e) if super::is_damage(&e) => self.damaged(1),
            Err(e) => {
                // Busy, out of memory, an I/O error: the check could not show
                // the file is whole, nor that it is damaged. The next run tries again.
                tracing::warn!(error = %StoreError::from(e), "local database integrity check could not run");
                IntegrityStatus { state: IntegrityState::Failed, checked_at: Some(Utc::now()), problems: 0 }
            }
        };
        self.monitor.set(status.clone());
        status
    }

    fn damaged(&self, problems: u32) -> IntegrityStatus {
        let at = mark_damaged(&self.db_path, problems, "the background integrity check");
        IntegrityStatus { state: IntegrityState::Damaged, checked_at: Some(at), problems }
    }
}

/// Records that `found_by` found the database at `db_path` damaged: the
/// marker the next open quarantines it by (a time and a count, never row
/// contents), and an error in the log. Returns the time it wrote.
pub fn mark_damaged(db_path: &Path, problems: u32, found_by: &str) -> DateTime<Utc> {
    let at = Utc::now();
    tracing::error!(problems, found_by, "local database damaged; the file will be moved aside at the next start");
    let text = format!("{} damage found by {found_by}: {problems} problem(s)\n", at.to_rfc3339());
    if let Err(e) = std::fs::write(marker_path(db_path), text) {
        tracing::error!(cause = %e.kind(), "the damage marker could not be written");
    }
    at
}

/// When the first check runs after start: once the window, the census and
/// the first sync have had the disk to themselves.
pub const FIRST_CHECK_AFTER: Duration = Duration::from_secs(20);

/// How often the check runs again while the app stays up.
pub const CHECK_EVERY: Duration = Duration::from_secs(12 * 60 * 60);

/// Runs `check` on a thread of its own: first after `first_after`, then
/// every `every`, until it finds damage (the marker is written then; the
/// status bar keeps saying so until the next start moves the file aside).
pub fn run_in_background(mut check: IntegrityCheck, first_after: Duration, every: Duration) {
    let spawned = std::thread::Builder::new().name("integrity-check".into()).spawn(move || {
        std::thread::sleep(first_after);
        while check.run().state != IntegrityState::Damaged {
            std::thread::sleep(every);
        }
    });
    if let Err(e) = spawned {
        tracing::error!(cause = %e.kind(), "the background integrity check could not start");
    }
}

/// The number of problems `PRAGMA quick_check` lists (0 when it says "ok").
/// A page that fails its HMAC stops the check with a corruption error.
fn quick_check(conn: &Connection) -> Result<u32, rusqlite::Error> {
    let mut stmt = conn.prepare("PRAGMA quick_check")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut problems = 0u32;
    for row in rows {
        let row = row?;
        if row != "ok" {
            problems = problems.saturating_add(1);
        }
    }
    Ok(problems)
}

fn seconds_since(started: DateTime<Utc>) -> f64 {
    (Utc::now() - started).num_milliseconds() as f64 / 1000.0
}
