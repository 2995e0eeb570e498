//! The settings and about screen, and first-run enrolment from it.

use tauri::State;
use wardbook_protocol::{EnrolRequestUi, SettingsView, UiError};

use super::{AppState, sync_ui_error};

fn view(state: &AppState) -> Result<SettingsView, UiError> {
    let ws = state.lock()?;
    let keys = crate::keys::key_store_for(&ws.config);
    let enrolled = matches!(keys.load_credential(), Ok(Some(_)));
    let locations = crate::sync::enrolled_locations(&ws.store).map_err(sync_ui_error)?;
    Ok(crate::settings::view(&ws.config, &ws.store, enrolled, locations))
}

#[tauri::command]
pub async fn settings(state: State<'_, AppState>) -> Result<SettingsView, UiError> {
    view(&state)
}

/// Enrols this workstation, then starts background sync. The workstation
/// is not held across the network call.
#[tauri::command]
pub async fn enroll(state: State<'_, AppState>, request: EnrolRequestUi) -> Result<SettingsView, UiError> {
    let keys = crate::keys::key_store_for(&state.lock()?.config);
    let requested = request.server_url.as_deref().map(str::trim).filter(|s| !s.is_empty());
    crate::sync::enroll(&state.workstation, keys.as_ref(), requested, &request.code).await.map_err(sync_ui_error)?;
    state.start_sync()?;
    view(&state)
}
