//! What the clinician's workstation UI sends and receives over IPC, beyond
//! the census and chart header of `views`: sessions, chart tabs, recording,
//! conflicts, the downtime summary and settings. Declared here, in the
//! Tauri-free crate, so that TypeScript types are generated from them and the
//! UI cannot drift from the commands.
//!
//! Types that carry PHI or secrets implement `Debug` by hand (identifiers
//! only, or nothing).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use crate::api::Record;
use crate::{
    Allergy, AllergyCategory, AllergyClinicalStatus, AllergyType, AllergyVerificationStatus, ChartHeader, Coding,
    Criticality, Observation, ReactionSeverity,
};

// ---------------------------------------------------------------- sessions

mod session;
pub use session::*;

/// Emergency access to a patient outside this workstation's scope.
#[derive(Clone, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct BreakGlassRequest {
    /// The patient's MRN, as the clinician typed it. Empty when the patient
    /// is named by family name and date of birth instead.
    #[serde(default)]
    pub mrn: String,
    /// With `birth_date`, names the patient when the MRN is not at hand
    /// (case and spacing do not matter). Refused when it matches more than
    /// one patient: the MRN is needed then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub birth_date: Option<chrono::NaiveDate>,
    /// Why: required, at least a few words; reviewed by the privacy office.
    /// At least [`BREAK_GLASS_REASON_MIN_CHARS`] characters other than
    /// spaces and at most [`BREAK_GLASS_REASON_MAX_CHARS`] in all (the
    /// schema's numbers are checked against these constants by a test).
    /// "Spaces" are Unicode's White_Space characters, spelled out in the
    /// pattern because `\s` differs between regex dialects.
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 500,
            pattern = r"^(?:[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]){10}"
        )
    )]
    pub reason: String,
}

impl std::fmt::Debug for BreakGlassRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakGlassRequest").finish_non_exhaustive()
    }
}

/// A break-the-glass reason needs at least this many characters other than
/// spaces: a few words the privacy office can review.
pub const BREAK_GLASS_REASON_MIN_CHARS: usize = 10;
/// And at most this many characters in all.
pub const BREAK_GLASS_REASON_MAX_CHARS: usize = 500;

/// Is this break-the-glass reason acceptable? The one rule the workstation
/// and the service share.
pub fn break_glass_reason_ok(reason: &str) -> bool {
    ReasonLimits::BREAK_GLASS.accepts(reason)
}

/// How long a free-text reason must be, in characters (Unicode scalar
/// values, as Rust counts them; not UTF-16 units). Sent to the UI in
/// [`crate::AppInfo`] so that its form states and enforces the numbers the
/// core and the service apply, instead of typing them again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReasonLimits {
    /// At least this many characters other than whitespace (Unicode's
    /// White_Space property, Rust's `char::is_whitespace`).
    pub min_chars: usize,
    /// At most this many characters in all, whitespace included.
    pub max_chars: usize,
}

impl ReasonLimits {
    /// The limits of a break-the-glass reason.
    pub const BREAK_GLASS: ReasonLimits =
        ReasonLimits { min_chars: BREAK_GLASS_REASON_MIN_CHARS, max_chars: BREAK_GLASS_REASON_MAX_CHARS };

    /// Does `reason`, exactly as received, keep within the limits?
    pub fn accepts(&self, reason: &str) -> bool {
        let substantive = reason.chars().filter(|c| !c.is_whitespace()).count();
        substantive >= self.min_chars && reason.chars().count() <= self.max_chars
    }
}

/// A running break-the-glass access (identifiers and times only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct BreakGlassGrant {
    pub access_id: Uuid,
    pub patient_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What the service returns for a break-the-glass access: the patient's
/// records, held in memory by the workstation until the access expires.
#[derive(Clone, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct BreakGlassResponse {
    pub access_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub patient: crate::Patient,
    pub observations: Vec<Observation>,
    pub allergies: Vec<Allergy>,
    /// The patient's medication orders and doses, for the medications tab.
    #[serde(default)]
    pub medication_requests: Vec<crate::medication::MedicationRequest>,
    #[serde(default)]
    pub medication_administrations: Vec<crate::medication::MedicationAdministration>,
}

impl std::fmt::Debug for BreakGlassResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakGlassResponse")
            .field("access_id", &self.access_id)
            .field("patient_id", &self.patient.id)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------- the chart

/// An observation as a chart tab shows it: `pending` until the server has
/// confirmed the edit that made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ObservationRow {
    pub observation: Observation,
    pub pending: bool,
}

/// What opening a chart shows at once: the header with the allergies, and
/// the first tab, vital signs (newest first, as [`ObservationRow`]s). Read
/// in one transaction and recorded as one `chart-open` audit event, which
/// stands for all three; opening a tab again later is that tab's own event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct OpenedChart {
    pub header: ChartHeader,
    pub vitals: Vec<ObservationRow>,
}

/// An allergy as the allergies tab shows it.
///
/// On the wire the row also carries `current`, the verdict of
/// [`Allergy::is_current`], so the UI reads the core's decision instead of
/// deciding again. It is computed when the row is serialized, never stored,
/// so no code that builds a row can set it wrong (and none has to set it).
/// Deserializing ignores it.
#[derive(Clone, Debug, PartialEq, Deserialize, TS)]
#[ts(export, as = "AllergyRowWire<'static>")]
pub struct AllergyRow {
    pub allergy: Allergy,
    pub pending: bool,
}

/// [`AllergyRow`] as the UI receives it (and its TypeScript type).
#[derive(Serialize, TS)]
struct AllergyRowWire<'a> {
    allergy: &'a Allergy,
    pending: bool,
    /// [`Allergy::is_current`]: one the clinician must act on now.
    current: bool,
}

impl Serialize for AllergyRow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        AllergyRowWire { allergy: &self.allergy, pending: self.pending, current: self.allergy.is_current() }
            .serialize(serializer)
    }
}

/// A set of vital signs as entered at the bedside; empty fields are not
/// recorded. Units are the ones of `VITAL_SPECS` (no conversion).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct VitalsEntry {
    /// When measured; now when absent.
    pub effective_at: Option<DateTime<Utc>>,
    pub heart_rate: Option<f64>,
    pub systolic: Option<f64>,
    pub diastolic: Option<f64>,
    pub respiratory_rate: Option<f64>,
    pub temperature: Option<f64>,
    pub spo2: Option<f64>,
    /// On supplemental oxygen (true) or breathing air (false), for NEWS2:
    /// recorded as a boolean observation, SNOMED CT 371825009 (`ON_OXYGEN`
    /// in `vitals.rs`). Absent: not recorded.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub on_oxygen: Option<bool>,
    /// Level of consciousness (ACVPU), for NEWS2: recorded as a coded
    /// observation, LOINC 67775-7 (`CONSCIOUSNESS` in `vitals.rs`). Absent:
    /// not recorded.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub consciousness: Option<crate::news2::Acvpu>,
}

impl std::fmt::Debug for VitalsEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VitalsEntry").finish_non_exhaustive()
    }
}

/// A new allergy (`id` absent) or a change to one (`id` and the version the
/// clinician saw).
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AllergyEntry {
    pub id: Option<Uuid>,
    #[ts(type = "number | null")]
    pub base_version: Option<i64>,
    pub allergen: Coding,
    #[serde(rename = "type")]
    #[ts(rename = "type")]
    pub allergy_type: AllergyType,
    pub category: AllergyCategory,
    pub clinical_status: AllergyClinicalStatus,
    pub verification_status: AllergyVerificationStatus,
    pub criticality: Criticality,
    /// Manifestation (free text display, coded when picked from the list) and severity.
    pub reactions: Vec<ReactionEntry>,
}

impl std::fmt::Debug for AllergyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AllergyEntry").field("id", &self.id).finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ReactionEntry {
    pub manifestation: Coding,
    pub severity: Option<ReactionSeverity>,
}

/// The manifestation may be free text: not printed.
impl std::fmt::Debug for ReactionEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReactionEntry").field("severity", &self.severity).finish_non_exhaustive()
    }
}

/// Marks an observation entered-in-error; the reason is required.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct EnteredInError {
    pub observation_id: Uuid,
    pub reason: String,
}

impl std::fmt::Debug for EnteredInError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnteredInError").field("observation_id", &self.observation_id).finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------- conflicts

/// An edit the server refused because its row had changed: both versions,
/// side by side, to re-apply the clinician's edit on top or discard it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ConflictView {
    pub mutation_id: Uuid,
    pub patient_id: Uuid,
    /// Family and given name, for the list (read through the audited path).
    pub patient_name: String,
    pub mrn: String,
    pub created_at: DateTime<Utc>,
    pub author: String,
    pub mine: Record,
    pub server: Record,
}

/// An edit the server rejected, with its reason in plain words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RejectedEdit {
    pub mutation_id: Uuid,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub mrn: String,
    pub created_at: DateTime<Utc>,
    pub mine: Record,
    pub reason: String,
}

/// Conflicts and rejected edits together (one audited read).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EditsNeedingAttention {
    pub conflicts: Vec<ConflictView>,
    pub rejected: Vec<RejectedEdit>,
}

// ---------------------------------------------------------------- downtime summary

/// A one-patient summary for printing during downtime. Producing it is an
/// audited `print` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DowntimeSummary {
    pub header: ChartHeader,
    /// Vital signs of the last 24 hours, newest first.
    pub vitals: Vec<Observation>,
    /// The most recent laboratory results, newest first.
    pub labs: Vec<Observation>,
    /// Active problems (none are cached yet: the list says so).
    pub problems: Vec<String>,
    /// Current medication orders (active and on hold), by name.
    #[serde(default)]
    pub medications: Vec<crate::medication::MedicationRequest>,
    pub generated_at: DateTime<Utc>,
    pub generated_by: String,
    /// When the cache last completed a pull: how current the summary is.
    pub data_as_of: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------- settings

/// Where a setting's effective value came from (precedence, lowest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum SettingSource {
    Default,
    UserSettings,
    Environment,
    Policy,
}

/// A setting's value and whether IT's policy file fixed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SettingValue {
    pub value: Option<String>,
    /// Set by the system policy: the UI shows it as locked.
    pub locked: bool,
    pub source: SettingSource,
}

/// The settings and about screen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SettingsView {
    pub version: String,
    pub environment: crate::Environment,
    pub environment_source: SettingSource,
    pub data_dir: SettingValue,
    pub policy_file: Option<String>,
    pub user_settings_file: Option<String>,
    pub server_url: SettingValue,
    pub ca_file: SettingValue,
    pub idle_lock_minutes: SettingValue,
    pub offline_login_hours: SettingValue,
    pub data_age_warning_minutes: SettingValue,
    pub break_glass_minutes: SettingValue,
    pub audit_retention_days: SettingValue,
    pub sync_interval_seconds: SettingValue,
    /// Whether Wardbook may offer to update itself ("true"/"false"); it has
    /// no self-updater yet, so IT's packages are the only way to upgrade.
    pub updates_allowed: SettingValue,
    pub enrolled: bool,
    pub device_id: String,
    pub locations: Vec<String>,
}

/// Enrolment from the settings screen on first run.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct EnrolRequestUi {
    /// Absent when the policy names the server.
    pub server_url: Option<String>,
    pub code: String,
}

impl std::fmt::Debug for EnrolRequestUi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolRequestUi").field("server_url", &self.server_url).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allergy::tests::allergy;

    #[test]
    fn break_glass_limits_are_the_constants() {
        assert_eq!(ReasonLimits::BREAK_GLASS.min_chars, BREAK_GLASS_REASON_MIN_CHARS);
        assert_eq!(ReasonLimits::BREAK_GLASS.max_chars, BREAK_GLASS_REASON_MAX_CHARS);
    }

    #[test]
    fn reason_limits_walk_both_bounds() {
        let table: &[(&str, String, bool)] = &[
            ("empty", String::new(), false),
            ("9 characters", "x".repeat(9), false),
            ("10 characters", "x".repeat(10), true),
            ("9 words of 1 and spaces", " a b c d e f g h i ".into(), false),
            ("10 among spaces and newlines", "a b\tc\nd e f g h i j".into(), true),
            ("ideographic spaces do not count", "abcde\u{3000}\u{3000}fghi".into(), false),
            ("only spaces, however many", " ".repeat(400), false),
            ("500 characters", "x".repeat(500), true),
            ("501 characters", "x".repeat(501), false),
            ("500 with spaces counted", format!("{}{}", "x".repeat(10), " ".repeat(490)), true),
            ("501 with spaces counted", format!("{}{}", "x".repeat(10), " ".repeat(491)), false),
            ("500 two-byte characters", "é".repeat(500), true),
            ("501 two-byte characters", "é".repeat(501), false),
            ("500 astral characters (1000 UTF-16 units)", "🚑".repeat(500), true),
        ];
        for (name, reason, ok) in table {
            assert_eq!(ReasonLimits::BREAK_GLASS.accepts(reason), *ok, "{name}");
            assert_eq!(break_glass_reason_ok(reason), *ok, "{name}");
        }
        // Other limits, the same counting.
        let strict = ReasonLimits { min_chars: 3, max_chars: 4 };
        for (reason, ok) in
            [("ab", false), ("a b", false), ("abc", true), ("a bc", true), ("a b c", false), ("abcde", false)]
        {
            assert_eq!(strict.accepts(reason), ok, "{reason:?}");
        }
    }

    #[test]
    fn an_allergy_row_carries_the_verdict() {
        for c in AllergyClinicalStatus::ALL {
            for v in AllergyVerificationStatus::ALL {
                let row = AllergyRow { allergy: allergy(*c, *v, false), pending: true };
                let json = serde_json::to_value(&row).expect("serialize");
                assert_eq!(json["current"], row.allergy.is_current(), "{c} {v}");
                assert_eq!(json["pending"], true);
                let back: AllergyRow = serde_json::from_value(json).expect("deserialize");
                assert_eq!(back, row);
            }
        }
    }
}
