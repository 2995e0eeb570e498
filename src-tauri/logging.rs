//! The app's log: `WARDBOOK_LOG` chooses what is logged, and a guard that no
//! `WARDBOOK_LOG` value can lift keeps the targets that log patient data
//! below a safe level (DESIGN.md section 8: logs never contain PHI). The
//! service has the same arrangement (`wardbook_server::logging`); the app
//! does not depend on the service, so its own list lives here.
//!
//! The guard is a second filter joined with the `WARDBOOK_LOG` filter by
//! [`FilterExt::and`] on the output layer itself: an event is written only
//! when both enable it, and `WARDBOOK_LOG` is parsed into the first only.

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The variable that chooses what is logged (an `EnvFilter` spec).
pub const LOG_VARIABLE: &str = "WARDBOOK_LOG";

/// What is logged when [`LOG_VARIABLE`] is unset, empty or invalid
/// (refinery's per-migration lines are noise on every start).
pub const DEFAULT_SPEC: &str = "info,refinery_core=warn";

/// Targets (prefixes, as in `WARDBOOK_LOG`) whose events and spans under the
/// given level carry patient data, and that level.
pub const PHI_GUARD: &[(&str, LevelFilter)] = &[
    // trace: the IPC request and response spans carry each command's
    // arguments (a search, an MRN) and its answer (charts) when Tauri's
    // tracing is built in.
    ("tauri::ipc", LevelFilter::INFO),
    // Not linked by the app today; named so that a future dependency on them
    // cannot log statement parameters or request URIs.
    ("tokio_postgres", LevelFilter::INFO),
    ("tower_http", LevelFilter::INFO),
];

/// The guard alone: everything passes except [`PHI_GUARD`]'s targets below
/// their level.
pub fn phi_guard() -> Targets {
    Targets::new().with_default(LevelFilter::TRACE).with_targets(PHI_GUARD.iter().copied())
}

fn spec_filter(spec: &str) -> Option<EnvFilter> {
    let spec = if spec.trim().is_empty() { DEFAULT_SPEC } else { spec };
    EnvFilter::builder().parse(spec).ok()
}

/// The complete filter for a `WARDBOOK_LOG` spec: the spec (the default when
/// it is invalid) and the PHI guard, which the spec cannot override.
pub fn log_filter<S>(spec: &str) -> impl Filter<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    spec_filter(spec).unwrap_or_else(|| EnvFilter::new(DEFAULT_SPEC)).and(phi_guard())
}

/// `layer` filtered by [`log_filter`].
pub fn guarded<S, L>(layer: L, spec: &str) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S> + Send + Sync + 'static,
{
    layer.with_filter(log_filter(spec))
}

/// Installs the process's logger: lines on standard error, filtered by
/// `WARDBOOK_LOG` and the PHI guard (records of the `log` crate too). An
/// invalid `WARDBOOK_LOG` is reported (without its value) and the default used.
pub fn init() {
    let spec = std::env::var(LOG_VARIABLE).unwrap_or_default();
    let valid = spec_filter(&spec).is_some();
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry().with(guarded(layer, &spec)).try_init();
    if !valid {
        tracing::warn!("{LOG_VARIABLE} is not a valid log filter (e.g. info, debug, wardbook=debug); logging at info");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

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

    fn logged(spec: &str) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let layer = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(move || writer.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(guarded(layer, spec)), || {
            let span =
                tracing::trace_span!(target: "tauri::ipc::protocol", "ipc::request::response", response = "SYN-000001");
            let _entered = span.enter();
            tracing::trace!(target: "tauri::ipc::protocol", "SYN-000002");
            tracing::debug!(target: "wardbook::sync", "own debug kept");
        });
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn no_spec_lifts_the_guard() {
        for spec in ["trace", "tauri=trace,tauri::ipc=trace,trace", "[{response}]=trace,trace"] {
            let log = logged(spec);
            assert!(!log.contains("SYN-"), "{spec}: {log}");
            assert!(log.contains("own debug kept"), "{spec}: {log}");
        }
        assert!(!logged("").contains("own debug kept"), "the default is info");
    }
}
