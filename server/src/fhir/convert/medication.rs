//! Medication orders ⇄ FHIR MedicationRequest; administrations → FHIR
//! MedicationAdministration (Wardbook files them back; it does not take
//! them in: they are recorded at its workstations).
//!
//! A MedicationRequest coming in (an `order`, not a proposal or plan):
//! - `medicationCodeableConcept`: RxNorm, else SNOMED CT, else the first
//!   coding (the others are translations). `medicationReference` (and so a
//!   contained Medication with its ingredients) is not supported.
//! - `status`: active, on-hold, completed, stopped, entered-in-error;
//!   `cancelled` (nothing given yet) is kept as stopped; draft and unknown
//!   are refused.
//! - `dosageInstruction`: exactly one, whose timing is
//!   `medication_timing`'s; `doseAndRate[0].doseQuantity` the dose; `route`.
//! - start and end: `timing.repeat.boundsPeriod`, else
//!   `dispenseRequest.validityPeriod`; the start else `authoredOn`.
//! - `requester.display` the prescriber; `reasonCode` the indication;
//!   `dosageInstruction[0].text`, its `additionalInstruction` and `note`
//!   the instructions, joined.
//! - high-alert: the extension `urn:wardbook:fhir:extension:high-alert`
//!   (`valueBoolean`), or the floor of [`crate::high_alert`].
//!
//! A MedicationAdministration going out has `medicationCodeableConcept`
//! from its order and `request` naming the order (`medicationReference`
//! must name a Medication, which Wardbook does not keep); `performer` the
//! nurse (function `performer`) and the witness (function `witness`,
//! med-admin-perform-function); `statusReason` why not given; `note` the
//! reason for entered-in-error and every overridden check with its reason;
//! the due time it answers in the extension
//! `urn:wardbook:fhir:extension:due-time` (`valueDateTime`), none for a
//! PRN dose; `dosage` the dose, route and site (only with a dose: FHIR's
//! mad-1 requires one).

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol as proto;
use wardbook_protocol::medication::{AdministrationStatus, Dose, MedicationRequestStatus, NotGivenReason, Timing};

use super::medication_timing::{quantity_unit, timing_in, timing_out};
use super::{
    PatientRef, coding_out, concept_in, date_time_in, identifier_pairs, instant, meta_out, non_empty, patient_ref,
    patient_reference, supported_only, synthetic_in, systems, uuid_identifier,
};
use crate::fhir::FhirError;
use crate::fhir::resources::{
    AdministrationDosage, AdministrationPerformer, Annotation, CodeableConcept, Coding, Dosage, DoseAndRate, Extension,
    MedicationAdministration, MedicationRequest, Period, Quantity, Reference, ResourceType,
};
use crate::high_alert;

/// The extension carrying the due time an administration answers.
pub const DUE_TIME_EXTENSION: &str = "urn:wardbook:fhir:extension:due-time";
/// med-admin-perform-function: `performer`, `verifier`, `witness`.
pub const PERFORM_FUNCTION: &str = "http://terminology.hl7.org/CodeSystem/med-admin-perform-function";
/// Wardbook's reasons for a dose not given (`NotGivenReason`).
pub const NOT_GIVEN_REASON: &str = "urn:wardbook:medication-not-given-reason";
/// HL7 table 0162, routes, as FHIR names it.
pub const ROUTE_0162: &str = crate::hl7::pharmacy_apply::ROUTE_SYSTEM;

/// A FHIR MedicationRequest as Wardbook can store it. `Debug` prints the
/// status and code only.
#[derive(Clone, PartialEq)]
pub struct MedicationRequestInput {
    pub id: Option<String>,
    /// Every identifier as `(system, value)`.
    pub identifiers: Vec<(String, String)>,
    pub patient: PatientRef,
    pub status: MedicationRequestStatus,
    pub medication: proto::Coding,
    pub dose: Option<Dose>,
    pub route: Option<proto::Coding>,
    pub timing: Timing,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub prescriber: Option<String>,
    pub indication: Option<String>,
    pub instructions: Option<String>,
    pub high_alert: bool,
    pub synthetic: bool,
}

impl std::fmt::Debug for MedicationRequestInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MedicationRequestInput")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("medication", &self.medication.code)
            .finish_non_exhaustive()
    }
}

const ROOT: &str = "MedicationRequest";

/// Reads a FHIR MedicationRequest.
pub fn medication_request_from_fhir(r: &MedicationRequest) -> Result<MedicationRequestInput, FhirError> {
    supported_only(r)?;
    let synthetic = synthetic_in(r.meta.as_ref(), ROOT)?;
    let mut flagged = false;
    for (i, extension) in r.extension.iter().enumerate() {
        let path = format!("{ROOT}.extension[{i}]");
        if extension.url != high_alert::FHIR_EXTENSION || extension.value_date_time.is_some() {
            return Err(FhirError::Unsupported { paths: vec![path] });
        }
        flagged |= extension.value_boolean.ok_or_else(|| FhirError::missing(format!("{path}.valueBoolean")))?;
    }
    let status = match r.status.as_deref() {
        None => return Err(FhirError::missing(format!("{ROOT}.status"))),
        Some("cancelled") => MedicationRequestStatus::Stopped,
        Some(code) => {
            MedicationRequestStatus::parse(code).ok_or_else(|| FhirError::unsupported_code(format!("{ROOT}.status")))?
        }
    };
    match r.intent.as_deref() {
        None => return Err(FhirError::missing(format!("{ROOT}.intent"))),
        Some("order" | "original-order" | "reflex-order" | "filler-order" | "instance-order") => {}
        Some(_) => return Err(FhirError::unsupported_code(format!("{ROOT}.intent"))),
    }
    let medication = concept_in(
        r.medication_codeable_concept.as_ref(),
        &[systems::RXNORM, systems::SNOMED_CT],
        &format!("{ROOT}.medicationCodeableConcept"),
    )?;
    let dosage = match r.dosage_instruction.as_slice() {
        [] => return Err(FhirError::missing(format!("{ROOT}.dosageInstruction"))),
        [one] => one,
        _ => {
            return Err(FhirError::refused(
                format!("{ROOT}.dosageInstruction[1]"),
                "an order has one dosage in Wardbook",
            ));
        }
    };
    let path = format!("{ROOT}.dosageInstruction[0]");
    let dose = dose_in(dosage, &path)?;
    let timing = timing_in(dosage, dose.as_ref().map(|d| d.unit.as_str()), &path)?;
    let route = dosage
        .route
        .as_ref()
        .map(|route| concept_in(Some(route), &[systems::SNOMED_CT, ROUTE_0162], &format!("{path}.route")))
        .transpose()?;
    let bounds = dosage.timing.as_ref().and_then(|t| t.repeat.as_ref()).and_then(|r| r.bounds_period.as_ref());
    let validity = r.dispense_request.as_ref().and_then(|d| d.validity_period.as_ref());
    let bounds_path = format!("{path}.timing.repeat.boundsPeriod");
    let (start, start_path) = match (bounds.and_then(|b| b.start.as_deref()), validity.and_then(|v| v.start.as_deref()))
    {
        (Some(start), _) => (Some(start), format!("{bounds_path}.start")),
        (None, Some(start)) => (Some(start), format!("{ROOT}.dispenseRequest.validityPeriod.start")),
        (None, None) => (r.authored_on.as_deref(), format!("{ROOT}.authoredOn")),
    };
    let start = date_time_in(start, &start_path).map_err(|e| match e {
        FhirError::Missing { .. } => FhirError::missing(format!("{bounds_path}.start")),
        other => other,
    })?;
    let end = match (bounds.and_then(|b| b.end.as_deref()), validity.and_then(|v| v.end.as_deref())) {
        (Some(end), _) => Some(date_time_in(Some(end), &format!("{bounds_path}.end"))?),
        (None, Some(end)) => Some(date_time_in(Some(end), &format!("{ROOT}.dispenseRequest.validityPeriod.end"))?),
        (None, None) => None,
    };
    if r.authored_on.is_some() {
        date_time_in(r.authored_on.as_deref(), &format!("{ROOT}.authoredOn"))?;
    }
    let requester = r.requester.as_ref().and_then(|q| {
        non_empty(q.display.as_deref())
            .or_else(|| q.identifier.as_ref().and_then(|i| non_empty(i.value.as_deref())))
            .or_else(|| non_empty(q.reference.as_deref()))
    });
    let concept_text = |c: &CodeableConcept| {
        non_empty(c.text.as_deref()).or_else(|| {
            c.coding
                .iter()
                .find_map(|coding| non_empty(coding.display.as_deref()).or(non_empty(coding.code.as_deref())))
        })
    };
    let indications: Vec<String> = r.reason_code.iter().filter_map(concept_text).collect();
    let mut instructions: Vec<String> = non_empty(dosage.text.as_deref()).into_iter().collect();
    instructions.extend(dosage.additional_instruction.iter().filter_map(concept_text));
    for (i, note) in r.note.iter().enumerate() {
        instructions
            .push(non_empty(note.text.as_deref()).ok_or_else(|| FhirError::missing(format!("{ROOT}.note[{i}].text")))?);
    }
    let joined = |parts: Vec<String>| (!parts.is_empty()).then(|| parts.join("; "));
    let high_alert = flagged || high_alert::is_high_alert(&medication, &[], None);
    Ok(MedicationRequestInput {
        id: r.id.clone(),
        identifiers: identifier_pairs(&r.identifier, &format!("{ROOT}.identifier"))?,
        patient: patient_ref(r.subject.as_ref(), &format!("{ROOT}.subject"))?,
        status,
        medication,
        dose,
        route,
        timing,
        start,
        end,
        prescriber: requester,
        indication: joined(indications),
        instructions: joined(instructions),
        high_alert,
        synthetic,
    })
}

/// `doseAndRate[0].doseQuantity`, when there is one.
fn dose_in(dosage: &Dosage, path: &str) -> Result<Option<Dose>, FhirError> {
    let entry = match dosage.dose_and_rate.as_slice() {
        [] => return Ok(None),
        [one] => one,
        _ => return Err(FhirError::refused(format!("{path}.doseAndRate[1]"), "an order has one dose in Wardbook")),
    };
    let at = format!("{path}.doseAndRate[0].doseQuantity");
    let quantity = entry.dose_quantity.as_ref().ok_or_else(|| FhirError::missing(at.clone()))?;
    let value = quantity.value.ok_or_else(|| FhirError::missing(format!("{at}.value")))?;
    let unit = quantity_unit(quantity).ok_or_else(|| FhirError::missing(format!("{at}.unit")))?;
    Ok(Some(Dose { value, unit }))
}

impl MedicationRequestInput {
    /// The row: `id` and `patient_id` as the database side resolved them,
    /// version 0 (not yet stored).
    pub fn to_request(
        &self,
        id: Uuid,
        patient_id: Uuid,
        updated_at: DateTime<Utc>,
    ) -> proto::medication::MedicationRequest {
        proto::medication::MedicationRequest {
            id,
            version: 0,
            updated_at,
            deleted: false,
            synthetic: self.synthetic,
            patient_id,
            medication: self.medication.clone(),
            ingredients: Vec::new(),
            generic_name: None,
            strength: None,
            dose: self.dose.clone(),
            route: self.route.clone(),
            timing: self.timing.clone(),
            start: self.start,
            end: self.end,
            status: self.status,
            prescriber: self.prescriber.clone(),
            indication: self.indication.clone(),
            instructions: self.instructions.clone(),
            high_alert: self.high_alert,
        }
    }
}

fn text_concept(text: &str) -> CodeableConcept {
    CodeableConcept { text: Some(text.to_owned()), ..CodeableConcept::default() }
}

/// A dose as a quantity: its unit as text (Wardbook does not know whether
/// a sender's unit is UCUM).
fn dose_out(d: &Dose) -> Quantity {
    Quantity { value: Some(d.value), unit: Some(d.unit.clone()), ..Quantity::default() }
}

/// A protocol order as FHIR.
pub fn medication_request_to_fhir(o: &proto::medication::MedicationRequest) -> MedicationRequest {
    let (repeat, as_needed, max) = timing_out(&o.timing, o.dose.as_ref().map(|d| d.unit.as_str()));
    let repeat = crate::fhir::resources::TimingRepeat {
        bounds_period: Some(Period { start: Some(instant(o.start)), end: o.end.map(instant), ..Period::default() }),
        ..repeat
    };
    let dosage = Dosage {
        timing: Some(crate::fhir::resources::Timing { repeat: Some(repeat), ..Default::default() }),
        as_needed_boolean: as_needed,
        route: o.route.as_ref().map(|r| CodeableConcept::of(coding_out(r))),
        dose_and_rate: o
            .dose
            .as_ref()
            .map(|d| DoseAndRate { dose_quantity: Some(dose_out(d)), ..DoseAndRate::default() })
            .into_iter()
            .collect(),
        max_dose_per_period: max,
        ..Dosage::default()
    };
    MedicationRequest {
        resource_type: ResourceType::default(),
        id: Some(o.id.to_string()),
        meta: Some(meta_out(Some(o.version), o.updated_at, o.synthetic)),
        extension: o
            .high_alert
            .then(|| Extension {
                url: high_alert::FHIR_EXTENSION.to_owned(),
                value_boolean: Some(true),
                ..Extension::default()
            })
            .into_iter()
            .collect(),
        identifier: vec![uuid_identifier(o.id)],
        status: Some(o.status.as_str().to_owned()),
        intent: Some("order".to_owned()),
        medication_codeable_concept: Some(CodeableConcept::of(coding_out(&o.medication))),
        subject: Some(patient_reference(o.patient_id)),
        requester: o.prescriber.as_ref().map(|p| Reference { display: Some(p.clone()), ..Reference::default() }),
        reason_code: o.indication.iter().map(|i| text_concept(i)).collect(),
        note: o.instructions.iter().map(|i| Annotation { text: Some(i.clone()), ..Annotation::default() }).collect(),
        dosage_instruction: vec![dosage],
        ..MedicationRequest::default()
    }
}

fn not_given_display(reason: NotGivenReason) -> &'static str {
    match reason {
        NotGivenReason::Held => "Dose held",
        NotGivenReason::Refused => "Refused by the patient",
        NotGivenReason::Unavailable => "Medication unavailable",
        NotGivenReason::PatientAway => "Patient away from the ward",
    }
}

fn performer(function: &str, display: &str, who: &str) -> AdministrationPerformer {
    AdministrationPerformer {
        function: Some(CodeableConcept::of(Coding::new(PERFORM_FUNCTION, function, display))),
        actor: Reference { display: Some(who.to_owned()), ..Reference::default() },
        ..AdministrationPerformer::default()
    }
}

/// A protocol administration as FHIR, with its order's medication.
pub fn medication_administration_to_fhir(
    a: &proto::medication::MedicationAdministration,
    order: Option<&proto::medication::MedicationRequest>,
) -> MedicationAdministration {
    let mut notes: Vec<String> = Vec::new();
    if a.status == AdministrationStatus::EnteredInError
        && let Some(reason) = &a.error_reason
    {
        notes.push(format!("Entered in error: {reason}"));
    }
    notes.extend(a.overrides.iter().map(|o| format!("Check overridden ({}): {}", o.check.as_str(), o.reason)));
    let mut performers = vec![performer("performer", "Performer", &a.performer)];
    performers.extend(a.witness.as_deref().map(|w| performer("witness", "Witness", w)));
    MedicationAdministration {
        resource_type: ResourceType::default(),
        id: Some(a.id.to_string()),
        meta: Some(meta_out(Some(a.version), a.updated_at, a.synthetic)),
        extension: a
            .due_at
            .map(|due| Extension {
                url: DUE_TIME_EXTENSION.to_owned(),
                value_date_time: Some(instant(due)),
                ..Extension::default()
            })
            .into_iter()
            .collect(),
        identifier: vec![uuid_identifier(a.id)],
        status: Some(a.status.as_str().to_owned()),
        status_reason: a
            .not_given_reason
            .map(|r| CodeableConcept::of(Coding::new(NOT_GIVEN_REASON, r.as_str(), not_given_display(r))))
            .into_iter()
            .collect(),
        medication_codeable_concept: Some(match order {
            Some(o) => CodeableConcept::of(coding_out(&o.medication)),
            None => text_concept("The medication of an order not on file"),
        }),
        subject: Some(patient_reference(a.patient_id)),
        effective_date_time: Some(instant(a.given_at)),
        performer: performers,
        request: Some(Reference::to(format!("MedicationRequest/{}", a.request_id))),
        note: notes.into_iter().map(|text| Annotation { text: Some(text), ..Annotation::default() }).collect(),
        dosage: a.dose.as_ref().map(|d| AdministrationDosage {
            site: a.site.as_deref().map(text_concept),
            route: a.route.as_ref().map(|r| CodeableConcept::of(coding_out(r))),
            dose: Some(dose_out(d)),
            ..AdministrationDosage::default()
        }),
        ..MedicationAdministration::default()
    }
}

#[cfg(test)]
#[path = "medication_tests.rs"]
mod tests;
