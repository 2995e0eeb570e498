//! FHIR MedicationRequest: a medication order, as the EHR or pharmacy sends
//! it. Workstations never write orders; they read them and record
//! administrations against them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use super::Timing;
use crate::Coding;
use crate::observation::string_enum;

string_enum! {
    /// FHIR medicationrequest-status (the codes Wardbook keeps).
    MedicationRequestStatus {
        Active = "active",
        OnHold = "on-hold",
        Completed = "completed",
        Stopped = "stopped",
        EnteredInError = "entered-in-error",
    }
}

/// An amount of a medication: a dose (500 mg) or a strength's numerator.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Dose {
    pub value: f64,
    /// UCUM where the sender used it (`mg`, `mL`, `[iU]`), else the
    /// sender's unit text (`tablet`, `puff`).
    pub unit: String,
}

impl std::fmt::Debug for Dose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dose").field("unit", &self.unit).finish_non_exhaustive()
    }
}

/// A medication order. `Debug` prints identifiers and statuses only.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct MedicationRequest {
    pub id: Uuid,
    #[ts(type = "number")]
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    pub synthetic: bool,
    pub patient_id: Uuid,
    /// What is ordered: RxNorm, SNOMED CT or the hospital formulary's own
    /// code, with the display the prescriber chose.
    pub medication: Coding,
    /// The active ingredients' codes where the sender gave them (RxNorm
    /// ingredients, SNOMED CT substances): the allergy check matches on them.
    #[serde(default)]
    pub ingredients: Vec<Coding>,
    /// The generic (non-proprietary) name, e.g. "amoxicillin".
    pub generic_name: Option<String>,
    /// The product's strength as labelled, e.g. "500 mg per capsule".
    pub strength: Option<String>,
    /// The dose per administration.
    pub dose: Option<Dose>,
    /// The route (SNOMED CT or HL7 table 0162 code, with display).
    pub route: Option<Coding>,
    #[serde(deserialize_with = "crate::tagged::by_kind")]
    pub timing: Timing,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub status: MedicationRequestStatus,
    /// Who prescribed it (name or identifier as the EHR sent it).
    pub prescriber: Option<String>,
    pub indication: Option<String>,
    /// Free text for the nurse ("with food"): PHI.
    pub instructions: Option<String>,
    /// A high-alert medication (insulin, anticoagulants, opioids, ...): a
    /// dose needs a second person as witness.
    pub high_alert: bool,
}

impl std::fmt::Debug for MedicationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MedicationRequest")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("patient_id", &self.patient_id)
            .field("medication", &self.medication.code)
            .field("status", &self.status)
            .field("synthetic", &self.synthetic)
            .finish_non_exhaustive()
    }
}

impl MedicationRequest {
    /// Is the order one a dose may be given against at `at`: active, not
    /// deleted, and `start <= at < end`? The reasons it is not are the
    /// safety check [`super::SafetyCheck::OrderNotActive`] and
    /// [`super::SafetyCheck::OutsideOrderDates`].
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        !self.deleted && self.status == MedicationRequestStatus::Active && self.within_dates(at)
    }

    /// `start <= at` and, when the order has an end, `at < end`.
    pub fn within_dates(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && self.end.is_none_or(|end| at < end)
    }

    /// Shown in the chart's list of current orders: active or on hold.
    pub fn is_current(&self) -> bool {
        !self.deleted && matches!(self.status, MedicationRequestStatus::Active | MedicationRequestStatus::OnHold)
    }
}
