//! Thin IPC adapters: deserialize, call the core, map errors to `UiError`.

use std::sync::{Mutex, MutexGuard};

use tauri::State;
use uuid::Uuid;
use wardbook_protocol::{AppInfo, ChartHeader, PatientSummary, UiError};

use crate::audit::{AccessContext, reads};
use crate::startup::Workstation;
use crate::store::StoreError;

pub struct AppState {
    workstation: Mutex<Workstation>,
    ctx: AccessContext,
}

impl AppState {
    pub fn new(workstation: Workstation, ctx: AccessContext) -> AppState {
        AppState { workstation: Mutex::new(workstation), ctx }
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
