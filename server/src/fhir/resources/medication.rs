//! The medication resources: MedicationRequest (orders, coming in and
//! going out) and MedicationAdministration (doses, going out), each with the
//! elements Wardbook supports, and the data types only they use (Dosage,
//! Timing, Ratio, Annotation, Extension).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    CodeableConcept, Identifier, Meta, Narrative, Period, Quantity, Reference, ResourceType, elements, opaque_debug,
    resource_debug,
};

/// An extension (`Extension`) with the value types Wardbook uses. Which
/// URLs are understood is the conversions' decision: any other is refused.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_boolean: Option<bool>,
    /// A FHIR `dateTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_date_time: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A note (`Annotation`): its text only.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A ratio of two quantities (`Ratio`): a maximum dose per period.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ratio {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numerator: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denominator: Option<Quantity>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// When something happens (`Timing`): its repeat only.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<TimingRepeat>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `Timing.repeat`: how often, at what times of day, between which bounds.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimingRepeat {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounds_period: Option<Period>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<f64>,
    /// `s | min | h | d | wk | mo | a`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_unit: Option<String>,
    /// FHIR `time`s, `hh:mm:ss`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_of_day: Vec<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `Dosage.doseAndRate`: the dose as a quantity.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoseAndRate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dose_quantity: Option<Quantity>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// How a medication is to be taken (`Dosage`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dosage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_instruction: Vec<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_needed_boolean: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dose_and_rate: Vec<DoseAndRate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_dose_per_period: Option<Ratio>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `MedicationRequest.dispenseRequest`: its validity period only.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispenseRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity_period: Option<Period>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// FHIR R4 MedicationRequest (<https://hl7.org/fhir/R4/medicationrequest.html>):
/// a medication order.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationRequest {
    pub resource_type: ResourceType<MedicationRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Narrative>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medication_codeable_concept: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// A FHIR `dateTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authored_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_code: Vec<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dosage_instruction: Vec<Dosage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispense_request: Option<DispenseRequest>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Who took part in an administration (`MedicationAdministration.performer`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdministrationPerformer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<CodeableConcept>,
    pub actor: Reference,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The dose given (`MedicationAdministration.dosage`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdministrationDosage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dose: Option<Quantity>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// FHIR R4 MedicationAdministration
/// (<https://hl7.org/fhir/R4/medicationadministration.html>): a dose given,
/// not given, or entered in error.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationAdministration {
    pub resource_type: ResourceType<MedicationAdministration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Narrative>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_reason: Vec<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medication_codeable_concept: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// A FHIR `dateTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<AdministrationPerformer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dosage: Option<AdministrationDosage>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

elements!(Extension);
elements!(Annotation);
elements!(Ratio, numerator = "numerator", denominator = "denominator");
elements!(Timing, repeat = "repeat");
elements!(TimingRepeat, bounds_period = "boundsPeriod");
elements!(DoseAndRate, dose_quantity = "doseQuantity");
elements!(
    Dosage,
    additional_instruction = "additionalInstruction",
    timing = "timing",
    route = "route",
    dose_and_rate = "doseAndRate",
    max_dose_per_period = "maxDosePerPeriod",
);
elements!(DispenseRequest, validity_period = "validityPeriod");
elements!(
    MedicationRequest,
    meta = "meta",
    text = "text",
    extension = "extension",
    identifier = "identifier",
    medication_codeable_concept = "medicationCodeableConcept",
    subject = "subject",
    requester = "requester",
    reason_code = "reasonCode",
    note = "note",
    dosage_instruction = "dosageInstruction",
    dispense_request = "dispenseRequest",
);
elements!(AdministrationPerformer, function = "function", actor = "actor");
elements!(AdministrationDosage, site = "site", route = "route", dose = "dose");
elements!(
    MedicationAdministration,
    meta = "meta",
    text = "text",
    extension = "extension",
    identifier = "identifier",
    status_reason = "statusReason",
    medication_codeable_concept = "medicationCodeableConcept",
    subject = "subject",
    performer = "performer",
    request = "request",
    note = "note",
    dosage = "dosage",
);

resource_debug!(MedicationRequest, MedicationAdministration);
opaque_debug!(
    Extension,
    Annotation,
    Ratio,
    Timing,
    TimingRepeat,
    DoseAndRate,
    Dosage,
    DispenseRequest,
    AdministrationPerformer,
    AdministrationDosage
);

super::fhir_resources!(MedicationRequest, MedicationAdministration);
