//! `wardbook enroll`, `wardbook sync --once` and `wardbook status` as IT and
//! support staff run them, against the real service; the database key and
//! the device credential live in the real Secret Service (these tests run
//! inside `scripts/with-keyring.sh`). Synthetic data only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::central::Central;
use common::wardbook_bin;

fn run(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(wardbook_bin());
    cmd.args(args).env("WARDBOOK_ENV", "test").env("WARDBOOK_DATA_DIR", dir.join("data"));
    cmd.env_remove("WARDBOOK_INSECURE_KEY_FILE").env_remove("WARDBOOK_SERVER_URL").env_remove("WARDBOOK_POLICY_FILE");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run wardbook")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn status(dir: &Path) -> serde_json::Value {
    let out = run(dir, &[], &["status", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("status json")
}

#[test]
fn enroll_sync_once_and_status_through_the_cli() {
    let mut central = Central::start();
    central.synth(6, 4);
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();

    let before = status(dir);
    assert_eq!(before["enrolled"], false);
    let not_enrolled = run(dir, &[], &["sync", "--once"]);
    assert_eq!(not_enrolled.status.code(), Some(2), "{}", text(&not_enrolled));
    assert!(text(&not_enrolled).contains("not enrolled"), "{}", text(&not_enrolled));

    let wrong = run(dir, &[], &["enroll", "--server", &central.url(), "--code", "WRONG-CODE"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(text(&wrong).contains("code"), "a wrong code is named as such: {}", text(&wrong));
    assert!(!text(&wrong).contains("revoked"), "{}", text(&wrong));
    assert_eq!(status(dir)["enrolled"], false, "nothing was stored");

    let code = central.code("Ward 7A");
    let enrolled = run(dir, &[], &["enroll", "--server", &central.url(), "--code", &code]);
    assert!(enrolled.status.success(), "{}", text(&enrolled));
    assert!(text(&enrolled).contains("Secret Service"), "the credential is in the OS keyring: {}", text(&enrolled));
    assert!(!text(&enrolled).contains("wbd1_"), "the credential is never printed");
    let again = run(dir, &[], &["enroll", "--server", &central.url(), "--code", &central.code("Ward 7A")]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).contains("already enrolled"), "{}", text(&again));

    let synced = run(dir, &[], &["sync", "--once"]);
    assert_eq!(synced.status.code(), Some(0), "{}", text(&synced));
    let s = status(dir);
    assert_eq!((s["enrolled"].as_bool(), s["online"].as_bool()), (Some(true), Some(true)), "{s}");
    assert!(s["data_as_of"].is_string() && s["last_success"].is_string(), "{s}");

    let activity = run(dir, &[], &["dev", "activity", "--iterations", "3", "--user", "nurse.cli.synthetic"]);
    assert!(activity.status.success(), "{}", text(&activity));
    let s = status(dir);
    assert_eq!(s["pending_edits"], 3, "{s}");
    assert!(s["pending_audit_events"].as_i64() >= Some(6), "{s}");

    central.stop_service();
    let offline = run(dir, &[], &["sync", "--once"]);
    assert_eq!(offline.status.code(), Some(1), "a failed cycle exits 1: {}", text(&offline));
    let human = run(dir, &[], &["status"]);
    let human = text(&human);
    assert!(human.contains("OFFLINE since"), "{human}");
    assert!(human.contains("Pending edits:    3"), "{human}");
    assert!(human.contains("cannot be reached"), "the last error in plain words: {human}");

    central.start_service();
    let synced = run(dir, &[], &["sync", "--once"]);
    assert_eq!(synced.status.code(), Some(0), "{}", text(&synced));
    let s = status(dir);
    assert_eq!((s["pending_edits"].as_i64(), s["pending_audit_events"].as_i64()), (Some(0), Some(0)), "{s}");
    assert!(s["last_error"].is_null(), "{s}");
    assert_eq!(
        central.query_i64(
            "SELECT count(*) FROM applied_mutations WHERE author = 'nurse.cli.synthetic' AND entity = 'observation'"
        ),
        3
    );
}

#[test]
fn policy_names_the_server_and_plain_http_is_refused_in_production() {
    let central = Central::start();
    central.synth(4, 4);
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, format!("server_url = \"{}\"\n", central.url())).expect("policy");
    let policy = policy.display().to_string();
    let with_policy = [("WARDBOOK_POLICY_FILE", policy.as_str())];
    let code = central.code("Ward 7A");

    // The user's setting cannot point the workstation elsewhere.
    let elsewhere = run(dir.path(), &with_policy, &["enroll", "--server", "http://127.0.0.1:9", "--code", &code]);
    assert_eq!(elsewhere.status.code(), Some(2));
    assert!(text(&elsewhere).contains("refused"), "{}", text(&elsewhere));
    let user_env = [("WARDBOOK_POLICY_FILE", policy.as_str()), ("WARDBOOK_SERVER_URL", "http://127.0.0.1:9")];
    // The code was not used: enrolling with the policy's server works.
    let enrolled = run(dir.path(), &user_env, &["enroll", "--code", &code]);
    assert!(enrolled.status.success(), "{}", text(&enrolled));
    let synced = run(dir.path(), &user_env, &["sync", "--once"]);
    assert_eq!(synced.status.code(), Some(0), "policy beats the user's WARDBOOK_SERVER_URL: {}", text(&synced));

    // A policy file that does not parse stops with the reason.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "server = 1\n").expect("policy");
    let out = run(dir.path(), &[("WARDBOOK_POLICY_FILE", bad.to_str().unwrap())], &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("policy file") && text(&out).contains("not valid"), "{}", text(&out));

    // Production: plain HTTP only to this machine.
    let prod = tempfile::tempdir().expect("dir");
    let out = run(
        prod.path(),
        &[("WARDBOOK_ENV", "production")],
        &["enroll", "--server", "http://sync.hospital.invalid", "--code", "ABCD-EFGH"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("Refusing plain HTTP"), "{}", text(&out));
}

/// A workstation's cache, opened the way the app opens it.
fn open_station(dir: &Path) -> wardbook::workstation::Workstation {
    let data = dir.join("data").display().to_string();
    let config = wardbook::config::Config::from_vars(|k| match k {
        "WARDBOOK_ENV" => Some("test".to_owned()),
        "WARDBOOK_DATA_DIR" => Some(data.clone()),
        _ => None,
    })
    .expect("config");
    wardbook::startup::open_workstation(config).expect("opens")
}

/// The patients in a workstation's cache.
fn cached_patients(dir: &Path) -> std::collections::BTreeSet<uuid::Uuid> {
    let digest = wardbook::sync::digest(&open_station(dir).store).expect("digest");
    digest.keys().filter(|(kind, _)| *kind == "patient").map(|k| k.1).collect()
}

fn doctor_line(dir: &Path, name: &str) -> String {
    let out = run(dir, &[], &["doctor"]);
    let report = text(&out);
    report.lines().find(|l| l[6..].starts_with(name)).unwrap_or_else(|| panic!("no {name} line: {report}")).to_owned()
}

/// IT's deployment script: one batch of codes, `wardbook enroll` on each
/// workstation with no prompt; then one workstation is carried to another
/// ward and re-enrolled there, and a revoked one finds out at its next sync.
#[test]
fn a_batch_of_codes_enrols_unattended_a_workstation_moves_ward_and_revocation_is_seen_at_next_sync() {
    let central = Central::start();
    central.synth(10, 5);
    let ward = |code: &str| {
        central.query_i64(&format!(
            "SELECT count(*) FROM patient_locations pl JOIN locations l ON l.id = pl.location_id
              WHERE l.code = '{code}' AND pl.active"
        ))
    };
    let (ward_a, ward_b) = (ward("Ward 7A"), ward("Ward 7B"));
    assert!(ward_a > 0 && ward_b > 0, "both wards have patients");
    let mut owner = central.owner();
    let (codes, _) = central
        .rt
        .block_on(wardbook_server::enrolment::create_codes(&mut owner, "Ward 7A", chrono::Duration::hours(1), 3))
        .expect("a batch of codes");
    let stations: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    for (station, code) in stations.iter().zip(&codes) {
        // No terminal: stdin is closed, so a prompt would fail the command.
        let enrolled = run(station.path(), &[], &["enroll", "--server", &central.url(), "--code", code.expose()]);
        assert!(enrolled.status.success(), "{}", text(&enrolled));
        assert!(text(&enrolled).contains("Ward 7A"), "{}", text(&enrolled));
        let synced = run(station.path(), &[], &["sync", "--once"]);
        assert_eq!(synced.status.code(), Some(0), "{}", text(&synced));
        assert_eq!(cached_patients(station.path()).len() as i64, ward_a, "the ward's patients, no others");
    }
    assert_eq!(central.query_i64("SELECT count(*) FROM enrolment_codes WHERE used_at IS NOT NULL"), 3);
    assert_eq!(central.query_i64("SELECT count(DISTINCT used_by) FROM enrolment_codes"), 3, "three devices");
    let line = doctor_line(stations[0].path(), "enrolment");
    assert!(line.starts_with("ok") && line.contains("Ward 7A") && line.contains("not revoked"), "{line}");

    // Moving ward: refused while an edit waits (the code stays unused) ...
    let moving = stations[0].path();
    let before = cached_patients(moving);
    let edit = run(moving, &[], &["dev", "activity", "--iterations", "1", "--user", "nurse.cli.synthetic"]);
    assert!(edit.status.success(), "{}", text(&edit));
    let code_b = central.code("Ward 7B");
    let refused = run(moving, &[], &["reenroll", "--code", &code_b]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("not yet settled") && text(&refused).contains("nothing was changed"));
    assert_eq!(central.query_i64("SELECT count(*) FROM enrolment_codes WHERE used_at IS NULL"), 1);
    // ... and done once it is synced: the cache holds Ward 7B's patients only.
    assert_eq!(run(moving, &[], &["sync", "--once"]).status.code(), Some(0));
    let moved = run(moving, &[], &["reenroll", "--code", &code_b]);
    assert!(moved.status.success(), "{}", text(&moved));
    assert!(text(&moved).contains("Ward 7B"), "{}", text(&moved));
    assert!(!text(&moved).contains("wbd1_"), "the new credential is never printed");
    assert!(cached_patients(moving).is_empty(), "the old ward's patients left the cache");
    assert_eq!(run(moving, &[], &["sync", "--once"]).status.code(), Some(0));
    let after = cached_patients(moving);
    assert_eq!(after.len() as i64, ward_b);
    assert!(after.is_disjoint(&before), "no patient of the old ward remains");
    let line = doctor_line(moving, "enrolment");
    assert!(line.starts_with("ok") && line.contains("Ward 7B") && !line.contains("Ward 7A"), "{line}");
    let device = open_station(moving).store.device_id();
    assert_eq!(central.verify_audit(device).1, None, "one unbroken audit chain across the move");
    assert_eq!(central.query_i64("SELECT count(*) FROM devices"), 3, "the same device, not a new one");

    // Revocation takes effect at the revoked workstation's next sync.
    let revoked = stations[1].path();
    let revoked_id = open_station(revoked).store.device_id();
    assert!(central.rt.block_on(wardbook_server::enrolment::revoke(&owner, revoked_id)).expect("revoke"));
    let refused = run(revoked, &[], &["sync", "--once"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("revoked"), "{}", text(&refused));
    let still = run(stations[2].path(), &[], &["sync", "--once"]);
    assert_eq!(still.status.code(), Some(0), "the other workstation is not affected: {}", text(&still));
    let line = doctor_line(revoked, "enrolment");
    assert!(line.starts_with("FAIL") && line.contains("revoked"), "{line}");
    let line = doctor_line(revoked, "last sync");
    assert!(line.starts_with("FAIL") && line.contains("revoked"), "{line}");
}

/// `doctor` tells IT which of three things is wrong with the server line:
/// a certificate the workstation does not trust (with the fix: `ca_file`),
/// a trusted one, and a server that cannot be reached at all.
#[test]
fn doctor_tells_an_untrusted_certificate_from_an_unreachable_server() {
    let central = Central::start();
    let dir = tempfile::tempdir().expect("dir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("certificate");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key");
    let tls = central.start_tls(&cert, &key);
    let url = format!("https://127.0.0.1:{}", tls.addr.port());

    let untrusted = run(dir.path(), &[("WARDBOOK_SERVER_URL", &url)], &["doctor"]);
    let report = text(&untrusted);
    assert_eq!(untrusted.status.code(), Some(1), "{report}");
    let line = report.lines().find(|l| l[6..].starts_with("server")).expect("a server line");
    assert!(line.starts_with("FAIL") && line.contains("not trusted") && line.contains("ca_file"), "{line}");
    // Enrolling says the same, not "cannot be reached".
    let enrol = run(dir.path(), &[], &["enroll", "--server", &url, "--code", "ABCD-EFGH"]);
    assert_eq!(enrol.status.code(), Some(2));
    assert!(text(&enrol).contains("TLS certificate is not trusted"), "{}", text(&enrol));

    let cert = cert.display().to_string();
    let trusted = run(dir.path(), &[("WARDBOOK_SERVER_URL", &url), ("WARDBOOK_CA_FILE", &cert)], &["doctor"]);
    let report = text(&trusted);
    let line = report.lines().find(|l| l[6..].starts_with("server")).expect("a server line");
    assert!(line.starts_with("ok") && line.contains("TLS trusted"), "{line}");
    let line = report.lines().find(|l| l[6..].starts_with("enrolment")).expect("an enrolment line");
    assert!(line.starts_with("FAIL") && line.contains("wardbook enroll"), "not enrolled yet, and what to run: {line}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let nowhere = format!("https://127.0.0.1:{}", closed.local_addr().expect("addr").port());
    drop(closed);
    let unreachable = run(dir.path(), &[("WARDBOOK_SERVER_URL", &nowhere)], &["doctor"]);
    let report = text(&unreachable);
    let line = report.lines().find(|l| l[6..].starts_with("server")).expect("a server line");
    assert!(line.starts_with("FAIL") && line.contains("cannot be reached") && line.contains("firewall"), "{line}");
    central.rt.block_on(tls.shutdown()).expect("TLS listener stops");
}
