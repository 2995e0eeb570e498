//! The only way PHI leaves the store: each function reads inside
//! `Store::audited`, which writes the audit event in the same transaction
//! and returns the data only after the commit. The store's PHI readers take
//! the `AuditedRead` that only `Store::audited` makes, so a read that
//! skips the audit does not compile. If the audit event cannot be written,
//! the caller gets an error and no data.
//!
//! One function per screen, called by the window, the tests and the
//! benchmarks alike. A chart's functions take its [`Source`]: the cache, or
//! the records a break-the-glass access holds in memory, which are shown
//! only once their view is audited the same way.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol::api::Record;
use wardbook_protocol::{
    AllergyRow, AuditAction, AuditOutcome, AuditSubtype, BreakGlassResponse, ChartHeader, DowntimeSummary,
    EditsNeedingAttention, ObservationCategory, ObservationRow, OpenedChart, PatientSummary,
};

use super::{Access, AccessContext};
use crate::store::patients::SearchTerm;
use crate::store::{AuditedRead, Store, StoreError, allergies, conflicts, medication_requests, observations, patients};

mod medications;
pub use medications::*;

/// At most this many rows come back from a search.
pub const SEARCH_LIMIT: u32 = 50;

/// Where a chart's rows come from. Either way the view is audited in this
/// workstation's chain, with the context the caller gives (the session's
/// emergency-treatment context for held records).
#[derive(Clone, Debug)]
pub enum Source {
    /// This workstation's cache.
    Cache,
    /// The records of a running break-the-glass access: a patient outside
    /// this workstation's locations, kept in memory and never cached.
    Held(Box<BreakGlassResponse>),
}

fn audited<T>(
    store: &mut Store,
    ctx: &AccessContext,
    subtype: AuditSubtype,
    patient: Option<Uuid>,
    read: impl FnOnce(&AuditedRead<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let device_id = store.device_id();
    let access = Access { action: AuditAction::Read, subtype, patient, outcome: AuditOutcome::Success };
    store.audited(read, |head| super::event(head, device_id, ctx, access))
}

/// The ward census: the cached patients of `location` (all when `None`).
pub fn census(
    store: &mut Store,
    ctx: &AccessContext,
    location: Option<&str>,
) -> Result<Vec<PatientSummary>, StoreError> {
    let clinical = *store.clinical();
    let now = Utc::now();
    audited(store, ctx, AuditSubtype::CensusList, None, |read| patients::census(read, location, &clinical, now))
}

/// Patients whose name, MRN or date of birth matches `query` (empty query:
/// no rows and no audit event, since nothing is shown).
pub fn search(store: &mut Store, ctx: &AccessContext, query: &str) -> Result<Vec<PatientSummary>, StoreError> {
    let Some(term) = SearchTerm::parse(query) else {
        return Ok(Vec::new());
    };
    audited(store, ctx, AuditSubtype::PatientSearch, None, |read| patients::search(read, &term, SEARCH_LIMIT))
}

/// Opening a chart: everything it shows at once (the patient header, the
/// allergies, which come first, and the first tab, vital signs), read in one
/// transaction and recorded as one `chart-open` event that stands for all
/// three. One durable commit per chart open, not one per part: the commit is
/// what a view costs. Opening a tab again later is that tab's own event.
pub fn open_chart(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    source: &Source,
) -> Result<OpenedChart, StoreError> {
    let today = chrono::Utc::now().date_naive();
    if let Source::Held(held) = source {
        let header = ChartHeader {
            age_years: held.patient.age_on(today),
            patient: held.patient.clone(),
            allergies: held.allergies.iter().filter(|a| !a.deleted).cloned().collect(),
        };
        let vitals = held_rows(held, ObservationCategory::VitalSigns);
        return view_held(store, ctx, AuditSubtype::ChartOpen, patient, held, OpenedChart { header, vitals });
    }
    audited(store, ctx, AuditSubtype::ChartOpen, Some(patient), |read| {
        let record = patients::get(read, patient)?.ok_or(StoreError::NotFound)?;
        let allergies = allergies::for_patient(read, patient)?;
        let vitals = cached_rows(read, patient, ObservationCategory::VitalSigns)?;
        Ok(OpenedChart { header: ChartHeader { age_years: record.age_on(today), patient: record, allergies }, vitals })
    })
}

/// How many rows a chart tab reads at most (years of 4-hourly vitals).
pub const TAB_LIMIT: u32 = 5_000;

/// A tab's observations of `category` from the cache, newest first, each
/// marked pending while its edit waits for the server.
fn cached_rows(
    read: &AuditedRead<'_>,
    patient: Uuid,
    category: ObservationCategory,
) -> Result<Vec<ObservationRow>, StoreError> {
    let pending = read.db().outbox().pending_rows_of(patient)?;
    let rows = observations::latest(read, patient, category, TAB_LIMIT)?;
    Ok(rows.into_iter().map(|o| ObservationRow { pending: pending.contains(&o.id), observation: o }).collect())
}

/// A tab's observations of `category` from held records, newest first.
fn held_rows(held: &BreakGlassResponse, category: ObservationCategory) -> Vec<ObservationRow> {
    let mut rows: Vec<ObservationRow> = held
        .observations
        .iter()
        .filter(|o| !o.deleted && o.category == category)
        .map(|o| ObservationRow { observation: o.clone(), pending: false })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.observation.effective_at));
    rows
}

fn observation_tab(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    source: &Source,
    (category, subtype): (ObservationCategory, AuditSubtype),
) -> Result<Vec<ObservationRow>, StoreError> {
    if let Source::Held(held) = source {
        return view_held(store, ctx, subtype, patient, held, held_rows(held, category));
    }
    audited(store, ctx, subtype, Some(patient), |read| cached_rows(read, patient, category))
}

/// The vitals tab opened again after another tab (opening the chart shows
/// it already, see [`open_chart`]): vital signs newest first, each marked
/// pending while its edit waits for the server.
pub fn vitals_tab(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    source: &Source,
) -> Result<Vec<ObservationRow>, StoreError> {
    observation_tab(store, ctx, patient, source, (ObservationCategory::VitalSigns, AuditSubtype::VitalsView))
}

/// The labs tab: laboratory results newest first.
pub fn labs_tab(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    source: &Source,
) -> Result<Vec<ObservationRow>, StoreError> {
    observation_tab(store, ctx, patient, source, (ObservationCategory::Laboratory, AuditSubtype::LabsView))
}

/// The allergies tab: every allergy, each marked pending while its edit waits.
pub fn allergies_tab(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    source: &Source,
) -> Result<Vec<AllergyRow>, StoreError> {
    if let Source::Held(held) = source {
        let rows = held
            .allergies
            .iter()
            .filter(|a| !a.deleted)
            .map(|a| AllergyRow { allergy: a.clone(), pending: false })
            .collect();
        return view_held(store, ctx, AuditSubtype::AllergiesView, patient, held, rows);
    }
    audited(store, ctx, AuditSubtype::AllergiesView, Some(patient), |read| {
        let pending = read.db().outbox().pending_rows_of(patient)?;
        let rows = allergies::for_patient(read, patient)?;
        Ok(rows.into_iter().map(|a| AllergyRow { pending: pending.contains(&a.id), allergy: a }).collect())
    })
}

/// Records the view of held records (not in the store) before the caller
/// shows them. The event names the patient the records are of: others'
/// records are not shown under this patient's event.
fn view_held<T>(
    store: &mut Store,
    ctx: &AccessContext,
    subtype: AuditSubtype,
    patient: Uuid,
    held: &BreakGlassResponse,
    data: T,
) -> Result<T, StoreError> {
    if held.patient.id != patient {
        return Err(StoreError::NotFound);
    }
    audited(store, ctx, subtype, Some(patient), |_| Ok(()))?;
    Ok(data)
}

/// The printable downtime summary of one patient: demographics, allergies,
/// the last 24 hours of vitals, recent labs and the current medication
/// orders. Audited as a `print`.
pub fn downtime_summary(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    now: DateTime<Utc>,
) -> Result<DowntimeSummary, StoreError> {
    audited(store, ctx, AuditSubtype::Print, Some(patient), |read| {
        let record = patients::get(read, patient)?.ok_or(StoreError::NotFound)?;
        let allergies = allergies::for_patient(read, patient)?;
        let vitals =
            observations::since(read, patient, ObservationCategory::VitalSigns, &(now - chrono::Duration::hours(24)))?;
        let labs = observations::latest(read, patient, ObservationCategory::Laboratory, SUMMARY_LABS)?;
        Ok(DowntimeSummary {
            header: ChartHeader { age_years: record.age_on(now.date_naive()), patient: record, allergies },
            vitals,
            labs,
            medications: medication_requests::current_for_patient(read, patient)?,
            problems: Vec::new(),
            generated_at: now,
            generated_by: ctx.user_id.clone(),
            data_as_of: read.db().sync_state().data_as_of()?,
        })
    })
}

/// Laboratory results on a downtime summary.
pub const SUMMARY_LABS: u32 = 40;

/// Conflicts and rejected edits with both versions: one audited read of
/// the identifiers and edits of every patient listed.
pub fn edits_needing_attention(store: &mut Store, ctx: &AccessContext) -> Result<EditsNeedingAttention, StoreError> {
    audited(store, ctx, AuditSubtype::ConflictsView, None, conflicts::needing_attention)
}

/// Both versions of one conflict, the clinician's edit and the server's
/// row: an audited view of that patient's conflict.
pub fn conflict_versions(
    store: &mut Store,
    ctx: &AccessContext,
    mutation_id: Uuid,
) -> Result<(Record, Record), StoreError> {
    let conflict = store.db().outbox().conflict(mutation_id)?.ok_or(StoreError::NotFound)?;
    audited(store, ctx, AuditSubtype::ConflictsView, Some(conflict.patient_id), |read| {
        conflicts::versions(read, conflict.mutation_id)
    })
}
