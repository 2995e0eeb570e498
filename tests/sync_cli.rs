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
