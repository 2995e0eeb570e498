//! The `wardbook` subcommands as IT runs them (development installs with the
//! plaintext key file, so these tests need no keyring).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn run(dir: &Path, env: &str, args: &[&str]) -> Output {
    Command::new(wardbook_bin())
        .args(args)
        .env("WARDBOOK_ENV", env)
        .env("WARDBOOK_DATA_DIR", dir.join("data"))
        .env("WARDBOOK_INSECURE_KEY_FILE", dir.join("insecure.key"))
        .output()
        .expect("run wardbook")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn version_is_printed() {
    let out = Command::new(wardbook_bin()).arg("--version").output().expect("run");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("wardbook {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn seed_doctor_verify_and_list_on_a_development_install() {
    let dir = tempfile::tempdir().expect("dir");
    let seeded = run(dir.path(), "development", &["dev", "seed", "--patients", "5", "--seed", "3"]);
    assert!(seeded.status.success(), "{}", text(&seeded));
    assert!(text(&seeded).contains("Seeded 5 synthetic patients"), "{}", text(&seeded));
    assert!(text(&seeded).contains("WARNING: the database key is kept in the INSECURE plaintext key file"));

    let doctor = run(dir.path(), "development", &["doctor"]);
    let report = text(&doctor);
    assert!(doctor.status.success(), "{report}");
    for line in
        ["keyring self-test", "SQLCipher", "cipher_integrity_check", "migrations", "data directory", "audit chain"]
    {
        assert!(report.lines().any(|l| l.starts_with("ok") && l.contains(line)), "no ok line for {line}:\n{report}");
    }

    let verify = run(dir.path(), "development", &["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("0 events, chain intact"));

    let list = run(dir.path(), "development", &["audit", "list", "--json"]);
    assert!(list.status.success(), "{}", text(&list));
    let events: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(events.as_array().map(Vec::len), Some(0));
}

#[test]
fn seeding_is_refused_in_production() {
    let dir = tempfile::tempdir().expect("dir");
    let out = Command::new(wardbook_bin())
        .args(["dev", "seed", "--patients", "3"])
        .env_remove("WARDBOOK_ENV")
        .env("WARDBOOK_DATA_DIR", dir.path().join("data"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("never loaded in production"), "{}", text(&out));
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

#[test]
fn doctor_fails_loudly_on_a_damaged_database() {
    let dir = tempfile::tempdir().expect("dir");
    assert!(run(dir.path(), "test", &["dev", "seed", "--patients", "20"]).status.success());
    let db = dir.path().join("data/wardbook.db");
    let mut bytes = std::fs::read(&db).expect("read");
    let at = 4096 * 4 + 200;
    for b in &mut bytes[at..at + 32] {
        *b = !*b;
    }
    std::fs::write(&db, &bytes).expect("write");
    let doctor = run(dir.path(), "test", &["doctor"]);
    let report = text(&doctor);
    assert!(!doctor.status.success(), "{report}");
    assert!(report.lines().any(|l| l.starts_with("FAIL") && l.contains("database")), "{report}");
    assert!(report.contains("moved aside"), "{report}");
}

#[test]
fn an_unknown_environment_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().expect("dir");
    let out = run(dir.path(), "staging", &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("Set it to production, development or test"), "{}", text(&out));
}
