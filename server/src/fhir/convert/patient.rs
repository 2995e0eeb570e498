//! Patient: the protocol's demographics ⇄ FHIR Patient. The ward and bed
//! are not Patient elements in FHIR: they travel as an Encounter
//! (`encounter.rs`).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;
use wardbook_protocol as proto;
use wardbook_protocol::Sex;

use super::{identifier_pairs, meta_out, non_empty, supported_only, synthetic_in, systems};
use crate::fhir::FhirError;
use crate::fhir::resources::{
    Address, CodeableConcept, Coding, ContactPoint, HumanName, Identifier, Patient, PatientCommunication, ResourceType,
};

/// A FHIR Patient as Wardbook can store it. Every field but `id` and the
/// flags is PHI: `Debug` prints neither.
#[derive(Clone, PartialEq, Eq)]
pub struct PatientInput {
    /// The resource's `id` as sent (an update names the row in its URL; the
    /// handler compares the two).
    pub id: Option<String>,
    /// Every identifier as `(system, value)`, the MRN's too.
    pub identifiers: Vec<(String, String)>,
    /// The value of the identifier in the hospital's MRN system.
    pub mrn: String,
    /// The given names, joined by spaces.
    pub given: String,
    pub family: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The address as one text.
    pub address: Option<String>,
    /// A BCP 47 language tag.
    pub language: Option<String>,
    /// Labelled HTEST.
    pub synthetic: bool,
}

impl std::fmt::Debug for PatientInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientInput").field("id", &self.id).field("synthetic", &self.synthetic).finish_non_exhaustive()
    }
}

/// The MRN as a FHIR identifier: type MR (HL7 v2 table 0203) in the
/// hospital's MRN system.
pub fn mrn_identifier(mrn_system: &str, mrn: &str) -> Identifier {
    Identifier {
        use_: Some("usual".to_owned()),
        type_: Some(CodeableConcept::of(Coding::new(systems::V2_IDENTIFIER_TYPE, "MR", "Medical record number"))),
        ..Identifier::new(mrn_system, mrn)
    }
}

/// A protocol patient as FHIR. `mrn_system` is the hospital's identifier
/// system for MRNs (a URI the deployment configures).
pub fn patient_to_fhir(p: &proto::Patient, mrn_system: &str) -> Patient {
    let contact = |system: &str, value: &Option<String>| {
        non_empty(value.as_deref()).map(|value| ContactPoint {
            system: Some(system.to_owned()),
            value: Some(value),
            ..ContactPoint::default()
        })
    };
    Patient {
        resource_type: ResourceType::default(),
        id: Some(p.id.to_string()),
        meta: Some(meta_out(Some(p.version), p.updated_at, p.synthetic)),
        text: None,
        identifier: vec![mrn_identifier(mrn_system, &p.mrn)],
        active: Some(!p.deleted),
        name: vec![HumanName {
            use_: Some("official".to_owned()),
            family: non_empty(Some(&p.family_name)),
            given: non_empty(Some(&p.given_name)).into_iter().collect(),
            ..HumanName::default()
        }],
        telecom: contact("phone", &p.phone).into_iter().chain(contact("email", &p.email)).collect(),
        gender: Some(p.sex.as_str().to_owned()),
        birth_date: Some(p.birth_date.format("%Y-%m-%d").to_string()),
        address: non_empty(p.address.as_deref())
            .map(|text| Address { text: Some(text), ..Address::default() })
            .into_iter()
            .collect(),
        communication: non_empty(p.preferred_language.as_deref())
            .map(|tag| PatientCommunication {
                language: CodeableConcept::of(Coding::code(systems::BCP_47, &tag)),
                preferred: Some(true),
                ..PatientCommunication::default()
            })
            .into_iter()
            .collect(),
        other: serde_json::Map::new(),
    }
}

/// Reads a FHIR Patient. The MRN is the identifier in `mrn_system`.
pub fn patient_from_fhir(r: &Patient, mrn_system: &str) -> Result<PatientInput, FhirError> {
    supported_only(r)?;
    let synthetic = synthetic_in(r.meta.as_ref(), "Patient")?;
    if r.active == Some(false) {
        return Err(FhirError::refused("Patient.active", "Wardbook keeps only patient records in use"));
    }
    let identifiers = identifier_pairs(&r.identifier, "Patient.identifier")?;
    let mut mrns = identifiers.iter().enumerate().filter(|(_, (system, _))| system == mrn_system);
    let (_, (_, mrn)) = mrns.next().ok_or_else(|| FhirError::missing("Patient.identifier"))?;
    if let Some((i, _)) = mrns.next() {
        return Err(FhirError::refused(format!("Patient.identifier[{i}]"), "a patient has one MRN"));
    }
    let (given, family) = name_in(&r.name)?;
    let (phone, email) = telecom_in(&r.telecom)?;
    let sex = match r.gender.as_deref() {
        None => return Err(FhirError::missing("Patient.gender")),
        Some(code) => Sex::parse(code).ok_or_else(|| FhirError::unsupported_code("Patient.gender"))?,
    };
    let birth_date = match r.birth_date.as_deref() {
        None => return Err(FhirError::missing("Patient.birthDate")),
        Some(date) => NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .ok()
            .filter(|_| date.len() == 10)
            .ok_or_else(|| FhirError::invalid("Patient.birthDate", "a full date, YYYY-MM-DD"))?,
    };
    Ok(PatientInput {
        id: r.id.clone(),
        mrn: mrn.clone(),
        identifiers: identifiers.clone(),
        given,
        family,
        birth_date,
        sex,
        phone,
        email,
        address: one(&r.address, "Patient.address", "a patient has one address")?
            .map(|(i, a)| {
                non_empty(a.text.as_deref()).ok_or_else(|| FhirError::missing(format!("Patient.address[{i}].text")))
            })
            .transpose()?,
        language: one(&r.communication, "Patient.communication", "Wardbook keeps one preferred language")?
            .map(|(i, c)| language_in(c, i))
            .transpose()?,
        synthetic,
    })
}

impl PatientInput {
    /// A new row: `id` and `source_system` as the database side decides,
    /// version 0 (not yet stored), no ward or bed (an Encounter sets those:
    /// [`super::WardChange::apply_to`]).
    pub fn to_patient(&self, id: Uuid, updated_at: DateTime<Utc>, source_system: &str) -> proto::Patient {
        let mut p = proto::Patient {
            id,
            version: 0,
            updated_at,
            deleted: false,
            synthetic: self.synthetic,
            mrn: String::new(),
            given_name: String::new(),
            family_name: String::new(),
            birth_date: self.birth_date,
            sex: self.sex,
            phone: None,
            email: None,
            address: None,
            preferred_language: None,
            location: None,
            bed: None,
            source_system: source_system.to_owned(),
        };
        self.apply_to(&mut p);
        p
    }

    /// Overwrites a stored row's demographics with these, keeping what a
    /// Patient resource does not carry: id, version, times, ward, bed,
    /// source system.
    pub fn apply_to(&self, p: &mut proto::Patient) {
        p.synthetic = self.synthetic;
        p.mrn.clone_from(&self.mrn);
        p.given_name.clone_from(&self.given);
        p.family_name.clone_from(&self.family);
        p.birth_date = self.birth_date;
        p.sex = self.sex;
        p.phone.clone_from(&self.phone);
        p.email.clone_from(&self.email);
        p.address.clone_from(&self.address);
        p.preferred_language.clone_from(&self.language);
    }
}

/// The one element of `items`, if any: a second one is refused (`reason`).
fn one<'a, T>(items: &'a [T], path: &str, reason: &'static str) -> Result<Option<(usize, &'a T)>, FhirError> {
    if items.len() > 1 {
        return Err(FhirError::refused(format!("{path}[1]"), reason));
    }
    Ok(items.first().map(|item| (0, item)))
}

/// (given, family) of the patient's one name; several given names are
/// joined by spaces. `use` is not kept: Wardbook's name is the official one.
fn name_in(names: &[HumanName]) -> Result<(String, String), FhirError> {
    let (i, name) = one(names, "Patient.name", "a patient has one name in Wardbook")?
        .ok_or_else(|| FhirError::missing("Patient.name"))?;
    let family =
        non_empty(name.family.as_deref()).ok_or_else(|| FhirError::missing(format!("Patient.name[{i}].family")))?;
    let given: Vec<&str> = name.given.iter().map(|g| g.trim()).filter(|g| !g.is_empty()).collect();
    if given.is_empty() {
        return Err(FhirError::missing(format!("Patient.name[{i}].given")));
    }
    Ok((given.join(" "), family))
}

/// (phone, email): one of each at most; other kinds of contact are refused.
/// `use` (home, work, mobile) is not kept.
fn telecom_in(telecom: &[ContactPoint]) -> Result<(Option<String>, Option<String>), FhirError> {
    let (mut phone, mut email) = (None, None);
    for (i, contact) in telecom.iter().enumerate() {
        let path = format!("Patient.telecom[{i}]");
        let value = non_empty(contact.value.as_deref()).ok_or_else(|| FhirError::missing(format!("{path}.value")))?;
        let (slot, reason) = match contact.system.as_deref() {
            Some("phone") => (&mut phone, "a patient has one phone number in Wardbook"),
            Some("email") => (&mut email, "a patient has one email address in Wardbook"),
            Some(_) => return Err(FhirError::unsupported_code(format!("{path}.system"))),
            None => return Err(FhirError::missing(format!("{path}.system"))),
        };
        if slot.is_some() {
            return Err(FhirError::refused(path, reason));
        }
        *slot = Some(value);
    }
    Ok((phone, email))
}

/// The BCP 47 tag of `communication[i]` (a coding without a system is
/// taken as one, as senders often omit it).
fn language_in(c: &PatientCommunication, i: usize) -> Result<String, FhirError> {
    let path = format!("Patient.communication[{i}].language");
    let tag = c
        .language
        .coding
        .iter()
        .find(|coding| coding.system.as_deref().is_none_or(|s| s == systems::BCP_47))
        .and_then(|coding| non_empty(coding.code.as_deref()));
    match tag {
        Some(tag) => Ok(tag),
        None if c.language.coding.is_empty() => Err(FhirError::missing(format!("{path}.coding"))),
        None => Err(FhirError::unsupported_code(format!("{path}.coding"))),
    }
}
