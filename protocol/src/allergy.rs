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

impl Allergy {
    /// Is this an allergy a clinician must act on now: one the banner
    /// counts, the census flags and the chart lists first?
    ///
    /// It must be clinically active and not ruled out, by FHIR R4
    /// AllergyIntolerance (<https://hl7.org/fhir/R4/allergyintolerance.html>),
    /// where both statuses are modifier elements:
    /// - `clinicalStatus`, value set
    ///   <http://hl7.org/fhir/ValueSet/allergyintolerance-clinical>: `active`
    ///   is "currently experiencing, or at risk of, a reaction"; `inactive`
    ///   ("no longer at risk") and `resolved` (reassessed, "no longer
    ///   present") are not current.
    /// - `verificationStatus`, value set
    ///   <http://hl7.org/fhir/ValueSet/allergyintolerance-verification>:
    ///   `refuted` (disproven "with a sufficient level of clinical certainty
    ///   to justify invalidating the assertion") and `entered-in-error`
    ///   ("not valid") void the record; `unconfirmed` still counts, because
    ///   a suspected allergy is acted on until it is refuted.
    ///
    /// A deleted row is not current either. The matches are exhaustive so
    /// that a new status code (FHIR R5 adds `presumed`) cannot compile
    /// without a decision here.
    pub fn is_current(&self) -> bool {
        !self.deleted && Allergy::statuses_are_current(self.clinical_status, self.verification_status)
    }

    /// The statuses' part of [`Allergy::is_current`], for rows not yet
    /// decoded (the workstation's cache asks it from SQL).
    pub fn statuses_are_current(clinical: AllergyClinicalStatus, verification: AllergyVerificationStatus) -> bool {
        let at_risk = match clinical {
            AllergyClinicalStatus::Active => true,
            AllergyClinicalStatus::Inactive | AllergyClinicalStatus::Resolved => false,
        };
        let asserted = match verification {
            AllergyVerificationStatus::Unconfirmed | AllergyVerificationStatus::Confirmed => true,
            AllergyVerificationStatus::Refuted | AllergyVerificationStatus::EnteredInError => false,
        };
        at_risk && asserted
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use chrono::DateTime;

    use super::*;

    /// An allergy of patient 1 with these statuses (for other modules' tests too).
    pub(crate) fn allergy(
        clinical_status: AllergyClinicalStatus,
        verification_status: AllergyVerificationStatus,
        deleted: bool,
    ) -> Allergy {
        Allergy {
            id: Uuid::from_u128(3),
            version: 1,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            deleted,
            synthetic: true,
            patient_id: Uuid::from_u128(1),
            allergen: Coding::new(crate::RXNORM, "7980", "Penicillin G"),
            allergy_type: AllergyType::Allergy,
            category: AllergyCategory::Medication,
            clinical_status,
            verification_status,
            criticality: Criticality::High,
            reactions: Vec::new(),
            recorded_at: DateTime::<Utc>::UNIX_EPOCH,
            recorded_by: "dr-1".into(),
        }
    }

    #[test]
    fn is_current_walks_every_status() {
        use AllergyClinicalStatus::{Active, Inactive, Resolved};
        use AllergyVerificationStatus::{Confirmed, EnteredInError, Refuted, Unconfirmed};
        // Clinical status, verification status, current when not deleted.
        let table = [
            (Active, Unconfirmed, true),
            (Active, Confirmed, true),
            (Active, Refuted, false),
            (Active, EnteredInError, false),
            (Inactive, Unconfirmed, false),
            (Inactive, Confirmed, false),
            (Inactive, Refuted, false),
            (Inactive, EnteredInError, false),
            (Resolved, Unconfirmed, false),
            (Resolved, Confirmed, false),
            (Resolved, Refuted, false),
            (Resolved, EnteredInError, false),
        ];
        // Every combination, each once.
        for c in AllergyClinicalStatus::ALL {
            for v in AllergyVerificationStatus::ALL {
                assert_eq!(table.iter().filter(|(tc, tv, _)| tc == c && tv == v).count(), 1, "{c} {v}");
            }
        }
        assert_eq!(table.len(), AllergyClinicalStatus::ALL.len() * AllergyVerificationStatus::ALL.len());
        for (c, v, current) in table {
            assert_eq!(allergy(c, v, false).is_current(), current, "{c} {v}");
            assert!(!allergy(c, v, true).is_current(), "{c} {v} deleted");
        }
    }

    /// Where ts-rs writes the TypeScript types (`TS_RS_EXPORT_DIR`, set in
    /// .cargo/config.toml to ui/src/generated; ts-rs's own default otherwise).
    fn export_dir() -> PathBuf {
        std::env::var_os("TS_RS_EXPORT_DIR").map_or_else(|| PathBuf::from("./bindings"), PathBuf::from)
    }

    /// The verdict of [`Allergy::is_current`] for every input, written next
    /// to the generated types: the UI's in-memory backend (its stand-in for
    /// the core in tests and in the browser) looks verdicts up there rather
    /// than typing the rule a second time. Written by `cargo test` like the
    /// ts-rs files, so the check for stale generated files covers it.
    #[test]
    fn export_current_table() {
        let mut rows = String::new();
        for c in AllergyClinicalStatus::ALL {
            for v in AllergyVerificationStatus::ALL {
                for deleted in [false, true] {
                    let current = allergy(*c, *v, deleted).is_current();
                    rows.push_str(&format!(
                        "  {{ clinical_status: \"{c}\", verification_status: \"{v}\", deleted: {deleted}, current: {current} }},\n"
                    ));
                }
            }
        }
        let text = format!(
            "// This file was generated by the test `export_current_table` of protocol/src/allergy.rs. Do not edit this file manually.\n\
             import type {{ AllergyClinicalStatus }} from \"./AllergyClinicalStatus\";\n\
             import type {{ AllergyVerificationStatus }} from \"./AllergyVerificationStatus\";\n\
             \n\
             /**\n \
             * `Allergy::is_current` of the Rust core for every clinical status,\n \
             * verification status and `deleted`.\n \
             */\n\
             export const ALLERGY_CURRENT: ReadonlyArray<{{ clinical_status: AllergyClinicalStatus, verification_status: AllergyVerificationStatus, deleted: boolean, current: boolean }}> = [\n\
             {rows}];\n"
        );
        let dir = export_dir();
        let path = dir.join("AllergyCurrent.ts");
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::create_dir_all(&dir).expect("create the export directory");
            std::fs::write(&path, text).expect("write AllergyCurrent.ts");
        }
    }
}
