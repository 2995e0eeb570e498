//! The `audit_upload` table (one row): how far the server has acknowledged
//! this device's audit chain, and the newest event removed after the
//! retention period, whose hash anchors the chain that remains. Both only
//! move forward (a trigger refuses otherwise).

use rusqlite::{Connection, params};

use super::StoreError;
use super::audit_events::ChainHead;

/// Reads of `audit_upload`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AuditUpload<'a>(pub(super) &'a Connection);

impl AuditUpload<'_> {
    /// The highest sequence the server has acknowledged.
    pub(crate) fn acknowledged(self) -> Result<i64, StoreError> {
        Ok(self.0.query_row("SELECT acknowledged_sequence FROM audit_upload WHERE singleton = 1", [], |r| r.get(0))?)
    }

    /// The newest removed event (sequence 0 and the genesis hash before any).
    pub(crate) fn pruned_through(self) -> Result<ChainHead, StoreError> {
        Ok(self.0.query_row(
            "SELECT pruned_through_sequence, pruned_through_hash FROM audit_upload WHERE singleton = 1",
            [],
            |r| Ok(ChainHead { sequence: r.get(0)?, hash: r.get(1)? }),
        )?)
    }

    /// Events not yet acknowledged by the server.
    pub(crate) fn unacknowledged_events(self) -> Result<i64, StoreError> {
        Ok(self.0.query_row(
            "SELECT count(*) FROM audit_events WHERE sequence > (SELECT acknowledged_sequence FROM audit_upload)",
            [],
            |r| r.get(0),
        )?)
    }
}

/// Writes to `audit_upload`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AuditUploadMut<'a>(pub(super) &'a Connection);

impl AuditUploadMut<'_> {
    /// Records the server's acknowledgement (its highest stored sequence),
    /// never beyond the events held, never backwards.
    pub(crate) fn acknowledge(self, highest: i64) -> Result<(), StoreError> {
        self.0.execute(
            "UPDATE audit_upload SET acknowledged_sequence = max(acknowledged_sequence,
                    min(?1, (SELECT coalesce(max(sequence), 0) FROM audit_events)))
              WHERE singleton = 1",
            [highest],
        )?;
        Ok(())
    }

    /// Records the newest removed event as the anchor of what remains.
    pub(crate) fn set_pruned_through(self, anchor: &ChainHead) -> Result<(), StoreError> {
        self.0.execute(
            "UPDATE audit_upload SET pruned_through_sequence = ?1, pruned_through_hash = ?2 WHERE singleton = 1",
            params![anchor.sequence, anchor.hash],
        )?;
        Ok(())
    }
}
