//! The privacy officer's workspace: adapters over `crate::privacy`, which
//! calls the service with the signed-in user's online session and audits
//! every view in this workstation's chain.

use tauri::State;
use uuid::Uuid;
use wardbook_protocol::UiError;
use wardbook_protocol::api::{
    AccessReport, AccessReportQuery, AuditChainStatus, BreakGlassAccess, BreakGlassQueue, BreakGlassReviewRequest,
    ExportFormat, ExportedFile, PrivacyAccess, QueueFilter,
};

use super::AppState;
use crate::privacy::{self, PrivacyError};

fn privacy_ui_error(err: PrivacyError) -> UiError {
    tracing::info!(code = err.code(), "privacy workspace request refused");
    UiError { code: err.code().to_owned(), message: err.to_string() }
}

/// Whether the signed-in user may open the privacy workspace.
#[tauri::command]
pub async fn privacy_access(state: State<'_, AppState>) -> Result<PrivacyAccess, UiError> {
    privacy::access(&state.workstation, &state.sessions).await.map_err(privacy_ui_error)
}

#[tauri::command]
pub async fn access_report(state: State<'_, AppState>, query: AccessReportQuery) -> Result<AccessReport, UiError> {
    privacy::access_report(&state.workstation, &state.sessions, &query).await.map_err(privacy_ui_error)
}

#[tauri::command]
pub async fn print_access_report(
    state: State<'_, AppState>,
    query: AccessReportQuery,
) -> Result<AccessReport, UiError> {
    privacy::print_access_report(&state.workstation, &state.sessions, &query).await.map_err(privacy_ui_error)
}

/// Saves the report in the Downloads folder (or the data directory's `exports/`).
#[tauri::command]
pub async fn export_access_report(
    state: State<'_, AppState>,
    query: AccessReportQuery,
    format: ExportFormat,
) -> Result<ExportedFile, UiError> {
    let dir = privacy::export_dir(&state.lock()?.config);
    privacy::export_access_report(&state.workstation, &state.sessions, &query, format, &dir)
        .await
        .map_err(privacy_ui_error)
}

#[tauri::command]
pub async fn break_glass_queue(state: State<'_, AppState>, filter: QueueFilter) -> Result<BreakGlassQueue, UiError> {
    privacy::break_glass_queue(&state.workstation, &state.sessions, filter).await.map_err(privacy_ui_error)
}

#[tauri::command]
pub async fn review_break_glass(
    state: State<'_, AppState>,
    access_id: Uuid,
    review: BreakGlassReviewRequest,
) -> Result<BreakGlassAccess, UiError> {
    privacy::review_break_glass(&state.workstation, &state.sessions, access_id, &review).await.map_err(privacy_ui_error)
}

#[tauri::command]
pub async fn audit_chains(state: State<'_, AppState>) -> Result<AuditChainStatus, UiError> {
    privacy::audit_chains(&state.workstation, &state.sessions).await.map_err(privacy_ui_error)
}
