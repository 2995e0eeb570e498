//! Recording PHI access. Every local view of patient data writes an audit
//! event in the same transaction as the read, before the data is returned
//! (`reads`); events are hash-chained per device (`verify`).

pub mod reads;
pub mod verify;

use chrono::Utc;
use rusqlite::{Connection, params};
use uuid::Uuid;
use wardbook_protocol::{AuditAction, AuditEvent, AuditOutcome, AuditSubtype, GENESIS_HASH, PurposeOfUse};

use crate::store::{Store, StoreError};

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
    conn: &Connection,
    device_id: Uuid,
    ctx: &AccessContext,
    access: Access,
) -> Result<AuditEvent, StoreError> {
    let head: Option<(i64, String)> = conn
        .query_row("SELECT sequence, hash FROM audit_events ORDER BY sequence DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let (sequence, prev_hash) = match head {
        Some((sequence, hash)) => (sequence + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let event = AuditEvent {
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
    .seal();
    conn.prepare_cached(
        "INSERT INTO audit_events (sequence, id, device_id, recorded_at, user_id, session_id,
             action, subtype, patient_id, purpose_of_use, outcome, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        event.sequence,
        event.id.to_string(),
        event.device_id.to_string(),
        crate::store::rows::time_text(&event.recorded_at),
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
    let tx = store.conn_mut().transaction()?;
    let event = session_event_in(&tx, device_id, ctx, subtype, patient, outcome)?;
    tx.commit()?;
    Ok(event)
}

/// [`record_session_event`] inside the caller's transaction (a sign-in
/// records its event together with the offline verifier it refreshes).
pub(crate) fn session_event_in(
    conn: &Connection,
    device_id: Uuid,
    ctx: &AccessContext,
    subtype: AuditSubtype,
    patient: Option<Uuid>,
    outcome: AuditOutcome,
) -> Result<AuditEvent, StoreError> {
    record(conn, device_id, ctx, Access { action: AuditAction::Execute, subtype, patient, outcome })
}

/// The stored time has microsecond precision: hash what is stored.
fn micros(t: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// The newest `limit` events, oldest first (identifiers only, no PHI).
pub fn recent_events(store: &Store, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
    let mut stmt = store
        .conn()
        .prepare("SELECT * FROM (SELECT * FROM audit_events ORDER BY sequence DESC LIMIT ?1) ORDER BY sequence")?;
    crate::store::rows::collect(&mut stmt, [limit], verify::event_from_row)
}
