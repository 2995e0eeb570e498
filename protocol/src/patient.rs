//! FHIR Patient: the demographics a workstation caches.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

/// Administrative sex / gender as recorded (FHIR `AdministrativeGender`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Sex {
    Male,
    Female,
    Other,
    Unknown,
}

impl Sex {
    pub const ALL: [Sex; 4] = [Sex::Male, Sex::Female, Sex::Other, Sex::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Sex> {
        Sex::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A patient. Every field but the identifiers is PHI: `Debug` prints only
/// `id`, `version` and the flags.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Patient {
    pub id: Uuid,
    /// Bumped by the server on every change; 0 for a row not yet on the server.
    #[ts(type = "number")]
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    /// True only for generated data.
    pub synthetic: bool,
    /// Medical record number, unique within the hospital.
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    /// BCP 47 language tag, e.g. `en`, `es`.
    pub preferred_language: Option<String>,
    /// The ward or clinic the patient is currently assigned to.
    pub location: Option<String>,
    /// The system this record came from, e.g. `wardbook-synthetic`, `pas`.
    pub source_system: String,
}

impl std::fmt::Debug for Patient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Patient")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("deleted", &self.deleted)
            .field("synthetic", &self.synthetic)
            .finish_non_exhaustive()
    }
}

impl Patient {
    /// Age in whole years on `today`.
    pub fn age_on(&self, today: NaiveDate) -> u32 {
        today.years_since(self.birth_date).unwrap_or(0)
    }
}
