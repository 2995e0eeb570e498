//! Logs never contain patient data (DESIGN.md section 8): every endpoint of
//! the API, break-the-glass by MRN included, runs in-process with the
//! service's own log filter at trace level, once for each spec an operator
//! might try ([`logs_support::SPECS`]: plain `trace`, and `trace` with
//! directives aimed at the loggers that carry patient data), and each
//! captured log is searched for the synthetic patients' names, MRNs, dates
//! of birth and contact details. The binaries are covered by `logs_cli.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod logs_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::TestServer;
use logs_support::{Api, Cast, SPECS, assert_no_patient_data, needles, tour};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use wardbook_protocol::api::Role;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_at_trace_logs_no_patient_data() {
    // One output per spec, each filtered as the binaries filter theirs
    // (`wardbook_server::logging::guarded`), all fed by the same session.
    let sinks: Vec<Captured> = SPECS.iter().map(|_| Captured::default()).collect();
    let layers: Vec<_> = SPECS
        .iter()
        .zip(&sinks)
        .map(|(spec, sink)| {
            let sink = sink.clone();
            wardbook_server::logging::guarded(
                tracing_subscriber::fmt::layer().with_ansi(false).with_writer(move || sink.clone()),
                spec,
            )
        })
        .collect();
    tracing_subscriber::registry().with(layers).init();

    let server = TestServer::start().await;
    server.synth(8, 21).await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    server.add_user("officer.synthetic", &[Role::PrivacyOfficer]).await;
    server.add_user("admin.synthetic", &[Role::Admin]).await;
    let client = server.service().await;
    let (code, _) = wardbook_server::enrolment::create_code(&client, "Ward 7A", chrono::Duration::hours(1))
        .await
        .expect("enrolment code");
    let owner = logs_support::Central::of(&server).await;
    let mut phi = needles(&owner).await;

    let cast = Cast {
        code: code.expose(),
        clinician: "nurse.synthetic",
        officer: "officer.synthetic",
        admin: "admin.synthetic",
    };
    tour(&Api::InProcess(&server), &cast, &owner).await;
    // The tour's edits wrote new values (an address with a family name in it).
    phi.extend(needles(&owner).await);

    for (spec, sink) in SPECS.iter().zip(&sinks) {
        let log = sink.text();
        assert!(
            log.contains("device enrolled") && log.contains("break-the-glass access granted"),
            "the log of {spec:?} was captured:\n{log}"
        );
        assert_no_patient_data(&format!("the service's log at {spec:?}"), &log, &phi);
    }
}
