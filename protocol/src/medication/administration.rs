//! FHIR MedicationAdministration: a dose given or not given, recorded at a
//! workstation. Administrations are append-only clinical facts: a record is
//! never changed except to mark it entered-in-error, and two records for the
//! same due dose are both kept and flagged ([`DoseReview`] clears the flag).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use super::Dose;
use crate::Coding;
use crate::observation::string_enum;

string_enum! {
    /// FHIR medication-admin-status, the codes Wardbook records: `completed`
    /// (given), `not-done` (not given, with a reason) and `entered-in-error`.
    AdministrationStatus { Given = "completed", NotGiven = "not-done", EnteredInError = "entered-in-error" }
}

string_enum! {
    /// Why a due dose was not given.
    NotGivenReason { Held = "held", Refused = "refused", Unavailable = "unavailable", PatientAway = "patient-away" }
}

string_enum! {
    /// A check made before a dose is recorded; each one that fails needs an
    /// override with a reason, which the administration keeps.
    SafetyCheck {
        /// The patient has a current allergy that matches the medication.
        Allergy = "allergy",
        /// A PRN dose before its minimum interval since the last one.
        PrnInterval = "prn-interval",
        /// A PRN dose that takes the last 24 hours beyond the daily maximum.
        PrnDailyMaximum = "prn-daily-maximum",
        /// The order is stopped, on hold, completed or entered in error.
        OrderNotActive = "order-not-active",
        /// The dose time is before the order's start or after its end.
        OutsideOrderDates = "outside-order-dates",
        /// A high-alert medication without a witness.
        NoWitness = "no-witness",
        /// The due time is already recorded as given (on this workstation,
        /// or on another one whose record has arrived).
        AlreadyGiven = "already-given",
    }
}

/// A failed check the clinician chose to override, and why.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct CheckOverride {
    pub check: SafetyCheck,
    /// Free text: PHI.
    pub reason: String,
}

impl std::fmt::Debug for CheckOverride {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckOverride").field("check", &self.check).finish_non_exhaustive()
    }
}

/// A dose given or not given. `Debug` prints identifiers and statuses only.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct MedicationAdministration {
    /// UUID v7, made by the workstation.
    pub id: Uuid,
    #[ts(type = "number")]
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    pub synthetic: bool,
    pub patient_id: Uuid,
    /// The order it answers.
    pub request_id: Uuid,
    /// The scheduled due time it answers; none for a PRN dose.
    pub due_at: Option<DateTime<Utc>>,
    pub status: AdministrationStatus,
    /// Required when not given.
    pub not_given_reason: Option<NotGivenReason>,
    /// The dose given (the order's dose unless changed).
    pub dose: Option<Dose>,
    pub route: Option<Coding>,
    /// Body site (free text, e.g. "left deltoid").
    pub site: Option<String>,
    /// When it was given (or, not given, when that was decided).
    pub given_at: DateTime<Utc>,
    /// Who gave it (user name).
    pub performer: String,
    /// The second person who checked a high-alert dose (user name).
    pub witness: Option<String>,
    /// Checks that failed and were overridden, with the reasons.
    #[serde(default)]
    pub overrides: Vec<CheckOverride>,
    /// Why it was marked entered-in-error (required then). Free text: PHI.
    pub error_reason: Option<String>,
    /// When the record was made (may be after `given_at`).
    pub recorded_at: DateTime<Utc>,
}

impl std::fmt::Debug for MedicationAdministration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MedicationAdministration")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("patient_id", &self.patient_id)
            .field("request_id", &self.request_id)
            .field("status", &self.status)
            .field("synthetic", &self.synthetic)
            .finish_non_exhaustive()
    }
}

impl MedicationAdministration {
    /// A dose that counts as given: status given, not deleted.
    pub fn counts_as_given(&self) -> bool {
        !self.deleted && self.status == AdministrationStatus::Given
    }

    /// May `next` replace `self` as a stored version? Only a change of status
    /// to entered-in-error (with its reason) is; every other field is a
    /// clinical fact that stays as recorded.
    pub fn may_become(&self, next: &MedicationAdministration) -> bool {
        if self.status == AdministrationStatus::EnteredInError {
            // Marked already: the mark and its reason stay as first recorded.
            return server_fields_aside(self) == server_fields_aside(next);
        }
        if next.error_reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return false;
        }
        let mut marked = self.clone();
        marked.status = AdministrationStatus::EnteredInError;
        marked.error_reason.clone_from(&next.error_reason);
        next.status == AdministrationStatus::EnteredInError && server_fields_aside(&marked) == server_fields_aside(next)
    }
}

/// The record without the fields the server manages.
fn server_fields_aside(a: &MedicationAdministration) -> MedicationAdministration {
    MedicationAdministration { version: 0, updated_at: DateTime::<Utc>::UNIX_EPOCH, ..a.clone() }
}

string_enum! {
    /// What a clinician concluded about a possible double dose.
    DoseReviewOutcome {
        /// One dose was given; the other record is a duplicate (to be marked entered-in-error).
        DuplicateRecord = "duplicate-record",
        /// Both doses were given; the patient has been assessed and the prescriber told.
        DoubleDoseConfirmed = "double-dose-confirmed",
    }
}

/// A clinician's review of a possible double dose: two or more "given"
/// records for one order and due time (or PRN doses inside the minimum
/// interval). The flag stays until a review covers every record involved.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct DoseReview {
    pub id: Uuid,
    #[ts(type = "number")]
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    pub synthetic: bool,
    pub patient_id: Uuid,
    pub request_id: Uuid,
    pub due_at: Option<DateTime<Utc>>,
    /// The administrations reviewed.
    pub administration_ids: Vec<Uuid>,
    pub outcome: DoseReviewOutcome,
    /// Free text: PHI.
    pub note: String,
    pub reviewed_by: String,
    pub reviewed_at: DateTime<Utc>,
}

impl std::fmt::Debug for DoseReview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoseReview")
            .field("id", &self.id)
            .field("patient_id", &self.patient_id)
            .field("request_id", &self.request_id)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("an RFC 3339 instant").with_timezone(&Utc)
    }

    fn recorded(status: AdministrationStatus) -> MedicationAdministration {
        MedicationAdministration {
            id: Uuid::from_u128(20),
            version: 3,
            updated_at: at("2025-06-10T09:01:00Z"),
            deleted: false,
            synthetic: true,
            patient_id: Uuid::from_u128(1),
            request_id: Uuid::from_u128(10),
            due_at: Some(at("2025-06-10T09:00:00Z")),
            status,
            not_given_reason: (status == AdministrationStatus::NotGiven).then_some(NotGivenReason::Refused),
            dose: Some(Dose { value: 1.0, unit: "g".into() }),
            route: None,
            site: None,
            given_at: at("2025-06-10T09:00:00Z"),
            performer: "nurse-a".into(),
            witness: None,
            overrides: Vec::new(),
            error_reason: None,
            recorded_at: at("2025-06-10T09:00:30Z"),
        }
    }

    fn marked(mut a: MedicationAdministration) -> MedicationAdministration {
        a.status = AdministrationStatus::EnteredInError;
        a.error_reason = Some("recorded on the wrong chart".into());
        a
    }

    #[test]
    fn may_become_only_entered_in_error() {
        type Change = fn(&mut MedicationAdministration);
        let cases: Vec<(&str, AdministrationStatus, Change, bool)> = vec![
            ("given, marked in error", AdministrationStatus::Given, |a| *a = marked(a.clone()), true),
            ("not given, marked in error", AdministrationStatus::NotGiven, |a| *a = marked(a.clone()), true),
            (
                "marked, with the server's version and time",
                AdministrationStatus::Given,
                |a| {
                    *a = marked(a.clone());
                    a.version = 4;
                    a.updated_at = at("2025-06-10T11:00:00Z");
                },
                true,
            ),
            (
                "marked, and the dose changed",
                AdministrationStatus::Given,
                |a| {
                    *a = marked(a.clone());
                    a.dose = Some(Dose { value: 2.0, unit: "g".into() });
                },
                false,
            ),
            (
                "marked, and given_at changed",
                AdministrationStatus::Given,
                |a| {
                    *a = marked(a.clone());
                    a.given_at = at("2025-06-10T09:30:00Z");
                },
                false,
            ),
            (
                "marked, and the performer changed",
                AdministrationStatus::Given,
                |a| {
                    *a = marked(a.clone());
                    a.performer = "nurse-b".into();
                },
                false,
            ),
            (
                "marked, and deleted",
                AdministrationStatus::Given,
                |a| {
                    *a = marked(a.clone());
                    a.deleted = true;
                },
                false,
            ),
            (
                "given to not done",
                AdministrationStatus::Given,
                |a| {
                    a.status = AdministrationStatus::NotGiven;
                    a.not_given_reason = Some(NotGivenReason::Held);
                },
                false,
            ),
            (
                "not done to given",
                AdministrationStatus::NotGiven,
                |a| {
                    a.status = AdministrationStatus::Given;
                    a.not_given_reason = None;
                },
                false,
            ),
            ("the dose changed, still given", AdministrationStatus::Given, |a| a.dose = None, false),
            ("the same record again", AdministrationStatus::Given, |_| {}, false),
        ];
        for (label, status, change, expected) in cases {
            let before = recorded(status);
            let mut next = before.clone();
            change(&mut next);
            assert_eq!(before.may_become(&next), expected, "{label}");
        }
    }
}
