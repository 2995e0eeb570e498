//! Wardbook's desktop app. This file only assembles the Tauri shell (state,
//! plugins, command registration); everything else is a plain Rust core that
//! tests call directly. Only this file and `commands/` import `tauri`.

pub mod admin;
pub mod audit;
mod commands;
pub mod config;
pub mod edits;
pub mod keys;
pub mod startup;
pub mod store;
pub mod sync;

/// Opens the window over an open workstation and runs until it closes.
pub fn run_gui(workstation: startup::Workstation, ctx: audit::AccessContext) -> Result<(), String> {
    tauri::Builder::default()
        .manage(commands::AppState::new(workstation, ctx))
        .invoke_handler(tauri::generate_handler![commands::app_info, commands::census, commands::open_chart,])
        .run(tauri::generate_context!())
        .map_err(|e| {
            format!("The window could not be opened ({e}). Check the display and WebKitGTK installation, or ask IT.")
        })
}
