//! What the clinician's screens send to record medication events, and what
//! comes back. Declared here so the TypeScript types are generated from them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use super::{
    AdministrationRow, AdministrationStatus, CheckFinding, CheckOverride, Dose, DoseReviewOutcome, MedicationsView,
    NotGivenReason,
};
use crate::{Coding, views::ChartHeader};

/// A dose given or not given, as the nurse records it.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AdministrationEntry {
    pub request_id: Uuid,
    /// The due time answered; none for a PRN dose.
    pub due_at: Option<DateTime<Utc>>,
    /// Given (`completed`) or not given (`not-done`).
    pub status: AdministrationStatus,
    pub not_given_reason: Option<NotGivenReason>,
    /// The order's dose when absent.
    pub dose: Option<Dose>,
    /// The order's route when absent.
    pub route: Option<Coding>,
    pub site: Option<String>,
    /// Now when absent.
    pub given_at: Option<DateTime<Utc>>,
    pub witness: Option<String>,
    /// Overrides of checks that failed, each with its reason.
    #[serde(default)]
    pub overrides: Vec<CheckOverride>,
}

impl std::fmt::Debug for AdministrationEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdministrationEntry")
            .field("request_id", &self.request_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// What recording a dose did: saved (pending until the service has it), or
/// held back because checks failed that no override covers yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[ts(export)]
pub enum RecordAdministrationOutcome {
    Saved { row: Box<AdministrationRow>, findings: Vec<CheckFinding> },
    NeedsOverride { findings: Vec<CheckFinding> },
}

/// Marks an administration entered-in-error; the reason is required.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AdministrationInError {
    pub administration_id: Uuid,
    pub reason: String,
}

impl std::fmt::Debug for AdministrationInError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdministrationInError")
            .field("administration_id", &self.administration_id)
            .finish_non_exhaustive()
    }
}

/// A clinician's review of a possible double dose.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct DoseReviewEntry {
    pub patient_id: Uuid,
    pub request_id: Uuid,
    pub due_at: Option<DateTime<Utc>>,
    pub administration_ids: Vec<Uuid>,
    pub outcome: DoseReviewOutcome,
    pub note: String,
}

impl std::fmt::Debug for DoseReviewEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoseReviewEntry").field("request_id", &self.request_id).finish_non_exhaustive()
    }
}

/// One patient's page of a MAR printout: the header with allergies at the
/// top, the medications and MAR over the window (blank future slots to
/// chart on paper).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MarPage {
    pub header: ChartHeader,
    pub medications: MedicationsView,
}

/// A MAR printout: one patient, or the whole ward one patient a page. Each
/// patient on it was recorded as an audited print.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MarPrint {
    pub printed_at: DateTime<Utc>,
    /// Hours ahead the blank slots cover (24 or 48).
    pub hours_ahead: u32,
    pub pages: Vec<MarPage>,
}
