//! The database side of the medication resources: a MedicationRequest
//! written through [`crate::ingest::upsert_medication_request`] (filed under
//! its first identifier, like an Observation), and orders and
//! administrations read back as FHIR, by patient or by when they last
//! changed (`MedicationAdministration?_lastUpdated=ge…`, how the EHR takes
//! back what was given during a downtime).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;
use wardbook_protocol::medication;

use super::{Applied, Table, Written, add_identifiers, identifiers_fit, is_live, record_key, resolve_patient, row_for};
use super::{Context, sent_identifiers};
use crate::error::Result;
use crate::fhir::FhirError;
use crate::fhir::convert;
use crate::fhir::resources::{MedicationAdministration, MedicationRequest};
use crate::ingest::{self, Refusal};
use crate::keys::KeySet;
use crate::records::{BODY_JSON, medication_administrations, medication_requests};

/// An order's (version, patient), locked for the write that follows.
pub(super) const CURRENT: &str = "SELECT version, patient_id FROM medication_requests WHERE id = $1 FOR UPDATE";

/// Writes a MedicationRequest.
pub(super) async fn medication_request(
    tx: &Transaction<'_>,
    r: &MedicationRequest,
    ctx: &mut Context,
) -> Result<std::result::Result<Written, FhirError>> {
    let input = match convert::medication_request_from_fhir(r) {
        Ok(input) => input,
        Err(e) => return Ok(Err(e)),
    };
    if let Err(e) = identifiers_fit(&input.identifiers, "MedicationRequest.identifier") {
        return Ok(Err(e));
    }
    let key = match record_key(&input.identifiers, r.id.as_deref(), "MedicationRequest") {
        Ok(key) => key,
        Err(e) => return Ok(Err(e)),
    };
    let subject = "MedicationRequest.subject";
    let patient_id = match resolve_patient(tx, &input.patient, subject, ctx).await? {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    let (id, effect) =
        match row_for(tx, &ctx.keys, Table::MedicationRequests, &key, &input.identifiers, patient_id, subject).await? {
            Ok(row) => row,
            Err(e) => return Ok(Err(e)),
        };
    let row = input.to_request(id, patient_id, Utc::now());
    Ok(match ingest::upsert_medication_request(tx, &ctx.keys, (&key.0, &key.1), row).await? {
        Ok(id) => Ok(Written { applied: Applied { resource_type: "MedicationRequest", id }, effect }),
        Err(refusal) => Err(refusal_path(&refusal)),
    })
}

/// ingest's refusal (in the protocol's field names) as the element.
fn refusal_path(refusal: &Refusal) -> FhirError {
    let field = match refusal {
        Refusal::Invalid(field) => field.as_str(),
        _ => "",
    };
    let dosage = "MedicationRequest.dosageInstruction[0]";
    if field.starts_with("medication") {
        FhirError::invalid(
            "MedicationRequest.medicationCodeableConcept",
            "a coding with a code, and a display of at most 200 characters",
        )
    } else if field.starts_with("dose") {
        FhirError::invalid(
            format!("{dosage}.doseAndRate[0].doseQuantity"),
            "a value above 0 and at most 1000000, with a unit of at most 40 characters",
        )
    } else if field == "end" {
        FhirError::invalid(format!("{dosage}.timing.repeat.boundsPeriod.end"), "an end not before the start")
    } else if field == "prescriber" {
        FhirError::invalid("MedicationRequest.requester.display", "a name of at most 200 characters")
    } else if field == "indication" {
        FhirError::invalid("MedicationRequest.reasonCode", "at most 1000 characters")
    } else if field == "instructions" {
        FhirError::invalid("MedicationRequest.note", "instructions of at most 1000 characters in all")
    } else if field == "patient_id" {
        FhirError::refused("MedicationRequest.subject", "an order stays with the patient it was written for")
    } else {
        FhirError::refused("MedicationRequest", "Wardbook cannot store this medication order")
    }
}

/// The patient's orders (not deleted), as FHIR.
pub async fn medication_requests_of(
    tx: &Transaction<'_>,
    keys: &KeySet,
    patient_id: Uuid,
) -> Result<Vec<MedicationRequest>> {
    if !is_live(tx, patient_id).await? {
        return Ok(Vec::new());
    }
    let rows = medication_requests::of_patient(tx, patient_id).await?;
    let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
    let sent = sent_identifiers(tx, keys, "medication_request", &ids).await?;
    Ok(rows
        .iter()
        .map(|o| {
            let mut resource = convert::medication_request_to_fhir(o);
            add_identifiers(&mut resource.identifier, sent.get(&o.id));
            resource
        })
        .collect())
}

/// Administrations as FHIR, each with its order's medication.
async fn administrations_out(
    tx: &impl GenericClient,
    rows: &[medication::MedicationAdministration],
) -> Result<Vec<MedicationAdministration>> {
    let mut orders: HashMap<Uuid, Option<medication::MedicationRequest>> = HashMap::new();
    let query = format!("SELECT t.patient_id, t.id, {BODY_JSON} FROM medication_requests t WHERE t.id = $1");
    let mut out = Vec::with_capacity(rows.len());
    for a in rows {
        let order = match orders.entry(a.request_id) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => {
                let order = match tx.query_opt(&query, &[&a.request_id]).await? {
                    Some(row) => Some(medication_requests::decode(&row)?),
                    None => None,
                };
                slot.insert(order)
            }
        };
        out.push(convert::medication_administration_to_fhir(a, order.as_ref()));
    }
    Ok(out)
}

/// The patient's administrations (not deleted), as FHIR.
pub async fn medication_administrations_of(
    tx: &Transaction<'_>,
    patient_id: Uuid,
) -> Result<Vec<MedicationAdministration>> {
    if !is_live(tx, patient_id).await? {
        return Ok(Vec::new());
    }
    let rows = medication_administrations::of_patient(tx, patient_id).await?;
    administrations_out(tx, &rows).await
}

/// The administrations the EHR takes back: changed (recorded, or marked
/// entered-in-error) in `[from, to)` and/or of one patient, a page at a
/// time, oldest change first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdministrationSearch {
    pub patient: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Per page, 1 to 500.
    pub count: u32,
    /// 1-based.
    pub page: u32,
}

/// The administrations of patients on file (not deleted) that match.
const SEARCH: &str = "FROM medication_administrations t JOIN patients p ON p.id = t.patient_id
     WHERE NOT t.deleted AND NOT p.deleted
       AND ($1::timestamptz IS NULL OR t.updated_at >= $1) AND ($2::timestamptz IS NULL OR t.updated_at < $2)
       AND ($3::uuid IS NULL OR t.patient_id = $3)";

/// One page of the administrations `search` matches, and how many match.
pub async fn administrations(
    db: &impl GenericClient,
    search: &AdministrationSearch,
) -> Result<(Vec<MedicationAdministration>, u32)> {
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&search.from, &search.to, &search.patient];
    let total: i64 = db.query_one(&format!("SELECT count(*) {SEARCH}"), &params).await?.get(0);
    let limit = i64::from(search.count);
    let offset = i64::from(search.page.saturating_sub(1)) * limit;
    let rows = db
        .query(
            &format!("SELECT t.patient_id, t.id, {BODY_JSON} {SEARCH} ORDER BY t.updated_at, t.id LIMIT $4 OFFSET $5"),
            &[&search.from, &search.to, &search.patient, &limit, &offset],
        )
        .await?;
    let rows: Vec<medication::MedicationAdministration> =
        rows.iter().map(medication_administrations::decode).collect::<Result<_>>()?;
    Ok((administrations_out(db, &rows).await?, u32::try_from(total).unwrap_or(u32::MAX)))
}

/// One administration of a patient on file, by id.
pub async fn administration_by_id(tx: &Transaction<'_>, id: Uuid) -> Result<Option<MedicationAdministration>> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT t.patient_id, t.id, {BODY_JSON} FROM medication_administrations t
                   JOIN patients p ON p.id = t.patient_id WHERE t.id = $1 AND NOT t.deleted AND NOT p.deleted"
            ),
            &[&id],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let a = medication_administrations::decode(&row)?;
    Ok(administrations_out(tx, &[a]).await?.pop())
}
