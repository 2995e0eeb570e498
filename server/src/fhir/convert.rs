//! Protocol rows to FHIR resources, and FHIR resources to plain "input"
//! structs that the database side turns into rows.
//!
//! Going out, codes use the standard code systems ([`systems`]) and a
//! synthetic row carries the security label HTEST. Coming in, a resource is
//! read strictly: an element Wardbook does not model is refused
//! ([`FhirError::Unsupported`]) rather than dropped, a code outside the
//! supported value sets is refused by path, and an HTEST label marks the
//! input synthetic. Where FHIR allows several values and a row holds one (a
//! patient's phone, an observation's reference range) a second one is
//! refused, not chosen between. The exceptions, where nothing a clinician
//! reads is lost, are documented where they happen: a concept's other
//! codings (translations of the same concept, by FHIR's definition of
//! CodeableConcept), `use` of names, identifiers and contact points, and
//! `meta.profile`, `meta.versionId` and `meta.lastUpdated` (the server owns
//! versions and times).
//!
//! Identifiers of resources are kept as `(system, value)` pairs; which ones
//! to store, and how a reference resolves to a row, is the database side's
//! decision ([`PatientRef`]).
//!
//! Errors name the element path, never the value: see [`FhirError`].

mod allergy;
mod encounter;
mod medication;
mod medication_timing;
mod observation;
mod patient;

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

pub use allergy::*;
pub use encounter::*;
pub use medication::*;
pub use observation::*;
pub use patient::*;

use super::FhirError;
use super::resources::{Coding, FhirResource, Identifier, Meta, Reference};

/// The code systems and identifier systems used on the way out.
pub mod systems {
    pub use wardbook_protocol::{LOINC, RXNORM, SNOMED_CT, UCUM};

    /// HL7 v2 table 0203, identifier types (`MR`: medical record number).
    pub const V2_IDENTIFIER_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
    /// HL7 v3 ActReason: security labels (`HTEST`) and purposes of use.
    pub const V3_ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
    /// HL7 v3 ActCode: encounter classes (`IMP`: inpatient).
    pub const V3_ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
    /// HL7 v3 ParticipationType (`ATND`: attender).
    pub const V3_PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
    pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
    pub const OBSERVATION_INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
    pub const ALLERGY_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
    pub const ALLERGY_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
    /// Location physical types (`wa`: ward, `bd`: bed).
    pub const LOCATION_PHYSICAL_TYPE: &str = "http://terminology.hl7.org/CodeSystem/location-physical-type";
    /// Language tags.
    pub const BCP_47: &str = "urn:ietf:bcp:47";
    /// The identifier system of `urn:uuid:` identifiers (FHIR R4
    /// datatypes.html#Identifier: "urn:ietf:rfc:3986").
    pub const URI: &str = "urn:ietf:rfc:3986";
}

/// The security label of synthetic data: HTEST, "test health data".
pub fn htest() -> Coding {
    Coding::new(systems::V3_ACT_REASON, "HTEST", "test health data")
}

/// How a resource refers to a patient. The database side resolves it: an
/// id names the row, an identifier is looked up (the MRN), and a
/// placeholder is the `fullUrl` of a patient created by the same
/// transaction (FHIR R4 bundle.html#references).
#[derive(Clone, PartialEq, Eq)]
pub enum PatientRef {
    /// `Patient/{id}`.
    Id(Uuid),
    /// A logical reference by identifier, e.g. the MRN.
    Identifier { system: String, value: String },
    /// `urn:uuid:...` of another entry of the same Bundle.
    Placeholder(String),
}

/// Prints the kind and the id only: an identifier may be an MRN.
impl std::fmt::Debug for PatientRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PatientRef::Id(id) => write!(f, "PatientRef::Id({id})"),
            PatientRef::Identifier { .. } => f.write_str("PatientRef::Identifier(..)"),
            PatientRef::Placeholder(_) => f.write_str("PatientRef::Placeholder(..)"),
        }
    }
}

/// `Patient/{id}`.
pub fn patient_reference(id: Uuid) -> Reference {
    Reference::to(format!("Patient/{id}"))
}

/// Reads a reference to a patient at `path`.
pub(crate) fn patient_ref(reference: Option<&Reference>, path: &str) -> Result<PatientRef, FhirError> {
    let reference = reference.ok_or_else(|| FhirError::missing(path))?;
    if let Some(literal) = reference.reference.as_deref() {
        if literal.starts_with("urn:uuid:") || literal.starts_with("urn:oid:") {
            return Ok(PatientRef::Placeholder(literal.to_owned()));
        }
        let id = literal.strip_prefix("Patient/").and_then(|id| Uuid::parse_str(id).ok()).ok_or_else(|| {
            FhirError::invalid(format!("{path}.reference"), "Patient/{id} with a Wardbook patient id")
        })?;
        return Ok(PatientRef::Id(id));
    }
    if let Some(identifier) = &reference.identifier {
        let (system, value) = identifier_pair(identifier, &format!("{path}.identifier"))?;
        return Ok(PatientRef::Identifier { system, value });
    }
    Err(FhirError::missing(format!("{path}.reference")))
}

/// `(system, value)` of an identifier, both required.
pub(crate) fn identifier_pair(identifier: &Identifier, path: &str) -> Result<(String, String), FhirError> {
    let system = non_empty(identifier.system.as_deref()).ok_or_else(|| FhirError::missing(format!("{path}.system")))?;
    let value = non_empty(identifier.value.as_deref()).ok_or_else(|| FhirError::missing(format!("{path}.value")))?;
    Ok((system, value))
}

/// Every identifier of a resource as `(system, value)`.
pub(crate) fn identifier_pairs(identifiers: &[Identifier], path: &str) -> Result<Vec<(String, String)>, FhirError> {
    identifiers.iter().enumerate().map(|(i, id)| identifier_pair(id, &format!("{path}[{i}]"))).collect()
}

/// The id a row already has, as an identifier: `urn:uuid:{id}` in system
/// `urn:ietf:rfc:3986`, so that a client can match it across servers.
pub fn uuid_identifier(id: Uuid) -> Identifier {
    Identifier::new(systems::URI, &format!("urn:uuid:{id}"))
}

/// The UUID of a `urn:uuid:` identifier among `identifiers`: the id a
/// client chose for a row it created (protocol ids are UUIDs the creator
/// picks), so that a repeated create finds the same row.
pub fn uuid_from_identifiers(identifiers: &[(String, String)]) -> Option<Uuid> {
    identifiers
        .iter()
        .filter(|(system, _)| system == systems::URI)
        .find_map(|(_, value)| value.strip_prefix("urn:uuid:").and_then(|u| Uuid::parse_str(u).ok()))
}

/// `meta` of a row going out: its version, when it last changed, and HTEST
/// when it is synthetic. A row not yet on the server (version 0) has no
/// version to give.
pub(crate) fn meta_out(version: Option<i64>, updated_at: DateTime<Utc>, synthetic: bool) -> Meta {
    Meta {
        version_id: version.filter(|v| *v > 0).map(|v| v.to_string()),
        last_updated: Some(instant(updated_at)),
        security: if synthetic { vec![htest()] } else { Vec::new() },
        ..Meta::default()
    }
}

/// Is a resource coming in synthetic? HTEST says so. Any other security
/// label is refused: a label restricts who may see the data, and Wardbook
/// cannot keep one, so accepting it would drop the restriction.
pub(crate) fn synthetic_in(meta: Option<&Meta>, root: &str) -> Result<bool, FhirError> {
    let mut synthetic = false;
    for (i, label) in meta.map(|m| m.security.as_slice()).unwrap_or_default().iter().enumerate() {
        if label.is(systems::V3_ACT_REASON, "HTEST") {
            synthetic = true;
        } else {
            return Err(FhirError::unsupported_code(format!("{root}.meta.security[{i}]")));
        }
    }
    Ok(synthetic)
}

/// Refuses a resource with elements Wardbook does not model.
pub(crate) fn supported_only(resource: &impl FhirResource) -> Result<(), FhirError> {
    let paths = resource.unsupported_elements();
    if paths.is_empty() { Ok(()) } else { Err(FhirError::Unsupported { paths }) }
}

/// A FHIR `instant` / `dateTime` in UTC, with the fraction of a second only
/// when there is one.
pub(crate) fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A FHIR `dateTime` that names an instant: a date and time to the second,
/// with a time zone. A date alone (allowed by FHIR) is refused where the
/// row needs a time: guessing midnight would invent a time of measurement.
pub(crate) fn date_time_in(value: Option<&str>, path: &str) -> Result<DateTime<Utc>, FhirError> {
    let value = value.ok_or_else(|| FhirError::missing(path))?;
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| FhirError::invalid(path, "a date and time to the second with a time zone"))
}

/// The text, unless absent or blank (FHIR forbids empty strings).
pub(crate) fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty()).map(str::to_owned)
}

/// A protocol coding from a FHIR concept at `path`: the first coding with
/// a system and a code, preferring `preferred` systems in order. Its display
/// is the coding's, else the concept's text. The concept's other codings
/// are translations of the same concept (FHIR CodeableConcept) and are not
/// kept.
pub(crate) fn concept_in(
    concept: Option<&super::resources::CodeableConcept>,
    preferred: &[&str],
    path: &str,
) -> Result<wardbook_protocol::Coding, FhirError> {
    let concept = concept.ok_or_else(|| FhirError::missing(path))?;
    let usable = |c: &&Coding| non_empty(c.system.as_deref()).is_some() && non_empty(c.code.as_deref()).is_some();
    let position = preferred
        .iter()
        .find_map(|system| concept.coding.iter().position(|c| c.system.as_deref() == Some(*system) && usable(&c)))
        .or_else(|| concept.coding.iter().position(|c| usable(&c)))
        .ok_or_else(|| FhirError::missing(format!("{path}.coding")))?;
    let coding = &concept.coding[position];
    let display = non_empty(coding.display.as_deref())
        .or_else(|| non_empty(concept.text.as_deref()))
        .ok_or_else(|| FhirError::missing(format!("{path}.coding[{position}].display")))?;
    Ok(wardbook_protocol::Coding {
        system: coding.system.clone().unwrap_or_default(),
        code: coding.code.clone().unwrap_or_default(),
        display,
    })
}

/// The code of `concept` in `system` (a status, a category), required.
pub(crate) fn code_in<'a>(
    concept: Option<&'a super::resources::CodeableConcept>,
    system: &str,
    path: &str,
) -> Result<&'a str, FhirError> {
    let concept = concept.ok_or_else(|| FhirError::missing(path))?;
    concept
        .coding
        .iter()
        .find(|c| c.system.as_deref() == Some(system))
        .and_then(|c| c.code.as_deref())
        .ok_or_else(|| FhirError::unsupported_code(format!("{path}.coding")))
}

/// The protocol coding as a FHIR one.
pub(crate) fn coding_out(coding: &wardbook_protocol::Coding) -> Coding {
    Coding {
        system: non_empty(Some(&coding.system)),
        code: non_empty(Some(&coding.code)),
        display: non_empty(Some(&coding.display)),
        other: serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests;
