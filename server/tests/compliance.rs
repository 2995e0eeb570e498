//! The compliance report against real PostgreSQL: a clean database reports
//! every check ok; then each problem is planted for real (an unreviewed
//! break-the-glass access, silent devices, a refused and an altered audit
//! chain, a silent interface and a message in error, identifiers in clear
//! text, synthetic rows in production, a plain connection in production,
//! no key-encryption key, a replica whose replay is paused) and each is
//! named by its check's code with its status; a check that cannot run is
//! `unknown` alone. The binary exits as a monitoring plugin does. Synthetic
//! data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{AuditChain, Device, TestServer, assert_api_error};
use serde_json::{Value, json};
use wardbook_protocol::api::{Change, ComplianceCheck, ComplianceReport, ComplianceStatus, Role};
use wardbook_protocol::{Environment, Patient};
use wardbook_server::compliance::{self, CHECKS};
use wardbook_server::interfaces::{self, NewInterface};
use wardbook_server::{AppState, admin};
use wardbook_test_support::wait_until;

use ComplianceStatus::{Critical, Ok, Unknown, Warning};

const DEADLINE: Duration = Duration::from_secs(60);

async fn report(server: &TestServer) -> ComplianceReport {
    compliance::report(&server.state).await
}

/// The checks that are not ok, by code.
fn problems(report: &ComplianceReport) -> BTreeMap<&str, ComplianceStatus> {
    report.checks.iter().filter(|c| c.status != Ok).map(|c| (c.code.as_str(), c.status)).collect()
}

/// Asserts exactly these checks are not ok, with these statuses, and the
/// report's status is the worst of them.
fn expect(report: &ComplianceReport, want: &[(&str, ComplianceStatus)], overall: ComplianceStatus) {
    let codes: Vec<&str> = report.checks.iter().map(|c| c.code.as_str()).collect();
    assert_eq!(codes, CHECKS, "every check, in order");
    let want: BTreeMap<&str, ComplianceStatus> = want.iter().copied().collect();
    assert_eq!(problems(report), want, "{report:#?}");
    assert_eq!(report.status, overall, "{report:#?}");
}

fn check<'a>(report: &'a ComplianceReport, code: &str) -> &'a ComplianceCheck {
    report.check(code).unwrap_or_else(|| panic!("no check {code}: {report:#?}"))
}

/// The findings of a check as (code, status, subject).
fn findings(check: &ComplianceCheck) -> Vec<(&str, ComplianceStatus, Option<&str>)> {
    check.findings.iter().map(|f| (f.code.as_str(), f.status, f.subject.as_deref())).collect()
}

/// No message names a patient: none of the ward's MRNs or names appears.
fn assert_no_patient_data(patients: &[Patient], report: &ComplianceReport) {
    assert!(!patients.is_empty());
    let text = serde_json::to_string(report).unwrap();
    for p in patients {
        for value in [&p.mrn, &p.given_name, &p.family_name] {
            assert!(!text.contains(value.as_str()), "the report names patient data ({value:?}): {text}");
        }
    }
}

/// The patients a device receives.
async fn patients_of(server: &TestServer, device: &Device) -> Vec<Patient> {
    let (changes, _) = server.pull_all(device, None, 500).await;
    changes
        .into_iter()
        .filter_map(|c| match c {
            Change::Patient { patient } => Some(patient),
            _ => None,
        })
        .collect()
}

async fn break_glass(server: &TestServer, token: &str, device: &Device, mrn: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/break-glass")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(wardbook_server::auth::DEVICE_HEADER, &device.credential)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "mrn": mrn, "reason": "Collapsed outside the ward; allergies needed before treatment" })
                .to_string(),
        ))
        .unwrap();
    server.send(req).await
}

/// The patients on `location`, as a workstation there receives them (a
/// workstation of its own, revoked at once so that it never counts as silent).
async fn patients_on(server: &TestServer, location: &str) -> Vec<Patient> {
    let device = server.enrol(location).await;
    let patients = patients_of(server, &device).await;
    let revoked = wardbook_server::enrolment::revoke(&server.service().await, device.id).await.unwrap();
    assert!(revoked);
    patients
}

/// Runs `sql` on the audit store with its append-only trigger off, as an
/// attacker with the owner's rights would.
async fn behind_the_trigger(server: &TestServer, sql: &str) {
    server
        .owner()
        .await
        .batch_execute(&format!(
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only; {sql};
             ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;"
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_database_is_ok_and_each_planted_problem_is_named() {
    let server = TestServer::start().await;
    server.synth(6, 5).await;
    let ward = server.enrol("Ward 7A").await;
    let mut chain = AuditChain::new(ward.id);
    let (status, body) = server.upload_audit(&ward, &chain.take(3, "nurse.synthetic", None, 0)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.add_user("admin.synthetic", &[Role::Admin]).await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    let admin = server.login(&ward, "admin.synthetic").await;
    let nurse = server.login(&ward, "nurse.synthetic").await;
    let mut patients = patients_on(&server, "Ward 7B").await;
    let other_ward_mrn = patients[0].mrn.clone();
    patients.extend(patients_of(&server, &ward).await);

    // Clean: every check ok, through the API as through the function.
    let clean = report(&server).await;
    expect(&clean, &[], Ok);
    assert_eq!(clean.environment, "test");
    assert_eq!(check(&clean, "audit_chain").metrics["events"], 3);
    assert_eq!(check(&clean, "audit_upload_silence").metrics["active_devices"], 1);
    let (status, body) = server.call(Method::GET, "/v1/admin/reports/compliance", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let via_api: ComplianceReport = serde_json::from_value(body).unwrap();
    expect(&via_api, &[], Ok);
    let (status, body) = server.call(Method::GET, "/v1/admin/reports/compliance", Some(&nurse), None).await;
    assert_api_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, _) = server.call(Method::GET, "/v1/admin/reports/compliance", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A break-the-glass access nobody has reviewed.
    let (status, body) = break_glass(&server, &nurse, &ward, &other_ward_mrn).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_id"].as_str().unwrap().to_owned();
    let now = report(&server).await;
    expect(&now, &[("break_glass_unreviewed", Warning)], Warning);
    let reviews = check(&now, "break_glass_unreviewed");
    assert_eq!(findings(reviews), [("break_glass_pending", Warning, Some(access.as_str()))]);
    assert_eq!(reviews.metrics["pending"], 1);
    assert!(!serde_json::to_string(reviews).unwrap().contains("Collapsed"), "the reason stays out: {reviews:?}");

    // A workstation that has uploaded nothing since its enrolment 25 hours
    // ago, and the ward's, whose last upload was two days ago.
    let quiet = server.enrol("Ward 7A").await;
    let owner = server.owner().await;
    owner
        .execute("UPDATE devices SET enrolled_at = now() - interval '25 hours' WHERE id = $1", &[&quiet.id])
        .await
        .unwrap();
    let now = report(&server).await;
    expect(&now, &[("break_glass_unreviewed", Warning), ("audit_upload_silence", Warning)], Warning);
    let silence = check(&now, "audit_upload_silence");
    assert_eq!(findings(silence), [("device_silent", Warning, Some(quiet.id.to_string().as_str()))]);
    assert!(silence.findings[0].message.contains("synthetic-test-workstation"), "{silence:?}");
    behind_the_trigger(
        &server,
        &format!("UPDATE audit_events SET received_at = now() - interval '2 days' WHERE device_id = '{}'", ward.id),
    )
    .await;
    let now = report(&server).await;
    let silence = check(&now, "audit_upload_silence");
    let mut named: Vec<_> = silence.findings.iter().filter_map(|f| f.subject.clone()).collect();
    named.sort();
    let mut want = vec![quiet.id.to_string(), ward.id.to_string()];
    want.sort();
    assert_eq!(named, want, "{silence:?}");
    // The Ward 7B workstation was revoked: it is not expected to upload.
    assert_eq!((silence.metrics["silent_devices"], silence.metrics["active_devices"]), (2, 2), "{silence:?}");

    // An upload with a gap: refused, stored chains intact, a security finding.
    let _skipped = chain.next("nurse.synthetic", None, common::at(10));
    let (status, body) = server.upload_audit(&ward, &chain.take(2, "nurse.synthetic", None, 11)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let now = report(&server).await;
    expect(
        &now,
        &[("break_glass_unreviewed", Warning), ("audit_upload_silence", Warning), ("audit_chain", Warning)],
        Warning,
    );
    let audit = check(&now, "audit_chain");
    assert_eq!(findings(audit), [("audit_gap", Warning, Some(ward.id.to_string().as_str()))]);
    assert_eq!(audit.metrics["broken_chains"], 0);

    // A stored event altered behind the append-only trigger: critical.
    behind_the_trigger(
        &server,
        &format!("UPDATE audit_events SET user_id = 'someone.else' WHERE device_id = '{}' AND sequence = 2", ward.id),
    )
    .await;
    let now = report(&server).await;
    expect(
        &now,
        &[("break_glass_unreviewed", Warning), ("audit_upload_silence", Warning), ("audit_chain", Critical)],
        Critical,
    );
    let audit = check(&now, "audit_chain");
    let broken: Vec<_> = findings(audit).into_iter().filter(|f| f.1 == Critical).collect();
    assert_eq!(broken, [("audit_altered", Critical, Some(ward.id.to_string().as_str()))]);
    assert!(audit.findings.iter().any(|f| f.message.contains("sequence 2")), "{audit:?}");
    assert_eq!(audit.metrics["broken_chains"], 1);

    // An interface silent past its window, and a message in error on another.
    let service = server.service().await;
    let lab = NewInterface {
        name: "LAB-SYN".into(),
        kind: "hl7v2-mllp".into(),
        senders: vec!["SYNLAB".into()],
        silence_minutes: 60,
        ..Default::default()
    };
    interfaces::add(&service, &lab).await.unwrap();
    let adt = NewInterface { name: "ADT-SYN".into(), senders: vec!["SYNADT".into()], ..lab.clone() };
    let adt_id = interfaces::add(&service, &adt).await.unwrap();
    owner.execute("UPDATE interfaces SET created_at = now() - interval '2 hours'", &[]).await.unwrap();
    owner
        .execute(
            "INSERT INTO phi.hl7_messages (interface_id, sending_application, sending_facility, control_id,
                                           message_type, status, raw, key_id)
             VALUES ($1, 'SYNADT', 'SYNHOSP', 'SYN-1', 'ADT^A01', 'error', 'sealed, synthetic',
                     (SELECT id FROM data_keys WHERE purpose = 'data' AND current))",
            &[&adt_id],
        )
        .await
        .unwrap();
    let now = report(&server).await;
    expect(
        &now,
        &[
            ("break_glass_unreviewed", Warning),
            ("audit_upload_silence", Warning),
            ("audit_chain", Critical),
            ("interfaces", Warning),
        ],
        Critical,
    );
    let feed = check(&now, "interfaces");
    let codes: Vec<_> = feed.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["interface_silent", "hl7_messages_in_error"], "{feed:?}");
    assert!(feed.findings[0].message.contains("LAB-SYN"), "{feed:?}");
    assert_eq!((feed.metrics["interface_silent"], feed.metrics["hl7_messages_in_error"]), (1, 1));

    // A patient's identifiers in clear text (a row the conversion missed).
    owner
        .execute(
            "UPDATE phi.patient_identities SET key_id = NULL
              WHERE patient_id = (SELECT patient_id FROM phi.patient_identities ORDER BY patient_id LIMIT 1)",
            &[],
        )
        .await
        .unwrap();
    let now = report(&server).await;
    expect(
        &now,
        &[
            ("break_glass_unreviewed", Warning),
            ("audit_upload_silence", Warning),
            ("audit_chain", Critical),
            ("interfaces", Warning),
            ("clear_text_rows", Critical),
        ],
        Critical,
    );
    let clear = check(&now, "clear_text_rows");
    assert_eq!(clear.metrics["clear_rows"], 1, "{clear:?}");
    assert!(clear.message.starts_with("1 row(s) of identifiers are in clear text"), "{clear:?}");

    // Every problem, and still no patient data in the report.
    assert_no_patient_data(&patients, &now);
    let (status, body) = server.call(Method::GET, "/v1/admin/reports/compliance", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "critical");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_names_synthetic_rows_and_a_plain_connection() {
    // Production as installed (the harness gives it a key-encryption key
    // of its own and runs `keys init`).
    let server = TestServer::start_with(Environment::Production, |_| {}).await;

    // The test cluster is reached in plain over loopback: production warns.
    let clean = report(&server).await;
    expect(&clean, &[("database_connection", Warning)], Warning);
    assert_eq!(clean.environment, "production");
    assert_eq!(check(&clean, "database_connection").metrics["encrypted"], 0);
    assert_eq!(check(&clean, "encryption").metrics["throwaway_kek"], 0);
    assert_eq!(check(&clean, "synthetic_in_production").metrics["synthetic_rows_present"], 0);

    // Synthetic rows got in anyway (loaded as if for a test environment, by the owner).
    let data_keys = server.state.keys.get().await.unwrap();
    admin::synth(&mut server.owner().await, &data_keys, Environment::Test, 4, 3, chrono::Utc::now()).await.unwrap();
    let now = report(&server).await;
    expect(&now, &[("database_connection", Warning), ("synthetic_in_production", Critical)], Critical);
    assert!(check(&now, "synthetic_in_production").message.contains("Synthetic"), "{now:#?}");
    assert_eq!(check(&now, "encryption").metrics["sealed_rows"], 4, "{now:#?}");

    // The same rows in a test environment are allowed.
    let test = TestServer::start().await;
    test.synth(4, 3).await;
    expect(&report(&test).await, &[], Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_encryption_key_is_critical_and_a_failing_check_is_unknown_alone() {
    let server = TestServer::start_with(Environment::Production, |_| {}).await;
    // Another instance of the service, configured without the key.
    let mut settings = server.settings.clone();
    settings.kek_file = None;
    let keyless = AppState::new(settings).unwrap();
    let now = compliance::report(&keyless).await;
    expect(&now, &[("database_connection", Warning), ("encryption", Critical)], Critical);
    assert!(check(&now, "encryption").message.contains("WARDBOOK_KEK_FILE"), "{now:#?}");

    // The service role loses a grant: that check cannot run, the others do.
    server.owner().await.batch_execute("REVOKE SELECT ON break_glass_accesses FROM wardbook_service").await.unwrap();
    let now = compliance::report(&keyless).await;
    expect(
        &now,
        &[("database_connection", Warning), ("encryption", Critical), ("break_glass_unreviewed", Unknown)],
        Critical,
    );
    let failed = check(&now, "break_glass_unreviewed");
    assert!(failed.message.starts_with("Not checked"), "{failed:?}");
    assert!(!failed.message.contains("break_glass_accesses"), "no SQL in the report: {failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_replay_is_paused_is_named_with_its_lag() {
    let server = TestServer::start().await;
    let cluster =
        server.db.cluster().expect("this test starts a replica: it needs a cluster of its own (unset DATABASE_URL)");
    let replica = tokio::task::block_in_place(|| cluster.start_replica()).expect("a streaming replica");
    let name = replica.cluster_name().to_owned();
    let caught_up = common::eventually(DEADLINE, "the replica, streaming, in the report", || async {
        let now = report(&server).await;
        (check(&now, "replica_lag").metrics["replicas"] == 1).then_some(now)
    })
    .await;
    expect(&caught_up, &[], Ok);

    // Replay paused on the replica while the primary moves on by more than
    // the warning's WAL distance (segment switches: cheap, and real WAL).
    let on_replica = common::connect(&replica.url(server.db.name())).await;
    on_replica.execute("SELECT pg_wal_replay_pause()", &[]).await.unwrap();
    let owner = server.owner().await;
    let segments = compliance::REPLICA_WARNING_BYTES / (16 * 1024 * 1024) + 2;
    for i in 0..segments {
        owner
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS wal_filler (n int); INSERT INTO wal_filler VALUES ({i})"
            ))
            .await
            .unwrap();
        owner.execute("SELECT pg_switch_wal()", &[]).await.unwrap();
    }
    let lagging = common::eventually(DEADLINE, "the paused replica named as lagging", || async {
        let now = report(&server).await;
        (check(&now, "replica_lag").status != Ok).then_some(now)
    })
    .await;
    let lag = check(&lagging, "replica_lag");
    assert_eq!(findings(lag), [("replica_lag", Warning, Some(name.as_str()))], "{lag:?}");
    assert!(lag.metrics["max_lag_bytes"] >= compliance::REPLICA_WARNING_BYTES, "{lag:?}");
    expect(&lagging, &[("replica_lag", Warning)], Warning);

    on_replica.execute("SELECT pg_wal_replay_resume()", &[]).await.unwrap();
    common::eventually(DEADLINE, "the replica to catch up", || async {
        (check(&report(&server).await, "replica_lag").status == Ok).then_some(())
    })
    .await;
}

// The binary, as a monitoring system runs it.

const BIN: &str = env!("CARGO_BIN_EXE_wardbook-server");

/// Runs `wardbook-server report compliance` with a clean environment;
/// returns (exit code, stdout).
fn run_report(database_url: &str, json: bool) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "").unwrap();
    let mut command = Command::new(BIN);
    command.args(["report", "compliance"]);
    if json {
        command.arg("--json");
    }
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("WARDBOOK_")) {
        command.env_remove(name);
    }
    let mut child = command
        .env("WARDBOOK_SERVER_CONFIG", &config)
        .env("WARDBOOK_DATABASE_URL", database_url)
        .env("WARDBOOK_ENV", "test")
        .env("WARDBOOK_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the wardbook-server binary runs");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let status = wait_until(DEADLINE, "report compliance to exit", || Result::Ok(child.try_wait()?));
    let status = status.unwrap_or_else(|e| {
        let _ = child.kill();
        panic!("{e}")
    });
    (status.code().expect("an exit code, not a signal"), reader.join().unwrap())
}

fn parsed(stdout: &str) -> ComplianceReport {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("stdout is not one report ({e}): {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_0_1_2_or_3_as_a_monitoring_plugin() {
    let server = TestServer::start().await;
    let url = server.service_url.clone();
    admin::location_add(&server.service().await, "W1", "Synthetic Ward One").await.unwrap();
    let ward = server.enrol("W1").await;
    let mut chain = AuditChain::new(ward.id);
    let (status, body) = server.upload_audit(&ward, &chain.take(2, "nurse.synthetic", None, 0)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (code, stdout) = tokio::task::block_in_place(|| run_report(&url, true));
    let clean = parsed(&stdout);
    assert_eq!((code, clean.status), (0, Ok), "{stdout}");
    expect(&clean, &[], Ok);
    let (code, human) = tokio::task::block_in_place(|| run_report(&url, false));
    assert_eq!(code, 0, "{human}");
    assert!(human.starts_with("COMPLIANCE OK: 9 of 9 checks ok"), "{human}");
    assert!(human.lines().any(|l| l.starts_with("OK") && l.contains("audit_chain:")), "{human}");

    // A warning: a device silent since its enrolment.
    server
        .owner()
        .await
        .execute("UPDATE devices SET enrolled_at = now() - interval '3 days' WHERE id = $1", &[&ward.id])
        .await
        .unwrap();
    behind_the_trigger(&server, "UPDATE audit_events SET received_at = now() - interval '3 days'").await;
    let (code, stdout) = tokio::task::block_in_place(|| run_report(&url, true));
    assert_eq!((code, parsed(&stdout).status), (1, Warning), "{stdout}");
    let (code, human) = tokio::task::block_in_place(|| run_report(&url, false));
    assert_eq!(code, 1);
    assert!(human.starts_with("COMPLIANCE WARNING: 8 of 9 checks ok"), "{human}");
    assert!(human.contains(&ward.id.to_string()), "the device is named: {human}");

    // Critical: an event deleted from the middle of the chain.
    behind_the_trigger(&server, &format!("DELETE FROM audit_events WHERE device_id = '{}' AND sequence = 1", ward.id))
        .await;
    let (code, stdout) = tokio::task::block_in_place(|| run_report(&url, true));
    let critical = parsed(&stdout);
    assert_eq!((code, critical.status), (2, Critical), "{stdout}");
    assert_eq!(critical.check("audit_chain").unwrap().findings[0].code, "audit_gap", "{stdout}");

    // Unknown: nothing listens where the database should be.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = format!("postgres://wardbook@127.0.0.1:{port}/wardbook");
    let (code, stdout) = tokio::task::block_in_place(|| run_report(&nowhere, true));
    let unknown = parsed(&stdout);
    assert_eq!((code, unknown.status), (3, Unknown), "{stdout}");
    assert!(unknown.checks.iter().all(|c| c.status == Unknown), "{stdout}");
    let connection = &unknown.check("database_connection").unwrap().message;
    assert!(connection.contains(&format!("127.0.0.1:{port}")), "{connection}");
}
