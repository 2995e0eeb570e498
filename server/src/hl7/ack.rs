//! The acknowledgment (HL7 v2.5.1 original mode, ACK): MSH, MSA with the
//! code and the sender's control id, and for AE and AR an ERR segment that
//! names the field (ERR-2) and the HL7 table 0357 code (ERR-3), never a
//! value from the message.

use chrono::Utc;
use hl7_parser::message::Separators;

use super::fields::encode;
use super::parse::{AckCode, Header, Rejection};

/// Who we answer: the MSH fields of the message acknowledged, as far as
/// they could be read (empty when not).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckTo {
    pub sending_application: String,
    pub sending_facility: String,
    pub receiving_application: String,
    pub receiving_facility: String,
    pub control_id: String,
    pub trigger: String,
    pub version: String,
    pub processing_id: String,
}

impl From<&Header> for AckTo {
    fn from(h: &Header) -> Self {
        AckTo {
            sending_application: h.sending_application.clone(),
            sending_facility: h.sending_facility.clone(),
            receiving_application: h.receiving_application.clone(),
            receiving_facility: h.receiving_facility.clone(),
            control_id: h.control_id.clone(),
            trigger: h.trigger.clone(),
            version: h.version.clone(),
            processing_id: h.processing_id.clone(),
        }
    }
}

impl AckTo {
    /// The header fields of a message whose MSH could be read at all, for
    /// an AR to a message that is otherwise unreadable.
    pub fn best_effort(text: &str) -> AckTo {
        let Ok(message) = super::parse::read_structure(text) else { return AckTo::default() };
        let Some(segment) = message.segment("MSH") else { return AckTo::default() };
        let msh = super::fields::Seg { segment, separators: &message.separators, sequence: 1 };
        let text = |f: usize, c: usize| msh.value(f, 1, c).text().unwrap_or_default();
        AckTo {
            sending_application: text(3, 1),
            sending_facility: text(4, 1),
            receiving_application: text(5, 1),
            receiving_facility: text(6, 1),
            control_id: text(10, 1),
            trigger: text(9, 2),
            version: text(12, 1),
            processing_id: text(11, 1),
        }
    }
}

/// The name we send as MSH-3 when the sender did not address us by one.
pub const OUR_APPLICATION: &str = "WARDBOOK";

/// The ACK for `to`: AA when `outcome` is `Ok`, else the rejection's code
/// with an ERR segment. Segments end with `\r`.
pub fn ack(to: &AckTo, outcome: Result<(), &Rejection>) -> String {
    let s = Separators::default();
    let e = |t: &str| encode(t, &s);
    let code = match outcome {
        Ok(()) => AckCode::AA,
        Err(r) => r.ack,
    };
    let version = if to.version.starts_with("2.") { to.version.as_str() } else { "2.5.1" };
    let processing = if to.processing_id.is_empty() { "P" } else { to.processing_id.as_str() };
    let our_app = if to.receiving_application.is_empty() { OUR_APPLICATION } else { &to.receiving_application };
    let mut out = format!(
        "MSH|^~\\&|{}|{}|{}|{}|{}||ACK^{}^ACK|{}|{}|{}\r",
        e(our_app),
        e(&to.receiving_facility),
        e(&to.sending_application),
        e(&to.sending_facility),
        Utc::now().format("%Y%m%d%H%M%S%.3f+0000"),
        e(&to.trigger),
        uuid::Uuid::now_v7().simple(),
        e(processing),
        e(version),
    );
    match outcome {
        Ok(()) => out.push_str(&format!("MSA|AA|{}\r", e(&to.control_id))),
        Err(r) => {
            out.push_str(&format!("MSA|{}|{}|{}\r", code.as_str(), e(&to.control_id), e(&r.text)));
            let location = r
                .location
                .as_ref()
                .map(|l| {
                    if l.field == 0 {
                        format!("{}^{}", e(&l.segment), l.sequence)
                    } else {
                        format!("{}^{}^{}", e(&l.segment), l.sequence, l.field)
                    }
                })
                .unwrap_or_default();
            out.push_str(&format!(
                "ERR||{location}|{}^{}^HL70357|E||||{}\r",
                r.code.number(),
                e(r.code.text()),
                e(&r.text)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::hl7::fields::Location;
    use crate::hl7::parse::ErrorCode;

    fn to() -> AckTo {
        AckTo {
            sending_application: "EPIC".into(),
            sending_facility: "GENHOSP".into(),
            control_id: "MSG^1".into(),
            trigger: "A01".into(),
            version: "2.5.1".into(),
            processing_id: "P".into(),
            ..AckTo::default()
        }
    }

    #[test]
    fn an_accept_echoes_the_control_id() {
        let text = ack(&to(), Ok(()));
        let m = hl7_parser::Message::parse(text.trim_end()).unwrap();
        assert_eq!(m.segment("MSH").unwrap().field(9).unwrap().raw_value(), "ACK^A01^ACK");
        assert_eq!(m.segment("MSH").unwrap().field(5).unwrap().raw_value(), "EPIC");
        let msa = m.segment("MSA").unwrap();
        assert_eq!(msa.field(1).unwrap().raw_value(), "AA");
        assert_eq!(msa.field(2).unwrap().raw_value(), "MSG\\S\\1");
        assert!(m.segment("ERR").is_none());
    }

    #[test]
    fn an_error_names_the_field_and_the_code() {
        let r = Rejection::error(
            ErrorCode::UnknownKeyIdentifier,
            Location::new("PID", 1, 3),
            "No patient has this identifier.",
        );
        let text = ack(&to(), Err(&r));
        let m = hl7_parser::Message::parse(text.trim_end()).unwrap();
        assert_eq!(m.segment("MSA").unwrap().field(1).unwrap().raw_value(), "AE");
        let err = m.segment("ERR").unwrap();
        assert_eq!(err.field(2).unwrap().raw_value(), "PID^1^3");
        assert_eq!(err.field(3).unwrap().raw_value(), "204^Unknown key identifier^HL70357");
        assert_eq!(err.field(4).unwrap().raw_value(), "E");
    }
}
