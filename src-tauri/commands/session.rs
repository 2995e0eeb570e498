//! Sign-in (online, or offline against the local verifier), lock, unlock,
//! sign-out, activity and break-the-glass: adapters over `crate::session`.

use tauri::State;
use wardbook_protocol::{BreakGlassRequest, Credentials, SessionInfo, SessionState, UiError};

use super::{AppState, session_ui_error};

#[tauri::command]
pub async fn session(state: State<'_, AppState>) -> Result<SessionState, UiError> {
    let mut ws = state.lock()?;
    state.sessions.state(&mut ws.store).map_err(session_ui_error)
}

#[tauri::command]
pub async fn sign_in(state: State<'_, AppState>, credentials: Credentials) -> Result<SessionInfo, UiError> {
    state.sessions.sign_in(&state.workstation, &credentials).await.map_err(session_ui_error)
}

#[tauri::command]
pub async fn unlock(state: State<'_, AppState>, password: String) -> Result<SessionInfo, UiError> {
    state.sessions.unlock(&state.workstation, &password).await.map_err(session_ui_error)
}

#[tauri::command]
pub async fn lock(state: State<'_, AppState>) -> Result<(), UiError> {
    let mut ws = state.lock()?;
    state.sessions.lock(&mut ws.store).map_err(session_ui_error)
}

#[tauri::command]
pub async fn sign_out(state: State<'_, AppState>) -> Result<(), UiError> {
    let mut ws = state.lock()?;
    state.sessions.sign_out(&mut ws.store).map_err(session_ui_error)
}

/// Keyboard or pointer activity: postpones the idle lock.
#[tauri::command]
pub async fn activity(state: State<'_, AppState>) -> Result<(), UiError> {
    state.sessions.activity();
    Ok(())
}

/// Emergency access to a patient outside this ward; answers the patient id.
#[tauri::command]
pub async fn break_glass(state: State<'_, AppState>, request: BreakGlassRequest) -> Result<uuid::Uuid, UiError> {
    state.sessions.break_glass(&state.workstation, &request).await.map_err(session_ui_error)
}
