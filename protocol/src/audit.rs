//! FHIR-aligned AuditEvent: who viewed what, when, why, from which device,
//! chained by SHA-256 so that an edited or missing event is evident.
//!
//! The canonical encoding (what the hash covers) is defined here, once, so
//! that the desktop app that writes events and the server that verifies them
//! cannot disagree.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;
use uuid::Uuid;

use crate::observation::string_enum;

string_enum! {
    /// FHIR audit-event-action (C, R, U, D, E).
    AuditAction { Create = "create", Read = "read", Update = "update", Delete = "delete", Execute = "execute" }
}

string_enum! {
    /// What was viewed or done.
    AuditSubtype {
        CensusList = "census-list",
        PatientSearch = "patient-search",
        /// A chart opened: everything it shows at once, under this one event:
        /// the patient header, the allergies and the first tab, vital signs
        /// (`OpenedChart`). Older workstations recorded the vital signs shown
        /// on opening as a separate `vitals-view`.
        ChartOpen = "chart-open",
        /// The vitals tab opened again after another tab.
        VitalsView = "vitals-view",
        LabsView = "labs-view",
        /// The allergies tab (the full list; the banner is part of `chart-open`).
        AllergiesView = "allergies-view",
        Print = "print",
        Export = "export",
        BreakGlassStart = "break-glass-start",
        BreakGlassStop = "break-glass-stop",
        Login = "login",
        LoginOffline = "login-offline",
        Logout = "logout",
        Lock = "lock",
        Unlock = "unlock",
        UnlockFailed = "unlock-failed",
        ConflictsView = "conflicts-view",
        MedicationsView = "medications-view",
        /// A dose recorded despite a failed check (the override's reason is in the record).
        MedicationOverride = "medication-override",
        /// A possible double dose reviewed.
        DoubleDoseReview = "double-dose-review",
        /// The privacy office's access report (who viewed a patient, what a user viewed).
        AccessReportView = "access-report-view",
        /// The privacy office's break-the-glass review queue.
        BreakGlassQueueView = "break-glass-queue-view",
        /// A break-the-glass access reviewed by the privacy office.
        BreakGlassReview = "break-glass-review",
        /// The privacy office's view of every workstation's audit chain.
        AuditChainView = "audit-chain-view",
    }
}

string_enum! {
    /// HL7 v3 PurposeOfUse (the ones Wardbook records).
    PurposeOfUse {
        Treatment = "TREAT",
        EmergencyTreatment = "ETREAT",
        Operations = "HOPERAT",
        /// Health compliance: the privacy office reviewing who accessed what.
        Compliance = "HCOMPL",
    }
}

string_enum! {
    /// FHIR audit-event-outcome, spelled out.
    AuditOutcome { Success = "success", MinorFailure = "minor-failure", SeriousFailure = "serious-failure" }
}

/// The `prev_hash` of a device's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit event. Carries identifiers only (no names): safe to `Debug`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AuditEvent {
    pub id: Uuid,
    pub device_id: Uuid,
    /// Per-device, gapless, starting at 1.
    #[ts(type = "number")]
    pub sequence: i64,
    /// UTC, microsecond precision.
    pub recorded_at: DateTime<Utc>,
    pub user_id: String,
    pub session_id: Uuid,
    pub action: AuditAction,
    pub subtype: AuditSubtype,
    pub patient_id: Option<Uuid>,
    pub purpose_of_use: PurposeOfUse,
    pub outcome: AuditOutcome,
    /// Hex SHA-256 of the previous event of this device, or [`GENESIS_HASH`].
    pub prev_hash: String,
    /// Hex SHA-256 of [`AuditEvent::canonical_encoding`].
    pub hash: String,
}

impl AuditEvent {
    /// The canonical encoding the hash covers: every field but `hash`, one
    /// `name=value` line each in this fixed order, UTF-8, `\n`-terminated.
    /// Times are RFC 3339 UTC with microseconds; an absent patient is empty.
    /// Field values cannot contain `\n` except `user_id`, which is escaped.
    pub fn canonical_encoding(&self) -> String {
        let patient = self.patient_id.map(|p| p.to_string()).unwrap_or_default();
        format!(
            "wardbook-audit-v1\nid={}\ndevice_id={}\nsequence={}\nrecorded_at={}\nuser_id={}\nsession_id={}\naction={}\nsubtype={}\npatient_id={}\npurpose_of_use={}\noutcome={}\nprev_hash={}\n",
            self.id,
            self.device_id,
            self.sequence,
            self.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.user_id.escape_default(),
            self.session_id,
            self.action,
            self.subtype,
            patient,
            self.purpose_of_use,
            self.outcome,
            self.prev_hash,
        )
    }

    /// The hash this event should carry, computed from its contents.
    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_encoding().as_bytes()))
    }

    /// Sets `hash` from the contents (call after every other field is final).
    pub fn seal(mut self) -> Self {
        self.hash = self.compute_hash();
        self
    }

    /// Does this event continue a chain whose next sequence is
    /// `expected_sequence` and whose last hash is `prev_hash`? The one rule
    /// the app's `audit verify` and the server's ingest and verify share.
    pub fn check_link(&self, expected_sequence: i64, prev_hash: &str) -> Result<(), LinkBreak> {
        if self.sequence != expected_sequence {
            Err(LinkBreak::Gap)
        } else if self.compute_hash() != self.hash {
            Err(LinkBreak::Altered)
        } else if self.prev_hash != prev_hash {
            Err(LinkBreak::Unlinked)
        } else {
            Ok(())
        }
    }
}

/// How an event fails to continue its chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkBreak {
    /// Its sequence is not the next one: events are missing.
    Gap,
    /// Its contents do not match its hash.
    Altered,
    /// Its `prev_hash` is not the previous event's hash.
    Unlinked,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            id: Uuid::nil(),
            device_id: Uuid::nil(),
            sequence: 1,
            recorded_at: DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            user_id: "u1".into(),
            session_id: Uuid::nil(),
            action: AuditAction::Read,
            subtype: AuditSubtype::ChartOpen,
            patient_id: None,
            purpose_of_use: PurposeOfUse::Treatment,
            outcome: AuditOutcome::Success,
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
        .seal()
    }

    #[test]
    fn hash_is_stable_and_covers_every_field() {
        let e = event();
        assert_eq!(e.hash.len(), 64);
        assert_eq!(e.hash, e.compute_hash());
        let mut changed = e.clone();
        changed.subtype = AuditSubtype::VitalsView;
        assert_ne!(changed.compute_hash(), e.hash);
        let mut changed = e.clone();
        changed.prev_hash = "1".repeat(64);
        assert_ne!(changed.compute_hash(), e.hash);
        let mut changed = e.clone();
        changed.patient_id = Some(Uuid::from_u128(7));
        assert_ne!(changed.compute_hash(), e.hash);
    }

    #[test]
    fn newline_in_user_cannot_forge_another_field() {
        let mut a = event();
        a.user_id = "x\nsubtype=login".into();
        assert!(!a.canonical_encoding().contains("\nsubtype=login\n"));
    }
}
