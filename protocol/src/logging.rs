//! The log filter every Wardbook binary uses: `WARDBOOK_LOG` chooses what is
//! logged, and a guard that no `WARDBOOK_LOG` value can lift keeps the
//! targets that log patient data below a safe level (DESIGN.md section 8:
//! logs never contain PHI). The rule lives here once, for the app, the
//! service and the tools; each binary installs it with its own default
//! (`wardbook::logging`, `wardbook_server::logging`). Behind the `logging`
//! feature: the rest of this crate has no I/O.
//!
//! The guard is a second filter joined with the `WARDBOOK_LOG` filter by
//! [`FilterExt::and`] on the output layer itself: an event is written only
//! when *both* enable it. `WARDBOOK_LOG` is parsed into the first filter only,
//! so no directive in it (however specific: `tokio_postgres::query=trace`,
//! span or field filters) reaches the guard.

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::Filter;
use tracing_subscriber::registry::LookupSpan;

/// The variable that chooses what is logged (an `EnvFilter` spec: `info`,
/// `debug`, `wardbook_server=trace,info`, ...).
pub const LOG_VARIABLE: &str = "WARDBOOK_LOG";

/// Targets (and everything below them, matched as prefixes as `WARDBOOK_LOG`
/// directives are) whose events and spans under the given level carry
/// patient data, and that level. One list for every binary: a target a
/// binary does not link costs nothing, and guards a future dependency.
pub const PHI_GUARD: &[(&str, LevelFilter)] = &[
    // debug: every statement's text and its parameters (MRNs, names, dates
    // of birth, contact details), from the service, `synth` and `patient
    // assign`. Info keeps PostgreSQL's notices.
    ("tokio_postgres", LevelFilter::INFO),
    // debug: the request span carries the URI, which the caller chooses (a
    // client can put an MRN in a path or a query string).
    ("tower_http", LevelFilter::INFO),
    // trace: a rejected extractor's body text, which can quote the request.
    ("axum::rejection", LevelFilter::INFO),
    // trace: the IPC request and response spans carry each command's
    // arguments (a search, an MRN) and its answer (charts) when Tauri's
    // tracing is built in.
    ("tauri::ipc", LevelFilter::INFO),
];

/// The guard alone: everything passes except [`PHI_GUARD`]'s targets below
/// their level.
pub fn phi_guard() -> Targets {
    Targets::new().with_default(LevelFilter::TRACE).with_targets(PHI_GUARD.iter().copied())
}

/// The `WARDBOOK_LOG` part: `spec` parsed (`default` when empty), or `None`
/// when it is not a valid filter.
pub fn spec_filter(spec: &str, default: &str) -> Option<EnvFilter> {
    let spec = if spec.trim().is_empty() { default } else { spec };
    EnvFilter::builder().parse(spec).ok()
}

/// The complete filter for a `WARDBOOK_LOG` spec: the spec (`default` when it
/// is empty or invalid) and the PHI guard, which the spec cannot override.
pub fn log_filter<S>(spec: &str, default: &str) -> impl Filter<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    spec_filter(spec, default).unwrap_or_else(|| EnvFilter::new(default)).and(phi_guard())
}

/// `layer` filtered by [`log_filter`]: how every binary's log output is built
/// (and the log tests' captured one).
pub fn guarded<S, L>(layer: L, spec: &str, default: &str) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S> + Send + Sync + 'static,
{
    layer.with_filter(log_filter(spec, default))
}

/// Installs the process's logger: plain lines on standard error, filtered by
/// `WARDBOOK_LOG` and the PHI guard (records of the `log` crate too:
/// tokio-postgres, refinery). An invalid `WARDBOOK_LOG` is reported, without
/// its value, and `default` used.
pub fn init(default: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let spec = std::env::var(LOG_VARIABLE).unwrap_or_default();
    let valid = spec_filter(&spec, default).is_some();
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry().with(guarded(layer, &spec, default)).try_init();
    if !valid {
        tracing::warn!(
            "{LOG_VARIABLE} is not a valid log filter (e.g. info, debug, wardbook=debug); logging at {default}"
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What one block logs under `spec` (default `info`).
    fn logged(spec: &str, block: impl FnOnce()) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let layer = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(move || writer.clone());
        let subscriber = tracing_subscriber::registry().with(guarded(layer, spec, "info"));
        tracing::subscriber::with_default(subscriber, block);
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    fn phi_events() {
        tracing::debug!(target: "tokio_postgres::query", "executing statement s1 with parameters: [\"SYN-000001\"]");
        tracing::trace!(target: "tokio_postgres::query", "SYN-000002");
        tracing::debug!(target: "tokio_postgres::prepare", "preparing query s2: SELECT 'SYN-000003'");
        tracing::debug!(target: "tower_http::trace::on_request", "/v1/patients/SYN-000004");
        tracing::trace!(target: "axum::rejection", "SYN-000005");
        let span = tracing::trace_span!(target: "tauri::ipc::protocol", "ipc::request::response", response = "SYN-6");
        let _entered = span.enter();
        tracing::trace!(target: "tauri::ipc::protocol", "SYN-000007");
        tracing::info!(target: "tokio_postgres::connection", "NOTICE: kept");
        tracing::debug!(target: "wardbook_server::feed", "own debug kept");
    }

    #[test]
    fn no_spec_lifts_the_guard() {
        for spec in [
            "trace",
            "trace,tokio_postgres::query=trace",
            "tokio_postgres::query=trace,info",
            "tokio_postgres=trace,tower_http=trace,axum=trace,axum::rejection=trace,wardbook_server=debug",
            "tauri=trace,tauri::ipc=trace,trace",
            "[{mrn}]=trace,trace",
            "[{response}]=trace,trace",
            "[request]=trace,trace",
            "tokio=trace,trace",
        ] {
            let log = logged(spec, phi_events);
            assert!(!log.contains("SYN-"), "{spec}: {log}");
            assert!(log.contains("NOTICE: kept"), "{spec}: info of a guarded target is kept: {log}");
        }
        let log = logged("trace,tokio_postgres::query=trace", phi_events);
        assert!(log.contains("own debug kept"), "everything else follows the spec: {log}");
    }

    #[test]
    fn the_spec_still_chooses_within_the_guard() {
        let log = logged("warn", phi_events);
        assert!(log.is_empty(), "{log}");
        let log = logged("", phi_events);
        assert!(log.contains("NOTICE: kept") && !log.contains("own debug kept"), "the default is info: {log}");
        let log = logged("trace,tokio_postgres::query=loudest", phi_events);
        assert!(log.contains("NOTICE: kept") && !log.contains("SYN-"), "an invalid spec is the default: {log}");
    }
}
