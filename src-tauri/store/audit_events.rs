//! The `audit_events` table: this device's hash chain of PHI views and
//! session events. Append-only (triggers refuse updates, and deletes of
//! events the server has not acknowledged); events hold identifiers only,
//! never PHI. The chain's rule (what an event hashes, how it links) is
//! `wardbook_protocol::AuditEvent`'s; this module stores and reads.

use std::ops::ControlFlow;

use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;
use wardbook_protocol::{AuditAction, AuditEvent, AuditOutcome, AuditSubtype, GENESIS_HASH, PurposeOfUse};

use super::StoreError;
use super::rows::{collect, get_enum, get_time, get_uuid, time_text};

/// The newest event of a chain (or the newest removed one): the next event
/// links to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChainHead {
    pub sequence: i64,
    pub hash: String,
}

/// Reads of `audit_events`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AuditEvents<'a>(pub(super) &'a Connection);

impl AuditEvents<'_> {
    /// The newest event held (`None` before the first).
    pub(crate) fn head(self) -> Result<Option<ChainHead>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT sequence, hash FROM audit_events ORDER BY sequence DESC LIMIT 1")?
            .query_row([], |r| Ok(ChainHead { sequence: r.get(0)?, hash: r.get(1)? }))
            .optional()?)
    }

    /// The newest sequence held (0 before the first).
    pub(crate) fn max_sequence(self) -> Result<i64, StoreError> {
        Ok(self.0.query_row("SELECT coalesce(max(sequence), 0) FROM audit_events", [], |r| r.get(0))?)
    }

    /// The newest sequence recorded before `cutoff` (0 when none).
    pub(crate) fn newest_before(self, cutoff: &chrono::DateTime<chrono::Utc>) -> Result<i64, StoreError> {
        // recorded_at is RFC 3339 UTC with fixed precision: text order is time order.
        Ok(self.0.query_row(
            "SELECT coalesce(max(sequence), 0) FROM audit_events WHERE recorded_at < ?1",
            [time_text(cutoff)],
            |r| r.get(0),
        )?)
    }

    /// The newest event at or before `through`.
    pub(crate) fn newest_through(self, through: i64) -> Result<Option<ChainHead>, StoreError> {
        Ok(self
            .0
            .query_row(
                "SELECT sequence, hash FROM audit_events WHERE sequence <= ?1 ORDER BY sequence DESC LIMIT 1",
                [through],
                |r| Ok(ChainHead { sequence: r.get(0)?, hash: r.get(1)? }),
            )
            .optional()?)
    }

    /// Up to `limit` events after `after`, in sequence order.
    pub(crate) fn after(self, after: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let mut stmt =
            self.0.prepare_cached("SELECT * FROM audit_events WHERE sequence > ?1 ORDER BY sequence LIMIT ?2")?;
        collect(&mut stmt, params![after, limit], from_row)
    }

    /// The newest `limit` events, oldest first.
    pub(crate) fn recent(self, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let mut stmt = self
            .0
            .prepare("SELECT * FROM (SELECT * FROM audit_events ORDER BY sequence DESC LIMIT ?1) ORDER BY sequence")?;
        collect(&mut stmt, [limit], from_row)
    }

    /// Every event held, oldest first, with its stored sequence, until `f`
    /// breaks: a row that cannot be read as an event comes as an error.
    pub(crate) fn walk<B>(
        self,
        mut f: impl FnMut(i64, Result<AuditEvent, StoreError>) -> ControlFlow<B>,
    ) -> Result<Option<B>, StoreError> {
        let mut stmt = self.0.prepare("SELECT * FROM audit_events ORDER BY sequence")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let sequence: i64 = row.get("sequence")?;
            if let ControlFlow::Break(b) = f(sequence, from_row(row)) {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }
}

/// Writes to `audit_events`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AuditEventsMut<'a>(pub(super) &'a Connection);

impl AuditEventsMut<'_> {
    /// Appends the event `build` makes for the chain's head (`None`: an
    /// empty chain), inside the caller's transaction: it commits or rolls
    /// back with what it records. An event that does not continue the chain
    /// is refused.
    pub(crate) fn append(self, build: impl FnOnce(Option<ChainHead>) -> AuditEvent) -> Result<AuditEvent, StoreError> {
        let head = AuditEvents(self.0).head()?;
        let (next, prev_hash) = match &head {
            Some(head) => (head.sequence + 1, head.hash.clone()),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let event = build(head);
        if event.check_link(next, &prev_hash).is_err() {
            return Err(StoreError::AuditWriteFailed);
        }
        self.0
            .prepare_cached(
                "INSERT INTO audit_events (sequence, id, device_id, recorded_at, user_id, session_id,
                     action, subtype, patient_id, purpose_of_use, outcome, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                event.sequence,
                event.id.to_string(),
                event.device_id.to_string(),
                time_text(&event.recorded_at),
                event.user_id,
                event.session_id.to_string(),
                event.action.as_str(),
                event.subtype.as_str(),
                event.patient_id.map(|p| p.to_string()),
                event.purpose_of_use.as_str(),
                event.outcome.as_str(),
                event.prev_hash,
                event.hash,
            ])?;
        Ok(event)
    }

    /// Removes the events through `sequence` (the trigger refuses any the
    /// server has not acknowledged, and the newest); answers how many went.
    pub(crate) fn remove_through(self, sequence: i64) -> Result<u64, StoreError> {
        Ok(self.0.execute("DELETE FROM audit_events WHERE sequence <= ?1", [sequence])? as u64)
    }
}

fn from_row(row: &Row<'_>) -> Result<AuditEvent, StoreError> {
    let patient: Option<String> = row.get("patient_id")?;
    Ok(AuditEvent {
        id: get_uuid(row, "id")?,
        device_id: get_uuid(row, "device_id")?,
        sequence: row.get("sequence")?,
        recorded_at: get_time(row, "recorded_at")?,
        user_id: row.get("user_id")?,
        session_id: get_uuid(row, "session_id")?,
        action: get_enum(row, "action", AuditAction::parse)?,
        subtype: get_enum(row, "subtype", AuditSubtype::parse)?,
        patient_id: match patient {
            Some(text) => Some(Uuid::parse_str(&text).map_err(|_| StoreError::BadRow("identifier"))?),
            None => None,
        },
        purpose_of_use: get_enum(row, "purpose_of_use", PurposeOfUse::parse)?,
        outcome: get_enum(row, "outcome", AuditOutcome::parse)?,
        prev_hash: row.get("prev_hash")?,
        hash: row.get("hash")?,
    })
}
