//! Logging for `wardbook-server` and the tools built on it (wardbook-stack):
//! the filter every Wardbook binary uses ([`wardbook_protocol::logging`]:
//! `WARDBOOK_LOG`, and a PHI guard no value of it can lift), with the
//! service's default.

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;
pub use wardbook_protocol::logging::{LOG_VARIABLE, PHI_GUARD};

/// What is logged when [`LOG_VARIABLE`] is unset, empty or invalid.
pub const DEFAULT_SPEC: &str = "info";

/// `layer` filtered by `WARDBOOK_LOG`-style `spec` and the PHI guard, with
/// the service's default (the log tests' captured output is built so too).
pub fn guarded<S, L>(layer: L, spec: &str) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S> + Send + Sync + 'static,
{
    wardbook_protocol::logging::guarded(layer, spec, DEFAULT_SPEC)
}

/// Installs the process's logger (standard error, `WARDBOOK_LOG`, the guard).
pub fn init() {
    wardbook_protocol::logging::init(DEFAULT_SPEC);
}
