//! What the desktop app's IPC commands return to the UI. Declared here, in
//! the Tauri-free crate, so that TypeScript types are generated from them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use crate::{Allergy, Patient, ReasonLimits, Sex};

/// One row of the ward census or of a search result.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PatientSummary {
    pub id: Uuid,
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub location: Option<String>,
    /// The bed within the location, as on [`Patient::bed`]. The census shows
    /// it and orders each location by it: "2" before "10", no bed last
    /// (`bed_order`).
    pub bed: Option<String>,
    /// Number of active, not refuted allergies (0 = none recorded).
    pub active_allergy_count: u32,
    /// True when any active allergy has high criticality.
    pub has_high_criticality_allergy: bool,
    pub synthetic: bool,
    /// The next scheduled dose not yet given (or due now), from the cache.
    #[serde(default)]
    pub next_due: Option<NextDue>,
    /// Scheduled doses of the last 24 hours past their window and not recorded.
    #[serde(default)]
    pub overdue_doses: u32,
    /// Two "given" records for one due dose that no clinician has reviewed.
    #[serde(default)]
    pub possible_double_dose: bool,
    /// The NEWS2 score of the latest vital signs
    /// ([`crate::news2::news2_from_observations`]), over the readings no
    /// older than the workstation's `news2_max_age_hours`; incomplete when a
    /// parameter has none. `None`: no vital sign that recent at all.
    #[serde(default)]
    pub news2: Option<crate::news2::News2Score>,
}

/// The next dose due for a patient: when, and the medication's display.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NextDue {
    pub due_at: DateTime<Utc>,
    pub medication: String,
}

impl std::fmt::Debug for PatientSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientSummary").field("id", &self.id).finish_non_exhaustive()
    }
}

/// What opening a chart shows first: the header and the allergies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ChartHeader {
    pub patient: Patient,
    /// Age in whole years today, computed where the date is known.
    pub age_years: u32,
    /// Every allergy not deleted, active first, high criticality first;
    /// each with the verdict of [`Allergy::is_current`] on the wire.
    #[serde(serialize_with = "with_verdicts", deserialize_with = "without_verdicts")]
    #[ts(as = "Vec<BannerAllergy>")]
    pub allergies: Vec<Allergy>,
}

/// An allergy as the banner shows it: with `current`, the verdict of
/// [`Allergy::is_current`], so the UI reads the core's decision instead of
/// deciding again. [`ChartHeader`] keeps plain allergies and adds the
/// verdict when it is serialized, so no code that builds a header can get
/// it wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct BannerAllergy {
    pub allergy: Allergy,
    /// One the clinician must act on now: counted in the banner, listed first.
    pub current: bool,
}

impl From<Allergy> for BannerAllergy {
    fn from(allergy: Allergy) -> Self {
        BannerAllergy { current: allergy.is_current(), allergy }
    }
}

fn with_verdicts<S: serde::Serializer>(allergies: &[Allergy], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(allergies.iter().map(|a| BannerAllergy::from(a.clone())))
}

/// The verdicts are derived, so the ones received are dropped.
fn without_verdicts<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Allergy>, D::Error> {
    let shown = Vec::<BannerAllergy>::deserialize(deserializer)?;
    Ok(shown.into_iter().map(|b| b.allergy).collect())
}

/// The environment the app runs in (`WARDBOOK_ENV`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Environment {
    Production,
    Development,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Development => "development",
            Environment::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Environment> {
        [Environment::Production, Environment::Development, Environment::Test].into_iter().find(|e| e.as_str() == s)
    }
}

/// Facts the UI shows in its frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AppInfo {
    pub version: String,
    pub environment: Environment,
    /// True when the local cache holds any synthetic row: the UI shows a
    /// "SYNTHETIC DATA" banner.
    pub synthetic_data: bool,
    /// The signed-in user (a placeholder until sign-in exists).
    pub user_id: String,
    /// The status bar warns when the data is older than this (policy, default 120).
    pub data_age_warning_minutes: u32,
    /// What the emergency-access form must ask of the reason:
    /// [`ReasonLimits::BREAK_GLASS`], the numbers the core and the service
    /// check.
    pub break_glass_reason: ReasonLimits,
}

/// An error as the UI receives it: a stable code to classify and a message
/// for a person. Never contains PHI or SQL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct UiError {
    pub code: String,
    pub message: String,
}

/// Re-exported so the UI can name a patient id type.
pub type PatientId = Uuid;

/// Where this workstation stands with the sync service: what the status bar
/// and `wardbook status` show. Counts and times only, no PHI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncStatus {
    /// Enrolled with a sync service (a device credential is stored).
    pub enrolled: bool,
    pub server_url: Option<String>,
    /// `None` before the first attempt.
    pub online: Option<bool>,
    /// When the current online or offline state began.
    pub state_since: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// When the cache last completed a pull: how old its data may be.
    pub data_as_of: Option<DateTime<Utc>>,
    /// Edits (one per record) the server has not yet confirmed.
    #[ts(type = "number")]
    pub pending_edits: i64,
    /// The same edits counted as the clinician made them: a set of vitals
    /// recorded together is one entry. What the status bar shows.
    #[serde(default)]
    #[ts(type = "number")]
    pub pending_entries: i64,
    #[ts(type = "number")]
    pub pending_audit_events: i64,
    #[ts(type = "number")]
    pub conflicts: i64,
    #[ts(type = "number")]
    pub rejected_edits: i64,
    /// While the first full download is under way.
    pub initial_sync: Option<SyncProgress>,
    /// The last failure, in plain words (no PHI).
    pub last_error: Option<String>,
    /// Patients of this workstation with a possible double dose that no
    /// clinician has reviewed yet.
    #[serde(default)]
    pub double_dose_patients: u32,
    /// The background whole-file integrity check of the local database.
    #[serde(default)]
    pub integrity: IntegrityStatus,
}

/// Where the background integrity check of the local database stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum IntegrityState {
    /// Not run yet since the app started (it starts shortly after).
    #[default]
    NotChecked,
    /// Reading the whole file now.
    Checking,
    /// Every page read and authenticated; the structure is sound.
    Ok,
    /// Damage found: stop using this workstation and call IT; the file is
    /// moved aside at the next start.
    Damaged,
    /// The check could not run (busy, I/O error); it is tried again later.
    Failed,
}

/// The latest background integrity check: its state, when it finished and
/// how many problems it listed (never what they were about).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct IntegrityStatus {
    pub state: IntegrityState,
    pub checked_at: Option<DateTime<Utc>>,
    pub problems: u32,
}

/// Rows received so far of an initial sync, and how many are expected.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncProgress {
    #[ts(type = "number")]
    pub rows_done: i64,
    #[ts(type = "number | null")]
    pub rows_expected: Option<i64>,
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::allergy::tests::allergy;
    use crate::{AllergyClinicalStatus, AllergyVerificationStatus};

    #[test]
    fn a_chart_header_carries_each_allergys_verdict() {
        let patient = Patient {
            id: Uuid::from_u128(1),
            version: 1,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            deleted: false,
            synthetic: true,
            mrn: "SYN-1".into(),
            given_name: "Test".into(),
            family_name: "Patient".into(),
            birth_date: NaiveDate::from_ymd_opt(1970, 5, 17).expect("date"),
            sex: Sex::Unknown,
            phone: None,
            email: None,
            address: None,
            preferred_language: None,
            location: None,
            bed: None,
            source_system: "test".into(),
        };
        let allergies = vec![
            allergy(AllergyClinicalStatus::Active, AllergyVerificationStatus::Unconfirmed, false),
            allergy(AllergyClinicalStatus::Active, AllergyVerificationStatus::Refuted, false),
            allergy(AllergyClinicalStatus::Resolved, AllergyVerificationStatus::Confirmed, false),
        ];
        let header = ChartHeader { patient, age_years: 55, allergies };
        let json = serde_json::to_value(&header).expect("serialize");
        let shown = json["allergies"].as_array().expect("an array");
        let verdicts: Vec<bool> = shown.iter().map(|b| b["current"].as_bool().expect("current")).collect();
        assert_eq!(verdicts, [true, false, false]);
        assert_eq!(shown[1]["allergy"]["verification_status"], "refuted");

        // A verdict received is not believed: it is derived again.
        let mut tampered = json.clone();
        tampered["allergies"][1]["current"] = true.into();
        let back: ChartHeader = serde_json::from_value(tampered).expect("deserialize");
        assert_eq!(back, header);
        assert_eq!(serde_json::to_value(&back).expect("serialize"), json);
    }
}
