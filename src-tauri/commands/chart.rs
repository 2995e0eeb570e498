//! The census, search, chart tabs and downtime summary: each an audited
//! read in the core. A patient held in memory by a break-the-glass access is
//! served from there, audited with the emergency context.

use tauri::State;
use uuid::Uuid;
use wardbook_protocol::{
    AllergyRow, AuditSubtype, ChartHeader, DowntimeSummary, ObservationCategory, ObservationRow, PatientSummary,
    UiError,
};

use super::{AppState, ui_error};
use crate::audit::reads;

#[tauri::command]
pub async fn census(state: State<'_, AppState>) -> Result<Vec<PatientSummary>, UiError> {
    let mut ws = state.lock()?;
    let ctx = state.context(&mut ws)?;
    reads::census(&mut ws.store, &ctx, None).map_err(ui_error)
}

#[tauri::command]
pub async fn search(state: State<'_, AppState>, query: String) -> Result<Vec<PatientSummary>, UiError> {
    let mut ws = state.lock()?;
    let ctx = state.context(&mut ws)?;
    reads::search(&mut ws.store, &ctx, &query).map_err(ui_error)
}

#[tauri::command]
pub async fn open_chart(state: State<'_, AppState>, patient_id: Uuid) -> Result<ChartHeader, UiError> {
    let mut ws = state.lock()?;
    if let Some((ctx, held)) = state.emergency(&mut ws, patient_id)? {
        let today = chrono::Utc::now().date_naive();
        let header = ChartHeader {
            age_years: held.patient.age_on(today),
            patient: held.patient,
            allergies: held.allergies.into_iter().filter(|a| !a.deleted).collect(),
        };
        return reads::view_held(&mut ws.store, &ctx, AuditSubtype::ChartOpen, patient_id, header).map_err(ui_error);
    }
    let ctx = state.context(&mut ws)?;
    reads::open_chart(&mut ws.store, &ctx, patient_id).map_err(ui_error)
}

fn held_observations(
    held: &wardbook_protocol::BreakGlassResponse,
    category: ObservationCategory,
) -> Vec<ObservationRow> {
    let mut rows: Vec<ObservationRow> = held
        .observations
        .iter()
        .filter(|o| !o.deleted && o.category == category)
        .map(|o| ObservationRow { observation: o.clone(), pending: false })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.observation.effective_at));
    rows
}

#[tauri::command]
pub async fn view_vitals(state: State<'_, AppState>, patient_id: Uuid) -> Result<Vec<ObservationRow>, UiError> {
    let mut ws = state.lock()?;
    if let Some((ctx, held)) = state.emergency(&mut ws, patient_id)? {
        let rows = held_observations(&held, ObservationCategory::VitalSigns);
        return reads::view_held(&mut ws.store, &ctx, AuditSubtype::VitalsView, patient_id, rows).map_err(ui_error);
    }
    let ctx = state.context(&mut ws)?;
    reads::vitals_tab(&mut ws.store, &ctx, patient_id).map_err(ui_error)
}

#[tauri::command]
pub async fn view_labs(state: State<'_, AppState>, patient_id: Uuid) -> Result<Vec<ObservationRow>, UiError> {
    let mut ws = state.lock()?;
    if let Some((ctx, held)) = state.emergency(&mut ws, patient_id)? {
        let rows = held_observations(&held, ObservationCategory::Laboratory);
        return reads::view_held(&mut ws.store, &ctx, AuditSubtype::LabsView, patient_id, rows).map_err(ui_error);
    }
    let ctx = state.context(&mut ws)?;
    reads::labs_tab(&mut ws.store, &ctx, patient_id).map_err(ui_error)
}

#[tauri::command]
pub async fn view_allergies(state: State<'_, AppState>, patient_id: Uuid) -> Result<Vec<AllergyRow>, UiError> {
    let mut ws = state.lock()?;
    if let Some((ctx, held)) = state.emergency(&mut ws, patient_id)? {
        let rows: Vec<AllergyRow> = held
            .allergies
            .into_iter()
            .filter(|a| !a.deleted)
            .map(|allergy| AllergyRow { allergy, pending: false })
            .collect();
        return reads::view_held(&mut ws.store, &ctx, AuditSubtype::AllergiesView, patient_id, rows).map_err(ui_error);
    }
    let ctx = state.context(&mut ws)?;
    reads::allergies_tab(&mut ws.store, &ctx, patient_id).map_err(ui_error)
}

/// The printable one-patient summary; producing it is a `print` audit event.
#[tauri::command]
pub async fn downtime_summary(state: State<'_, AppState>, patient_id: Uuid) -> Result<DowntimeSummary, UiError> {
    let mut ws = state.lock()?;
    let ctx = state.context(&mut ws)?;
    reads::downtime_summary(&mut ws.store, &ctx, patient_id, chrono::Utc::now()).map_err(ui_error)
}
