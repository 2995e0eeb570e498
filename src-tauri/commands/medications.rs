//! The Medications tab, recording doses and the MAR printout: each an
//! audited read or a local edit in the core; after an edit, background
//! sync is woken to push it.

use chrono::{DateTime, Utc};
use tauri::State;
use uuid::Uuid;
use wardbook_protocol::UiError;
use wardbook_protocol::medication::{
    AdministrationEntry, AdministrationInError, AdministrationRow, DoseReviewEntry, MarPrint, MedicationsView,
    RecordAdministrationOutcome,
};

use super::{AppState, ui_error};
use crate::audit::reads;
use crate::medications;

/// The patient's orders and MAR over `[window_start, window_end)`; by
/// default from 24 hours back to 24 hours ahead.
#[tauri::command]
pub async fn medications(
    state: State<'_, AppState>,
    patient_id: Uuid,
    window_start: Option<DateTime<Utc>>,
    window_end: Option<DateTime<Utc>>,
) -> Result<MedicationsView, UiError> {
    let mut ws = state.lock()?;
    let (ctx, source) = state.chart_access(&mut ws, patient_id)?;
    let now = Utc::now();
    let window = reads::mar_window(window_start, window_end, now).map_err(ui_error)?;
    reads::medications(&mut ws.store, &ctx, patient_id, &source, window, now).map_err(ui_error)
}

/// A dose given or not given: saved, or held back with the checks that need
/// an override.
#[tauri::command]
pub async fn record_administration(
    state: State<'_, AppState>,
    patient_id: Uuid,
    entry: AdministrationEntry,
) -> Result<RecordAdministrationOutcome, UiError> {
    let outcome = {
        let mut ws = state.lock()?;
        let ctx = state.context(&mut ws)?;
        medications::record_administration(&mut ws.store, &ctx, patient_id, &entry).map_err(ui_error)?
    };
    if matches!(outcome, RecordAdministrationOutcome::Saved { .. }) {
        state.wake_sync();
    }
    Ok(outcome)
}

#[tauri::command]
pub async fn administration_entered_in_error(
    state: State<'_, AppState>,
    request: AdministrationInError,
) -> Result<AdministrationRow, UiError> {
    let row = {
        let mut ws = state.lock()?;
        let ctx = state.context(&mut ws)?;
        medications::administration_entered_in_error(&mut ws.store, &ctx, &request).map_err(ui_error)?
    };
    state.wake_sync();
    Ok(row)
}

#[tauri::command]
pub async fn review_double_dose(state: State<'_, AppState>, entry: DoseReviewEntry) -> Result<(), UiError> {
    {
        let mut ws = state.lock()?;
        let ctx = state.context(&mut ws)?;
        medications::review_double_dose(&mut ws.store, &ctx, &entry).map_err(ui_error)?;
    }
    state.wake_sync();
    Ok(())
}

/// The MAR printout of one patient, or of every patient on the census
/// (`patient_id` absent), with blank slots for the next 24 or 48 hours;
/// each patient printed is a `print` audit event.
#[tauri::command]
pub async fn print_mar(
    state: State<'_, AppState>,
    patient_id: Option<Uuid>,
    hours_ahead: u32,
) -> Result<MarPrint, UiError> {
    let mut ws = state.lock()?;
    let ctx = state.context(&mut ws)?;
    reads::print_mar(&mut ws.store, &ctx, patient_id, hours_ahead, Utc::now()).map_err(ui_error)
}
