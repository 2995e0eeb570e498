//! FHIR AllergyIntolerance.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use crate::Coding;
use crate::observation::string_enum;

string_enum! {
    /// FHIR allergy-intolerance-type.
    AllergyType { Allergy = "allergy", Intolerance = "intolerance" }
}

string_enum! {
    /// FHIR allergy-intolerance-category.
    AllergyCategory {
        Food = "food",
        Medication = "medication",
        Environment = "environment",
        Biologic = "biologic",
    }
}

string_enum! {
    /// FHIR allergyintolerance-clinical.
    AllergyClinicalStatus { Active = "active", Inactive = "inactive", Resolved = "resolved" }
}

string_enum! {
    /// FHIR allergyintolerance-verification.
    AllergyVerificationStatus {
        Unconfirmed = "unconfirmed",
        Confirmed = "confirmed",
        Refuted = "refuted",
        EnteredInError = "entered-in-error",
    }
}

string_enum! {
    /// FHIR allergy-intolerance-criticality.
    Criticality { Low = "low", High = "high", UnableToAssess = "unable-to-assess" }
}

string_enum! {
    /// FHIR reaction-event-severity.
    ReactionSeverity { Mild = "mild", Moderate = "moderate", Severe = "severe" }
}

/// One reaction to the allergen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Reaction {
    /// SNOMED CT coded manifestation, e.g. urticaria, anaphylaxis.
    pub manifestation: Coding,
    pub severity: Option<ReactionSeverity>,
}

/// An allergy or intolerance. `Debug` prints identifiers and statuses only.
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Allergy {
    pub id: Uuid,
    #[ts(type = "number")]
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    pub synthetic: bool,
    pub patient_id: Uuid,
    /// Coded allergen (RxNorm for medications, SNOMED CT otherwise).
    pub allergen: Coding,
    #[serde(rename = "type")]
    #[ts(rename = "type")]
    pub allergy_type: AllergyType,
    pub category: AllergyCategory,
    pub clinical_status: AllergyClinicalStatus,
    pub verification_status: AllergyVerificationStatus,
    pub criticality: Criticality,
    pub reactions: Vec<Reaction>,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

impl std::fmt::Debug for Allergy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Allergy")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("patient_id", &self.patient_id)
            .field("synthetic", &self.synthetic)
            .finish_non_exhaustive()
    }
}
