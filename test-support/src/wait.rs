//! Waiting for a condition: polled, with a deadline, never a fixed sleep.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// How long starting, stopping or a replica catching up may take before it is
/// reported as a failure rather than waited for forever.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// The pause between two polls of a condition (readiness, replication). Short,
/// because every poll is cheap and tests should not wait longer than needed.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Polls `attempt` every few milliseconds until it returns `Some`, an error,
/// or `timeout` passes (then fails naming `what`). Tests wait for conditions
/// this way instead of sleeping a fixed time, which is both slower and flaky.
pub fn wait_until<T>(timeout: Duration, what: &str, mut attempt: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = attempt()? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(POLL_INTERVAL);
    }
}
