//! Allergy ⇄ FHIR AllergyIntolerance.
//!
//! FHIR R4 forbids `clinicalStatus` on an entry whose verification status
//! is `entered-in-error` (invariant ait-2) and requires it otherwise
//! (ait-1). So such an entry goes out without its clinical status, and
//! comes in as `inactive`: either way it is not current
//! (`Allergy::is_current`), which is what the status decides.
//!
//! `recorded_by` is not in the FHIR subset: the database side supplies it
//! for incoming rows.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol as proto;
use wardbook_protocol::{
    AllergyCategory, AllergyClinicalStatus, AllergyType, AllergyVerificationStatus, Criticality, ReactionSeverity,
};

use super::{
    PatientRef, code_in, coding_out, concept_in, date_time_in, identifier_pairs, instant, meta_out, patient_ref,
    patient_reference, supported_only, synthetic_in, systems, uuid_identifier,
};
use crate::fhir::FhirError;
use crate::fhir::resources::{AllergyIntolerance, AllergyReaction, CodeableConcept, Coding, ResourceType};

/// A FHIR AllergyIntolerance as Wardbook can store it. `Debug` prints the
/// statuses only.
#[derive(Clone, PartialEq)]
pub struct AllergyInput {
    pub id: Option<String>,
    /// Every identifier as `(system, value)`.
    pub identifiers: Vec<(String, String)>,
    pub patient: PatientRef,
    pub allergen: proto::Coding,
    pub allergy_type: AllergyType,
    pub category: AllergyCategory,
    pub clinical_status: AllergyClinicalStatus,
    pub verification_status: AllergyVerificationStatus,
    pub criticality: Criticality,
    /// One per manifestation: FHIR groups several under one reaction.
    pub reactions: Vec<proto::Reaction>,
    pub recorded_at: DateTime<Utc>,
    pub synthetic: bool,
}

impl std::fmt::Debug for AllergyInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AllergyInput")
            .field("id", &self.id)
            .field("clinical_status", &self.clinical_status)
            .field("verification_status", &self.verification_status)
            .field("synthetic", &self.synthetic)
            .finish_non_exhaustive()
    }
}

fn clinical_display(status: AllergyClinicalStatus) -> &'static str {
    match status {
        AllergyClinicalStatus::Active => "Active",
        AllergyClinicalStatus::Inactive => "Inactive",
        AllergyClinicalStatus::Resolved => "Resolved",
    }
}

fn verification_display(status: AllergyVerificationStatus) -> &'static str {
    match status {
        AllergyVerificationStatus::Unconfirmed => "Unconfirmed",
        AllergyVerificationStatus::Confirmed => "Confirmed",
        AllergyVerificationStatus::Refuted => "Refuted",
        AllergyVerificationStatus::EnteredInError => "Entered in Error",
    }
}

/// A protocol allergy as FHIR.
pub fn allergy_to_fhir(a: &proto::Allergy) -> AllergyIntolerance {
    let in_error = a.verification_status == AllergyVerificationStatus::EnteredInError;
    AllergyIntolerance {
        resource_type: ResourceType::default(),
        id: Some(a.id.to_string()),
        meta: Some(meta_out(Some(a.version), a.updated_at, a.synthetic)),
        text: None,
        identifier: vec![uuid_identifier(a.id)],
        clinical_status: (!in_error).then(|| {
            CodeableConcept::of(Coding::new(
                systems::ALLERGY_CLINICAL,
                a.clinical_status.as_str(),
                clinical_display(a.clinical_status),
            ))
        }),
        verification_status: Some(CodeableConcept::of(Coding::new(
            systems::ALLERGY_VERIFICATION,
            a.verification_status.as_str(),
            verification_display(a.verification_status),
        ))),
        type_: Some(a.allergy_type.as_str().to_owned()),
        category: vec![a.category.as_str().to_owned()],
        criticality: Some(a.criticality.as_str().to_owned()),
        code: Some(CodeableConcept::of(coding_out(&a.allergen))),
        patient: Some(patient_reference(a.patient_id)),
        recorded_date: Some(instant(a.recorded_at)),
        reaction: a
            .reactions
            .iter()
            .map(|r| AllergyReaction {
                manifestation: vec![CodeableConcept::of(coding_out(&r.manifestation))],
                severity: r.severity.map(|s| s.as_str().to_owned()),
                ..AllergyReaction::default()
            })
            .collect(),
        other: serde_json::Map::new(),
    }
}

/// Reads a FHIR AllergyIntolerance.
pub fn allergy_from_fhir(r: &AllergyIntolerance) -> Result<AllergyInput, FhirError> {
    supported_only(r)?;
    let root = "AllergyIntolerance";
    let synthetic = synthetic_in(r.meta.as_ref(), root)?;
    let verification_status = {
        let path = "AllergyIntolerance.verificationStatus";
        let code = code_in(r.verification_status.as_ref(), systems::ALLERGY_VERIFICATION, path)?;
        AllergyVerificationStatus::parse(code).ok_or_else(|| FhirError::unsupported_code(path))?
    };
    let clinical_status = {
        let path = "AllergyIntolerance.clinicalStatus";
        match &r.clinical_status {
            None if verification_status == AllergyVerificationStatus::EnteredInError => AllergyClinicalStatus::Inactive,
            concept => {
                let code = code_in(concept.as_ref(), systems::ALLERGY_CLINICAL, path)?;
                AllergyClinicalStatus::parse(code).ok_or_else(|| FhirError::unsupported_code(path))?
            }
        }
    };
    let category = match r.category.as_slice() {
        [] => return Err(FhirError::missing("AllergyIntolerance.category")),
        [code] => {
            AllergyCategory::parse(code).ok_or_else(|| FhirError::unsupported_code("AllergyIntolerance.category[0]"))?
        }
        _ => {
            return Err(FhirError::refused(
                "AllergyIntolerance.category[1]",
                "an allergy has one category in Wardbook",
            ));
        }
    };
    Ok(AllergyInput {
        id: r.id.clone(),
        identifiers: identifier_pairs(&r.identifier, "AllergyIntolerance.identifier")?,
        patient: patient_ref(r.patient.as_ref(), "AllergyIntolerance.patient")?,
        allergen: concept_in(r.code.as_ref(), &[systems::RXNORM, systems::SNOMED_CT], "AllergyIntolerance.code")?,
        allergy_type: required_code(r.type_.as_deref(), AllergyType::parse, "AllergyIntolerance.type")?,
        category,
        clinical_status,
        verification_status,
        criticality: required_code(r.criticality.as_deref(), Criticality::parse, "AllergyIntolerance.criticality")?,
        reactions: reactions_in(&r.reaction)?,
        recorded_at: date_time_in(r.recorded_date.as_deref(), "AllergyIntolerance.recordedDate")?,
        synthetic,
    })
}

impl AllergyInput {
    /// The row: `id` and `patient_id` as the database side resolved them,
    /// `recorded_by` the sender, version 0 (not yet stored).
    pub fn to_allergy(
        &self,
        id: Uuid,
        patient_id: Uuid,
        recorded_by: &str,
        updated_at: DateTime<Utc>,
    ) -> proto::Allergy {
        proto::Allergy {
            id,
            version: 0,
            updated_at,
            deleted: false,
            synthetic: self.synthetic,
            patient_id,
            allergen: self.allergen.clone(),
            allergy_type: self.allergy_type,
            category: self.category,
            clinical_status: self.clinical_status,
            verification_status: self.verification_status,
            criticality: self.criticality,
            reactions: self.reactions.clone(),
            recorded_at: self.recorded_at,
            recorded_by: recorded_by.to_owned(),
        }
    }
}

/// A code element the row requires, from its value set.
fn required_code<T>(code: Option<&str>, parse: fn(&str) -> Option<T>, path: &str) -> Result<T, FhirError> {
    let code = code.ok_or_else(|| FhirError::missing(path))?;
    parse(code).ok_or_else(|| FhirError::unsupported_code(path))
}

/// One protocol reaction per manifestation, each with its reaction's severity.
fn reactions_in(reactions: &[AllergyReaction]) -> Result<Vec<proto::Reaction>, FhirError> {
    let mut out = Vec::new();
    for (i, reaction) in reactions.iter().enumerate() {
        let path = format!("AllergyIntolerance.reaction[{i}]");
        let severity = reaction
            .severity
            .as_deref()
            .map(|code| {
                ReactionSeverity::parse(code).ok_or_else(|| FhirError::unsupported_code(format!("{path}.severity")))
            })
            .transpose()?;
        if reaction.manifestation.is_empty() {
            return Err(FhirError::missing(format!("{path}.manifestation")));
        }
        for (j, concept) in reaction.manifestation.iter().enumerate() {
            let manifestation =
                concept_in(Some(concept), &[systems::SNOMED_CT], &format!("{path}.manifestation[{j}]"))?;
            out.push(proto::Reaction { manifestation, severity });
        }
    }
    Ok(out)
}
