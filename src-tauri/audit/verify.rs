//! Walking the audit chain: every event's hash matches its contents, every
//! `prev_hash` matches the event before, and sequences have no gap.

use rusqlite::Row;
use wardbook_protocol::{AuditAction, AuditEvent, AuditOutcome, AuditSubtype, LinkBreak, PurposeOfUse};

use crate::store::rows::{get_enum, get_time, get_uuid};
use crate::store::{Store, StoreError};

/// The outcome of a walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainReport {
    Intact { events: u64 },
    Broken { sequence: i64, reason: BreakReason },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakReason {
    /// Events `first..=last` are missing.
    Gap { first: i64, last: i64 },
    /// The event's stored hash does not match its contents.
    Altered,
    /// The event's `prev_hash` is not the previous event's hash.
    Unlinked,
    /// The row could not even be read as an event.
    Unreadable,
}

impl std::fmt::Display for ChainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainReport::Intact { events } => write!(f, "{events} events, chain intact"),
            ChainReport::Broken { sequence, reason } => {
                write!(f, "chain broken at sequence {sequence}: ")?;
                match reason {
                    BreakReason::Gap { first, last } if first == last => write!(f, "event {first} is missing"),
                    BreakReason::Gap { first, last } => write!(f, "events {first} to {last} are missing"),
                    BreakReason::Altered => f.write_str("its contents do not match its hash (the event was altered)"),
                    BreakReason::Unlinked => {
                        f.write_str("its prev_hash does not match the previous event's hash (an event was replaced)")
                    }
                    BreakReason::Unreadable => f.write_str("the stored event cannot be read"),
                }
            }
        }
    }
}

/// Walks the whole chain, oldest first, and reports the first break. `events`
/// counts the events still held locally.
pub fn verify_chain(store: &Store) -> Result<ChainReport, StoreError> {
    // Events acknowledged by the server and past retention were removed: the
    // chain that remains continues from the newest removed event's hash.
    let (pruned_through, mut prev_hash): (i64, String) = store.conn().query_row(
        "SELECT pruned_through_sequence, pruned_through_hash FROM audit_upload WHERE singleton = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut stmt = store.conn().prepare("SELECT * FROM audit_events ORDER BY sequence")?;
    let mut rows = stmt.query([])?;
    let mut expected_sequence = pruned_through + 1;
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        let sequence: i64 = row.get("sequence")?;
        if sequence != expected_sequence {
            let reason = BreakReason::Gap { first: expected_sequence, last: sequence - 1 };
            return Ok(ChainReport::Broken { sequence: expected_sequence, reason });
        }
        let Ok(event) = event_from_row(row) else {
            return Ok(ChainReport::Broken { sequence, reason: BreakReason::Unreadable });
        };
        match event.check_link(expected_sequence, &prev_hash) {
            Ok(()) => {}
            Err(LinkBreak::Altered) => return Ok(ChainReport::Broken { sequence, reason: BreakReason::Altered }),
            Err(LinkBreak::Unlinked) => return Ok(ChainReport::Broken { sequence, reason: BreakReason::Unlinked }),
            Err(LinkBreak::Gap) => {
                let reason = BreakReason::Gap { first: expected_sequence, last: sequence - 1 };
                return Ok(ChainReport::Broken { sequence: expected_sequence, reason });
            }
        }
        prev_hash = event.hash;
        expected_sequence += 1;
        count += 1;
    }
    Ok(ChainReport::Intact { events: count })
}

pub(crate) fn event_from_row(row: &Row<'_>) -> Result<AuditEvent, StoreError> {
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
            Some(text) => Some(uuid::Uuid::parse_str(&text).map_err(|_| StoreError::BadRow("identifier"))?),
            None => None,
        },
        purpose_of_use: get_enum(row, "purpose_of_use", PurposeOfUse::parse)?,
        outcome: get_enum(row, "outcome", AuditOutcome::parse)?,
        prev_hash: row.get("prev_hash")?,
        hash: row.get("hash")?,
    })
}
