//! Filing back (issue 15): an administration recorded at a workstation goes
//! to the EHR as an RAS^O17 (HL7 v2.5.1 chapter 4A.5.2, pharmacy/treatment
//! administration): MSH, PID, ORC, RXA, RXR. [`queue`] writes one
//! `phi.hl7_messages` row (direction `outbound`, status `queued`) for every
//! active MLLP interface with a destination (`send_to`), in the transaction
//! that stores the administration, so that a dose is filed back if and only
//! if it is stored; `outbound` sends them.
//!
//! - ORC-1 `RE`; ORC-2 and ORC-3 the order's placer and filler numbers as
//!   the order came (`pharmacy_apply`), those of the interface's own
//!   namespace first; an order that came by FHIR has its identifier as the
//!   placer number (`value^^system^URI`), one with neither Wardbook's id
//!   (`id^WARDBOOK`).
//! - RXA-1 `0` (no RXG), RXA-2 the administration's place among the
//!   order's, RXA-3 and RXA-4 the time given, RXA-5 the order's medication,
//!   RXA-6/7 the dose given (0 when none), RXA-9 the due time answered and
//!   each overridden check with its reason, RXA-10 who gave it then the
//!   witness, RXA-18 why it was not given (local codes, `L`), RXA-20 `CP`
//!   given, `RE` refused, `NA` otherwise not given, RXA-21 `A`, or `D` for a
//!   record marked entered-in-error (with its reason in RXA-9), RXA-22 when
//!   it was recorded.
//! - RXR-1 the route given (else the order's), RXR-2 the site as text; no
//!   RXR when neither is known.

use chrono::{DateTime, Utc};
use hl7_parser::message::Separators;
use tokio_postgres::Transaction;
use uuid::Uuid;
use wardbook_protocol::api::Record;
use wardbook_protocol::medication::{
    AdministrationStatus, MedicationAdministration, MedicationRequest, NotGivenReason,
};
use wardbook_protocol::{Coding, Patient, RXNORM, SNOMED_CT, Sex, UNMAPPED_PREFIX};

use super::ack::OUR_APPLICATION;
use super::pharmacy_apply::{FILLER_PREFIX, PLACER_PREFIX, ROUTE_SYSTEM};
use crate::error::Result;
use crate::keys::KeySet;
use crate::records::{external_ids, medication_requests, patients};

/// MSH-9 of what is queued, as `phi.hl7_messages.message_type` has it.
pub const MESSAGE_TYPE: &str = "RAS^O17";

/// The system of patient identifiers that came by HL7 v2 (`adt::Identifier::system`).
const AUTHORITY_PREFIX: &str = "urn:wardbook:hl7v2:assigning-authority:";
/// Wardbook's own keys in `phi.external_ids`.
const OWN_PREFIX: &str = "urn:wardbook:";

/// Everything one RAS^O17 says. PHI.
pub struct Ras<'a> {
    pub control_id: &'a str,
    pub sent_at: DateTime<Utc>,
    /// MSH-5: the interface's first sending application, the EHR.
    pub receiving_application: &'a str,
    pub patient: &'a Patient,
    /// PID-3: (value, assigning authority), the MRN typed MR.
    pub patient_ids: Vec<(String, String)>,
    pub order: &'a MedicationRequest,
    /// ORC-2 and ORC-3 as EI fields, already encoded.
    pub placer: Option<String>,
    pub filler: Option<String>,
    pub administration: &'a MedicationAdministration,
    /// RXA-2.
    pub sequence: i64,
}

impl std::fmt::Debug for Ras<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ras").field("control_id", &self.control_id).finish_non_exhaustive()
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S+0000").to_string()
}

/// A coding as a CE: code, text, and the HL7 name of its system.
fn ce(c: &Coding, e: &impl Fn(&str) -> String) -> String {
    let system = match c.system.as_str() {
        RXNORM => "RXNORM".to_owned(),
        SNOMED_CT => "SCT".to_owned(),
        ROUTE_SYSTEM => "HL70162".to_owned(),
        // The sender's own system, as it named it.
        s if s.starts_with(UNMAPPED_PREFIX) => s.rsplit(':').next().unwrap_or_default().to_owned(),
        s => s.to_owned(),
    };
    format!("{}^{}^{}", e(&c.code), e(&c.display), e(&system))
}

fn not_given(reason: NotGivenReason) -> (&'static str, &'static str) {
    match reason {
        NotGivenReason::Held => ("held", "Dose held"),
        NotGivenReason::Refused => ("refused", "Refused by the patient"),
        NotGivenReason::Unavailable => ("unavailable", "Medication unavailable"),
        NotGivenReason::PatientAway => ("patient-away", "Patient away from the ward"),
    }
}

/// The message, segments ended by `\r`.
pub fn message(r: &Ras<'_>) -> String {
    let s = Separators::default();
    let e = |t: &str| s.encode(t).to_string();
    let a = r.administration;
    let mut out = format!(
        "MSH|^~\\&|{OUR_APPLICATION}|{OUR_APPLICATION}|{}||{}||RAS^O17^RAS_O17|{}|{}|2.5.1||||||UNICODE UTF-8\r",
        e(r.receiving_application),
        ts(r.sent_at),
        e(r.control_id),
        if a.synthetic { "T" } else { "P" },
    );
    let mrn = &r.patient.mrn;
    let mut ids: Vec<String> = r
        .patient_ids
        .iter()
        .map(|(value, authority)| format!("{}^^^{}{}", e(value), e(authority), if value == mrn { "^MR" } else { "" }))
        .collect();
    if !r.patient_ids.iter().any(|(value, _)| value == mrn) {
        ids.push(format!("{}^^^^MR", e(mrn)));
    }
    let sex = match r.patient.sex {
        Sex::Male => "M",
        Sex::Female => "F",
        Sex::Other => "O",
        Sex::Unknown => "U",
    };
    out.push_str(&format!(
        "PID|1||{}||{}^{}||{}|{sex}\r",
        ids.join("~"),
        e(&r.patient.family_name),
        e(&r.patient.given_name),
        r.patient.birth_date.format("%Y%m%d"),
    ));
    out.push_str(&format!(
        "ORC|RE|{}|{}\r",
        r.placer.as_deref().unwrap_or_default(),
        r.filler.as_deref().unwrap_or_default()
    ));
    let (amount, units) = match &a.dose {
        Some(d) if a.status != AdministrationStatus::NotGiven => (format!("{}", d.value), e(&d.unit)),
        _ => ("0".to_owned(), String::new()),
    };
    let mut notes: Vec<String> = Vec::new();
    if let Some(due) = a.due_at {
        notes.push(format!("^{}", e(&format!("Due {}", ts(due)))));
    }
    for o in &a.overrides {
        notes.push(format!("^{}", e(&format!("Check overridden ({}): {}", o.check.as_str(), o.reason))));
    }
    if let Some(reason) = a.error_reason.as_deref().filter(|_| a.status == AdministrationStatus::EnteredInError) {
        notes.push(format!("^{}", e(&format!("Entered in error: {reason}"))));
    }
    let providers: Vec<String> = std::iter::once(&a.performer).chain(a.witness.as_ref()).map(|p| e(p)).collect();
    let refusal = a.not_given_reason.map(not_given).map(|(code, text)| format!("{code}^{text}^L")).unwrap_or_default();
    let completion = match (a.status, a.not_given_reason) {
        (_, Some(NotGivenReason::Refused)) => "RE",
        (_, Some(_)) | (AdministrationStatus::NotGiven, None) => "NA",
        _ => "CP",
    };
    let action = if a.status == AdministrationStatus::EnteredInError { "D" } else { "A" };
    out.push_str(&format!(
        "RXA|0|{}|{}|{}|{}|{amount}|{units}||{}|{}||||||||{refusal}||{completion}|{action}|{}\r",
        r.sequence,
        ts(a.given_at),
        ts(a.given_at),
        ce(&r.order.medication, &e),
        notes.join("~"),
        providers.join("~"),
        ts(a.recorded_at),
    ));
    let route = a.route.as_ref().or(r.order.route.as_ref());
    if route.is_some() || a.site.is_some() {
        out.push_str(&format!(
            "RXR|{}|{}\r",
            route.map(|c| ce(c, &e)).unwrap_or_default(),
            a.site.as_deref().map(|site| format!("^{}", e(site))).unwrap_or_default()
        ));
    }
    out
}

/// An order number kept under `prefix`: `number^namespace`, those of the
/// interface's senders first.
fn order_number(
    keys: &[(String, String)],
    prefix: &str,
    senders: &[String],
    e: &impl Fn(&str) -> String,
) -> Option<String> {
    let numbers: Vec<(&str, &str)> = keys
        .iter()
        .filter_map(|(system, value)| system.strip_prefix(prefix).map(|namespace| (namespace, value.as_str())))
        .collect();
    numbers
        .iter()
        .find(|(namespace, _)| senders.iter().any(|s| s == namespace))
        .or(numbers.first())
        .map(|(namespace, value)| format!("{}^{}", e(value), e(namespace)))
}

/// Queues an RAS^O17 for `record` when it is an administration, for every
/// active MLLP interface that has a destination. Nothing otherwise.
pub async fn queue(tx: &Transaction<'_>, keys: &KeySet, record: &Record) -> Result<()> {
    let Record::MedicationAdministration { medication_administration: a } = record else { return Ok(()) };
    let destinations = tx
        .query(
            "SELECT id, senders FROM interfaces WHERE active AND kind = 'hl7v2-mllp' AND send_to IS NOT NULL ORDER BY name",
            &[],
        )
        .await?;
    if destinations.is_empty() {
        return Ok(());
    }
    // The push checked the order is this patient's.
    let Some(order) = medication_requests::read(tx, a.request_id).await? else { return Ok(()) };
    let patient = patients::read(tx, keys, a.patient_id).await?;
    let identifiers =
        external_ids::of_entities(tx, keys, &["patient", "medication_request"], &[a.patient_id, a.request_id]).await?;
    let of = |kind: &str| -> Vec<(String, String)> {
        identifiers
            .iter()
            .filter(|l| l.kind == kind && l.entity_id == if kind == "patient" { a.patient_id } else { a.request_id })
            .map(|l| (l.system.clone(), l.value.clone()))
            .collect()
    };
    let (patient_keys, order_keys) = (of("patient"), of("medication_request"));
    let patient_ids: Vec<(String, String)> = patient_keys
        .iter()
        .filter_map(|(system, value)| system.strip_prefix(AUTHORITY_PREFIX).map(|a| (value.clone(), a.to_owned())))
        .collect();
    let sequence: i64 = tx
        .query_one(
            "SELECT count(*) FROM medication_administrations WHERE request_id = $1 AND id <= $2",
            &[&a.request_id, &a.id],
        )
        .await?
        .get(0);
    let s = Separators::default();
    let e = |t: &str| s.encode(t).to_string();
    for row in destinations {
        let (interface_id, senders): (Uuid, Vec<String>) = (row.get(0), row.get(1));
        let placer = order_number(&order_keys, PLACER_PREFIX, &senders, &e).or_else(|| {
            order_keys
                .iter()
                .find(|(system, _)| !system.starts_with(OWN_PREFIX))
                .map(|(system, value)| format!("{}^^{}^URI", e(value), e(system)))
        });
        let filler = order_number(&order_keys, FILLER_PREFIX, &senders, &e);
        let placer = match (&placer, &filler) {
            (None, None) => Some(format!("{}^{OUR_APPLICATION}", order.id)),
            _ => placer,
        };
        let control_id = Uuid::now_v7().simple().to_string();
        let text = message(&Ras {
            control_id: &control_id,
            sent_at: Utc::now(),
            receiving_application: senders.first().map(String::as_str).unwrap_or_default(),
            patient: &patient,
            patient_ids: patient_ids.clone(),
            order: &order,
            placer,
            filler,
            administration: a,
            sequence,
        });
        let sealed =
            super::sealed::seal(keys, ("outbound", OUR_APPLICATION, OUR_APPLICATION, &control_id), &text, None);
        tx.execute(
            "INSERT INTO phi.hl7_messages (interface_id, direction, sending_application, sending_facility, control_id,
                                           message_type, status, attempts, raw, key_id, next_attempt_at, entity_id)
             VALUES ($1, 'outbound', $2, $2, $3, $4, 'queued', 0, $5, $6, now(), $7)",
            &[&interface_id, &OUR_APPLICATION, &control_id, &MESSAGE_TYPE, &sealed.raw, &sealed.key_id, &a.id],
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::NaiveDate;
    use wardbook_protocol::medication::{CheckOverride, Dose, MedicationRequestStatus, SafetyCheck, Timing};

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn fixtures() -> (Patient, MedicationRequest, MedicationAdministration) {
        let patient = Patient {
            id: Uuid::from_u128(1),
            version: 1,
            updated_at: at("2026-03-01T08:00:00Z"),
            deleted: false,
            synthetic: true,
            mrn: "SYN-0001".into(),
            given_name: "Alex".into(),
            family_name: "O'Synthetic^Test".into(),
            birth_date: NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(),
            sex: Sex::Female,
            phone: None,
            email: None,
            address: None,
            preferred_language: None,
            location: Some("7A".into()),
            bed: None,
            source_system: "test".into(),
        };
        let order = MedicationRequest {
            id: Uuid::from_u128(2),
            version: 1,
            updated_at: at("2026-03-01T08:00:00Z"),
            deleted: false,
            synthetic: true,
            patient_id: patient.id,
            medication: Coding::new(RXNORM, "723", "Amoxicillin 500 MG Oral Capsule"),
            ingredients: Vec::new(),
            generic_name: None,
            strength: None,
            dose: Some(Dose { value: 500.0, unit: "mg".into() }),
            route: Some(Coding::new(ROUTE_SYSTEM, "PO", "Oral")),
            timing: Timing::TimesPerDay { count: 3 },
            start: at("2026-03-01T08:00:00Z"),
            end: None,
            status: MedicationRequestStatus::Active,
            prescriber: None,
            indication: None,
            instructions: None,
            high_alert: false,
        };
        let administration = MedicationAdministration {
            id: Uuid::from_u128(3),
            version: 1,
            updated_at: at("2026-03-01T08:05:00Z"),
            deleted: false,
            synthetic: true,
            patient_id: patient.id,
            request_id: order.id,
            due_at: Some(at("2026-03-01T08:00:00Z")),
            status: AdministrationStatus::Given,
            not_given_reason: None,
            dose: Some(Dose { value: 500.0, unit: "mg".into() }),
            route: None,
            site: None,
            given_at: at("2026-03-01T08:04:00Z"),
            performer: "nurse.one".into(),
            witness: Some("nurse.two".into()),
            overrides: vec![CheckOverride { check: SafetyCheck::Allergy, reason: "Tolerated before".into() }],
            error_reason: None,
            recorded_at: at("2026-03-01T08:05:00Z"),
        };
        (patient, order, administration)
    }

    fn field(text: &str, segment: &str, n: usize) -> String {
        let m = hl7_parser::Message::parse_with_lenient_newlines(text.trim_end(), true).unwrap();
        m.segment(segment).and_then(|s| s.field(n)).map(|f| f.raw_value().to_owned()).unwrap_or_default()
    }

    fn ras(patient: &Patient, order: &MedicationRequest, a: &MedicationAdministration) -> String {
        message(&Ras {
            control_id: "C1",
            sent_at: at("2026-03-01T08:06:00Z"),
            receiving_application: "EPIC",
            patient,
            patient_ids: vec![("SYN-0001".into(), "GENHOSP".into())],
            order,
            placer: Some("P100^EPIC".into()),
            filler: None,
            administration: a,
            sequence: 2,
        })
    }

    #[test]
    fn a_given_dose_reads_back_field_by_field() {
        let (patient, order, a) = fixtures();
        let text = ras(&patient, &order, &a);
        assert_eq!(field(&text, "MSH", 9), "RAS^O17^RAS_O17");
        assert_eq!(field(&text, "MSH", 11), "T");
        assert_eq!(field(&text, "PID", 3), "SYN-0001^^^GENHOSP^MR");
        assert_eq!(field(&text, "PID", 5), "O'Synthetic\\S\\Test^Alex");
        assert_eq!(field(&text, "ORC", 1), "RE");
        assert_eq!(field(&text, "ORC", 2), "P100^EPIC");
        let rxa = |n| field(&text, "RXA", n);
        assert_eq!((rxa(1), rxa(2), rxa(3)), ("0".into(), "2".into(), "20260301080400+0000".into()));
        assert_eq!(rxa(5), "723^Amoxicillin 500 MG Oral Capsule^RXNORM");
        assert_eq!((rxa(6), rxa(7)), ("500".into(), "mg".into()));
        assert_eq!(rxa(9), "^Due 20260301080000+0000~^Check overridden (allergy): Tolerated before");
        assert_eq!(rxa(10), "nurse.one~nurse.two");
        assert_eq!((rxa(18), rxa(20), rxa(21)), (String::new(), "CP".into(), "A".into()));
        assert_eq!(field(&text, "RXR", 1), "PO^Oral^HL70162");
    }

    #[test]
    fn not_given_and_entered_in_error_say_so() {
        let (patient, order, mut a) = fixtures();
        a.status = AdministrationStatus::NotGiven;
        a.not_given_reason = Some(NotGivenReason::Refused);
        let text = ras(&patient, &order, &a);
        assert_eq!(field(&text, "RXA", 6), "0");
        assert_eq!(field(&text, "RXA", 18), "refused^Refused by the patient^L");
        assert_eq!(field(&text, "RXA", 20), "RE");
        a.not_given_reason = Some(NotGivenReason::Held);
        assert_eq!(field(&ras(&patient, &order, &a), "RXA", 20), "NA");
        let (_, _, mut a) = fixtures();
        a.status = AdministrationStatus::EnteredInError;
        a.error_reason = Some("Wrong patient".into());
        let text = ras(&patient, &order, &a);
        assert_eq!((field(&text, "RXA", 20), field(&text, "RXA", 21)), ("CP".into(), "D".into()));
        assert!(field(&text, "RXA", 9).ends_with("^Entered in error: Wrong patient"));
    }
}
