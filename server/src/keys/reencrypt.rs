//! Moving rows to the current data key: after `keys rotate`, and for rows
//! still in clear text from before encryption. In batches, one transaction
//! each (rows locked with SKIP LOCKED, so the wards' own writes and a second
//! service instance go on), so a crash at any point loses nothing and the
//! next run picks up where it stopped: the work left is simply every row not
//! under the current key. A key that no row uses any more is retired.

use std::sync::Arc;
use std::time::Duration;

use super::store;
use crate::AppState;
use crate::error::Result;

/// How often a running service looks for work (a rotation made elsewhere).
const POLL: Duration = Duration::from_secs(5);

/// One batch per sealed table; the rows moved.
async fn batch(state: &AppState, limit: i64) -> Result<u64> {
    let keys = state.keys.get().await?;
    let mut client = state.db().await?;
    let tx = client.transaction().await?;
    tx.execute("SET LOCAL wardbook.reencrypt = 'on'", &[]).await?;
    let mut moved = crate::records::patients::reseal(&tx, &keys, limit).await?;
    moved += crate::records::external_ids::reseal(&tx, &keys, limit).await?;
    moved += crate::hl7::sealed::reseal(&tx, &keys, limit).await?;
    tx.commit().await?;
    Ok(moved)
}

/// Moves every row to the current key, batch after batch, then retires the
/// keys no row uses. Returns the rows moved.
pub async fn run_to_end(state: &AppState) -> Result<u64> {
    let limit = i64::from(state.settings.policy.key_rotation_batch_rows.max(1));
    let pause = Duration::from_millis(u64::from(state.settings.policy.key_rotation_pause_ms));
    let mut total = 0;
    loop {
        let moved = batch(state, limit).await?;
        total += moved;
        if moved > 0 {
            state.keys.forget_status();
        }
        if moved == 0 {
            break;
        }
        tracing::info!(rows = moved, total, "rows re-encrypted under the current data key");
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    let client = state.db().await?;
    if !store::retire_unused(&**client).await?.is_empty() {
        state.keys.forget_status();
    }
    Ok(total)
}

/// The background worker of `serve`: reloads the keys (a rotation may have
/// made a new one current), moves what is not under the current key, and
/// looks again every few seconds. Errors are logged and retried.
pub fn spawn(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = state.keys.reload().await {
                tracing::warn!(error = %e, "cannot reload the data keys; retrying");
                continue;
            }
            if let Err(e) = run_to_end(&state).await {
                tracing::warn!(error = %e, "re-encryption stopped; it resumes at the next attempt");
            }
        }
    })
}
