//! An inbound HL7 v2 message, from text to what it says: its header and
//! one [`Event`] (ADT or ORU), or a [`Rejection`] that names the segment and
//! field at fault and never its value.
//!
//! Pure: no database. Whether the patient or location it names exists is
//! decided when it is applied (`super::apply`), and answered with AE; what
//! is decided here (structure, types, dates, codes) is answered with AR when
//! the message as a whole cannot be read, AE when one field is wrong.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use hl7_parser::Message;
use serde::Serialize;
use wardbook_protocol::Sex;

use super::fields::{Location, Seg, Value};
pub use crate::ingest::Change;

/// MSH-9.1 and .2, the kinds of message Wardbook applies.
pub const SUPPORTED: &[&str] =
    &["ADT^A01", "ADT^A02", "ADT^A03", "ADT^A04", "ADT^A08", "ADT^A11", "ADT^A12", "ADT^A13", "ADT^A40", "ORU^R01"];

/// The acknowledgment code (HL7 table 0008, original mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AckCode {
    /// Accepted: stored and applied.
    AA,
    /// Error: stored, not applied; IT fixes and reprocesses it.
    AE,
    /// Rejected: not stored; the sender must correct it.
    AR,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
        }
    }
}

/// HL7 table 0357, message error condition codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ErrorCode {
    SegmentSequence,
    RequiredFieldMissing,
    DataType,
    TableValueNotFound,
    UnsupportedMessageType,
    UnsupportedEventCode,
    UnsupportedProcessingId,
    UnsupportedVersionId,
    UnknownKeyIdentifier,
    DuplicateKeyIdentifier,
    ApplicationInternalError,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::SegmentSequence,
        ErrorCode::RequiredFieldMissing,
        ErrorCode::DataType,
        ErrorCode::TableValueNotFound,
        ErrorCode::UnsupportedMessageType,
        ErrorCode::UnsupportedEventCode,
        ErrorCode::UnsupportedProcessingId,
        ErrorCode::UnsupportedVersionId,
        ErrorCode::UnknownKeyIdentifier,
        ErrorCode::DuplicateKeyIdentifier,
        ErrorCode::ApplicationInternalError,
    ];

    pub fn number(self) -> u16 {
        match self {
            ErrorCode::SegmentSequence => 100,
            ErrorCode::RequiredFieldMissing => 101,
            ErrorCode::DataType => 102,
            ErrorCode::TableValueNotFound => 103,
            ErrorCode::UnsupportedMessageType => 200,
            ErrorCode::UnsupportedEventCode => 201,
            ErrorCode::UnsupportedProcessingId => 202,
            ErrorCode::UnsupportedVersionId => 203,
            ErrorCode::UnknownKeyIdentifier => 204,
            ErrorCode::DuplicateKeyIdentifier => 205,
            ErrorCode::ApplicationInternalError => 207,
        }
    }

    /// The table's own wording, for ERR-3.2.
    pub fn text(self) -> &'static str {
        match self {
            ErrorCode::SegmentSequence => "Segment sequence error",
            ErrorCode::RequiredFieldMissing => "Required field missing",
            ErrorCode::DataType => "Data type error",
            ErrorCode::TableValueNotFound => "Table value not found",
            ErrorCode::UnsupportedMessageType => "Unsupported message type",
            ErrorCode::UnsupportedEventCode => "Unsupported event code",
            ErrorCode::UnsupportedProcessingId => "Unsupported processing id",
            ErrorCode::UnsupportedVersionId => "Unsupported version id",
            ErrorCode::UnknownKeyIdentifier => "Unknown key identifier",
            ErrorCode::DuplicateKeyIdentifier => "Duplicate key identifier",
            ErrorCode::ApplicationInternalError => "Application internal error",
        }
    }
}

/// Why a message was not applied: the ACK code, the HL7 error code, the
/// field it concerns and a sentence for IT. Never holds a value from the
/// message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub ack: AckCode,
    pub code: ErrorCode,
    pub location: Option<Location>,
    pub text: String,
}

impl Rejection {
    pub fn reject(code: ErrorCode, location: Option<Location>, text: impl Into<String>) -> Rejection {
        Rejection { ack: AckCode::AR, code, location, text: text.into() }
    }

    pub fn error(code: ErrorCode, location: Location, text: impl Into<String>) -> Rejection {
        Rejection { ack: AckCode::AE, code, location: Some(location), text: text.into() }
    }
}

/// MSH: who sent the message and what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Header {
    pub sending_application: String,
    pub sending_facility: String,
    pub receiving_application: String,
    pub receiving_facility: String,
    /// `ADT^A01`.
    pub message_type: String,
    /// `A01`.
    pub trigger: String,
    pub control_id: String,
    /// MSH-11: P production, T training, D debugging. T and D rows are
    /// marked synthetic.
    pub processing_id: String,
    pub version: String,
}

impl Header {
    pub fn synthetic(&self) -> bool {
        matches!(self.processing_id.as_str(), "T" | "D")
    }
}

/// A message Wardbook applies.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Inbound {
    pub header: Header,
    pub event: Event,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Event {
    Adt(Box<Adt>),
    Results(Results),
}

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
    pub family_name: Change<String>,
    pub given_name: Change<String>,
    pub birth_date: Change<NaiveDate>,
    pub sex: Change<Sex>,
    pub phone: Change<String>,
    pub email: Change<String>,
    pub address: Change<String>,
    pub language: Change<String>,
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

/// CE/CWE: a code, its text and its coding system, with the alternate triplet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Coded {
    pub code: String,
    pub text: String,
    pub system: String,
    pub alternate_code: String,
    pub alternate_text: String,
    pub alternate_system: String,
}

/// ORU^R01: results for one patient.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Results {
    pub patient: PatientIdentity,
    pub orders: Vec<Order>,
}

/// OBR with its OBX segments.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Order {
    /// OBR-3 filler order number, else OBR-2 placer order number.
    pub order_number: Option<String>,
    pub panel: Option<Coded>,
    pub observed_at: Option<DateTime<Utc>>,
    pub result_status: String,
    pub results: Vec<ResultEntry>,
}

/// OBX: one result. `Debug` prints the code, status and place, never the value.
#[derive(Clone, PartialEq, Serialize)]
pub struct ResultEntry {
    pub set_id: String,
    pub value_type: String,
    pub code: Coded,
    pub sub_id: String,
    pub value: ResultValue,
    pub units: Option<String>,
    pub reference_range: Option<(Option<f64>, Option<f64>)>,
    pub abnormal_flag: Option<String>,
    pub status: String,
    pub observed_at: Option<DateTime<Utc>>,
    /// Where this OBX is, for errors found when it is applied.
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ResultValue {
    Number(f64),
    Text(String),
    Code(Coded),
    /// No value (a pending result, or a deletion).
    Empty,
}

// Patient data never reaches Debug output (logs, panics).
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

impl std::fmt::Debug for ResultEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultEntry")
            .field("code", &self.code.code)
            .field("status", &self.status)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Reads a message. The text is one message with its segments ended by
/// `\r`, `\n` or `\r\n`.
pub fn parse(text: &str) -> Result<Inbound, Rejection> {
    let message = read_structure(text)?;
    let header = header(&message)?;
    let event = event(&message, &header)?;
    Ok(Inbound { header, event })
}

/// The event of a message whose header [`header`] accepted.
pub fn event(message: &Message<'_>, header: &Header) -> Result<Event, Rejection> {
    Ok(match header.message_type.as_str() {
        "ORU^R01" => Event::Results(results(message)?),
        t if t.starts_with("ADT^") => Event::Adt(Box::new(adt(message, header)?)),
        _ => {
            return Err(Rejection::reject(
                ErrorCode::UnsupportedMessageType,
                Some(Location::new("MSH", 1, 9)),
                "Wardbook accepts ADT and ORU messages only.",
            ));
        }
    })
}

/// The structure only: enough for the header of an ACK to a message that
/// cannot be applied.
pub fn read_structure(text: &str) -> Result<Message<'_>, Rejection> {
    let text = text.trim_start_matches(['\r', '\n']).trim_end_matches(['\r', '\n']);
    if !text.starts_with("MSH") {
        return Err(Rejection::reject(
            ErrorCode::SegmentSequence,
            Some(Location::new("MSH", 1, 1)),
            "The message does not start with an MSH segment.",
        ));
    }
    Message::parse_with_lenient_newlines(text, true).map_err(|_| {
        // The parser's error quotes the message: it is not passed on.
        Rejection::reject(ErrorCode::SegmentSequence, None, "The message's structure cannot be read as HL7 v2.")
    })
}

fn seg<'a, 'm>(message: &'a Message<'m>, name: &str, sequence: usize) -> Option<Seg<'a, 'm>> {
    message.segment_n(name, sequence).map(|segment| Seg { segment, separators: &message.separators, sequence })
}

/// MSH, with the checks that make a message one we can answer and apply.
pub fn header(message: &Message<'_>) -> Result<Header, Rejection> {
    let Some(msh) = seg(message, "MSH", 1) else {
        return Err(Rejection::reject(ErrorCode::SegmentSequence, None, "The message has no MSH segment."));
    };
    let hd = |field: usize| {
        let namespace = msh.value(field, 1, 1).text();
        namespace.or_else(|| msh.value(field, 1, 2).text()).unwrap_or_default()
    };
    let code = msh.value(9, 1, 1).text().unwrap_or_default();
    let trigger = msh.value(9, 1, 2).text().unwrap_or_default();
    let header = Header {
        sending_application: hd(3),
        sending_facility: hd(4),
        receiving_application: hd(5),
        receiving_facility: hd(6),
        message_type: format!("{code}^{trigger}"),
        trigger: trigger.clone(),
        control_id: msh.first(10).text().unwrap_or_default(),
        processing_id: msh.first(11).text().unwrap_or_default(),
        version: msh.first(12).text().unwrap_or_default(),
    };
    if header.control_id.is_empty() || header.control_id.chars().count() > 199 {
        return Err(Rejection::reject(
            ErrorCode::RequiredFieldMissing,
            Some(msh.location(10)),
            "MSH-10 (message control id) is missing or longer than 199 characters.",
        ));
    }
    if header.sending_application.is_empty() {
        return Err(Rejection::reject(
            ErrorCode::RequiredFieldMissing,
            Some(msh.location(3)),
            "MSH-3 (sending application) is missing.",
        ));
    }
    if code.is_empty() || trigger.is_empty() {
        return Err(Rejection::reject(
            ErrorCode::RequiredFieldMissing,
            Some(msh.location(9)),
            "MSH-9 (message type and trigger event) is missing.",
        ));
    }
    if !matches!(header.processing_id.as_str(), "P" | "T" | "D") {
        return Err(Rejection::reject(
            ErrorCode::UnsupportedProcessingId,
            Some(msh.location(11)),
            "MSH-11 (processing id) must be P, T or D.",
        ));
    }
    if !header.version.starts_with("2.") {
        return Err(Rejection::reject(
            ErrorCode::UnsupportedVersionId,
            Some(msh.location(12)),
            "MSH-12 (version id) must be an HL7 v2 version (2.3 to 2.8).",
        ));
    }
    if !matches!(code.as_str(), "ADT" | "ORU") {
        return Err(Rejection::reject(
            ErrorCode::UnsupportedMessageType,
            Some(msh.location(9)),
            "Wardbook accepts ADT and ORU messages only.",
        ));
    }
    if !SUPPORTED.contains(&header.message_type.as_str()) {
        return Err(Rejection::reject(
            ErrorCode::UnsupportedEventCode,
            Some(msh.location(9)),
            "This trigger event is not supported (ADT A01 A02 A03 A04 A08 A11 A12 A13 A40, ORU R01).",
        ));
    }
    Ok(header)
}

fn adt(message: &Message<'_>, header: &Header) -> Result<Adt, Rejection> {
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
fn identity(message: &Message<'_>) -> Result<PatientIdentity, Rejection> {
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
        family_name: family_name.into(),
        given_name: pid.value(5, name_rep, 2).into(),
        birth_date,
        sex,
        phone,
        email,
        address,
        language,
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
    let bed = pv1.value(3, 1, 3).text();
    if bed.as_ref().is_some_and(|b| b.chars().count() > 40) {
        return Err(Rejection::error(
            ErrorCode::DataType,
            pv1.location(3),
            "PV1-3.3 (bed) is longer than 40 characters.",
        ));
    }
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

fn coded(s: &Seg<'_, '_>, field: usize, repetition: usize) -> Coded {
    let c = |n: usize| s.value(field, repetition, n).text().unwrap_or_default();
    Coded { code: c(1), text: c(2), system: c(3), alternate_code: c(4), alternate_text: c(5), alternate_system: c(6) }
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

fn results(message: &Message<'_>) -> Result<Results, Rejection> {
    let patient = identity(message)?;
    let mut orders: Vec<Order> = Vec::new();
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for segment in &message.segments {
        let n = counts.entry(segment.name).or_default();
        *n += 1;
        let s = Seg { segment, separators: &message.separators, sequence: *n };
        match segment.name {
            "OBR" => orders.push(order(&s)?),
            "OBX" => {
                let Some(order) = orders.last_mut() else {
                    return Err(Rejection::error(
                        ErrorCode::SegmentSequence,
                        s.location(0),
                        "An OBX segment comes before any OBR segment.",
                    ));
                };
                let default_time = order.observed_at;
                let default_status = order.result_status.clone();
                order.results.push(result(&s, default_time, &default_status)?);
            }
            _ => {}
        }
    }
    if orders.is_empty() {
        return Err(Rejection::error(
            ErrorCode::SegmentSequence,
            Location::new("OBR", 1, 0),
            "An ORU^R01 needs at least one OBR segment.",
        ));
    }
    Ok(Results { patient, orders })
}

fn order(obr: &Seg<'_, '_>) -> Result<Order, Rejection> {
    let observed_at = match obr.first(7).text() {
        None => None,
        Some(t) => Some(timestamp(&t).ok_or_else(|| {
            Rejection::error(ErrorCode::DataType, obr.location(7), "OBR-7 (observation date/time) is not a valid time.")
        })?),
    };
    let panel = coded(obr, 4, 1);
    Ok(Order {
        order_number: obr.first(3).text().or_else(|| obr.first(2).text()),
        panel: (!panel.code.is_empty()).then_some(panel),
        observed_at,
        result_status: obr.first(25).text().unwrap_or_default().to_ascii_uppercase(),
        results: Vec::new(),
    })
}

fn result(
    obx: &Seg<'_, '_>,
    default_time: Option<DateTime<Utc>>,
    default_status: &str,
) -> Result<ResultEntry, Rejection> {
    let code = coded(obx, 3, 1);
    if code.code.is_empty() && code.alternate_code.is_empty() {
        return Err(Rejection::error(
            ErrorCode::RequiredFieldMissing,
            obx.location(3),
            "OBX-3 (observation identifier) is missing.",
        ));
    }
    let value_type = obx.first(2).text().unwrap_or_default().to_ascii_uppercase();
    let raw_value = obx.flat(5, 1);
    let value = match (value_type.as_str(), raw_value) {
        (_, Value::Absent | Value::Null) => ResultValue::Empty,
        ("NM", Value::Text(t)) => ResultValue::Number(number(&t).ok_or_else(|| {
            Rejection::error(ErrorCode::DataType, obx.location(5), "OBX-5 is not a number, as OBX-2 (NM) says it is.")
        })?),
        ("SN", Value::Text(_)) => structured_numeric(obx),
        ("CE" | "CWE" | "CNE", Value::Text(_)) => ResultValue::Code(coded(obx, 5, 1)),
        ("ST" | "TX" | "FT" | "TS" | "DT" | "TM" | "DTM" | "ID" | "IS", Value::Text(_)) => {
            let parts: Vec<String> = (1..=obx.repetitions(5)).filter_map(|r| obx.flat(5, r).text()).collect();
            ResultValue::Text(parts.join("\n"))
        }
        _ => {
            return Err(Rejection::error(
                ErrorCode::DataType,
                obx.location(2),
                "OBX-2 (value type) is not one Wardbook stores (NM, SN, ST, TX, FT, CE, CWE, TS, DT).",
            ));
        }
    };
    let reference_range = obx.first(7).text().map(|t| range(&t));
    let observed_at = match obx.first(14).text() {
        None => default_time,
        Some(t) => Some(timestamp(&t).ok_or_else(|| {
            Rejection::error(
                ErrorCode::DataType,
                obx.location(14),
                "OBX-14 (observation date/time) is not a valid time.",
            )
        })?),
    };
    let status = obx.first(11).text().map(|s| s.to_ascii_uppercase()).unwrap_or_else(|| default_status.to_owned());
    Ok(ResultEntry {
        set_id: obx.first(1).text().unwrap_or_default(),
        value_type,
        code,
        sub_id: obx.first(4).text().unwrap_or_default(),
        value,
        units: obx.value(6, 1, 1).text(),
        reference_range,
        abnormal_flag: obx.first(8).text().map(|f| f.to_ascii_uppercase()),
        status,
        observed_at,
        location: obx.location(5),
    })
}

/// SN: `comparator^num1^separator^num2`. A plain number is a number; a
/// comparison or a ratio is kept as text (`<0.5`, `1:128`).
fn structured_numeric(obx: &Seg<'_, '_>) -> ResultValue {
    let part = |n: usize| obx.value(5, 1, n).text().unwrap_or_default();
    let (comparator, first, separator, second) = (part(1), part(2), part(3), part(4));
    if comparator.is_empty()
        && separator.is_empty()
        && second.is_empty()
        && let Some(n) = number(&first)
    {
        return ResultValue::Number(n);
    }
    ResultValue::Text(format!("{comparator}{first}{separator}{second}"))
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// OBX-7: `3.5-5.0`, `<10`, `>2`, `3.5 - 5.0`. What cannot be read gives no range.
fn range(text: &str) -> (Option<f64>, Option<f64>) {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("<=").or_else(|| t.strip_prefix('<')) {
        return (None, number(rest));
    }
    if let Some(rest) = t.strip_prefix(">=").or_else(|| t.strip_prefix('>')) {
        return (number(rest), None);
    }
    // The dash between the limits, not a leading minus sign.
    if let Some(i) = t.char_indices().skip(1).find(|&(_, c)| c == '-').map(|(i, _)| i) {
        return (number(&t[..i]), number(&t[i + 1..]));
    }
    (None, None)
}

/// An HL7 date (DT, or the date part of a TS): YYYYMMDD.
pub fn date(text: &str) -> Option<NaiveDate> {
    let ts = hl7_parser::datetime::parse_timestamp(text.trim(), false).ok()?;
    NaiveDate::from_ymd_opt(i32::from(ts.year), u32::from(ts.month?), u32::from(ts.day?))
}

/// An HL7 TS/DTM: `YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]`. Without an
/// offset the time is taken as UTC (docs/it-guide.md, "Interfaces").
pub fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    let ts = hl7_parser::datetime::parse_timestamp(text.trim(), false).ok()?;
    let day =
        NaiveDate::from_ymd_opt(i32::from(ts.year), u32::from(ts.month.unwrap_or(1)), u32::from(ts.day.unwrap_or(1)))?;
    let time = NaiveTime::from_hms_micro_opt(
        u32::from(ts.hour.unwrap_or(0)),
        u32::from(ts.minute.unwrap_or(0)),
        u32::from(ts.second.unwrap_or(0)),
        ts.microsecond.unwrap_or(0),
    )?;
    let local = NaiveDateTime::new(day, time);
    let offset_seconds = ts.offset.map_or(0, |o| {
        let sign = if o.hours < 0 { -1 } else { 1 };
        i32::from(o.hours) * 3600 + sign * i32::from(o.minutes) * 60
    });
    let offset = chrono::FixedOffset::east_opt(offset_seconds)?;
    offset.from_local_datetime(&local).single().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
