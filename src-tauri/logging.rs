//! The app's log: the filter every Wardbook binary uses
//! ([`wardbook_protocol::logging`]: `WARDBOOK_LOG`, and a PHI guard no value
//! of it can lift), with the app's default.

pub use wardbook_protocol::logging::LOG_VARIABLE;

/// What is logged when [`LOG_VARIABLE`] is unset, empty or invalid
/// (refinery's per-migration lines are noise on every start).
pub const DEFAULT_SPEC: &str = "info,refinery_core=warn";

/// Installs the process's logger (standard error, `WARDBOOK_LOG`, the guard).
pub fn init() {
    wardbook_protocol::logging::init(DEFAULT_SPEC);
}
