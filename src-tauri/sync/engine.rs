//! Carrying a plan out: audit upload first (it never waits behind clinical
//! work), then pushes round by round, purges, the pull pages, pruning. One
//! cycle at a time per data directory (a file lock, released by the OS when
//! a process dies), and a background task that runs cycles on start,
//! periodically, on demand, and with capped, jittered backoff while the
//! service is unreachable, so the first cycle after the network returns
//! comes within one backoff step.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use chrono::Utc;
use tokio::sync::Notify;
use wardbook_protocol::api::{AuditUploadRequest, PullResponse, PushRequest};

use super::SyncError;
use super::client::Client;
use super::local::{self, PushCounts};
use super::plan::plan;
use crate::store::Store;
use crate::workstation::Workstation;

/// Rows per pulled page.
pub const PULL_PAGE: u32 = 5000;
/// Pulled pages waiting to be applied, at most.
const DOWNLOAD_AHEAD: usize = 8;
/// Rows applied in one local transaction, at most: the pages that have
/// arrived while the previous ones were applied go in together. Fewer,
/// bigger transactions write each touched index page once instead of once
/// per page (what makes an initial sync slow); the store lock is held for
/// about half a second at most.
pub const APPLY_ROWS: usize = 40_000;
/// How long a cycle waits for another one to finish before reporting
/// [`SyncError::Busy`], and how often it looks.
const LOCK_WAIT: Duration = Duration::from_secs(2);
const LOCK_POLL: Duration = Duration::from_millis(20);
/// Audit events per upload.
pub const AUDIT_BATCH: u32 = 2000;
/// Push rounds per cycle at most (each round sends the oldest pending edit
/// of every entity; later edits of one entity need one round each).
const MAX_PUSH_ROUNDS: usize = 32;

/// What a cycle did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleReport {
    pub audit_uploaded: u64,
    pub pushed: PushCounts,
    pub pulled: u64,
    pub purged: u64,
    pub audit_pruned: u64,
    /// Time spent in local store steps, holding the workstation; the rest
    /// of the cycle awaited the service.
    pub local_time: Duration,
}

/// The sync engine of one workstation.
#[derive(Debug)]
pub struct Engine {
    client: Client,
    retention: chrono::Duration,
    lock_path: PathBuf,
    pull_page: u32,
}

impl Engine {
    pub fn new(client: Client, audit_retention_days: u32, data_dir: &std::path::Path) -> Engine {
        Engine {
            client,
            retention: chrono::Duration::days(i64::from(audit_retention_days)),
            lock_path: data_dir.join("sync.lock"),
            pull_page: PULL_PAGE,
        }
    }

    /// Pulls pages of `rows` (tests use small pages to interrupt a sync
    /// between pages).
    pub fn with_pull_page(mut self, rows: u32) -> Engine {
        self.pull_page = rows.max(1);
        self
    }

    /// One full cycle; its outcome (online or not, the error in words) is
    /// recorded for the status.
    pub async fn cycle(&self, ws: &Mutex<Workstation>) -> Result<CycleReport, SyncError> {
        let _lock = self.lock().await?;
        let mut report = CycleReport::default();
        let run = self.run(&mut Local { ws, report: &mut report }).await;
        let result = run.map(|()| report);
        let (error, online) = match &result {
            Ok(_) => (None, true),
            Err(e) => (Some(e.to_string()), !matches!(e, SyncError::Offline { .. })),
        };
        if let Some(e) = &error {
            tracing::warn!(error = %e, "sync cycle failed");
        }
        local::record_outcome(&Workstation::lock(ws).store, error.as_deref(), online)?;
        result
    }

    /// The sync lock, waiting [`LOCK_WAIT`] at most. A lock just released
    /// can read as taken for an instant: a process started by this one (the
    /// app, or a test, spawning anything) shares the open lock file between
    /// its fork and its exec.
    async fn lock(&self) -> Result<std::fs::File, SyncError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| SyncError::Store(crate::store::StoreError::io("opening the sync lock", e)))?;
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(LOCK_POLL).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(SyncError::Busy),
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(SyncError::Store(crate::store::StoreError::io("taking the sync lock", e)));
                }
            }
        }
    }

    async fn run(&self, store: &mut Local<'_>) -> Result<(), SyncError> {
        let cutoff = Utc::now() - self.retention;
        let first = store.with(|s| local::snapshot(s, cutoff))?;
        // Audit first. A refused chain is reported at the end, after the
        // clinical sync has run; an unreachable service ends the cycle.
        let mut audit_error = None;
        if plan(&first).upload_audit {
            match self.upload_audit(store, first.audit_acknowledged).await {
                Ok(n) => store.report.audit_uploaded = n,
                Err(e @ SyncError::Offline { .. }) => return Err(e),
                Err(e) => audit_error = Some(e),
            }
        }
        for _ in 0..MAX_PUSH_ROUNDS {
            let round = plan(&store.with(|s| local::snapshot(s, cutoff))?);
            if round.push.is_empty() {
                break;
            }
            for batch in &round.push {
                let mutations = store.with(|s| local::mutations(s, batch))?;
                let answer = self.client.push(&PushRequest { mutations }).await?;
                let counts = store.with(|s| local::apply_push_results(s, &answer.results))?;
                store.report.pushed.applied += counts.applied;
                store.report.pushed.conflicts += counts.conflicts;
                store.report.pushed.rejected += counts.rejected;
            }
        }
        self.purge(store, cutoff)?;
        // Pages download ahead while the cache applies the ones already
        // here, all of those in one transaction (see `APPLY_ROWS`).
        let cursor = store.with(|s| local::cursor(s))?;
        let mut download = Download::start(&self.client, cursor, self.pull_page);
        loop {
            let mut pages = vec![download.next().await?];
            let mut rows = pages[0].changes.len();
            let mut failed = None;
            while pages.last().is_some_and(|p| p.has_more) && rows < APPLY_ROWS {
                match download.ready() {
                    Some(Ok(page)) => {
                        rows += page.changes.len();
                        pages.push(page);
                    }
                    Some(Err(e)) => {
                        failed = Some(e);
                        break;
                    }
                    None => break,
                }
            }
            let pulled = store.with(|s| local::apply_pages(s, &pages))?;
            store.report.pulled += pulled;
            if let Some(e) = failed {
                return Err(e);
            }
            if !pages.last().is_some_and(|p| p.has_more) {
                break;
            }
        }
        // Patients that left scope in this pull with nothing to push.
        self.purge(store, cutoff)?;
        if let Some(through) = plan(&store.with(|s| local::snapshot(s, cutoff))?).prune_through {
            store.report.audit_pruned = store.with(|s| local::prune_audit(s, through))?;
        }
        match audit_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn purge(&self, store: &mut Local<'_>, cutoff: chrono::DateTime<Utc>) -> Result<(), SyncError> {
        let patients = plan(&store.with(|s| local::snapshot(s, cutoff))?).purge;
        if !patients.is_empty() {
            store.with(|s| local::purge(s, &patients))?;
            store.report.purged += patients.len() as u64;
        }
        Ok(())
    }

    /// Uploads every event after `acknowledged`, in order, batch by batch;
    /// each answer's highest stored sequence is the acknowledgement.
    async fn upload_audit(&self, store: &mut Local<'_>, mut acknowledged: i64) -> Result<u64, SyncError> {
        let mut uploaded = 0;
        loop {
            let events = store.with(|s| local::audit_batch(s, acknowledged, AUDIT_BATCH))?;
            let Some(last) = events.last().map(|e| e.sequence) else { return Ok(uploaded) };
            let answer = self.client.upload_audit(&AuditUploadRequest { events }).await?;
            store.with(|s| local::acknowledge_audit(s, answer.highest_sequence))?;
            if answer.highest_sequence < last {
                return Err(SyncError::AuditNotAcknowledged {
                    sent_through: last,
                    acknowledged: answer.highest_sequence,
                });
            }
            uploaded += u64::from(answer.stored);
            acknowledged = answer.highest_sequence;
        }
    }
}

/// The workstation as one cycle uses it: locked for each local step only
/// (the window keeps working meanwhile), the time in those steps counted.
struct Local<'a> {
    ws: &'a Mutex<Workstation>,
    report: &'a mut CycleReport,
}

impl Local<'_> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        let mut ws = Workstation::lock(self.ws);
        let started = Instant::now();
        let out = f(&mut ws.store);
        self.report.local_time += started.elapsed();
        out
    }
}

/// Pages downloaded ahead by a task on the runtime, in order, at most
/// [`DOWNLOAD_AHEAD`] waiting; an error ends the download. Dropped (on an
/// error, or at the end) it is cancelled.
struct Download {
    pages: tokio::sync::mpsc::Receiver<Result<PullResponse, SyncError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Download {
    fn start(client: &Client, mut cursor: Option<String>, rows: u32) -> Download {
        let client = client.clone();
        let (sender, pages) = tokio::sync::mpsc::channel(DOWNLOAD_AHEAD);
        let task = tokio::spawn(async move {
            loop {
                let page = client.pull(cursor.as_deref(), rows).await;
                let more = match &page {
                    Ok(p) if p.has_more => {
                        cursor = Some(p.cursor.clone());
                        true
                    }
                    _ => false,
                };
                if sender.send(page).await.is_err() || !more {
                    break;
                }
            }
        });
        Download { pages, task }
    }

    /// The next page, waiting for it.
    async fn next(&mut self) -> Result<PullResponse, SyncError> {
        self.pages.recv().await.unwrap_or(Err(SyncError::Protocol))
    }

    /// The next page if it has already arrived.
    fn ready(&mut self) -> Option<Result<PullResponse, SyncError>> {
        self.pages.try_recv().ok()
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waking the background task.
#[derive(Debug, Clone)]
pub struct SyncTrigger(Arc<Notify>);

impl SyncTrigger {
    /// Asks for a cycle now (sync on demand).
    pub fn sync_now(&self) {
        self.0.notify_one();
    }
}

/// The delays between failed cycles: exponential from one second, with
/// jitter, capped.
pub fn retry_delays(cap: Duration) -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::new()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(cap)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// While the service is unreachable, cycles are retried at most this far
/// apart (each retry is a cheap failed connection until the network is back).
pub const RETRY_CAP: Duration = Duration::from_secs(15);

/// How far a successful cycle's next start moves from `interval`, either way.
pub const INTERVAL_JITTER: f64 = 0.2;

/// The wait after a successful cycle: `interval` moved by up to
/// [`INTERVAL_JITTER`] of itself either way, by `unit` (uniform in [0, 1)).
/// A thousand workstations that came back together after a service restart
/// or a network outage would otherwise sync in step, every minute, forever.
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    let factor = 1.0 - INTERVAL_JITTER + 2.0 * INTERVAL_JITTER * unit.clamp(0.0, 1.0);
    interval.mul_f64(factor)
}

/// The background sync loop, for the caller to spawn on its tokio runtime:
/// a cycle at once, then about every `interval` (give or take
/// [`INTERVAL_JITTER`], so that workstations drift out of step), on demand (the trigger), and
/// while the service is unreachable with backoff up to `RETRY_CAP`, so the
/// first cycle after the network returns follows within seconds.
pub fn background(
    engine: Arc<Engine>,
    ws: Arc<Mutex<Workstation>>,
    interval: Duration,
) -> (SyncTrigger, impl std::future::Future<Output = ()> + Send) {
    let notify = Arc::new(Notify::new());
    let trigger = SyncTrigger(notify.clone());
    let task = async move {
        let cap = interval.min(RETRY_CAP);
        let mut delays = retry_delays(cap);
        loop {
            let delay = match engine.cycle(&ws).await {
                Ok(_) => {
                    delays = retry_delays(cap);
                    jittered(interval, rand::random::<f64>())
                }
                Err(SyncError::Offline { .. } | SyncError::Busy) => delays.next().unwrap_or(cap),
                Err(_) => interval,
            };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = notify.notified() => {}
            }
        }
    };
    (trigger, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_after_a_sync_moves_at_most_a_fifth_either_way() {
        let minute = Duration::from_secs(60);
        assert_eq!(jittered(minute, 0.0), Duration::from_secs(48));
        assert_eq!(jittered(minute, 0.5), minute);
        assert_eq!(jittered(minute, 1.0), Duration::from_secs(72));
        assert_eq!(jittered(minute, 7.0), Duration::from_secs(72), "out of range is clamped");
        // Two workstations that finished together start their next cycles apart.
        assert!(jittered(minute, 0.25) < jittered(minute, 0.75));
    }
}
