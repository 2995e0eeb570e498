//! Wardbook's desktop app. This file only assembles the Tauri shell (state,
//! plugins, command registration); everything else is a plain Rust core that
//! tests call directly. Only this file and `commands/` import `tauri`.

pub mod admin;
pub mod audit;
mod commands;
pub mod config;
pub mod edits;
pub mod keys;
pub mod logging;
pub mod medications;
pub mod privacy;
pub mod recording;
pub mod seed;
pub mod session;
pub mod settings;
pub mod startup;
pub mod store;
pub mod sync;
pub mod workstation;

/// Opens the window over an open workstation and runs until it closes. An
/// enrolled workstation syncs in the background meanwhile; nobody is signed
/// in until a clinician signs in.
pub fn run_gui(workstation: workstation::Workstation) -> Result<(), String> {
    let sessions = session::Sessions::new(session::SessionPolicy::from_config(&workstation.config));
    let shared = std::sync::Arc::new(std::sync::Mutex::new(workstation));
    tauri::Builder::default()
        .manage(commands::AppState::new(shared, sessions))
        .setup(|app| {
            use tauri::Manager;
            let state = app.state::<commands::AppState>();
            state.start_sync().map_err(|e| e.message)?;
            state.start_integrity_checks().map_err(|e| e.message)?;
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::sync_status,
            commands::sync_now,
            commands::vital_specs,
            commands::settings,
            commands::enroll,
            commands::session,
            commands::sign_in,
            commands::login_providers,
            commands::sign_in_oidc,
            commands::cancel_oidc,
            commands::sign_in_pin,
            commands::set_pin,
            commands::unlock,
            commands::lock,
            commands::sign_out,
            commands::activity,
            commands::break_glass,
            commands::census,
            commands::search,
            commands::open_chart,
            commands::view_vitals,
            commands::view_labs,
            commands::view_allergies,
            commands::downtime_summary,
            commands::record_vitals,
            commands::save_allergy,
            commands::mark_entered_in_error,
            commands::edits_needing_attention,
            commands::reapply_conflict,
            commands::discard_conflict,
            commands::medications,
            commands::record_administration,
            commands::administration_entered_in_error,
            commands::review_double_dose,
            commands::print_mar,
            commands::privacy_access,
            commands::access_report,
            commands::print_access_report,
            commands::export_access_report,
            commands::break_glass_queue,
            commands::review_break_glass,
            commands::audit_chains,
        ])
        .run(tauri::generate_context!())
        .map_err(|e| {
            format!("The window could not be opened ({e}). Check the display and WebKitGTK installation, or ask IT.")
        })
}
