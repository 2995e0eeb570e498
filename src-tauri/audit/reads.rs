//! The only way PHI leaves the store: each function opens a transaction,
//! reads, writes the audit event, commits, and only then returns the data.
//! If the audit event cannot be written, the caller gets an error and no data.

use uuid::Uuid;
use wardbook_protocol::{
    AuditAction, AuditOutcome, AuditSubtype, ChartHeader, Observation, ObservationCategory, PatientSummary,
};

use super::{Access, AccessContext, record};
use crate::store::patients::SearchTerm;
use crate::store::{Store, StoreError, allergies, observations, patients};

/// At most this many rows come back from a search.
pub const SEARCH_LIMIT: u32 = 50;

fn audited<T>(
    store: &mut Store,
    ctx: &AccessContext,
    subtype: AuditSubtype,
    patient: Option<Uuid>,
    read: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let device_id = store.device_id();
    let tx = store.conn_mut().transaction()?;
    let data = read(&tx)?;
    let access = Access { action: AuditAction::Read, subtype, patient, outcome: AuditOutcome::Success };
    if let Err(err) = record(&tx, device_id, ctx, access) {
        tracing::error!(
            code = err.code(),
            subtype = subtype.as_str(),
            "audit event could not be written; data withheld"
        );
        return Err(StoreError::AuditWriteFailed);
    }
    tx.commit().map_err(|_| StoreError::AuditWriteFailed)?;
    Ok(data)
}

/// The ward census: the cached patients of `location` (all when `None`).
pub fn census(
    store: &mut Store,
    ctx: &AccessContext,
    location: Option<&str>,
) -> Result<Vec<PatientSummary>, StoreError> {
    audited(store, ctx, AuditSubtype::CensusList, None, |conn| patients::census(conn, location))
}

/// Patients whose name, MRN or date of birth matches `query` (empty query:
/// no rows and no audit event, since nothing is shown).
pub fn search(store: &mut Store, ctx: &AccessContext, query: &str) -> Result<Vec<PatientSummary>, StoreError> {
    let Some(term) = SearchTerm::parse(query) else {
        return Ok(Vec::new());
    };
    audited(store, ctx, AuditSubtype::PatientSearch, None, |conn| patients::search(conn, &term, SEARCH_LIMIT))
}

/// Opening a chart: the patient header and the allergies, which come first.
pub fn open_chart(store: &mut Store, ctx: &AccessContext, patient: Uuid) -> Result<ChartHeader, StoreError> {
    let today = chrono::Utc::now().date_naive();
    audited(store, ctx, AuditSubtype::ChartOpen, Some(patient), |conn| {
        let record = patients::get(conn, patient)?.ok_or(StoreError::NotFound)?;
        let allergies = allergies::for_patient(conn, patient)?;
        Ok(ChartHeader { age_years: record.age_on(today), patient: record, allergies })
    })
}

/// The latest `limit` vital signs, newest first.
pub fn view_vitals(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    limit: u32,
) -> Result<Vec<Observation>, StoreError> {
    audited(store, ctx, AuditSubtype::VitalsView, Some(patient), |conn| {
        observations::latest(conn, patient, ObservationCategory::VitalSigns, limit)
    })
}

/// The latest `limit` laboratory results, newest first.
pub fn view_labs(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    limit: u32,
) -> Result<Vec<Observation>, StoreError> {
    audited(store, ctx, AuditSubtype::LabsView, Some(patient), |conn| {
        observations::latest(conn, patient, ObservationCategory::Laboratory, limit)
    })
}

/// The allergy list on its own (the allergies tab).
pub fn view_allergies(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
) -> Result<Vec<wardbook_protocol::Allergy>, StoreError> {
    audited(store, ctx, AuditSubtype::AllergiesView, Some(patient), |conn| allergies::for_patient(conn, patient))
}
