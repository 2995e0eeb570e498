//! An inbound HL7 v2 message, from text to what it says: its header and
//! one [`Event`] (ADT, read in `adt`; ORU, read in `oru`; RDE and OMP
//! pharmacy orders, read in `pharmacy`), or a
//! [`Rejection`] that names the segment and field at fault and never its
//! value.
//!
//! Pure: no database. Whether the patient or location it names exists is
//! decided when it is applied (`super::apply`), and answered with AE; what
//! is decided here (structure, types, dates, codes) is answered with AR when
//! the message as a whole cannot be read, AE when one field is wrong.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use hl7_parser::Message;
use serde::Serialize;

pub use super::adt::*;
use super::fields::{Location, Seg};
pub use super::oru::*;
pub use super::pharmacy::{OrderDetail, OrderNumber, PharmacyOrder, PharmacyOrders};
pub use crate::ingest::{Change, Demographics};

/// MSH-9.1 and .2, the kinds of message Wardbook applies.
pub const SUPPORTED: &[&str] = &[
    "ADT^A01", "ADT^A02", "ADT^A03", "ADT^A04", "ADT^A08", "ADT^A11", "ADT^A12", "ADT^A13", "ADT^A40", "ORU^R01",
    "RDE^O11", "OMP^O09",
];

/// MSH-9.1, the message codes Wardbook reads.
const CODES: &[&str] = &["ADT", "ORU", "RDE", "OMP"];

/// What a refused message code is told.
const ACCEPTED: &str = "Wardbook accepts ADT, ORU, RDE and OMP messages only.";

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
    /// MSH-7, when the sender made the message.
    pub sent_at: Option<DateTime<Utc>>,
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
    /// RDE^O11 or OMP^O09.
    Pharmacy(Box<PharmacyOrders>),
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
        "ORU^R01" => Event::Results(super::oru::results(message)?),
        "RDE^O11" => Event::Pharmacy(Box::new(super::pharmacy::orders(message, true)?)),
        "OMP^O09" => Event::Pharmacy(Box::new(super::pharmacy::orders(message, false)?)),
        t if t.starts_with("ADT^") => Event::Adt(Box::new(super::adt::adt(message, header)?)),
        _ => {
            return Err(Rejection::reject(
                ErrorCode::UnsupportedMessageType,
                Some(Location::new("MSH", 1, 9)),
                ACCEPTED,
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

pub(super) fn seg<'a, 'm>(message: &'a Message<'m>, name: &str, sequence: usize) -> Option<Seg<'a, 'm>> {
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
        sent_at: msh.first(7).text().and_then(|t| timestamp(&t)),
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
    if !CODES.contains(&code.as_str()) {
        return Err(Rejection::reject(ErrorCode::UnsupportedMessageType, Some(msh.location(9)), ACCEPTED));
    }
    if !SUPPORTED.contains(&header.message_type.as_str()) {
        return Err(Rejection::reject(
            ErrorCode::UnsupportedEventCode,
            Some(msh.location(9)),
            "This trigger event is not supported (ADT A01 A02 A03 A04 A08 A11 A12 A13 A40, ORU R01, RDE O11, OMP O09).",
        ));
    }
    Ok(header)
}

pub(super) fn coded(s: &Seg<'_, '_>, field: usize, repetition: usize) -> Coded {
    let c = |n: usize| s.value(field, repetition, n).text().unwrap_or_default();
    Coded { code: c(1), text: c(2), system: c(3), alternate_code: c(4), alternate_text: c(5), alternate_system: c(6) }
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
