//! Break-the-glass accesses running on this workstation (DESIGN.md section
//! 8): the records the service returned are held in memory only, never
//! written to the encrypted cache, and dropped when the access expires, the
//! session locks or the clinician signs out.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol::workstation::{BreakGlassGrant, BreakGlassRequest, BreakGlassResponse};
use wardbook_protocol::{AuditSubtype, PurposeOfUse, break_glass_reason_ok};

use super::events::{Event, write_events};
use super::online::{Failure, Remote};
use super::{SessionError, Sessions, active};
use crate::workstation::Workstation;

/// One running access: its grant and the patient's records.
#[derive(Clone)]
pub(crate) struct EmergencyAccess {
    pub grant: BreakGlassGrant,
    pub records: BreakGlassResponse,
}

impl std::fmt::Debug for EmergencyAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmergencyAccess").field("grant", &self.grant).finish_non_exhaustive()
    }
}

impl EmergencyAccess {
    /// Ends at the service's expiry or after the workstation's policy
    /// minutes, whichever comes first.
    pub(crate) fn new(records: BreakGlassResponse, now: DateTime<Utc>, policy_minutes: u32) -> EmergencyAccess {
        let local_end = now + chrono::Duration::minutes(i64::from(policy_minutes));
        let grant = BreakGlassGrant {
            access_id: records.access_id,
            patient_id: records.patient.id,
            started_at: now,
            expires_at: records.expires_at.min(local_end),
        };
        EmergencyAccess { grant, records }
    }

    pub(crate) fn patient_id(&self) -> Uuid {
        self.grant.patient_id
    }

    pub(crate) fn has_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.grant.expires_at
    }
}

/// Removes and returns the accesses that have expired by `now`.
pub(crate) fn take_expired(accesses: &mut Vec<EmergencyAccess>, now: DateTime<Utc>) -> Vec<EmergencyAccess> {
    let (expired, running) = std::mem::take(accesses).into_iter().partition(|a| a.has_expired(now));
    *accesses = running;
    expired
}

impl Sessions {
    /// Break-the-glass: online only. Asks the service (which flags the
    /// access for review), keeps the returned records in memory, writes a
    /// `break-glass-start` event (purpose emergency treatment) and returns
    /// the patient id.
    pub async fn break_glass(
        &self,
        ws: &Mutex<Workstation>,
        request: &BreakGlassRequest,
    ) -> Result<Uuid, SessionError> {
        let (token, session_id, remote) = {
            let mut guard = Workstation::lock(ws);
            let mut slot = self.slot();
            self.refresh(&mut slot, &mut guard.store)?;
            let current = active(&slot)?;
            if !break_glass_reason_ok(&request.reason) {
                return Err(SessionError::ReasonRequired);
            }
            if request.mrn.trim().is_empty() {
                return Err(SessionError::NotFound);
            }
            let token = current.token.clone().ok_or(SessionError::Offline)?;
            let session_id = current.session_id;
            drop(slot);
            (token, session_id, Remote::for_workstation(&guard)?)
        };
        let records = remote.break_glass(&token, request).await.map_err(|e| match e {
            Failure::Unreachable => SessionError::Offline,
            Failure::Refused(err) => err,
        })?;
        let mut guard = Workstation::lock(ws);
        let mut slot = self.slot();
        self.refresh(&mut slot, &mut guard.store)?;
        let current = match slot.as_mut() {
            Some(c) if c.session_id == session_id && !c.locked => c,
            // Locked or ended while the service answered: the records are not kept.
            Some(c) if c.locked => return Err(SessionError::Locked),
            _ => return Err(SessionError::SignedOut),
        };
        let access = EmergencyAccess::new(records, self.clock.now(), self.policy.break_glass_minutes);
        let patient = access.patient_id();
        let ctx = current.context(PurposeOfUse::EmergencyTreatment);
        let mut events = Vec::new();
        if let Some(i) = current.accesses.iter().position(|a| a.patient_id() == patient) {
            current.accesses.remove(i);
            events.push(Event::new(&ctx, AuditSubtype::BreakGlassStop, Some(patient)));
        }
        events.push(Event::new(&ctx, AuditSubtype::BreakGlassStart, Some(patient)));
        write_events(&mut guard.store, &events)?;
        tracing::info!(session = %session_id, access = %access.grant.access_id, "break-the-glass access started");
        current.accesses.push(access);
        Ok(patient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardbook_protocol::break_glass_reason_ok;

    fn response(expires_at: DateTime<Utc>) -> BreakGlassResponse {
        let ward = wardbook_protocol::synthetic::generate(&wardbook_protocol::synthetic::SyntheticConfig::new(
            3,
            1,
            Utc::now(),
        ));
        let patient = ward.patients.into_iter().next().unwrap_or_else(|| unreachable!("one synthetic patient"));
        BreakGlassResponse {
            access_id: Uuid::now_v7(),
            expires_at,
            patient,
            observations: vec![],
            allergies: vec![],
            medication_requests: vec![],
            medication_administrations: vec![],
        }
    }

    #[test]
    fn an_access_ends_at_the_earlier_of_the_service_and_the_policy() {
        let now = Utc::now();
        let short = EmergencyAccess::new(response(now + chrono::Duration::minutes(60)), now, 30);
        assert_eq!(short.grant.expires_at, now + chrono::Duration::minutes(30));
        let server = EmergencyAccess::new(response(now + chrono::Duration::minutes(20)), now, 30);
        assert_eq!(server.grant.expires_at, now + chrono::Duration::minutes(20));
        let mut all = vec![short, server];
        assert!(take_expired(&mut all, now + chrono::Duration::minutes(19)).is_empty());
        let gone = take_expired(&mut all, now + chrono::Duration::minutes(20));
        assert_eq!((gone.len(), all.len()), (1, 1));
        assert!(!format!("{:?}", all[0]).contains(&all[0].records.patient.family_name));
    }

    #[test]
    fn a_reason_needs_ten_characters_besides_spaces_and_at_most_500() {
        assert!(!break_glass_reason_ok(""));
        assert!(!break_glass_reason_ok("  a b c d e f g h i  "));
        assert!(break_glass_reason_ok("Collapsed in ED, needs allergies"));
        assert!(!break_glass_reason_ok(&"x".repeat(501)));
    }
}
