//! What an RDE^O11 or OMP^O09 does to the medication orders, through
//! `crate::ingest` (which holds the rules): each ORC in turn, by its order
//! control (ORC-1, HL7 table 0119):
//!
//! - `NW` new, `XO` change, `XX` changed, `RP` replace, `RO` replacement,
//!   `OK` accepted: the order is written (created, or a new version of the
//!   one filed under its number), with the status ORC-5 gives (`CM`
//!   completed, `DC`/`CA` stopped, `HD` on hold, anything else active).
//! - `DC`/`OD` discontinue, `CA`/`OC` cancel: stopped. A cancel is not
//!   entered-in-error: the order existed and the MAR keeps what was given
//!   against it; FHIR's `cancelled` (nothing given) is ours `stopped` too.
//! - `HD`/`OH` hold: on hold. `RL`/`OR` release: active.
//! - `SC` status changed: the status of ORC-5.
//!
//! The order is filed under its placer number (ORC-2) when there is one,
//! else its filler number (ORC-3), each under the namespace that assigned
//! it (EI-2, else EI-3, else MSH-3); the other number is filed too, so that
//! a later message carrying only one of them finds the order. An order for
//! a patient no identifier finds, or a stop for an order not on file, is
//! kept in error (AE) for IT to reprocess once the ADT or the order has
//! arrived.

use chrono::Utc;
use tokio_postgres::Transaction;
use uuid::Uuid;
use wardbook_protocol::Coding;
use wardbook_protocol::medication::{Dose, MedicationRequest, MedicationRequestStatus};

use super::apply::{coding, patient_update};
use super::fields::Location;
use super::parse::{Coded, ErrorCode, Header, OrderDetail, OrderNumber, PharmacyOrder, PharmacyOrders, Rejection};
use crate::error::Result;
use crate::ingest::{self, Refusal};
use crate::keys::KeySet;
use crate::records::medication_requests;

/// `phi.external_ids` kind of order numbers.
const KIND: &str = "medication_request";
/// The key systems of placer and filler order numbers, before the
/// namespace that assigned them: `ras` reads the numbers back from them.
pub const PLACER_PREFIX: &str = "urn:wardbook:hl7v2:placer-order:";
pub const FILLER_PREFIX: &str = "urn:wardbook:hl7v2:filler-order:";
/// HL7 table 0162, route of administration, as FHIR names it.
pub const ROUTE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v2-0162";

type Key = (String, String);

pub(super) async fn apply(
    tx: &Transaction<'_>,
    keys: &KeySet,
    header: &Header,
    orders: &PharmacyOrders,
) -> Result<std::result::Result<(), Rejection>> {
    let update = patient_update(header, &orders.patient);
    let Some(patient_id) = ingest::find_patient(tx, keys, &update.identifiers, &update.mrn).await? else {
        return Ok(Err(Rejection::error(
            ErrorCode::UnknownKeyIdentifier,
            Location::new("PID", 1, 3),
            "No patient has any identifier in PID-3: send the patient's ADT first, then reprocess.",
        )));
    };
    let synthetic: bool = tx.query_one("SELECT synthetic FROM patients WHERE id = $1", &[&patient_id]).await?.get(0);
    if synthetic != header.synthetic() {
        return Ok(Err(Rejection::error(
            ErrorCode::UnsupportedProcessingId,
            Location::new("MSH", 1, 11),
            "MSH-11 (processing id) says training or debugging data for a real patient, or production data for a synthetic one.",
        )));
    }
    for order in &orders.orders {
        if let Err(rejection) = apply_order(tx, keys, header, patient_id, order).await? {
            return Ok(Err(rejection));
        }
    }
    Ok(Ok(()))
}

/// The key of an order number: `(prefix + namespace, number)`.
fn key(header: &Header, number: &OrderNumber, prefix: &str) -> Key {
    let namespace = if number.namespace.is_empty() { &header.sending_application } else { &number.namespace };
    (format!("{prefix}{namespace}"), number.id.clone())
}

/// A key `phi.external_ids` can hold (1 to 300 characters each).
fn fits((system, value): &Key) -> bool {
    (1..=300).contains(&system.chars().count()) && (1..=300).contains(&value.chars().count())
}

async fn apply_order(
    tx: &Transaction<'_>,
    keys: &KeySet,
    header: &Header,
    patient_id: Uuid,
    order: &PharmacyOrder,
) -> Result<std::result::Result<(), Rejection>> {
    let orc = |field: usize| Location { field, ..order.location.clone() };
    let placer = order.placer.as_ref().map(|n| key(header, n, PLACER_PREFIX));
    let filler = order.filler.as_ref().map(|n| key(header, n, FILLER_PREFIX));
    let Some(primary) = placer.clone().or_else(|| filler.clone()) else {
        return Ok(Err(Rejection::error(
            ErrorCode::RequiredFieldMissing,
            orc(2),
            "ORC-2 (placer order number) or ORC-3 (filler order number) is required.",
        )));
    };
    let other = if placer.is_some() { filler } else { None };
    let status = match order.control.as_str() {
        "NW" | "XO" | "XX" | "RP" | "RO" | "OK" => None,
        "DC" | "OD" | "CA" | "OC" => Some(MedicationRequestStatus::Stopped),
        "HD" | "OH" => Some(MedicationRequestStatus::OnHold),
        "RL" | "OR" => Some(MedicationRequestStatus::Active),
        "SC" => match order_status(&order.order_status) {
            Some(status) if !order.order_status.is_empty() => Some(status),
            _ => {
                return Ok(Err(Rejection::error(
                    ErrorCode::TableValueNotFound,
                    orc(5),
                    "ORC-5 (order status) must be CM, DC, CA, HD, IP or SC with ORC-1 SC.",
                )));
            }
        },
        _ => {
            return Ok(Err(Rejection::error(
                ErrorCode::TableValueNotFound,
                orc(1),
                "ORC-1 (order control) is not one Wardbook applies (NW, XO, XX, RP, RO, OK, DC, OD, CA, OC, HD, OH, RL, OR, SC).",
            )));
        }
    };
    if let Some(status) = status {
        let mut found = ingest::set_order_status(tx, keys, (&primary.0, &primary.1), status).await?;
        if let (Ok(None), Some(other)) = (&found, &other)
            && fits(other)
        {
            found = ingest::set_order_status(tx, keys, (&other.0, &other.1), status).await?;
        }
        return Ok(match found {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Rejection::error(
                ErrorCode::UnknownKeyIdentifier,
                orc(2),
                "No order on file has the order number of ORC-2 or ORC-3: send the order first, then reprocess.",
            )),
            Err(refusal) => Err(refusal_at(order, None, &refusal)),
        });
    }
    let Some(detail) = &order.detail else {
        return Ok(Err(Rejection::error(
            ErrorCode::SegmentSequence,
            orc(0),
            "A new or changed order needs its RXE (RDE^O11) or RXO (OMP^O09) segment after the ORC.",
        )));
    };
    // A number sent with the other for the first time joins the order
    // already filed under the other.
    if let Some(other) = other.as_ref().filter(|k| fits(k) && fits(&primary))
        && ingest::linked(tx, keys, KIND, &primary.0, &primary.1).await?.is_none()
        && let Some(id) = ingest::linked(tx, keys, KIND, &other.0, &other.1).await?
    {
        ingest::link(tx, keys, KIND, &primary.0, &primary.1, id).await?;
    }
    let stored_start = match ingest::linked(tx, keys, KIND, &primary.0, &primary.1).await? {
        Some(id) => medication_requests::read(tx, id).await?.map(|o| o.start),
        None => None,
    };
    let row = request(header, patient_id, order, detail, stored_start);
    match ingest::upsert_medication_request(tx, keys, (&primary.0, &primary.1), row).await? {
        Ok(id) => {
            if let Some(other) = other.filter(fits) {
                ingest::link(tx, keys, KIND, &other.0, &other.1, id).await?;
            }
            Ok(Ok(()))
        }
        Err(refusal) => Ok(Err(refusal_at(order, Some(detail), &refusal))),
    }
}

/// ORC-5 (HL7 table 0038) as the order's status; `None` for a code that
/// is not one.
fn order_status(code: &str) -> Option<MedicationRequestStatus> {
    Some(match code {
        "CM" => MedicationRequestStatus::Completed,
        "DC" | "CA" => MedicationRequestStatus::Stopped,
        "HD" => MedicationRequestStatus::OnHold,
        "IP" | "SC" | "A" | "" => MedicationRequestStatus::Active,
        _ => return None,
    })
}

/// The order row. Its start: the timing's, else the one on file (a change
/// without a start keeps it), else when the message was sent.
fn request(
    header: &Header,
    patient_id: Uuid,
    order: &PharmacyOrder,
    detail: &OrderDetail,
    stored_start: Option<chrono::DateTime<Utc>>,
) -> MedicationRequest {
    let medication = coding(header, &detail.give_code);
    let ingredients: Vec<Coding> = detail.ingredients.iter().map(|c| coding(header, c)).collect();
    let generic_name = match ingredients.as_slice() {
        [one] => Some(one.display.clone()),
        _ => None,
    };
    let joined = |parts: &[String]| (!parts.is_empty()).then(|| parts.join("; "));
    let high_alert =
        detail.high_alert || crate::high_alert::is_high_alert(&medication, &ingredients, generic_name.as_deref());
    MedicationRequest {
        id: Uuid::now_v7(),
        version: 0,
        updated_at: Utc::now(),
        deleted: false,
        synthetic: header.synthetic(),
        patient_id,
        medication,
        ingredients,
        generic_name,
        strength: detail.strength.clone(),
        dose: detail.dose.as_ref().map(|(value, unit)| Dose { value: *value, unit: unit.clone() }),
        route: detail.route.as_ref().map(|r| route(header, r)),
        timing: detail.timing.clone(),
        start: detail.start.or(stored_start).or(header.sent_at).unwrap_or_else(Utc::now),
        end: detail.end,
        status: order_status(&order.order_status).unwrap_or(MedicationRequestStatus::Active),
        prescriber: order.prescriber.clone(),
        indication: joined(&detail.indications),
        instructions: joined(&detail.instructions),
        high_alert,
    }
}

/// RXR-1: HL7 table 0162 when the sender names it or no system, else as
/// any other code (SNOMED CT, or the sender's own, unmapped).
fn route(header: &Header, c: &Coded) -> Coding {
    match c.system.to_ascii_uppercase().as_str() {
        "" | "HL70162" => {
            let display = if c.text.is_empty() { c.code.clone() } else { c.text.clone() };
            Coding::new(ROUTE_SYSTEM, &c.code, &display)
        }
        _ => coding(header, c),
    }
}

/// ingest's refusal (in the protocol's field names) as the HL7 field.
fn refusal_at(order: &PharmacyOrder, detail: Option<&OrderDetail>, refusal: &Refusal) -> Rejection {
    let orc = |field: usize| Location { field, ..order.location.clone() };
    let field = match refusal {
        Refusal::Invalid(f) => f.as_str(),
        _ => "",
    };
    if field == "patient_id" {
        return Rejection::error(
            ErrorCode::DuplicateKeyIdentifier,
            orc(2),
            "This order number is another patient's order.",
        );
    }
    if field == "identifier" {
        return Rejection::error(ErrorCode::DataType, orc(2), "ORC-2 or ORC-3 (order number) is too long.");
    }
    if field == "prescriber" {
        return Rejection::error(ErrorCode::DataType, orc(12), "ORC-12 (ordering provider) is too long.");
    }
    let Some(detail) = detail else {
        return Rejection::error(ErrorCode::ApplicationInternalError, orc(1), "The order cannot be stored.");
    };
    let rxe = detail.segment.segment == "RXE";
    let at =
        |on_rxe: usize, on_rxo: usize| Location { field: if rxe { on_rxe } else { on_rxo }, ..detail.segment.clone() };
    let (location, text) = if field.starts_with("medication") {
        (at(2, 1), "The give code (RXE-2, RXO-1) has no code or text, or one over 200 characters.")
    } else if field.starts_with("dose") {
        (
            at(3, 2),
            "The give amount (RXE-3, RXO-2) must be above 0 and at most 1000000, with units of at most 40 characters.",
        )
    } else if field.starts_with("strength") {
        (at(25, 18), "The give strength (RXE-25, RXO-18) is too long.")
    } else if field.starts_with("indication") {
        (at(27, 20), "The indication (RXE-27, RXO-20) is longer than 1000 characters.")
    } else if field.starts_with("instructions") {
        (at(7, 7), "The administration instructions (RXE-7, RXO-7) are longer than 1000 characters.")
    } else if field.starts_with("ingredients") || field.starts_with("generic_name") {
        (Location::new("RXC", 1, 2), "A component code (RXC-2) has no code, or one over 200 characters.")
    } else if field == "end" {
        (Location::new("TQ1", 1, 8), "The order's end (TQ1-8) is before its start (TQ1-7).")
    } else {
        (at(1, 1), "The order cannot be stored as sent.")
    };
    Rejection::error(ErrorCode::DataType, location, text)
}
