//! WAL checkpoints, off the connection the window reads on.
//!
//! Every audited read commits (its audit event). SQLite's automatic
//! checkpoint runs inside the commit that takes the log past 1,000 pages:
//! that one click then also copies the log into the database file and syncs
//! it, several durable commits' worth of waiting, which is what a chart
//! open's p99 was made of. So the store's connection runs no automatic
//! checkpoint (`wal_autocheckpoint = 0`, set with the other connection
//! settings). A thread of its own, on its own read-write connection keyed
//! alike, runs the checkpoints instead:
//! - PASSIVE ones: a passive checkpoint takes no lock a reader or a writer
//!   waits for, and never waits itself (what it cannot copy now, because a
//!   reader still needs the older page, waits for the next pass);
//! - after commits: the first commit since the last pass wakes the thread
//!   (one flag and a non-blocking send on the commit path), which lets
//!   [`PAUSE`] go by so that a burst of commits is copied in one pass, then
//!   checkpoints. An idle store wakes nothing.
//!
//! Once a pass has copied the whole log, the next commit starts the log
//! again from its beginning, so the file stops growing as before. What the
//! last pass before the store closes left in the log is copied by the first
//! pass after the next open.
//!
//! A long run of commits (an initial sync, a bulk load) outpaces the
//! thread: each pass copies what the log held when it began, the writer has
//! added more by then, and a log never wholly copied is never started again
//! (`make bench-large` found it at 33 GB after 10 M observations). So the
//! store's connection counts its log's frames (SQLite's WAL hook, which
//! only records the count) and the commit that takes the log past
//! [`LOG_LIMIT_FRAMES`] runs a pass itself, on the checkpoint connection,
//! before its caller writes again: that pass copies the whole log, and the
//! next commit starts it again. `journal_size_limit` then gives the file's
//! space back. An interactive commit (an audited read) never meets the
//! limit: the thread copies a few frames a second.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::StoreError;
use crate::keys::DbKey;

/// How long the thread lets commits gather after the first one wakes it.
/// At most one pass (two fsyncs, off the window's path) per pause.
pub const PAUSE: Duration = Duration::from_secs(1);

/// Frames in the log past which a commit copies it back itself (64 MiB
/// with SQLCipher's 4 KiB pages; see the module documentation).
pub const LOG_LIMIT_FRAMES: i64 = 16_384;

/// How many frames the store connection's log holds, as of its last commit
/// (kept by the connection's WAL hook).
#[derive(Clone, Debug, Default)]
pub(super) struct LogLength(Arc<AtomicI64>);

impl LogLength {
    /// Counts `conn`'s log from now on. Replaces `wal_autocheckpoint`'s own
    /// hook, which the store turns off anyway.
    pub(super) fn watch(conn: &mut Connection) -> Result<LogLength, StoreError> {
        let length = LogLength::default();
        let frames = length.0.clone();
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
            frames.store(i64::from(pages), Ordering::Relaxed);
            Ok(())
        }))?;
        Ok(length)
    }

    pub(super) fn frames(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What one PASSIVE checkpoint reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// True when another connection was checkpointing (nothing was done).
    pub busy: bool,
    /// Frames in the write-ahead log.
    pub log_frames: i64,
    /// Frames of the log now in the database file.
    pub checkpointed_frames: i64,
}

impl WalCheckpoint {
    /// Everything in the log is in the database file.
    pub fn complete(&self) -> bool {
        !self.busy && self.log_frames == self.checkpointed_frames
    }
}

/// The checkpoint connection and how many passes it has run (tests wait on it).
struct Checkpointer {
    conn: Connection,
    passes: u64,
}

struct Shared {
    checkpointer: Mutex<Checkpointer>,
    passed: Condvar,
    /// Set by a commit, cleared by the pass that will copy it.
    dirty: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Checkpointer> {
        self.checkpointer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pass(&self) -> Result<WalCheckpoint, StoreError> {
        let mut checkpointer = self.lock();
        let result = passive(&checkpointer.conn);
        checkpointer.passes += 1;
        self.passed.notify_all();
        result
    }
}

/// A store's checkpoint thread: started when the store opens, stopped
/// (and joined, its connection closed) when the store is dropped.
pub(crate) struct Checkpoints {
    shared: Arc<Shared>,
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// [`LOG_LIMIT_FRAMES`], lower in tests.
    limit_frames: i64,
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints").finish_non_exhaustive()
    }
}

impl Checkpoints {
    /// Opens the checkpoint connection to the (open, WAL) database at
    /// `db_path` with `key` and starts its thread. The first pass follows
    /// at once (after [`PAUSE`]): a log left by the last run is copied too.
    pub(super) fn start(db_path: &Path, key: &DbKey) -> Result<Checkpoints, StoreError> {
        let shared = Arc::new(open(db_path, key)?);
        let (wake, woken) = std::sync::mpsc::sync_channel(1);
        let _ = wake.try_send(());
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || run(&thread_shared, &woken, PAUSE))
            .map_err(|e| StoreError::io("starting the checkpoint thread", e))?;
        Ok(Checkpoints { shared, wake: Some(wake), thread: Some(thread), limit_frames: LOG_LIMIT_FRAMES })
    }

    /// The connection without the thread: passes run only when asked ([`Checkpoints::now`]).
    #[cfg(test)]
    fn manual(db_path: &Path, key: &DbKey) -> Result<Checkpoints, StoreError> {
        Ok(Checkpoints {
            shared: Arc::new(open(db_path, key)?),
            wake: None,
            thread: None,
            limit_frames: LOG_LIMIT_FRAMES,
        })
    }

    /// After a commit on the store's connection, whose log now holds
    /// `log_frames`: wakes the thread if this is the first commit since its
    /// last pass, without blocking; past [`LOG_LIMIT_FRAMES`], runs a pass
    /// on the calling thread first (see the module documentation).
    pub(super) fn committed(&self, log_frames: i64) {
        if log_frames > self.limit_frames {
            match self.now() {
                Ok(pass) if pass.complete() => return,
                Ok(_) => tracing::debug!("the log is past its limit and a reader still needs part of it"),
                Err(e) => tracing::warn!(code = e.code(), "checkpoint failed; the next commit tries again"),
            }
        }
        if !self.shared.dirty.swap(true, Ordering::AcqRel)
            && let Some(wake) = &self.wake
            && let Err(TrySendError::Disconnected(())) = wake.try_send(())
        {
            tracing::warn!("the checkpoint thread has stopped; the write-ahead log is not copied back");
        }
    }

    /// One PASSIVE checkpoint now, on the checkpoint connection (the
    /// calling thread runs it; the store's connection is not involved).
    pub(super) fn now(&self) -> Result<WalCheckpoint, StoreError> {
        self.shared.dirty.store(false, Ordering::Release);
        self.shared.pass()
    }

    /// Waits until the thread has run more than `passes` passes, or until
    /// `timeout`; answers how many it has run.
    #[cfg(test)]
    fn wait_for_pass_after(&self, passes: u64, timeout: Duration) -> u64 {
        let guard = self.shared.lock();
        let (guard, _) = self
            .shared
            .passed
            .wait_timeout_while(guard, timeout, |c| c.passes <= passes)
            .unwrap_or_else(PoisonError::into_inner);
        guard.passes
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        // Closing the channel ends the thread's wait at once.
        drop(self.wake.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the checkpoint thread panicked");
        }
    }
}

/// The checkpoint connection to the database at `db_path`, keyed with `key`.
fn open(db_path: &Path, key: &DbKey) -> Result<Shared, StoreError> {
    let conn = super::sqlcipher::open(db_path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    super::apply_key(&conn, key)?;
    // Syncs the log before copying it and the database file after: the
    // copy survives a power cut as the commits it copies do.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;")?;
    Ok(Shared {
        checkpointer: Mutex::new(Checkpointer { conn, passes: 0 }),
        passed: Condvar::new(),
        dirty: AtomicBool::new(true),
    })
}

/// The thread: waits for a commit, lets [`PAUSE`] go by, checkpoints; until
/// the store closes the channel.
fn run(shared: &Shared, woken: &Receiver<()>, pause: Duration) {
    while woken.recv().is_ok() {
        let until = Instant::now() + pause;
        loop {
            match woken.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        // Commits from here on wake the next pass.
        shared.dirty.store(false, Ordering::Release);
        match shared.pass() {
            Ok(pass) if pass.busy => tracing::debug!("checkpoint skipped: another connection was checkpointing"),
            Ok(_) => {}
            Err(e) => tracing::warn!(code = e.code(), "checkpoint failed; the next commit tries again"),
        }
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: copies what it can without waiting.
pub(super) fn passive(conn: &Connection) -> Result<WalCheckpoint, StoreError> {
    let (busy, log_frames, checkpointed_frames) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })?;
    Ok(WalCheckpoint { busy: busy != 0, log_frames, checkpointed_frames })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{DateTime, NaiveDate, Utc};
    use uuid::Uuid;
    use wardbook_protocol::{Patient, Sex};

    use super::*;
    use crate::store::Store;

    const KEY: [u8; 32] = [7; 32];

    fn key() -> DbKey {
        DbKey::from_bytes(KEY)
    }

    fn path(dir: &tempfile::TempDir) -> std::path::PathBuf {
        dir.path().join("w.db")
    }

    fn store(dir: &tempfile::TempDir) -> Store {
        let (store, _) = Store::open(&path(dir), &key(), &dir.path().join("q")).unwrap();
        store
    }

    /// The store with its thread replaced by a connection that checkpoints only when asked.
    fn manual_store(dir: &tempfile::TempDir) -> Store {
        let mut store = store(dir);
        drop(store.checkpoints.take());
        store.checkpoints = Some(Checkpoints::manual(&path(dir), &key()).unwrap());
        store
    }

    /// [`manual_store`] whose log limit is `frames`.
    fn manual_store_with_limit(dir: &tempfile::TempDir, frames: i64) -> Store {
        let mut store = manual_store(dir);
        store.checkpoints.as_mut().unwrap().limit_frames = frames;
        store
    }

    fn wait_for_pass_after(store: &Store, passes: u64) -> u64 {
        store.checkpoints.as_ref().unwrap().wait_for_pass_after(passes, PAUSE * 30)
    }

    fn patients(from: u128, n: u128) -> Vec<Patient> {
        (from..from + n)
            .map(|i| Patient {
                id: Uuid::from_u128(i),
                version: 1,
                updated_at: DateTime::<Utc>::UNIX_EPOCH,
                deleted: false,
                synthetic: true,
                mrn: format!("SYN-{i:07}"),
                given_name: "Test".into(),
                family_name: format!("Patient {i}"),
                birth_date: NaiveDate::from_ymd_opt(1970, 5, 17).unwrap(),
                sex: Sex::Unknown,
                phone: None,
                email: None,
                address: Some("1 Synthetic Way, a long line so that rows fill pages ".repeat(8)),
                preferred_language: None,
                location: Some("Ward 7A".into()),
                bed: None,
                source_system: "test".into(),
            })
            .collect()
    }

    #[test]
    fn the_store_connection_runs_no_automatic_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = manual_store(&dir);
        let pages: i64 = store.conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)).unwrap();
        assert_eq!(pages, 0);
        // Well past the 1,000 pages at which the connection used to checkpoint itself.
        for i in 0..100 {
            store.upsert_patients(&patients(i * 100, 100)).unwrap();
        }
        let pass = store.checkpoint_wal().unwrap();
        assert!(pass.complete(), "{pass:?}");
        assert!(pass.log_frames > 3_000, "the log was copied and started again meanwhile: {pass:?}");
    }

    #[test]
    fn a_long_run_of_commits_cannot_grow_the_log_past_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        // No thread: without the limit the log would only grow (to over
        // 3,000 frames here, as in the test above).
        let mut store = manual_store_with_limit(&dir, 200);
        let mut largest = 0;
        for i in 0..100 {
            store.upsert_patients(&patients(i * 100, 100)).unwrap();
            largest = largest.max(store.log.frames());
        }
        // One commit's frames at most past the limit, when the commit that
        // crossed it copied the log back; the next commit started it again.
        let per_commit = 100;
        assert!(largest > 200 && largest < 200 + per_commit, "largest log: {largest} frames");
        let pass = store.checkpoint_wal().unwrap();
        assert!(pass.log_frames < 200 + per_commit, "{pass:?}");
        // Every row is there.
        let count: i64 = store.conn.query_row("SELECT count(*) FROM patients", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 10_000);
    }

    #[test]
    fn a_complete_pass_lets_the_next_commit_start_the_log_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = manual_store(&dir);
        for i in 0..20 {
            store.upsert_patients(&patients(i * 100, 100)).unwrap();
        }
        let full = store.checkpoint_wal().unwrap();
        assert!(full.complete() && full.log_frames > 100, "{full:?}");
        let wal = std::fs::metadata(dir.path().join("w.db-wal")).unwrap().len();

        store.upsert_patients(&patients(1_000_000, 1)).unwrap();
        let again = store.checkpoint_wal().unwrap();
        assert!(again.complete(), "{again:?}");
        assert!(again.log_frames < 10, "the log did not start again: {again:?}");
        let after = std::fs::metadata(dir.path().join("w.db-wal")).unwrap().len();
        assert_eq!(after, wal, "the log is written again from its start, not grown");
    }

    #[test]
    fn the_thread_checkpoints_after_commits_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store(&dir);
        // The pass that follows the open.
        let opened = wait_for_pass_after(&store, 0);
        assert!(opened >= 1, "no pass after the open");

        for i in 0..10 {
            store.upsert_patients(&patients(i * 100, 100)).unwrap();
        }
        let after_commits = wait_for_pass_after(&store, opened);
        assert!(after_commits > opened, "no pass after the commits");
        // The thread's pass copied the whole log: the next commit starts it
        // again, so only that commit's frames are in it.
        store.upsert_patients(&patients(1_000_000, 1)).unwrap();
        let now = store.checkpoint_wal().unwrap();
        assert!(now.complete() && now.log_frames < 10, "{now:?}");

        // That commit woke the thread once more (a pass besides this test's);
        // then, idle, it runs none.
        let settled = wait_for_pass_after(&store, after_commits + 1);
        assert_eq!(settled, after_commits + 2);
        let idle = store.checkpoints.as_ref().unwrap().wait_for_pass_after(settled, PAUSE * 3);
        assert_eq!(idle, settled, "a pass without a commit");
    }
}
