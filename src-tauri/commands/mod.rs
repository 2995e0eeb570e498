//! Thin IPC adapters: deserialize, call the core, map errors to `UiError`.

use std::sync::{Arc, Mutex, MutexGuard};

use tauri::State;
use uuid::Uuid;
use wardbook_protocol::{AppInfo, ChartHeader, PatientSummary, SyncStatus, UiError};

use crate::audit::{AccessContext, reads};
use crate::startup::Workstation;
use crate::store::StoreError;
use crate::sync::{SyncError, SyncTrigger};

pub struct AppState {
    workstation: Arc<Mutex<Workstation>>,
    ctx: AccessContext,
    /// Wakes background sync; `None` when the workstation is not enrolled.
    sync: Option<SyncTrigger>,
}

impl AppState {
    pub fn new(workstation: Arc<Mutex<Workstation>>, ctx: AccessContext, sync: Option<SyncTrigger>) -> AppState {
        AppState { workstation, ctx, sync }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Workstation>, UiError> {
        self.workstation.lock().map_err(|_| UiError {
            code: "internal".into(),
            message: "Wardbook hit an internal error. Restart it; nothing recorded was lost.".into(),
        })
    }
}

fn ui_error(err: StoreError) -> UiError {
    tracing::warn!(code = err.code(), "command failed");
    UiError { code: err.code().to_owned(), message: err.to_string() }
}

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, UiError> {
    let ws = state.lock()?;
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        environment: ws.config.environment,
        synthetic_data: ws.store.has_synthetic_data().map_err(ui_error)?,
        user_id: state.ctx.user_id.clone(),
    })
}

#[tauri::command]
pub async fn census(state: State<'_, AppState>) -> Result<Vec<PatientSummary>, UiError> {
    let mut ws = state.lock()?;
    reads::census(&mut ws.store, &state.ctx, None).map_err(ui_error)
}

#[tauri::command]
pub async fn open_chart(state: State<'_, AppState>, patient_id: Uuid) -> Result<ChartHeader, UiError> {
    let mut ws = state.lock()?;
    reads::open_chart(&mut ws.store, &state.ctx, patient_id).map_err(ui_error)
}

fn sync_ui_error(err: SyncError) -> UiError {
    tracing::warn!(error = %err, "sync command failed");
    UiError { code: "sync".into(), message: err.to_string() }
}

/// Online or offline, last sync, pending edits and audit events, conflicts.
#[tauri::command]
pub async fn sync_status(state: State<'_, AppState>) -> Result<SyncStatus, UiError> {
    let ws = state.lock()?;
    let keys = crate::keys::key_store_for(&ws.config);
    crate::sync::status(&ws.config, keys.as_ref(), &ws.store).map_err(sync_ui_error)
}

/// Sync now (the status bar's button); answers at once, the cycle runs in
/// the background.
#[tauri::command]
pub async fn sync_now(state: State<'_, AppState>) -> Result<(), UiError> {
    match &state.sync {
        Some(trigger) => {
            trigger.sync_now();
            Ok(())
        }
        None => Err(sync_ui_error(SyncError::NotEnrolled)),
    }
}
