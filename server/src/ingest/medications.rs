//! Medication orders from the EHR or pharmacy (HL7 RDE^O11 / OMP^O09,
//! FHIR MedicationRequest): filed under the sender's order number, so that
//! a repeat changes nothing, a change is a new version of the same order,
//! and a stop (HL7 ORC-1 `DC`, FHIR status `stopped`) stops it.

use tokio_postgres::Transaction;
use uuid::Uuid;
use wardbook_protocol::medication::{MedicationRequest, MedicationRequestStatus, validate_medication_request};

use super::{Outcome, Refusal, claim_key, link, linked};
use crate::error::Result;
use crate::keys::KeySet;
use crate::records::medication_requests;

const KIND: &str = "medication_request";

/// Writes an order filed under the sender's key `(system, value)` (its
/// placer or filler order number, or a FHIR identifier). `order.id` is
/// replaced by the stored one when the key is known; an order never
/// changes patient.
pub async fn upsert_medication_request(
    tx: &Transaction<'_>,
    keys: &KeySet,
    (system, value): (&str, &str),
    mut order: MedicationRequest,
) -> Result<Outcome<Uuid>> {
    if let Err(errors) = validate_medication_request(&order) {
        return Ok(Err(Refusal::Invalid(errors.0.first().map(|e| e.field.clone()).unwrap_or_default())));
    }
    if let Err(refusal) = claim_key(tx, KIND, system, value).await? {
        return Ok(Err(refusal));
    }
    if let Some(id) = linked(tx, keys, KIND, system, value).await?
        && let Some(stored) = medication_requests::read(tx, id).await?
    {
        if stored.patient_id != order.patient_id {
            return Ok(Err(Refusal::Invalid("patient_id".into())));
        }
        (order.id, order.version, order.updated_at) = (id, stored.version, stored.updated_at);
        if stored == order {
            return Ok(Ok(id));
        }
    }
    if medication_requests::write(tx, &order).await?.is_none() {
        return Ok(Err(Refusal::Invalid("id".into())));
    }
    link(tx, keys, KIND, system, value, order.id).await?;
    Ok(Ok(order.id))
}

/// Sets the status of the order filed under `(system, value)`: a stop, a
/// hold or its release. `Ok(None)` when no such order is on file.
pub async fn set_order_status(
    tx: &Transaction<'_>,
    keys: &KeySet,
    (system, value): (&str, &str),
    status: MedicationRequestStatus,
) -> Result<Outcome<Option<Uuid>>> {
    if let Err(refusal) = claim_key(tx, KIND, system, value).await? {
        return Ok(Err(refusal));
    }
    let Some(id) = linked(tx, keys, KIND, system, value).await? else { return Ok(Ok(None)) };
    let Some(mut order) = medication_requests::read(tx, id).await? else { return Ok(Ok(None)) };
    if order.status != status {
        order.status = status;
        medication_requests::write(tx, &order).await?;
    }
    Ok(Ok(Some(id)))
}
