//! The clinical resources: Patient, Encounter, Observation and
//! AllergyIntolerance, each with the elements Wardbook supports.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    Address, CodeableConcept, Coding, ContactPoint, HumanName, Identifier, Meta, Narrative, Period, Quantity,
    Reference, ResourceType, elements, opaque_debug, resource_debug,
};

/// FHIR R4 Patient (<https://hl7.org/fhir/R4/patient.html>).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    pub resource_type: ResourceType<Patient>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Narrative>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// A FHIR `date`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communication: Vec<PatientCommunication>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A language the patient speaks (`Patient.communication`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientCommunication {
    pub language: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred: Option<bool>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// FHIR R4 Encounter (<https://hl7.org/fhir/R4/encounter.html>): a stay,
/// with the ward and bed as locations and the attending clinician.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encounter {
    pub resource_type: ResourceType<Encounter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Narrative>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participant: Vec<EncounterParticipant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub location: Vec<EncounterLocation>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Someone taking part in an encounter (`Encounter.participant`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncounterParticipant {
    #[serde(rename = "type", default, skip_serializing_if = "Vec::is_empty")]
    pub type_: Vec<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub individual: Option<Reference>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A place the patient is or was during an encounter (`Encounter.location`):
/// `physicalType` tells a ward (`wa`) from a bed (`bd`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncounterLocation {
    pub location: Reference,
    /// `planned | active | reserved | completed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_type: Option<CodeableConcept>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// FHIR R4 Observation (<https://hl7.org/fhir/R4/observation.html>): one
/// vital sign or laboratory result, with one of four kinds of value.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub resource_type: ResourceType<Observation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Narrative>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// A FHIR `dateTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_string: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_boolean: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_codeable_concept: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interpretation: Vec<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_range: Vec<ObservationReferenceRange>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The normal range of a quantity (`Observation.referenceRange`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationReferenceRange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<Quantity>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// FHIR R4 AllergyIntolerance (<https://hl7.org/fhir/R4/allergyintolerance.html>).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllergyIntolerance {
    pub resource_type: ResourceType<AllergyIntolerance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Narrative>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clinical_status: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_status: Option<CodeableConcept>,
    /// `allergy | intolerance`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// `food | medication | environment | biologic`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<String>,
    /// `low | high | unable-to-assess`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criticality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<Reference>,
    /// A FHIR `dateTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reaction: Vec<AllergyReaction>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A reaction to the substance (`AllergyIntolerance.reaction`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllergyReaction {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifestation: Vec<CodeableConcept>,
    /// `mild | moderate | severe`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

elements!(
    Patient,
    meta = "meta",
    text = "text",
    identifier = "identifier",
    name = "name",
    telecom = "telecom",
    address = "address",
    communication = "communication",
);
elements!(PatientCommunication, language = "language");
elements!(
    Encounter,
    meta = "meta",
    text = "text",
    identifier = "identifier",
    class = "class",
    subject = "subject",
    participant = "participant",
    period = "period",
    location = "location",
);
elements!(EncounterParticipant, type_ = "type", individual = "individual");
elements!(EncounterLocation, location = "location", physical_type = "physicalType");
elements!(
    Observation,
    meta = "meta",
    text = "text",
    identifier = "identifier",
    category = "category",
    code = "code",
    subject = "subject",
    value_quantity = "valueQuantity",
    value_codeable_concept = "valueCodeableConcept",
    interpretation = "interpretation",
    reference_range = "referenceRange",
);
elements!(ObservationReferenceRange, low = "low", high = "high");
elements!(
    AllergyIntolerance,
    meta = "meta",
    text = "text",
    identifier = "identifier",
    clinical_status = "clinicalStatus",
    verification_status = "verificationStatus",
    code = "code",
    patient = "patient",
    reaction = "reaction",
);
elements!(AllergyReaction, manifestation = "manifestation");

resource_debug!(Patient, Encounter, Observation, AllergyIntolerance);
opaque_debug!(
    PatientCommunication,
    EncounterParticipant,
    EncounterLocation,
    ObservationReferenceRange,
    AllergyReaction
);

super::fhir_resources!(Patient, Encounter, Observation, AllergyIntolerance);
