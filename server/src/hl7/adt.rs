//! ADT messages (admit, transfer, discharge, cancels, update, merge): the
//! PID, PV1, AL1 and MRG segments read into what `apply` does with them.

use chrono::{DateTime, NaiveDate, Utc};
use hl7_parser::Message;
use serde::Serialize;
use wardbook_protocol::Sex;

use super::fields::{Location, Seg, Value};
use super::parse::{Change, Coded, Demographics, ErrorCode, Header, Rejection, coded, date, seg, timestamp};

/// An ADT event's effect on where the patient is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Movement {
    /// A01, A02, A12 (the patient returns to PV1-3), A13: the patient is at
    /// PV1-3 now.
    Place,
    /// A03, A11: the patient is on no ward.
    Leave,
    /// A04, A08: identity changes; PV1-3, when sent, is where the patient is.
    Update,
    /// A40: another record is merged into this one.
    Merge,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Adt {
    pub trigger: String,
    pub movement: Movement,
    pub patient: PatientIdentity,
    pub visit: Option<Visit>,
    pub allergies: Vec<AllergyEntry>,
    /// A40: each MRG-1 list names one record merged into `patient`.
    pub merged: Vec<Vec<Identifier>>,
}

/// CX: an identifier and who assigned it. `Debug` hides the value.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Identifier {
    pub value: String,
    /// The assigning authority (CX-4: namespace, or universal id).
    pub authority: String,
    /// CX-5, e.g. MR.
    pub type_code: String,
}

impl Identifier {
    /// The system we file it under: the assigning authority, or the
    /// sending facility when the sender names none.
    pub fn system(&self, header: &Header) -> String {
        let authority = if self.authority.is_empty() { &header.sending_facility } else { &self.authority };
        format!("urn:wardbook:hl7v2:assigning-authority:{authority}")
    }
}

/// PID: who the patient is. PHI: `Debug` prints the number of identifiers only.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PatientIdentity {
    /// PID-3, all repetitions; the first with type MR is the MRN.
    pub identifiers: Vec<Identifier>,
    pub demographics: Demographics,
}

impl PatientIdentity {
    /// The medical record number: the first identifier of type MR, else the first.
    pub fn mrn(&self) -> Option<&Identifier> {
        self.identifiers.iter().find(|i| i.type_code == "MR").or(self.identifiers.first())
    }
}

/// PV1: the visit, and where the patient is. `Debug` prints the class only.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Visit {
    /// PV1-2: I inpatient, O outpatient, E emergency, ...
    pub class: String,
    /// PV1-3.1, the ward as the sender names it; mapped to a location.
    pub point_of_care: Option<String>,
    pub room: Option<String>,
    pub bed: Option<String>,
    /// PV1-7, the attending doctor as "id family given".
    pub attending: Option<String>,
    pub admitted_at: Option<DateTime<Utc>>,
    pub discharged_at: Option<DateTime<Utc>>,
    /// PV1-19.
    pub visit_number: Option<String>,
}

/// AL1: one allergy. `Debug` prints the allergen's code only.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct AllergyEntry {
    /// AL1-2: DA drug, FA food, MA miscellaneous, EA environmental, ...
    pub type_code: String,
    pub allergen: Coded,
    /// AL1-4: SV severe, MO moderate, MI mild, U unknown.
    pub severity: String,
    pub reactions: Vec<String>,
    pub identified_on: Option<NaiveDate>,
}

impl std::fmt::Debug for PatientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientIdentity").field("identifiers", &self.identifiers.len()).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Identifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identifier").field("type_code", &self.type_code).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Visit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visit").field("class", &self.class).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AllergyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AllergyEntry").field("allergen", &self.allergen.code).finish_non_exhaustive()
    }
}

pub(super) fn adt(message: &Message<'_>, header: &Header) -> Result<Adt, Rejection> {
    let patient = identity(message)?;
    let movement = match header.trigger.as_str() {
        "A01" | "A02" | "A12" | "A13" => Movement::Place,
        "A03" | "A11" => Movement::Leave,
        "A40" => Movement::Merge,
        _ => Movement::Update,
    };
    let visit = match seg(message, "PV1", 1) {
        Some(pv1) => Some(visit(&pv1)?),
        None => None,
    };
    if movement == Movement::Place && visit.as_ref().is_none_or(|v| v.point_of_care.is_none()) {
        return Err(Rejection::error(
            ErrorCode::RequiredFieldMissing,
            Location::new("PV1", 1, 3),
            "PV1-3 (assigned patient location) is required for this event.",
        ));
    }
    let mut allergies = Vec::new();
    for n in 1..=message.segment_count("AL1") {
        if let Some(al1) = seg(message, "AL1", n) {
            allergies.push(allergy(&al1)?);
        }
    }
    let mut merged = Vec::new();
    for n in 1..=message.segment_count("MRG") {
        if let Some(mrg) = seg(message, "MRG", n) {
            let ids = identifiers(&mrg, 1)?;
            if ids.is_empty() {
                return Err(Rejection::error(
                    ErrorCode::RequiredFieldMissing,
                    mrg.location(1),
                    "MRG-1 (prior patient identifier list) is missing.",
                ));
            }
            merged.push(ids);
        }
    }
    if movement == Movement::Merge && merged.is_empty() {
        return Err(Rejection::error(
            ErrorCode::RequiredFieldMissing,
            Location::new("MRG", 1, 1),
            "An A40 merge needs an MRG segment naming the record merged.",
        ));
    }
    Ok(Adt { trigger: header.trigger.clone(), movement, patient, visit, allergies, merged })
}

/// PID, required in every message Wardbook applies.
pub(super) fn identity(message: &Message<'_>) -> Result<PatientIdentity, Rejection> {
    let Some(pid) = seg(message, "PID", 1) else {
        return Err(Rejection::error(
            ErrorCode::SegmentSequence,
            Location::new("PID", 1, 0),
            "The message has no PID segment.",
        ));
    };
    let identifiers = identifiers(&pid, 3)?;
    if identifiers.is_empty() {
        return Err(Rejection::error(
            ErrorCode::RequiredFieldMissing,
            pid.location(3),
            "PID-3 (patient identifier list) is missing.",
        ));
    }
    // PID-5: the legal name (type L) when several are sent.
    let name_rep = (1..=pid.repetitions(5).max(1)).find(|&r| pid.value(5, r, 7).as_str() == "L").unwrap_or(1);
    let family_name = match pid.sub(5, name_rep, 1, 1) {
        Value::Absent if pid.raw(5) == "\"\"" => Value::Null,
        v => v,
    };
    let birth_date = match pid.first(7) {
        Value::Absent => Change::Keep,
        Value::Null => Change::Clear,
        Value::Text(t) => Change::Set(date(&t).ok_or_else(|| {
            Rejection::error(ErrorCode::DataType, pid.location(7), "PID-7 (date of birth) is not a valid date.")
        })?),
    };
    let sex = match pid.first(8) {
        Value::Absent => Change::Keep,
        Value::Null => Change::Clear,
        Value::Text(t) => Change::Set(match t.to_ascii_uppercase().as_str() {
            "M" => Sex::Male,
            "F" => Sex::Female,
            "O" | "A" | "N" => Sex::Other,
            "U" => Sex::Unknown,
            _ => {
                return Err(Rejection::error(
                    ErrorCode::TableValueNotFound,
                    pid.location(8),
                    "PID-8 (administrative sex) is not a value of HL7 table 0001 (M, F, O, U, A, N).",
                ));
            }
        }),
    };
    // PID-13: telephone (first XTN that is not an e-mail address) and e-mail.
    let mut phone = Change::Keep;
    let mut email = Change::Keep;
    if pid.raw(13) == "\"\"" {
        phone = Change::Clear;
        email = Change::Clear;
    }
    for r in 1..=pid.repetitions(13) {
        let is_email = pid.value(13, r, 2).as_str() == "NET" || pid.value(13, r, 3).as_str() == "Internet";
        if is_email {
            if let Value::Text(e) = pid.value(13, r, 4) {
                email = Change::Set(e);
            }
        } else if matches!(phone, Change::Keep | Change::Clear) {
            let formatted = pid.value(13, r, 1).text();
            let parts = [pid.value(13, r, 5), pid.value(13, r, 6), pid.value(13, r, 7)]
                .map(|v| v.text().unwrap_or_default())
                .join(" ");
            if let Some(number) = formatted.or_else(|| (!parts.trim().is_empty()).then(|| parts.trim().to_owned())) {
                phone = Change::Set(number);
            }
        }
    }
    let address = match pid.raw(11) {
        "\"\"" => Change::Clear,
        _ => {
            let parts: Vec<String> = [1, 2, 3, 4, 5, 6].iter().filter_map(|&c| pid.value(11, 1, c).text()).collect();
            if parts.is_empty() { Change::Keep } else { Change::Set(parts.join(", ")) }
        }
    };
    let language = match pid.value(15, 1, 1) {
        Value::Text(t) => {
            let tag = t.to_ascii_lowercase();
            if (2..=8).contains(&tag.len()) && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                Change::Set(tag)
            } else {
                return Err(Rejection::error(
                    ErrorCode::DataType,
                    pid.location(15),
                    "PID-15 (primary language) must be a language code such as en or spa.",
                ));
            }
        }
        v => Change::<String>::from(v),
    };
    Ok(PatientIdentity {
        identifiers,
        demographics: Demographics {
            family_name: family_name.into(),
            given_name: pid.value(5, name_rep, 2).into(),
            birth_date,
            sex,
            phone,
            email,
            address,
            language,
        },
    })
}

/// A CX list (PID-3, MRG-1).
fn identifiers(s: &Seg<'_, '_>, field: usize) -> Result<Vec<Identifier>, Rejection> {
    let mut out = Vec::new();
    for r in 1..=s.repetitions(field) {
        let Some(value) = s.value(field, r, 1).text() else { continue };
        if value.chars().count() > 300 {
            return Err(Rejection::error(ErrorCode::DataType, s.location(field), "An identifier is too long."));
        }
        let authority = s.sub(field, r, 4, 1).text().or_else(|| s.sub(field, r, 4, 2).text()).unwrap_or_default();
        let type_code = s.value(field, r, 5).text().unwrap_or_default();
        out.push(Identifier { value, authority, type_code });
    }
    Ok(out)
}

fn visit(pv1: &Seg<'_, '_>) -> Result<Visit, Rejection> {
    let time = |field: usize, what: &str| -> Result<Option<DateTime<Utc>>, Rejection> {
        match pv1.first(field).text() {
            None => Ok(None),
            Some(t) => timestamp(&t).map(Some).ok_or_else(|| {
                Rejection::error(ErrorCode::DataType, pv1.location(field), format!("{what} is not a valid time."))
            }),
        }
    };
    // The bed's rules are ingest's (`ingest::place`), answered as PV1-3.
    let bed = pv1.value(3, 1, 3).text();
    let attending = {
        let parts: Vec<String> = [1, 2, 3].iter().filter_map(|&c| pv1.value(7, 1, c).text()).collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    };
    Ok(Visit {
        class: pv1.first(2).text().unwrap_or_default(),
        point_of_care: pv1.value(3, 1, 1).text(),
        room: pv1.value(3, 1, 2).text(),
        bed,
        attending,
        admitted_at: time(44, "PV1-44 (admit date/time)")?,
        discharged_at: time(45, "PV1-45 (discharge date/time)")?,
        visit_number: pv1.first(19).text(),
    })
}

fn allergy(al1: &Seg<'_, '_>) -> Result<AllergyEntry, Rejection> {
    let allergen = coded(al1, 3, 1);
    if allergen.code.is_empty() && allergen.text.is_empty() {
        return Err(Rejection::error(
            ErrorCode::RequiredFieldMissing,
            al1.location(3),
            "AL1-3 (allergen code) is missing.",
        ));
    }
    let reactions = (1..=al1.repetitions(5)).filter_map(|r| al1.flat(5, r).text()).collect();
    let identified_on = match al1.first(6).text() {
        None => None,
        Some(t) => Some(date(&t).ok_or_else(|| {
            Rejection::error(ErrorCode::DataType, al1.location(6), "AL1-6 (identification date) is not a valid date.")
        })?),
    };
    Ok(AllergyEntry {
        type_code: al1.first(2).text().unwrap_or_default().to_ascii_uppercase(),
        allergen,
        severity: al1.first(4).text().unwrap_or_default().to_ascii_uppercase(),
        reactions,
        identified_on,
    })
}
