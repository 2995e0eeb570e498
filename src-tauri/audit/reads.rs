//! The only way PHI leaves the store: each function opens a transaction,
//! reads, writes the audit event, commits, and only then returns the data.
//! If the audit event cannot be written, the caller gets an error and no data.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol::{
    AllergyRow, AuditAction, AuditOutcome, AuditSubtype, ChartHeader, DowntimeSummary, EditsNeedingAttention,
    Observation, ObservationCategory, ObservationRow, PatientSummary,
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

/// How many rows a chart tab reads at most (years of 4-hourly vitals).
pub const TAB_LIMIT: u32 = 5_000;

/// Ids of this patient's rows whose edits wait for the server.
fn pending_ids(conn: &rusqlite::Connection, patient: Uuid) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT DISTINCT entity_id FROM outbox WHERE patient_id = ?1 AND state = 'pending'")?;
    let ids = crate::store::rows::collect(&mut stmt, [patient.to_string()], |row| {
        crate::store::rows::get_uuid(row, "entity_id")
    })?;
    Ok(ids.into_iter().collect())
}

fn observation_rows(
    conn: &rusqlite::Connection,
    patient: Uuid,
    category: ObservationCategory,
) -> Result<Vec<ObservationRow>, StoreError> {
    let pending = pending_ids(conn, patient)?;
    let rows = observations::latest(conn, patient, category, TAB_LIMIT)?;
    Ok(rows.into_iter().map(|o| ObservationRow { pending: pending.contains(&o.id), observation: o }).collect())
}

/// The vitals tab: vital signs newest first, each marked pending while its
/// edit waits for the server.
pub fn vitals_tab(store: &mut Store, ctx: &AccessContext, patient: Uuid) -> Result<Vec<ObservationRow>, StoreError> {
    audited(store, ctx, AuditSubtype::VitalsView, Some(patient), |conn| {
        observation_rows(conn, patient, ObservationCategory::VitalSigns)
    })
}

/// The labs tab: laboratory results newest first.
pub fn labs_tab(store: &mut Store, ctx: &AccessContext, patient: Uuid) -> Result<Vec<ObservationRow>, StoreError> {
    audited(store, ctx, AuditSubtype::LabsView, Some(patient), |conn| {
        observation_rows(conn, patient, ObservationCategory::Laboratory)
    })
}

/// The allergies tab: every allergy, each marked pending while its edit waits.
pub fn allergies_tab(store: &mut Store, ctx: &AccessContext, patient: Uuid) -> Result<Vec<AllergyRow>, StoreError> {
    audited(store, ctx, AuditSubtype::AllergiesView, Some(patient), |conn| {
        let pending = pending_ids(conn, patient)?;
        let rows = allergies::for_patient(conn, patient)?;
        Ok(rows.into_iter().map(|a| AllergyRow { pending: pending.contains(&a.id), allergy: a }).collect())
    })
}

/// Records the view of data that is not in the store (a break-the-glass
/// patient's records, held in memory) before the caller shows it.
pub fn view_held<T>(
    store: &mut Store,
    ctx: &AccessContext,
    subtype: AuditSubtype,
    patient: Uuid,
    data: T,
) -> Result<T, StoreError> {
    audited(store, ctx, subtype, Some(patient), |_| Ok(()))?;
    Ok(data)
}

/// The printable downtime summary of one patient: demographics, allergies,
/// the last 24 hours of vitals and recent labs. Audited as a `print`.
pub fn downtime_summary(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    now: DateTime<Utc>,
) -> Result<DowntimeSummary, StoreError> {
    audited(store, ctx, AuditSubtype::Print, Some(patient), |conn| {
        let record = patients::get(conn, patient)?.ok_or(StoreError::NotFound)?;
        let allergies = allergies::for_patient(conn, patient)?;
        let vitals =
            observations::since(conn, patient, ObservationCategory::VitalSigns, &(now - chrono::Duration::hours(24)))?;
        let labs = observations::latest(conn, patient, ObservationCategory::Laboratory, SUMMARY_LABS)?;
        Ok(DowntimeSummary {
            header: ChartHeader { age_years: record.age_on(now.date_naive()), patient: record, allergies },
            vitals,
            labs,
            problems: Vec::new(),
            generated_at: now,
            generated_by: ctx.user_id.clone(),
            data_as_of: crate::sync::local::data_as_of(conn)?,
        })
    })
}

/// Laboratory results on a downtime summary.
pub const SUMMARY_LABS: u32 = 40;

/// Conflicts and rejected edits with both versions: one audited read of
/// the identifiers and edits of every patient listed.
pub fn edits_needing_attention(store: &mut Store, ctx: &AccessContext) -> Result<EditsNeedingAttention, StoreError> {
    audited(store, ctx, AuditSubtype::ConflictsView, None, crate::edits::needing_attention)
}
