//! The privacy officer's workspace: `/v1/privacy/...` (privacy officer
//! role only) and what the app's privacy screens receive.
//!
//! - the access report: who viewed a patient, or what a user viewed, over a
//!   period ([`AccessReportQuery`], [`AccessReport`]), exported as CSV or as
//!   FHIR AuditEvents ([`AccessReportExport`]);
//! - the break-the-glass review queue ([`BreakGlassQueue`]) and a review
//!   ([`BreakGlassReviewRequest`]);
//! - the audit chain of every workstation ([`AuditChainStatus`]).
//!
//! These carry patient identifiers (MRN, name) because the privacy officer
//! must know whom a report is about. Their `Debug` shows identifiers only,
//! never a name, an MRN, a reason or a note.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use super::Role;
use crate::{AuditAction, AuditOutcome, AuditSubtype, PurposeOfUse};

/// The most events one export holds: a longer period is exported in parts.
pub const MAX_EXPORT_EVENTS: u32 = 10_000;
/// The longest review note, in characters.
pub const REVIEW_NOTE_MAX_CHARS: usize = 2_000;
/// The most events listed under one break-the-glass access.
pub const MAX_VIEWED_PER_ACCESS: u32 = 500;

/// A patient as a report names it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct PatientLabel {
    pub id: Uuid,
    pub mrn: String,
    pub family_name: String,
    pub given_name: String,
}

impl std::fmt::Debug for PatientLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientLabel").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A user as a report names them: the id the audit trail records, and the
/// service's user name and display name when a user has that id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct UserLabel {
    pub user_id: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
}

/// A workstation as a report names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct DeviceLabel {
    pub id: Uuid,
    /// The name it enrolled with (none for a device the service does not know).
    pub name: Option<String>,
}

/// `POST /v1/privacy/access-report`: who viewed a patient (by MRN), what a
/// user viewed (by user name), or both, over `[from, to)`; newest first.
/// Neither: every event of the period. A POST, so that the MRN never sits
/// in a URL (access logs, proxies).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AccessReportQuery {
    #[serde(default)]
    pub patient_mrn: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// From this time (inclusive).
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// Until this time (exclusive).
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    /// 1-based (default 1).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 4294967295_i64))]
    pub page: Option<u32>,
    /// 1 to 500 (default 100).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 500))]
    pub page_size: Option<u32>,
}

impl std::fmt::Debug for AccessReportQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessReportQuery")
            .field("patient_mrn", &self.patient_mrn.as_ref().map(|_| "***"))
            .field("username", &self.username)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("page", &self.page)
            .field("page_size", &self.page_size)
            .finish()
    }
}

/// One audited event, with whom and where it names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AccessRow {
    pub event_id: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub user: UserLabel,
    pub action: AuditAction,
    pub subtype: AuditSubtype,
    /// The patient the event names (none for a list, a search or a session step).
    pub patient_id: Option<Uuid>,
    /// That patient's identifiers, when the service still holds the patient.
    pub patient: Option<PatientLabel>,
    pub purpose_of_use: PurposeOfUse,
    pub outcome: AuditOutcome,
    pub device: DeviceLabel,
    /// The event's place in its workstation's chain.
    #[ts(type = "number")]
    pub sequence: i64,
    /// Recorded in a session that started with an offline sign-in.
    pub offline: bool,
}

/// A page of the access report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AccessReport {
    /// The patient asked about.
    pub patient: Option<PatientLabel>,
    /// The user asked about.
    pub user: Option<UserLabel>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub rows: Vec<AccessRow>,
    /// Events matching in all pages.
    #[ts(type = "number")]
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

/// The file formats of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ExportFormat {
    /// RFC 4180 CSV, one line per event, the report's columns.
    Csv,
    /// A FHIR R4 Bundle (collection) of AuditEvents (IHE BALP).
    Fhir,
}

/// `POST /v1/privacy/access-report/export`: the whole report (no paging,
/// at most [`MAX_EXPORT_EVENTS`] events), oldest first, as a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AccessReportExport {
    /// The report's query (its page and page size are ignored).
    pub query: AccessReportQuery,
    pub format: ExportFormat,
}

/// Where the app saved an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ExportedFile {
    pub path: String,
    pub format: ExportFormat,
    pub events: u32,
}

/// Where a break-the-glass access stands in the privacy office's review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ReviewStatus {
    Pending,
    Justified,
    Unjustified,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Justified => "justified",
            ReviewStatus::Unjustified => "unjustified",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewStatus> {
        [ReviewStatus::Pending, ReviewStatus::Justified, ReviewStatus::Unjustified]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A reviewer's finding: the access was appropriate (justified) or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ReviewOutcome {
    Justified,
    Unjustified,
}

impl ReviewOutcome {
    pub fn status(self) -> ReviewStatus {
        match self {
            ReviewOutcome::Justified => ReviewStatus::Justified,
            ReviewOutcome::Unjustified => ReviewStatus::Unjustified,
        }
    }
}

/// `POST /v1/privacy/break-glass/{id}/review`. A review is final: a second
/// one of the same access is refused (409 `already_reviewed`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct BreakGlassReviewRequest {
    pub outcome: ReviewOutcome,
    /// Why: 1 to 2000 characters besides spaces.
    pub note: String,
}

impl std::fmt::Debug for BreakGlassReviewRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakGlassReviewRequest").field("outcome", &self.outcome).finish_non_exhaustive()
    }
}

/// Whether a review note can be stored.
pub fn review_note_ok(note: &str) -> bool {
    !note.trim().is_empty() && note.chars().count() <= REVIEW_NOTE_MAX_CHARS
}

/// A stored review: who, when, the finding and the note.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct BreakGlassReview {
    pub outcome: ReviewOutcome,
    pub note: String,
    pub reviewed_by: UserLabel,
    pub reviewed_at: DateTime<Utc>,
}

impl std::fmt::Debug for BreakGlassReview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakGlassReview")
            .field("outcome", &self.outcome)
            .field("reviewed_by", &self.reviewed_by)
            .field("reviewed_at", &self.reviewed_at)
            .finish_non_exhaustive()
    }
}

/// One break-the-glass access, as the privacy office reviews it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct BreakGlassAccess {
    pub access_id: Uuid,
    pub user: UserLabel,
    pub device: DeviceLabel,
    pub patient: PatientLabel,
    /// The clinician's reason, as given.
    pub reason: String,
    pub started_at: DateTime<Utc>,
    /// The end the service granted.
    pub expires_at: DateTime<Utc>,
    /// When the workstation ended it before that (its `break-glass-stop`
    /// event, once uploaded).
    pub ended_at: Option<DateTime<Utc>>,
    /// From the start to the earlier of `ended_at` and `expires_at`.
    #[ts(type = "number")]
    pub minutes: i64,
    /// What the clinician viewed of this patient meanwhile (the events of
    /// their chain), oldest first, at most [`MAX_VIEWED_PER_ACCESS`].
    pub viewed: Vec<AccessRow>,
    pub status: ReviewStatus,
    pub review: Option<BreakGlassReview>,
}

impl std::fmt::Debug for BreakGlassAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakGlassAccess")
            .field("access_id", &self.access_id)
            .field("user", &self.user)
            .field("patient", &self.patient)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Which accesses the queue lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum QueueFilter {
    /// Awaiting review, oldest first (the default).
    #[default]
    Pending,
    /// Reviewed, most recently reviewed first.
    Reviewed,
    /// Every access, newest first.
    All,
}

/// `GET /v1/privacy/break-glass`: the review queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct BreakGlassQueue {
    pub filter: QueueFilter,
    pub accesses: Vec<BreakGlassAccess>,
    /// Accesses awaiting review, whatever the filter.
    #[ts(type = "number")]
    pub pending: i64,
}

/// How a stored chain continues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ChainState {
    /// Every event from sequence 1 on, each linked to the one before.
    Continuous,
    /// A gap, an altered event or a broken link (see `broken_at`).
    Broken,
    /// Nothing uploaded yet.
    Empty,
}

/// The first place a stored chain fails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ChainBreak {
    #[ts(type = "number")]
    pub sequence: i64,
    /// `audit_gap`, `audit_altered` or `audit_unlinked`.
    pub kind: String,
}

/// A security finding the service recorded about a workstation (an upload
/// it refused).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ChainFinding {
    pub detected_at: DateTime<Utc>,
    pub kind: String,
    #[ts(type = "number | null")]
    pub position: Option<i64>,
    pub detail: String,
}

/// One workstation's stored chain, re-verified now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct DeviceChain {
    pub device: DeviceLabel,
    pub revoked: bool,
    #[ts(type = "number")]
    pub events: i64,
    #[ts(type = "number | null")]
    pub last_sequence: Option<i64>,
    pub last_recorded_at: Option<DateTime<Utc>>,
    pub last_received_at: Option<DateTime<Utc>>,
    pub state: ChainState,
    pub broken_at: Option<ChainBreak>,
    /// Newest first, at most 50.
    pub findings: Vec<ChainFinding>,
}

/// `GET /v1/privacy/audit-chains`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AuditChainStatus {
    pub checked_at: DateTime<Utc>,
    pub devices: Vec<DeviceChain>,
}

/// `GET /v1/privacy/summary`: the caller's roles and what awaits them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct PrivacySummary {
    pub roles: Vec<Role>,
    #[ts(type = "number")]
    pub pending_reviews: i64,
    /// Workstations with a security finding recorded (a refused upload).
    #[ts(type = "number")]
    pub devices_with_findings: i64,
}

/// What the app tells its UI about the signed-in user and the privacy
/// workspace (not an HTTP body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct PrivacyAccess {
    /// The user holds the privacy officer role (the workspace is shown).
    pub privacy_officer: bool,
    /// The user holds the clinician role (the ward screens are shown).
    pub clinician: bool,
    #[ts(type = "number")]
    pub pending_reviews: i64,
    #[ts(type = "number")]
    pub devices_with_findings: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_names_mrns_reasons_or_notes() {
        let patient = PatientLabel {
            id: Uuid::nil(),
            mrn: "SYN-123".into(),
            family_name: "Synthetic".into(),
            given_name: "Ada".into(),
        };
        let query = AccessReportQuery { patient_mrn: Some("SYN-123".into()), ..AccessReportQuery::default() };
        let review = BreakGlassReviewRequest { outcome: ReviewOutcome::Justified, note: "Seen in ED".into() };
        let text = format!("{patient:?} {query:?} {review:?}");
        for secret in ["SYN-123", "Synthetic", "Ada", "Seen in ED"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[test]
    fn a_note_needs_text_and_at_most_2000_characters() {
        assert!(!review_note_ok("   "));
        assert!(review_note_ok("Patient collapsed in ED; access appropriate."));
        assert!(review_note_ok(&"é".repeat(REVIEW_NOTE_MAX_CHARS)));
        assert!(!review_note_ok(&"x".repeat(REVIEW_NOTE_MAX_CHARS + 1)));
    }

    #[test]
    fn review_statuses_spell_as_stored() {
        for s in [ReviewStatus::Pending, ReviewStatus::Justified, ReviewStatus::Unjustified] {
            assert_eq!(ReviewStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ReviewOutcome::Unjustified.status(), ReviewStatus::Unjustified);
    }
}
