//! Tauri's build step. Every IPC command the UI may call is listed here:
//! tauri-build generates an `allow-<command>` permission for each, and
//! `capabilities/default.json` grants exactly these to the main window, so a
//! command registered but not granted is refused (least privilege).

/// Must match `generate_handler!` in `lib.rs`, the grants in `capabilities/default.json` and the
/// calls in `ui/src/backend/tauri.ts`: `ui/src/backend/commands.test.ts` fails on any difference.
const COMMANDS: &[&str] = &[
    "app_info",
    "sync_status",
    "sync_now",
    "vital_specs",
    "settings",
    "enroll",
    "session",
    "sign_in",
    "login_providers",
    "sign_in_oidc",
    "cancel_oidc",
    "sign_in_pin",
    "set_pin",
    "unlock",
    "lock",
    "sign_out",
    "activity",
    "break_glass",
    "census",
    "search",
    "open_chart",
    "view_vitals",
    "view_labs",
    "view_allergies",
    "downtime_summary",
    "record_vitals",
    "save_allergy",
    "mark_entered_in_error",
    "edits_needing_attention",
    "reapply_conflict",
    "discard_conflict",
    "medications",
    "record_administration",
    "administration_entered_in_error",
    "review_double_dose",
    "print_mar",
    "privacy_access",
    "access_report",
    "print_access_report",
    "export_access_report",
    "break_glass_queue",
    "review_break_glass",
    "audit_chains",
];

fn main() {
    // The local migrations are embedded by `refinery::embed_migrations!`,
    // which does not tell Cargo about the folder: a new migration must rebuild.
    println!("cargo:rerun-if-changed=migrations/local");
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
