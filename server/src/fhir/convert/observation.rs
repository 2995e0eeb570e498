//! Observation: vital signs and laboratory results ⇄ FHIR Observation,
//! with the four kinds of value the protocol stores.
//!
//! Not carried by the FHIR subset, so not written out: the protocol's
//! `panel` (FHIR groups a panel with `hasMember`, which is not supported),
//! `status_reason` (R4 Observation has no such element) and `recorded_by`
//! (the database side supplies it for incoming rows).

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol as proto;
use wardbook_protocol::{Interpretation, ObservationCategory, ObservationStatus, ObservationValue};

use super::{
    PatientRef, code_in, coding_out, concept_in, date_time_in, identifier_pairs, instant, meta_out, patient_ref,
    patient_reference, supported_only, synthetic_in, systems, uuid_identifier,
};
use crate::fhir::FhirError;
use crate::fhir::resources::{CodeableConcept, Coding, Observation, ObservationReferenceRange, Quantity, ResourceType};

/// A FHIR Observation as Wardbook can store it. The value is PHI: `Debug`
/// prints the code and status only.
#[derive(Clone, PartialEq)]
pub struct ObservationInput {
    pub id: Option<String>,
    /// Every identifier as `(system, value)`; a `urn:uuid:` one is the id the
    /// client gave the row ([`super::uuid_from_identifiers`]).
    pub identifiers: Vec<(String, String)>,
    pub patient: PatientRef,
    pub status: ObservationStatus,
    pub category: ObservationCategory,
    pub code: proto::Coding,
    pub value: ObservationValue,
    pub reference_range: Option<proto::ReferenceRange>,
    pub interpretation: Option<Interpretation>,
    pub effective_at: DateTime<Utc>,
    pub synthetic: bool,
}

impl std::fmt::Debug for ObservationInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservationInput")
            .field("id", &self.id)
            .field("code", &self.code.code)
            .field("status", &self.status)
            .field("synthetic", &self.synthetic)
            .finish_non_exhaustive()
    }
}

/// The display of a category in observation-category.
fn category_display(category: ObservationCategory) -> &'static str {
    match category {
        ObservationCategory::VitalSigns => "Vital Signs",
        ObservationCategory::Laboratory => "Laboratory",
        ObservationCategory::Survey => "Survey",
        ObservationCategory::Exam => "Exam",
    }
}

/// The display of an interpretation in v3-ObservationInterpretation.
fn interpretation_display(interpretation: Interpretation) -> &'static str {
    match interpretation {
        Interpretation::High => "High",
        Interpretation::Low => "Low",
        Interpretation::Normal => "Normal",
        Interpretation::Abnormal => "Abnormal",
        Interpretation::CriticalHigh => "Critical high",
        Interpretation::CriticalLow => "Critical low",
    }
}

/// A UCUM quantity (`unit` is both the code and the text).
fn quantity_out(value: f64, unit: &str) -> Quantity {
    Quantity {
        value: Some(value),
        unit: Some(unit.to_owned()),
        system: Some(systems::UCUM.to_owned()),
        code: Some(unit.to_owned()),
        ..Quantity::default()
    }
}

/// A protocol observation as FHIR.
pub fn observation_to_fhir(o: &proto::Observation) -> Observation {
    let mut r = Observation {
        resource_type: ResourceType::default(),
        id: Some(o.id.to_string()),
        meta: Some(meta_out(Some(o.version), o.updated_at, o.synthetic)),
        identifier: vec![uuid_identifier(o.id)],
        status: Some(o.status.as_str().to_owned()),
        category: vec![CodeableConcept::of(Coding::new(
            systems::OBSERVATION_CATEGORY,
            o.category.as_str(),
            category_display(o.category),
        ))],
        code: Some(CodeableConcept::of(coding_out(&o.code))),
        subject: Some(patient_reference(o.patient_id)),
        effective_date_time: Some(instant(o.effective_at)),
        interpretation: o
            .interpretation
            .map(|i| {
                CodeableConcept::of(Coding::new(
                    systems::OBSERVATION_INTERPRETATION,
                    i.as_str(),
                    interpretation_display(i),
                ))
            })
            .into_iter()
            .collect(),
        // A range with neither limit says nothing, and FHIR (obs-3) forbids it.
        reference_range: o
            .reference_range
            .as_ref()
            .filter(|range| range.low.is_some() || range.high.is_some())
            .map(|range| ObservationReferenceRange {
                low: range.low.map(|v| quantity_out(v, &range.unit)),
                high: range.high.map(|v| quantity_out(v, &range.unit)),
                ..ObservationReferenceRange::default()
            })
            .into_iter()
            .collect(),
        ..Observation::default()
    };
    match &o.value {
        ObservationValue::Quantity(q) => r.value_quantity = Some(quantity_out(q.value, &q.unit)),
        ObservationValue::String { text } => r.value_string = Some(text.clone()),
        ObservationValue::Boolean { value } => r.value_boolean = Some(*value),
        ObservationValue::Coded(coding) => r.value_codeable_concept = Some(CodeableConcept::of(coding_out(coding))),
    }
    r
}

/// Reads a FHIR Observation.
pub fn observation_from_fhir(r: &Observation) -> Result<ObservationInput, FhirError> {
    supported_only(r)?;
    let synthetic = synthetic_in(r.meta.as_ref(), "Observation")?;
    let status = match r.status.as_deref() {
        None => return Err(FhirError::missing("Observation.status")),
        Some(code) => {
            ObservationStatus::parse(code).ok_or_else(|| FhirError::unsupported_code("Observation.status"))?
        }
    };
    let category = match r.category.as_slice() {
        [] => return Err(FhirError::missing("Observation.category")),
        [concept] => {
            let code = code_in(Some(concept), systems::OBSERVATION_CATEGORY, "Observation.category[0]")?;
            ObservationCategory::parse(code).ok_or_else(|| FhirError::unsupported_code("Observation.category[0]"))?
        }
        _ => return Err(FhirError::refused("Observation.category[1]", "an observation has one category in Wardbook")),
    };
    Ok(ObservationInput {
        id: r.id.clone(),
        identifiers: identifier_pairs(&r.identifier, "Observation.identifier")?,
        patient: patient_ref(r.subject.as_ref(), "Observation.subject")?,
        status,
        category,
        code: concept_in(r.code.as_ref(), &[systems::LOINC], "Observation.code")?,
        value: value_in(r)?,
        reference_range: range_in(&r.reference_range)?,
        interpretation: interpretation_in(&r.interpretation)?,
        effective_at: date_time_in(r.effective_date_time.as_deref(), "Observation.effectiveDateTime")?,
        synthetic,
    })
}

impl ObservationInput {
    /// The row: `id` and `patient_id` as the database side resolved them,
    /// `recorded_by` the sender, version 0 (not yet stored).
    pub fn to_observation(
        &self,
        id: Uuid,
        patient_id: Uuid,
        recorded_by: &str,
        updated_at: DateTime<Utc>,
    ) -> proto::Observation {
        proto::Observation {
            id,
            version: 0,
            updated_at,
            deleted: false,
            synthetic: self.synthetic,
            patient_id,
            category: self.category,
            code: self.code.clone(),
            panel: None,
            value: self.value.clone(),
            reference_range: self.reference_range.clone(),
            interpretation: self.interpretation,
            status: self.status,
            status_reason: None,
            effective_at: self.effective_at,
            recorded_by: recorded_by.to_owned(),
        }
    }
}

/// The one `value[x]`; other kinds of value are unsupported elements.
fn value_in(r: &Observation) -> Result<ObservationValue, FhirError> {
    let given = [
        r.value_quantity.is_some(),
        r.value_string.is_some(),
        r.value_boolean.is_some(),
        r.value_codeable_concept.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(FhirError::invalid("Observation.value[x]", "one value"));
    }
    if let Some(q) = &r.value_quantity {
        let (value, unit) = quantity_in(q, "Observation.valueQuantity")?;
        return Ok(ObservationValue::Quantity(proto::Quantity { value, unit }));
    }
    if let Some(text) = &r.value_string {
        return super::non_empty(Some(text))
            .map(|text| ObservationValue::String { text })
            .ok_or_else(|| FhirError::missing("Observation.valueString"));
    }
    if let Some(value) = r.value_boolean {
        return Ok(ObservationValue::Boolean { value });
    }
    if let Some(concept) = &r.value_codeable_concept {
        return concept_in(Some(concept), &[systems::SNOMED_CT, systems::LOINC], "Observation.valueCodeableConcept")
            .map(ObservationValue::Coded);
    }
    Err(FhirError::missing("Observation.value[x]"))
}

/// (value, UCUM unit) of a quantity. The unit is the UCUM `code`; without
/// a system, the code or else the unit text is taken as UCUM.
fn quantity_in(q: &Quantity, path: &str) -> Result<(f64, String), FhirError> {
    let value = q.value.ok_or_else(|| FhirError::missing(format!("{path}.value")))?;
    let unit = match q.system.as_deref() {
        Some(systems::UCUM) => super::non_empty(q.code.as_deref()),
        Some(_) => return Err(FhirError::unsupported_code(format!("{path}.system"))),
        None => super::non_empty(q.code.as_deref()).or_else(|| super::non_empty(q.unit.as_deref())),
    };
    let unit = unit.ok_or_else(|| FhirError::missing(format!("{path}.code")))?;
    Ok((value, unit))
}

/// The one reference range, its limits in one unit.
fn range_in(ranges: &[ObservationReferenceRange]) -> Result<Option<proto::ReferenceRange>, FhirError> {
    let range = match ranges {
        [] => return Ok(None),
        [range] => range,
        _ => {
            return Err(FhirError::refused(
                "Observation.referenceRange[1]",
                "an observation has one reference range in Wardbook",
            ));
        }
    };
    let path = "Observation.referenceRange[0]";
    let low = range.low.as_ref().map(|q| quantity_in(q, &format!("{path}.low"))).transpose()?;
    let high = range.high.as_ref().map(|q| quantity_in(q, &format!("{path}.high"))).transpose()?;
    let unit = match (&low, &high) {
        (Some((_, low_unit)), Some((_, high_unit))) if low_unit != high_unit => {
            return Err(FhirError::refused(format!("{path}.high"), "the limits of a range must have one unit"));
        }
        (Some((_, unit)), _) | (None, Some((_, unit))) => unit.clone(),
        (None, None) => return Err(FhirError::missing(format!("{path}.low"))),
    };
    Ok(Some(proto::ReferenceRange { low: low.map(|(v, _)| v), high: high.map(|(v, _)| v), unit }))
}

/// The one interpretation, from v3-ObservationInterpretation.
fn interpretation_in(concepts: &[CodeableConcept]) -> Result<Option<Interpretation>, FhirError> {
    match concepts {
        [] => Ok(None),
        [concept] => {
            let path = "Observation.interpretation[0]";
            let code = code_in(Some(concept), systems::OBSERVATION_INTERPRETATION, path)?;
            Interpretation::parse(code).map(Some).ok_or_else(|| FhirError::unsupported_code(path))
        }
        _ => Err(FhirError::refused(
            "Observation.interpretation[1]",
            "an observation has one interpretation in Wardbook",
        )),
    }
}
