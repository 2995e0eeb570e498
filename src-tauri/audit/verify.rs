//! Walking the audit chain: every event's hash matches its contents, every
//! `prev_hash` matches the event before, and sequences have no gap.

use std::ops::ControlFlow;

use wardbook_protocol::LinkBreak;

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
    let db = store.db();
    // Events acknowledged by the server and past retention were removed: the
    // chain that remains continues from the newest removed event's hash.
    let anchor = db.audit_upload().pruned_through()?;
    let mut prev_hash = anchor.hash;
    let mut expected_sequence = anchor.sequence + 1;
    let mut count = 0u64;
    let broken = db.audit_events().walk(|sequence, event| {
        if sequence != expected_sequence {
            let reason = BreakReason::Gap { first: expected_sequence, last: sequence - 1 };
            return ControlFlow::Break(ChainReport::Broken { sequence: expected_sequence, reason });
        }
        let Ok(event) = event else {
            return ControlFlow::Break(ChainReport::Broken { sequence, reason: BreakReason::Unreadable });
        };
        match event.check_link(expected_sequence, &prev_hash) {
            Ok(()) => {}
            Err(LinkBreak::Altered) => {
                return ControlFlow::Break(ChainReport::Broken { sequence, reason: BreakReason::Altered });
            }
            Err(LinkBreak::Unlinked) => {
                return ControlFlow::Break(ChainReport::Broken { sequence, reason: BreakReason::Unlinked });
            }
            Err(LinkBreak::Gap) => {
                let reason = BreakReason::Gap { first: expected_sequence, last: sequence - 1 };
                return ControlFlow::Break(ChainReport::Broken { sequence: expected_sequence, reason });
            }
        }
        prev_hash = event.hash;
        expected_sequence += 1;
        count += 1;
        ControlFlow::Continue(())
    })?;
    Ok(broken.unwrap_or(ChainReport::Intact { events: count }))
}
