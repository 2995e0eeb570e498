//! Sign-in (online with a password, through the hospital's browser sign-in,
//! or offline against the local verifier of a password or a workstation
//! PIN), lock, unlock, sign-out, activity and break-the-glass: adapters over
//! `crate::session`.

use tauri::State;
use wardbook_protocol::{BreakGlassRequest, Credentials, PinEntry, SessionInfo, SessionState, SignInOptions, UiError};

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

/// The sign-in screen's choices (the service's providers, or those kept).
#[tauri::command]
pub async fn login_providers(state: State<'_, AppState>) -> Result<SignInOptions, UiError> {
    state.sessions.sign_in_options(&state.workstation).await.map_err(session_ui_error)
}

/// The hospital's browser sign-in (OpenID Connect): opens the system
/// browser and answers once it came back (or was cancelled, or expired).
#[tauri::command]
pub async fn sign_in_oidc(state: State<'_, AppState>, provider: String) -> Result<SessionState, UiError> {
    // The plugin's Rust function, not its WebView commands: the page never gets to open URLs.
    let opener = |url: &str| tauri_plugin_opener::open_url(url, None::<&str>).map_err(|e| e.to_string());
    state.sessions.sign_in_oidc(&state.workstation, &provider, &opener).await.map_err(session_ui_error)
}

/// Stops waiting for the browser.
#[tauri::command]
pub async fn cancel_oidc(state: State<'_, AppState>) -> Result<(), UiError> {
    state.sessions.cancel_oidc();
    Ok(())
}

/// Offline sign-in with the workstation PIN (in `credentials.password`).
#[tauri::command]
pub async fn sign_in_pin(state: State<'_, AppState>, credentials: Credentials) -> Result<SessionInfo, UiError> {
    state.sessions.sign_in_pin(&state.workstation, &credentials).await.map_err(session_ui_error)
}

/// Sets the workstation PIN after a browser sign-in.
#[tauri::command]
pub async fn set_pin(state: State<'_, AppState>, entry: PinEntry) -> Result<SessionInfo, UiError> {
    state.sessions.set_pin(&state.workstation, &entry).await.map_err(session_ui_error)
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
