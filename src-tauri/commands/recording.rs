//! Recording at the bedside and settling conflicts: each edit goes to the
//! outbox in the core, and background sync is woken to push it.

use tauri::State;
use uuid::Uuid;
use wardbook_protocol::vitals::VitalSpec;
use wardbook_protocol::{
    AllergyEntry, AllergyRow, EditsNeedingAttention, EnteredInError, ObservationRow, UiError, VitalsEntry,
};

use super::{AppState, ui_error};
use crate::audit::reads;
use crate::{edits, recording};

/// The plausibility limits and normal bands the core enforces.
#[tauri::command]
pub async fn vital_specs() -> Result<Vec<VitalSpec>, UiError> {
    Ok(wardbook_protocol::vitals::VITAL_SPECS.to_vec())
}

#[tauri::command]
pub async fn record_vitals(
    state: State<'_, AppState>,
    patient_id: Uuid,
    entry: VitalsEntry,
) -> Result<Vec<ObservationRow>, UiError> {
    let rows = {
        let mut ws = state.lock()?;
        let ctx = state.context(&mut ws)?;
        recording::record_vitals(&mut ws.store, &ctx, patient_id, &entry).map_err(ui_error)?
    };
    state.wake_sync();
    Ok(rows.into_iter().map(|observation| ObservationRow { observation, pending: true }).collect())
}

#[tauri::command]
pub async fn save_allergy(
    state: State<'_, AppState>,
    patient_id: Uuid,
    entry: AllergyEntry,
) -> Result<AllergyRow, UiError> {
    let allergy = {
        let mut ws = state.lock()?;
        let ctx = state.context(&mut ws)?;
        recording::save_allergy(&mut ws.store, &ctx, patient_id, &entry).map_err(ui_error)?
    };
    state.wake_sync();
    Ok(AllergyRow { allergy, pending: true })
}

#[tauri::command]
pub async fn mark_entered_in_error(
    state: State<'_, AppState>,
    request: EnteredInError,
) -> Result<ObservationRow, UiError> {
    let observation = {
        let mut ws = state.lock()?;
        let ctx = state.context(&mut ws)?;
        edits::mark_entered_in_error(&mut ws.store, &ctx, request.observation_id, &request.reason).map_err(ui_error)?
    };
    state.wake_sync();
    Ok(ObservationRow { observation, pending: true })
}

#[tauri::command]
pub async fn edits_needing_attention(state: State<'_, AppState>) -> Result<EditsNeedingAttention, UiError> {
    let mut ws = state.lock()?;
    let ctx = state.context(&mut ws)?;
    reads::edits_needing_attention(&mut ws.store, &ctx).map_err(ui_error)
}

#[tauri::command]
pub async fn reapply_conflict(state: State<'_, AppState>, mutation_id: Uuid) -> Result<(), UiError> {
    {
        let mut ws = state.lock()?;
        let ctx = state.context(&mut ws)?;
        edits::reapply_conflict(&mut ws.store, &ctx, mutation_id).map_err(ui_error)?;
    }
    state.wake_sync();
    Ok(())
}

#[tauri::command]
pub async fn discard_conflict(state: State<'_, AppState>, mutation_id: Uuid) -> Result<(), UiError> {
    let mut ws = state.lock()?;
    state.context(&mut ws)?;
    edits::discard_conflict(&mut ws.store, mutation_id).map_err(ui_error)
}
