//! Recording PHI access. Every local view of patient data writes an audit
//! event in the same transaction as the read, before the data is returned
//! (`reads`); events are hash-chained per device (`verify`).

pub mod reads;
pub mod verify;

use chrono::Utc;
use uuid::Uuid;
use wardbook_protocol::{AuditAction, AuditEvent, AuditOutcome, AuditSubtype, GENESIS_HASH, PurposeOfUse};

use crate::store::audit_events::ChainHead;
use crate::store::{Db, Store, StoreError};

/// Who is acting and why: every audited read takes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessContext {
    pub user_id: String,
    pub session_id: Uuid,
    pub purpose: PurposeOfUse,
}

impl AccessContext {
    /// Treatment by the given user in a new session.
    pub fn treatment(user_id: impl Into<String>) -> AccessContext {
        AccessContext { user_id: user_id.into(), session_id: Uuid::now_v7(), purpose: PurposeOfUse::Treatment }
    }
}

/// What one audit event says happened.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Access {
    pub action: AuditAction,
    pub subtype: AuditSubtype,
    pub patient: Option<Uuid>,
    pub outcome: AuditOutcome,
}

/// Appends the next event of this device's chain, inside the caller's
/// transaction: it commits or rolls back with the read it records.
pub(crate) fn record(
    db: Db<'_>,
    device_id: Uuid,
    ctx: &AccessContext,
    access: Access,
) -> Result<AuditEvent, StoreError> {
    db.audit_events_mut().append(|head| event(head, device_id, ctx, access))
}

/// The sealed event that follows `head` (the genesis hash on an empty chain).
pub(crate) fn event(head: Option<ChainHead>, device_id: Uuid, ctx: &AccessContext, access: Access) -> AuditEvent {
    let (sequence, prev_hash) = match head {
        Some(head) => (head.sequence + 1, head.hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    AuditEvent {
        id: Uuid::now_v7(),
        device_id,
        sequence,
        recorded_at: micros(Utc::now()),
        user_id: ctx.user_id.clone(),
        session_id: ctx.session_id,
        action: access.action,
        subtype: access.subtype,
        patient_id: access.patient,
        purpose_of_use: ctx.purpose,
        outcome: access.outcome,
        prev_hash,
        hash: String::new(),
    }
    .seal()
}

/// A session event (sign-in, lock, unlock, break-the-glass start or stop):
/// one `execute` event, in its own transaction.
pub fn record_session_event(
    store: &mut Store,
    ctx: &AccessContext,
    subtype: AuditSubtype,
    patient: Option<Uuid>,
    outcome: AuditOutcome,
) -> Result<AuditEvent, StoreError> {
    let device_id = store.device_id();
    store.transaction(|db| session_event_in(db, device_id, ctx, subtype, patient, outcome))
}

/// [`record_session_event`] inside the caller's transaction (a sign-in
/// records its event together with the offline verifier it refreshes).
pub(crate) fn session_event_in(
    db: Db<'_>,
    device_id: Uuid,
    ctx: &AccessContext,
    subtype: AuditSubtype,
    patient: Option<Uuid>,
    outcome: AuditOutcome,
) -> Result<AuditEvent, StoreError> {
    record(db, device_id, ctx, Access { action: AuditAction::Execute, subtype, patient, outcome })
}

/// The stored time has microsecond precision: hash what is stored.
fn micros(t: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// The newest `limit` events, oldest first (identifiers only, no PHI).
pub fn recent_events(store: &Store, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
    store.db().audit_events().recent(limit)
}
