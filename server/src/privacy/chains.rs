//! Every workstation's stored audit chain, as the privacy office sees it:
//! re-verified now by [`crate::audit::verify`] (sequence from 1 without a
//! gap, each event's hash, each link), with the events held, the last one
//! recorded and received, and the security findings recorded about the
//! workstation (uploads the service refused: a gap, an edited event, a
//! broken link, another device's events). Identifiers and counts only.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol::api::{AuditChainStatus, ChainBreak, ChainFinding, ChainState, DeviceChain, DeviceLabel};

use crate::audit;
use crate::error::Result;

/// The findings listed per workstation, newest first.
pub const MAX_FINDINGS: usize = 50;

struct Totals {
    last_sequence: Option<i64>,
    last_recorded_at: Option<DateTime<Utc>>,
    last_received_at: Option<DateTime<Utc>>,
}

/// Every enrolled workstation (revoked ones too), ordered by name.
pub async fn status(db: &tokio_postgres::Client) -> Result<AuditChainStatus> {
    let checked_at = Utc::now();
    let checks: HashMap<Uuid, audit::ChainCheck> =
        audit::verify(db, None).await?.into_iter().map(|c| (c.device_id, c)).collect();
    let mut totals: HashMap<Uuid, Totals> = HashMap::new();
    for row in db
        .query(
            "SELECT device_id, max(sequence), max(recorded_at), max(received_at) FROM audit_events GROUP BY device_id",
            &[],
        )
        .await?
    {
        totals.insert(
            row.get(0),
            Totals { last_sequence: row.get(1), last_recorded_at: row.get(2), last_received_at: row.get(3) },
        );
    }
    let mut findings: HashMap<Uuid, Vec<ChainFinding>> = HashMap::new();
    for row in db
        .query(
            "SELECT device_id, detected_at, kind, position, detail FROM security_findings
              WHERE device_id IS NOT NULL ORDER BY detected_at DESC, id DESC",
            &[],
        )
        .await?
    {
        let list = findings.entry(row.get(0)).or_default();
        if list.len() < MAX_FINDINGS {
            list.push(ChainFinding {
                detected_at: row.get(1),
                kind: row.get(2),
                position: row.get(3),
                detail: row.get(4),
            });
        }
    }
    let mut devices = Vec::new();
    for row in db.query("SELECT id, name, revoked_at IS NOT NULL FROM devices ORDER BY name, id", &[]).await? {
        let id: Uuid = row.get(0);
        let check = checks.get(&id);
        let events = check.map_or(0, |c| c.events);
        let broken_at =
            check.and_then(|c| c.broken_at).map(|(sequence, kind)| ChainBreak { sequence, kind: kind.to_owned() });
        let state = match (&broken_at, events) {
            (Some(_), _) => ChainState::Broken,
            (None, 0) => ChainState::Empty,
            (None, _) => ChainState::Continuous,
        };
        let total = totals.remove(&id);
        devices.push(DeviceChain {
            device: DeviceLabel { id, name: Some(row.get(1)) },
            revoked: row.get(2),
            events,
            last_sequence: total.as_ref().and_then(|t| t.last_sequence),
            last_recorded_at: total.as_ref().and_then(|t| t.last_recorded_at),
            last_received_at: total.as_ref().and_then(|t| t.last_received_at),
            state,
            broken_at,
            findings: findings.remove(&id).unwrap_or_default(),
        });
    }
    Ok(AuditChainStatus { checked_at, devices })
}
