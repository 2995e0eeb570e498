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
    for line in [
        "policy",
        "keyring self-test",
        "SQLCipher",
        "cipher_integrity_check",
        "migrations",
        "data directory",
        "audit chain",
        "server",
    ] {
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
    // Doctor runs the whole-file check (start does not), says so, and leaves
    // the file where it is for the next start to move aside.
    let doctor = run(dir.path(), "test", &["doctor"]);
    let report = text(&doctor);
    assert!(!doctor.status.success(), "{report}");
    assert!(
        report.lines().any(|l| l.starts_with("FAIL") && l.contains("cipher_integrity_check") && l.contains("damaged")),
        "{report}"
    );
    assert!(report.contains("moves the file aside at its next start"), "{report}");
    assert!(db.exists(), "doctor never moves the file");
    // Run again, doctor reports the damage found without opening the file.
    let again = text(&run(dir.path(), "test", &["doctor"]));
    assert!(
        again
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("database") && l.contains("damage found by wardbook doctor")),
        "{again}"
    );
    // The next start moves it aside.
    let next = run(dir.path(), "test", &["audit", "verify"]);
    assert!(!next.status.success());
    assert!(text(&next).contains("moved aside"), "{}", text(&next));
    assert!(!db.exists(), "moved aside at the next start");
}

#[test]
fn an_unknown_environment_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().expect("dir");
    let out = run(dir.path(), "staging", &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("WARDBOOK_ENV is not valid"), "{}", text(&out));
    assert!(text(&out).contains("\"production\", \"development\" or \"test\""), "{}", text(&out));
}

fn run_with(dir: &Path, vars: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut cmd = Command::new(wardbook_bin());
    cmd.args(args).env("WARDBOOK_ENV", "test").env("WARDBOOK_DATA_DIR", dir.join("data"));
    cmd.env("WARDBOOK_INSECURE_KEY_FILE", dir.join("insecure.key"));
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run wardbook")
}

/// Key by key, as `wardbook settings` reports it: the user's settings file
/// beats the defaults, the environment beats the user's file, IT's policy
/// beats both. An invalid policy stops every command, the window included,
/// naming the file, the line and the key.
#[test]
fn policy_beats_environment_beats_user_settings_and_an_invalid_policy_stops_the_app() {
    let dir = tempfile::tempdir().expect("dir");
    let (user, policy) = (dir.path().join("settings.toml"), dir.path().join("policy.toml"));
    std::fs::write(&user, "idle_lock_minutes = 20\noffline_login_hours = 10\ndata_age_warning_minutes = 30\n")
        .expect("user settings");
    std::fs::write(&policy, "# IT: ward 7 workstations\ndata_age_warning_minutes = 50\n").expect("policy");
    let files = [("WARDBOOK_SETTINGS_FILE", user.as_path()), ("WARDBOOK_POLICY_FILE", policy.as_path())];
    let mut vars = files.to_vec();
    vars.push(("WARDBOOK_OFFLINE_LOGIN_HOURS", Path::new("12")));
    vars.push(("WARDBOOK_DATA_AGE_WARNING_MINUTES", Path::new("40")));
    let out = run_with(dir.path(), &vars, &["settings", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let settings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let get = |key: &str| {
        let e = settings.iter().find(|e| e["key"] == key).expect("listed");
        (e["value"].as_str().unwrap_or_default().to_owned(), e["source"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(get("break_glass_minutes"), ("60".into(), "default".into()));
    assert_eq!(get("idle_lock_minutes"), ("20".into(), "user-settings".into()));
    assert_eq!(get("offline_login_hours"), ("12".into(), "environment".into()));
    assert_eq!(get("data_age_warning_minutes"), ("50".into(), "policy".into()));

    std::fs::write(&policy, "# IT: ward 7 workstations\ndata_age_warning_minutes = 50\n\nbreak_glass_minutes = 2\n")
        .expect("policy");
    for args in [&[][..], &["status"][..], &["settings"][..]] {
        let out = run_with(dir.path(), &vars, args);
        assert_eq!(out.status.code(), Some(2), "{args:?} refuses to start: {}", text(&out));
        let message = text(&out);
        for part in [policy.to_str().expect("utf-8"), "line 4", "break_glass_minutes", "from 5 to 480", "Ask IT"] {
            assert!(message.contains(part), "{args:?}: {part:?} in {message}");
        }
    }
    assert!(!dir.path().join("data").exists(), "nothing was created with an invalid policy");
    let doctor = run_with(dir.path(), &vars, &["doctor"]);
    assert_eq!(doctor.status.code(), Some(1));
    let report = text(&doctor);
    assert!(report.lines().any(|l| l.starts_with("FAIL") && l.contains("line 4 (break_glass_minutes)")), "{report}");
}
