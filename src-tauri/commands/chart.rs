//! The census, search, chart tabs and downtime summary: each an audited
//! read in the core. The session says where a chart's rows come from (a
//! patient held in memory by a break-the-glass access is served from there,
//! audited with the emergency context); the core reads from that source.

use tauri::State;
use uuid::Uuid;
use wardbook_protocol::{AllergyRow, DowntimeSummary, ObservationRow, OpenedChart, PatientSummary, UiError};

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

/// The header, the allergies and the vitals tab of a chart, as one audited
/// `chart-open`; the tabs opened afterwards are their own commands.
#[tauri::command]
pub async fn open_chart(state: State<'_, AppState>, patient_id: Uuid) -> Result<OpenedChart, UiError> {
    let mut ws = state.lock()?;
    let (ctx, source) = state.chart_access(&mut ws, patient_id)?;
    reads::open_chart(&mut ws.store, &ctx, patient_id, &source).map_err(ui_error)
}

#[tauri::command]
pub async fn view_vitals(state: State<'_, AppState>, patient_id: Uuid) -> Result<Vec<ObservationRow>, UiError> {
    let mut ws = state.lock()?;
    let (ctx, source) = state.chart_access(&mut ws, patient_id)?;
    reads::vitals_tab(&mut ws.store, &ctx, patient_id, &source).map_err(ui_error)
}

#[tauri::command]
pub async fn view_labs(state: State<'_, AppState>, patient_id: Uuid) -> Result<Vec<ObservationRow>, UiError> {
    let mut ws = state.lock()?;
    let (ctx, source) = state.chart_access(&mut ws, patient_id)?;
    reads::labs_tab(&mut ws.store, &ctx, patient_id, &source).map_err(ui_error)
}

#[tauri::command]
pub async fn view_allergies(state: State<'_, AppState>, patient_id: Uuid) -> Result<Vec<AllergyRow>, UiError> {
    let mut ws = state.lock()?;
    let (ctx, source) = state.chart_access(&mut ws, patient_id)?;
    reads::allergies_tab(&mut ws.store, &ctx, patient_id, &source).map_err(ui_error)
}

/// The printable one-patient summary; producing it is a `print` audit event.
#[tauri::command]
pub async fn downtime_summary(state: State<'_, AppState>, patient_id: Uuid) -> Result<DowntimeSummary, UiError> {
    let mut ws = state.lock()?;
    let ctx = state.context(&mut ws)?;
    reads::downtime_summary(&mut ws.store, &ctx, patient_id, chrono::Utc::now()).map_err(ui_error)
}
