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

/// Opens the window over an open workstation and runs until it closes. An
/// enrolled workstation syncs in the background meanwhile.
pub fn run_gui(workstation: startup::Workstation, ctx: audit::AccessContext) -> Result<(), String> {
    let keys = keys::key_store_for(&workstation.config);
    let engine = match sync::engine_for(&workstation.config, keys.as_ref(), &workstation.store) {
        Ok(engine) => Some(engine),
        Err(reason) => {
            tracing::info!(%reason, "background sync is off");
            None
        }
    };
    let interval = workstation.config.sync_interval;
    let shared = std::sync::Arc::new(std::sync::Mutex::new(workstation));
    let trigger = engine.map(|engine| {
        let (trigger, task) = sync::engine::background(std::sync::Arc::new(engine), shared.clone(), interval);
        tauri::async_runtime::spawn(task);
        trigger
    });
    tauri::Builder::default()
        .manage(commands::AppState::new(shared, ctx, trigger))
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::census,
            commands::open_chart,
            commands::sync_status,
            commands::sync_now,
        ])
        .run(tauri::generate_context!())
        .map_err(|e| {
            format!("The window could not be opened ({e}). Check the display and WebKitGTK installation, or ask IT.")
        })
}
