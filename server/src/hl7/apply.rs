//! What an ADT or ORU message does to the clinical tables (pharmacy orders
//! are `pharmacy_apply`'s): mapped from its segments into the calls of
//! `ingest`, which holds the rules. A refusal comes back as an AE naming
//! the HL7 field (PID-3, PV1-3, OBX-5).

use chrono::Utc;
use tokio_postgres::Transaction;
use uuid::Uuid;
use wardbook_protocol::{
    Allergy, AllergyCategory, AllergyClinicalStatus, AllergyType, AllergyVerificationStatus, Coding, Criticality,
    Interpretation, Observation, ObservationCategory, ObservationStatus, ObservationValue, Quantity, Reaction,
    ReactionSeverity, ReferenceRange, UNMAPPED_PREFIX, coding, vitals,
};

use super::fields::Location;
use super::parse::{
    Adt, Coded, ErrorCode, Event, Header, Inbound, Movement, PatientIdentity, Rejection, ResultValue, Results,
};
use crate::error::Result;
use crate::ingest::{self, PatientUpdate, Refusal};
use crate::keys::KeySet;

/// The interface a message came through, as far as applying it matters.
#[derive(Clone, Debug, Default)]
pub struct Sender {
    pub interface_id: Option<Uuid>,
    /// PV1-3 point of care to Wardbook location code.
    pub location_map: serde_json::Value,
}

/// Applies a parsed message in `tx`. `Ok(Err(_))` is a refusal (AE);
/// `Err(_)` a database failure.
pub async fn apply(
    tx: &Transaction<'_>,
    keys: &KeySet,
    inbound: &Inbound,
    sender: &Sender,
) -> Result<Result<(), Rejection>> {
    match &inbound.event {
        Event::Adt(adt) => apply_adt(tx, keys, &inbound.header, adt, sender).await,
        Event::Results(results) => apply_results(tx, keys, &inbound.header, results).await,
        Event::Pharmacy(orders) => super::pharmacy_apply::apply(tx, keys, &inbound.header, orders).await,
    }
}

/// The source system we record for rows from this sender.
pub(super) fn source(header: &Header) -> String {
    format!("hl7v2:{}", header.sending_application)
}

pub(super) fn patient_update(header: &Header, p: &PatientIdentity) -> PatientUpdate {
    PatientUpdate {
        identifiers: p.identifiers.iter().map(|i| (i.system(header), i.value.clone())).collect(),
        // Only an MR-typed identifier changes a known patient's MRN; a new
        // patient without one is filed under its first identifier.
        mrn: p.identifiers.iter().find(|i| i.type_code == "MR").map(|i| i.value.clone()).unwrap_or_default(),
        demographics: p.demographics.clone(),
        synthetic: header.synthetic(),
        source_system: source(header),
    }
}

/// A patient refusal as the PID field it concerns.
fn pid_refusal(refusal: Refusal) -> Rejection {
    let (field, code, text) = match refusal {
        Refusal::Missing("birth_date") => {
            (7, ErrorCode::RequiredFieldMissing, "PID-7 (date of birth) is required for a new patient.")
        }
        Refusal::Missing("mrn") => (3, ErrorCode::RequiredFieldMissing, "PID-3 (patient identifier) is required."),
        Refusal::Missing(_) => {
            (5, ErrorCode::RequiredFieldMissing, "PID-5 (family and given name) is required for a new patient.")
        }
        Refusal::Invalid(f) => match f.as_str() {
            "birth_date" => (7, ErrorCode::DataType, "PID-7 (date of birth) is out of range."),
            "phone" | "email" => (13, ErrorCode::DataType, "PID-13 (phone or e-mail) is not valid."),
            "preferred_language" => (15, ErrorCode::DataType, "PID-15 (primary language) is not a language tag."),
            "address" => (11, ErrorCode::DataType, "PID-11 (address) is not valid."),
            "mrn" | "identifier" => (3, ErrorCode::DataType, "PID-3 (patient identifier) is not valid or too long."),
            "synthetic" => {
                return Rejection::error(
                    ErrorCode::UnsupportedProcessingId,
                    Location::new("MSH", 1, 11),
                    "MSH-11 (processing id) says training or debugging data for a real patient, or production data for a synthetic one.",
                );
            }
            _ => (5, ErrorCode::DataType, "PID-5 (patient name) is not valid."),
        },
        Refusal::UnknownPatient => (3, ErrorCode::UnknownKeyIdentifier, "No patient has any identifier in PID-3."),
        Refusal::MrnTaken => (3, ErrorCode::DuplicateKeyIdentifier, "Another patient has the MRN in PID-3."),
        Refusal::UnknownLocation => (3, ErrorCode::TableValueNotFound, "The location is unknown."),
    };
    Rejection::error(code, Location::new("PID", 1, field), text)
}

async fn apply_adt(
    tx: &Transaction<'_>,
    keys: &KeySet,
    header: &Header,
    adt: &Adt,
    sender: &Sender,
) -> Result<Result<(), Rejection>> {
    let patient_id = match ingest::upsert_patient(tx, keys, &patient_update(header, &adt.patient)).await? {
        Ok(id) => id,
        Err(refusal) => return Ok(Err(pid_refusal(refusal))),
    };
    let pv1_3 = Location::new("PV1", 1, 3);
    let location = match adt.visit.as_ref().and_then(|v| v.point_of_care.as_deref()) {
        Some(code) if adt.movement != Movement::Leave => {
            match ingest::location(tx, &sender.location_map, code).await? {
                Ok(location) => Some(location),
                Err(_) => {
                    return Ok(Err(Rejection::error(
                        ErrorCode::TableValueNotFound,
                        pv1_3,
                        "PV1-3.1 (point of care) is neither mapped for this interface nor a Wardbook location code. Map it with `wardbook-server interface add --map`, or add the location, then reprocess.",
                    )));
                }
            }
        }
        _ => None,
    };
    match (adt.movement, &location) {
        (Movement::Leave, _) => ingest::leave(tx, patient_id).await?,
        (_, Some(location)) => {
            let bed = adt.visit.as_ref().and_then(|v| v.bed.as_deref());
            if ingest::place(tx, patient_id, location, bed).await?.is_err() {
                return Ok(Err(Rejection::error(
                    ErrorCode::DataType,
                    Location::new("PV1", 1, 3),
                    "PV1-3.3 (bed) must be 1 to 40 characters without control characters.",
                )));
            }
        }
        _ => {}
    }
    if let Some(visit) = &adt.visit {
        encounter(tx, keys, header, adt, patient_id, visit, location.as_ref().map(|l| l.0)).await?;
    }
    for (n, entry) in adt.allergies.iter().enumerate() {
        let allergen = coding(header, &entry.allergen);
        let severity = match entry.severity.as_str() {
            "SV" => Some(ReactionSeverity::Severe),
            "MO" => Some(ReactionSeverity::Moderate),
            "MI" => Some(ReactionSeverity::Mild),
            _ => None,
        };
        let allergy = Allergy {
            id: Uuid::now_v7(),
            version: 0,
            updated_at: Utc::now(),
            deleted: false,
            synthetic: header.synthetic(),
            patient_id,
            allergen: allergen.clone(),
            allergy_type: AllergyType::Allergy,
            category: match entry.type_code.as_str() {
                "DA" => AllergyCategory::Medication,
                "FA" => AllergyCategory::Food,
                _ => AllergyCategory::Environment,
            },
            clinical_status: AllergyClinicalStatus::Active,
            verification_status: AllergyVerificationStatus::Confirmed,
            criticality: match entry.severity.as_str() {
                "SV" => Criticality::High,
                "MO" | "MI" => Criticality::Low,
                _ => Criticality::UnableToAssess,
            },
            reactions: entry
                .reactions
                .iter()
                .map(|text| Reaction { manifestation: Coding::new(TEXT_ONLY, "", text), severity })
                .collect(),
            recorded_at: entry
                .identified_on
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
                .or(header.sent_at)
                .unwrap_or_else(Utc::now),
            recorded_by: source(header),
        };
        let key_system = format!("urn:wardbook:hl7v2:allergy:{}", header.sending_facility);
        let key = format!("{patient_id}|{}|{}", allergen.system, allergen.code);
        if let Err(refusal) = ingest::upsert_allergy(tx, keys, (&key_system, &key), allergy).await? {
            let field = match refusal {
                Refusal::Invalid(f) if f.starts_with("reactions") => 5,
                _ => 3,
            };
            return Ok(Err(Rejection::error(
                ErrorCode::DataType,
                Location::new("AL1", n + 1, field),
                format!("AL1-{field} cannot be stored as an allergy."),
            )));
        }
    }
    for (n, merged) in adt.merged.iter().enumerate() {
        let identifiers: Vec<(String, String)> = merged.iter().map(|i| (i.system(header), i.value.clone())).collect();
        let mrn = merged.iter().find(|i| i.type_code == "MR").or(merged.first()).map(|i| i.value.as_str());
        match ingest::find_patient(tx, keys, &identifiers, mrn.unwrap_or_default()).await? {
            Some(old) => ingest::merge(tx, patient_id, old).await?,
            None => {
                return Ok(Err(Rejection::error(
                    ErrorCode::UnknownKeyIdentifier,
                    Location::new("MRG", n + 1, 1),
                    "No patient has any identifier in MRG-1.",
                )));
            }
        }
    }
    Ok(Ok(()))
}

/// A manifestation or other coding sent as text only.
const TEXT_ONLY: &str = "urn:wardbook:text";

/// The visit (central only): found by its visit number, else the
/// patient's open visit, else new.
async fn encounter(
    tx: &Transaction<'_>,
    keys: &KeySet,
    header: &Header,
    adt: &Adt,
    patient_id: Uuid,
    visit: &super::parse::Visit,
    location_id: Option<Uuid>,
) -> Result<()> {
    let status = match (adt.movement, adt.trigger.as_str()) {
        (Movement::Leave, "A11") => "cancelled",
        (Movement::Leave, _) => "finished",
        _ => "in-progress",
    };
    let system = format!("urn:wardbook:hl7v2:visit-number:{}", header.sending_facility);
    let mut id = match &visit.visit_number {
        Some(number) => ingest::linked(tx, keys, "encounter", &system, number).await?,
        None => None,
    };
    if id.is_none() {
        id = tx
            .query_opt(
                "SELECT id FROM encounters WHERE patient_id = $1 AND status = 'in-progress' ORDER BY admitted_at DESC NULLS LAST LIMIT 1",
                &[&patient_id],
            )
            .await?
            .map(|r| r.get(0));
    }
    let id = id.unwrap_or_else(Uuid::now_v7);
    tx.execute(
        "INSERT INTO encounters (id, patient_id, status, class, location_id, point_of_care, room, bed, attending,
                                 admitted_at, discharged_at, source_system, synthetic)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, class = EXCLUDED.class,
             location_id = coalesce(EXCLUDED.location_id, encounters.location_id),
             point_of_care = coalesce(EXCLUDED.point_of_care, encounters.point_of_care),
             room = coalesce(EXCLUDED.room, encounters.room), bed = coalesce(EXCLUDED.bed, encounters.bed),
             attending = coalesce(EXCLUDED.attending, encounters.attending),
             admitted_at = coalesce(EXCLUDED.admitted_at, encounters.admitted_at),
             discharged_at = CASE WHEN EXCLUDED.status = 'in-progress' THEN NULL
                                  ELSE coalesce(EXCLUDED.discharged_at, encounters.discharged_at) END,
             updated_at = now()",
        &[
            &id,
            &patient_id,
            &status,
            &visit.class,
            &location_id,
            &visit.point_of_care,
            &visit.room,
            &visit.bed,
            &visit.attending,
            &visit.admitted_at,
            &visit.discharged_at,
            &source(header),
            &header.synthetic(),
        ],
    )
    .await?;
    if let Some(number) = &visit.visit_number {
        ingest::link(tx, keys, "encounter", &system, number, id).await?;
    }
    Ok(())
}

/// A CE as a coding: LOINC when the system (or the alternate's) is LN,
/// SNOMED CT, RxNorm; otherwise the sender's own, marked unmapped.
pub(super) fn coding(header: &Header, c: &Coded) -> Coding {
    let standard = |system: &str| match system.to_ascii_uppercase().as_str() {
        "LN" | "LOINC" => Some(coding::LOINC),
        "SCT" | "SNM" | "SNOMEDCT" | "SNOMED" => Some(coding::SNOMED_CT),
        "RXNORM" | "RXN" => Some(coding::RXNORM),
        "UCUM" => Some(coding::UCUM),
        _ => None,
    };
    let display = |text: &str, code: &str| if text.is_empty() { code.to_owned() } else { text.to_owned() };
    if let Some(system) = standard(&c.system).filter(|_| !c.code.is_empty()) {
        return Coding::new(system, &c.code, &display(&c.text, &c.code));
    }
    if let Some(system) = standard(&c.alternate_system).filter(|_| !c.alternate_code.is_empty()) {
        return Coding::new(system, &c.alternate_code, &display(&c.alternate_text, &c.alternate_code));
    }
    let local = if c.system.is_empty() { "L" } else { c.system.as_str() };
    let code = if c.code.is_empty() { &c.text } else { &c.code };
    Coding::new(&format!("{UNMAPPED_PREFIX}{}:{local}", header.sending_application), code, &display(&c.text, code))
}

async fn apply_results(
    tx: &Transaction<'_>,
    keys: &KeySet,
    header: &Header,
    results: &Results,
) -> Result<Result<(), Rejection>> {
    let update = patient_update(header, &results.patient);
    let Some(patient_id) = ingest::find_patient(tx, keys, &update.identifiers, &update.mrn).await? else {
        return Ok(Err(Rejection::error(
            ErrorCode::UnknownKeyIdentifier,
            Location::new("PID", 1, 3),
            "No patient has any identifier in PID-3: send the patient's ADT first, then reprocess.",
        )));
    };
    let key_system = format!("urn:wardbook:hl7v2:result:{}|{}", header.sending_application, header.sending_facility);
    for order in &results.orders {
        let panel = order.panel.as_ref().map(|p| coding(header, p));
        for entry in &order.results {
            let status = match entry.status.as_str() {
                "F" | "" => ObservationStatus::Final,
                "C" => ObservationStatus::Amended,
                "P" | "R" | "S" | "A" => ObservationStatus::Preliminary,
                "W" | "D" => ObservationStatus::EnteredInError,
                // I, O, X, N: no result to store (pending, cannot be obtained).
                _ => continue,
            };
            let code = coding(header, &entry.code);
            let unit = entry.units.clone().unwrap_or_else(|| "1".to_owned());
            let value = match &entry.value {
                ResultValue::Number(n) => ObservationValue::Quantity(Quantity { value: *n, unit: unit.clone() }),
                ResultValue::Text(t) => ObservationValue::String { text: t.clone() },
                ResultValue::Code(c) => ObservationValue::Coded(coding(header, c)),
                ResultValue::Empty if status == ObservationStatus::EnteredInError => {
                    ObservationValue::String { text: String::new() }
                }
                ResultValue::Empty => continue,
            };
            let key = format!(
                "{}|{}|{}|{}",
                order.order_number.clone().unwrap_or_else(|| format!("{patient_id}@{:?}", entry.observed_at)),
                code.system,
                code.code,
                entry.sub_id
            );
            if status == ObservationStatus::EnteredInError && matches!(entry.value, ResultValue::Empty) {
                // A deletion of a result we never stored changes nothing.
                if ingest::linked(tx, keys, "observation", &key_system, &key).await?.is_none() {
                    continue;
                }
            }
            let category = if vitals::is_vital_sign(&code) {
                ObservationCategory::VitalSigns
            } else {
                ObservationCategory::Laboratory
            };
            // "On oxygen" arrives as Y or N (HL7 has no boolean type).
            let value = match value {
                ObservationValue::String { text } if vitals::is_yes_no_vital_sign(&code) => {
                    match text.trim().to_ascii_uppercase().as_str() {
                        "Y" | "YES" | "TRUE" => ObservationValue::Boolean { value: true },
                        "N" | "NO" | "FALSE" => ObservationValue::Boolean { value: false },
                        _ => ObservationValue::String { text },
                    }
                }
                other => other,
            };
            let observation = Observation {
                id: Uuid::now_v7(),
                version: 0,
                updated_at: Utc::now(),
                deleted: false,
                synthetic: header.synthetic(),
                patient_id,
                category,
                code,
                panel: panel.clone(),
                value,
                reference_range: entry
                    .reference_range
                    .filter(|(low, high)| low.is_some() || high.is_some())
                    .map(|(low, high)| ReferenceRange { low, high, unit: unit.clone() }),
                interpretation: entry.abnormal_flag.as_deref().and_then(interpretation),
                status,
                status_reason: None,
                effective_at: entry.observed_at.unwrap_or_else(Utc::now),
                recorded_by: source(header),
            };
            if let Err(refusal) = ingest::upsert_observation(tx, keys, (&key_system, &key), observation).await? {
                if matches!(&refusal, Refusal::Invalid(f) if f == "patient_id" || f == "identifier") {
                    return Ok(Err(Rejection::error(
                        ErrorCode::DuplicateKeyIdentifier,
                        Location { field: 3, ..entry.location.clone() },
                        "This order number and observation code are another patient's result, or too long.",
                    )));
                }
                let field = match &refusal {
                    Refusal::Invalid(f) if f.ends_with("unit") => 6,
                    Refusal::Invalid(f) if f.starts_with("reference_range") => 7,
                    _ => 5,
                };
                let at = Location { field, ..entry.location.clone() };
                return Ok(Err(Rejection::error(
                    ErrorCode::DataType,
                    at.clone(),
                    format!("{at} cannot be stored: the value or its unit is out of range for this code."),
                )));
            }
        }
    }
    Ok(Ok(()))
}

/// OBX-8 (HL7 table 0078) as the interpretations Wardbook shows.
fn interpretation(flag: &str) -> Option<Interpretation> {
    Some(match flag {
        "H" => Interpretation::High,
        "L" => Interpretation::Low,
        "HH" => Interpretation::CriticalHigh,
        "LL" => Interpretation::CriticalLow,
        "N" => Interpretation::Normal,
        "A" | "AA" => Interpretation::Abnormal,
        _ => return None,
    })
}
