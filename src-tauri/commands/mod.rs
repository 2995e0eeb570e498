//! Thin IPC adapters: deserialize, call the core, map errors to `UiError`.
//! Every command that reads or writes patient data asks the session for the
//! acting clinician first: a locked or signed-out workstation gets an error
//! with code `locked` or `signed_out`, and no data.

mod chart;
mod medications;
mod privacy;
mod recording;
mod session;
mod settings;

use std::sync::{Arc, Mutex, MutexGuard};

use tauri::State;
use uuid::Uuid;
use wardbook_protocol::{AppInfo, ReasonLimits, SessionState, SyncStatus, UiError};

pub use chart::*;
pub use medications::*;
pub use privacy::*;
pub use recording::*;
pub use session::*;
pub use settings::*;

use crate::audit::AccessContext;
use crate::audit::reads::Source;
use crate::session::{SessionError, Sessions};
use crate::store::StoreError;
use crate::sync::{SyncError, SyncTrigger};
use crate::workstation::Workstation;

pub struct AppState {
    workstation: Arc<Mutex<Workstation>>,
    sessions: Sessions,
    /// Wakes background sync; `None` until the workstation is enrolled.
    sync: Mutex<Option<SyncTrigger>>,
}

impl AppState {
    pub fn new(workstation: Arc<Mutex<Workstation>>, sessions: Sessions) -> AppState {
        AppState { workstation, sessions, sync: Mutex::new(None) }
    }

    fn internal() -> UiError {
        UiError {
            code: "internal".into(),
            message: "Wardbook hit an internal error. Restart it; nothing recorded was lost.".into(),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Workstation>, UiError> {
        self.workstation.lock().map_err(|_| Self::internal())
    }

    /// Starts background sync when the workstation is enrolled (at start,
    /// and after enrolment from the settings screen). Must run inside the
    /// Tauri runtime.
    pub fn start_sync(&self) -> Result<(), UiError> {
        let mut slot = self.sync.lock().map_err(|_| Self::internal())?;
        if slot.is_some() {
            return Ok(());
        }
        let (engine, interval) = {
            let ws = self.lock()?;
            let keys = crate::keys::key_store_for(&ws.config);
            match crate::sync::engine_for(&ws.config, keys.as_ref(), &ws.store) {
                Ok(engine) => (engine, ws.config.sync_interval),
                Err(reason) => {
                    tracing::info!(%reason, "background sync is off");
                    return Ok(());
                }
            }
        };
        let (trigger, task) = crate::sync::engine::background(Arc::new(engine), self.workstation.clone(), interval);
        tauri::async_runtime::spawn(task);
        *slot = Some(trigger);
        Ok(())
    }

    /// Starts the background integrity check of the local database (see
    /// `store::integrity`): once shortly after start, then twice a day.
    pub fn start_integrity_checks(&self) -> Result<(), UiError> {
        let check = self.lock()?.store.take_integrity_check();
        if let Some(check) = check {
            use crate::store::integrity::{CHECK_EVERY, FIRST_CHECK_AFTER, run_in_background};
            run_in_background(check, FIRST_CHECK_AFTER, CHECK_EVERY);
        }
        Ok(())
    }

    /// Who acts, for an audited read or an edit.
    fn context(&self, ws: &mut Workstation) -> Result<AccessContext, UiError> {
        self.sessions.context(&mut ws.store).map_err(session_ui_error)
    }

    /// Who acts on a patient's chart, and where its rows come from (the
    /// cache, or a running break-the-glass access's records).
    fn chart_access(&self, ws: &mut Workstation, patient: Uuid) -> Result<(AccessContext, Source), UiError> {
        self.sessions.chart_access(&mut ws.store, patient).map_err(session_ui_error)
    }

    /// Wakes background sync after an edit so that it goes up at once.
    fn wake_sync(&self) {
        if let Ok(slot) = self.sync.lock()
            && let Some(trigger) = slot.as_ref()
        {
            trigger.sync_now();
        }
    }
}

fn ui_error(err: StoreError) -> UiError {
    tracing::warn!(code = err.code(), "command failed");
    UiError { code: err.code().to_owned(), message: err.to_string() }
}

fn session_ui_error(err: SessionError) -> UiError {
    tracing::info!(code = err.code(), "session command refused");
    UiError { code: err.code().to_owned(), message: err.to_string() }
}

fn sync_ui_error(err: SyncError) -> UiError {
    tracing::warn!(error = %err, "sync command failed");
    UiError { code: "sync".into(), message: err.to_string() }
}

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, UiError> {
    let mut ws = state.lock()?;
    let user_id = match state.sessions.state(&mut ws.store).map_err(session_ui_error)? {
        SessionState::Active { session } => session.user_id,
        SessionState::Locked { user_id, .. } | SessionState::PinSetup { user_id, .. } => user_id,
        SessionState::SignedOut => String::new(),
    };
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        environment: ws.config.environment,
        synthetic_data: ws.store.has_synthetic_data().map_err(ui_error)?,
        user_id,
        data_age_warning_minutes: ws.config.data_age_warning_minutes,
        break_glass_reason: ReasonLimits::BREAK_GLASS,
    })
}

/// Online or offline, last sync, pending edits and audit events, conflicts.
/// Counts only: shown on the sign-in and lock screens too.
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
    let slot = state.sync.lock().map_err(|_| AppState::internal())?;
    match slot.as_ref() {
        Some(trigger) => {
            trigger.sync_now();
            Ok(())
        }
        None => Err(sync_ui_error(SyncError::NotEnrolled)),
    }
}
