//! The audit events of session steps (action `execute`), written in one
//! transaction with the offline-verifier change a step makes.

use uuid::Uuid;
use wardbook_protocol::{AuditOutcome, AuditSubtype, PurposeOfUse};

use super::Current;
use crate::audit::{self, AccessContext};
use crate::store::{Db, Store, StoreError};

/// One audit event to write.
pub(super) struct Event {
    ctx: AccessContext,
    subtype: AuditSubtype,
    patient: Option<Uuid>,
    outcome: AuditOutcome,
}

impl Event {
    pub(super) fn new(ctx: &AccessContext, subtype: AuditSubtype, patient: Option<Uuid>) -> Event {
        Event { ctx: ctx.clone(), subtype, patient, outcome: AuditOutcome::Success }
    }

    pub(super) fn failed(user_id: &str, session_id: Uuid) -> Event {
        Event {
            ctx: AccessContext { user_id: user_id.to_owned(), session_id, purpose: PurposeOfUse::Treatment },
            subtype: AuditSubtype::UnlockFailed,
            patient: None,
            outcome: AuditOutcome::MinorFailure,
        }
    }
}

/// Writes events in one transaction, with `also` (verifier changes) in it.
pub(super) fn write(
    store: &mut Store,
    events: &[Event],
    also: impl FnOnce(Db<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let device_id = store.device_id();
    store.transaction(|db| {
        also(db)?;
        for e in events {
            audit::session_event_in(db, device_id, &e.ctx, e.subtype, e.patient, e.outcome)?;
        }
        Ok(())
    })
}

pub(super) fn write_events(store: &mut Store, events: &[Event]) -> Result<(), StoreError> {
    write(store, events, |_| Ok(()))
}

/// The events that end a session: its accesses' stops and `logout`.
pub(super) fn end_events(current: &mut Current) -> Vec<Event> {
    let mut events = current.stop_accesses();
    events.push(Event::new(&current.context(PurposeOfUse::Treatment), AuditSubtype::Logout, None));
    events
}
