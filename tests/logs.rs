//! What the `wardbook` binary prints (DESIGN.md sections 5 and 8): every
//! command, at trace level and with directives aimed at the loggers that can
//! carry patient data, prints no synthetic name, MRN, date of birth or
//! contact detail; and a wrong database key gives Wardbook's one clear
//! message, without SQLCipher's own log lines. The keyring commands use the
//! real Secret Service (run inside `scripts/with-keyring.sh`). Synthetic data
//! only. (The window itself is covered by the end-to-end tests.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::central::Central;
use common::wardbook_bin;

/// Everything, and everything plus directives aimed at the guarded targets.
const SPECS: [&str; 2] = ["trace", "trace,tauri=trace,tauri::ipc=trace,tokio_postgres=trace,[{response}]=trace"];

struct Run {
    line: String,
    out: Output,
}

impl Run {
    fn text(&self) -> String {
        format!("{}{}", String::from_utf8_lossy(&self.out.stdout), String::from_utf8_lossy(&self.out.stderr))
    }

    fn ok(self) -> Run {
        assert!(self.out.status.success(), "{}: {}", self.line, self.text());
        self
    }
}

fn run(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(wardbook_bin());
    cmd.args(args).env("WARDBOOK_ENV", "test").env("WARDBOOK_DATA_DIR", dir.join("data")).env("NO_COLOR", "1");
    for name in ["WARDBOOK_INSECURE_KEY_FILE", "WARDBOOK_SERVER_URL", "WARDBOOK_POLICY_FILE", "WARDBOOK_LOG"] {
        cmd.env_remove(name);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run wardbook");
    Run { line: format!("wardbook {} ({vars:?})", args.join(" ")), out }
}

/// (what it is, value) for every synthetic identity in `patients`.
fn needles_of(patients: &[wardbook_protocol::Patient]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for p in patients {
        out.push(("an MRN", p.mrn.clone()));
        out.push(("a given name", p.given_name.clone()));
        out.push(("a family name", p.family_name.clone()));
        out.push(("a date of birth", p.birth_date.to_string()));
        out.extend(p.phone.clone().map(|v| ("a phone", v)));
        out.extend(p.email.clone().map(|v| ("an email", v)));
        out.extend(p.address.clone().map(|v| ("an address", v)));
    }
    out
}

/// Every synthetic identity in the central database (sealed there: opened
/// with the data keys).
fn central_needles(central: &Central) -> Vec<(&'static str, String)> {
    let keys = central.keys();
    let patients =
        central.rt.block_on(wardbook_server::admin::patients(&mut central.owner(), &keys)).expect("identities");
    assert!(!patients.is_empty());
    needles_of(&patients)
}

/// True when `needle` occurs in `text` as a whole word.
fn contains_word(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn assert_no_patient_data(runs: &[Run], needles: &[(&'static str, String)]) {
    for run in runs {
        let text = run.text();
        for (kind, value) in needles {
            if contains_word(&text, value) {
                let line = text.lines().find(|l| contains_word(l, value)).unwrap_or_default();
                let masked = needles.iter().fold(line.to_owned(), |l, (_, v)| l.replace(v.as_str(), "<PHI>"));
                panic!("{} printed {kind} ({} characters) in:\n{masked}", run.line, value.chars().count());
            }
        }
    }
}

/// Every command an enrolled workstation runs, from first settings to a
/// move to another ward, at `spec`.
fn enrolled_workstation(central: &Central, spec: &str, runs: &mut Vec<Run>) {
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    let log = [("WARDBOOK_LOG", spec)];
    let user = [("WARDBOOK_LOG", spec), ("WARDBOOK_SERVER_URL", &central.url())];
    runs.push(run(dir, &log, &["settings"]).ok());
    runs.push(run(dir, &log, &["settings", "--json"]).ok());
    runs.push(run(dir, &log, &["status"]).ok());
    runs.push(run(dir, &user, &["doctor"])); // not enrolled yet: FAIL lines
    runs.push(run(dir, &log, &["enroll", "--server", &central.url(), "--code", &central.code("Ward 7A")]).ok());
    runs.push(run(dir, &log, &["sync", "--once"]).ok());
    runs.push(run(dir, &log, &["dev", "activity", "--iterations", "3", "--user", "nurse.log.synthetic"]).ok());
    runs.push(run(dir, &log, &["status"]).ok());
    runs.push(run(dir, &log, &["status", "--json"]).ok());
    runs.push(run(dir, &log, &["sync", "--once"]).ok());
    runs.push(run(dir, &log, &["audit", "verify"]).ok());
    runs.push(run(dir, &log, &["audit", "list"]).ok());
    runs.push(run(dir, &log, &["audit", "list", "--json"]).ok());
    runs.push(run(dir, &log, &["rekey"]).ok());
    runs.push(run(dir, &log, &["doctor"]));
    runs.push(run(dir, &log, &["doctor", "--json"]));
    runs.push(run(dir, &log, &["reenroll", "--code", &central.code("Ward 7B")]).ok());
    runs.push(run(dir, &log, &["sync", "--once"]).ok());
    runs.push(run(dir, &log, &["status"]).ok());
}

#[test]
fn every_command_at_trace_prints_no_patient_data() {
    let central = Central::start();
    central.synth(8, 4);
    let mut needles = central_needles(&central);
    let mut runs = Vec::new();
    for spec in SPECS {
        enrolled_workstation(&central, spec, &mut runs);
        // A development cache filled by `dev seed` (insecure key file).
        let dir = tempfile::tempdir().expect("dir");
        let key = dir.path().join("insecure.key").display().to_string();
        let vars = [("WARDBOOK_LOG", spec), ("WARDBOOK_ENV", "development"), ("WARDBOOK_INSECURE_KEY_FILE", &key)];
        let hour = || chrono::DurationRound::duration_trunc(chrono::Utc::now(), chrono::TimeDelta::hours(1)).unwrap();
        let before = hour();
        runs.push(run(dir.path(), &vars, &["dev", "seed", "--patients", "6", "--seed", "9"]).ok());
        for anchor in [before, hour()] {
            let ward = wardbook_protocol::synthetic::generate(&wardbook_protocol::synthetic::SyntheticConfig::new(
                9, 6, anchor,
            ));
            needles.extend(needles_of(&ward.patients));
        }
        runs.push(run(dir.path(), &vars, &["dev", "activity", "--iterations", "2"]).ok());
        runs.push(run(dir.path(), &vars, &["audit", "verify"]).ok());
        runs.push(run(dir.path(), &vars, &["doctor"]));
    }
    // The workstations' edits changed some identities on the server.
    needles.extend(central_needles(&central));
    assert!(runs.iter().any(|r| r.text().contains("TRACE")), "the commands logged at trace level");
    assert_no_patient_data(&runs, &needles);
}

/// SQLCipher logs a failed page check to standard error by itself ("ERROR
/// CORE sqlcipher_page_cipher: hmac check failed"); the user must see only
/// Wardbook's message, once, whatever `WARDBOOK_LOG` says.
#[test]
fn a_wrong_key_prints_one_clear_message() {
    let dir = tempfile::tempdir().expect("dir");
    let key = dir.path().join("insecure.key");
    let key_var = key.display().to_string();
    let vars = [("WARDBOOK_INSECURE_KEY_FILE", key_var.as_str())];
    run(dir.path(), &vars, &["dev", "seed", "--patients", "3"]).ok();
    let database = std::fs::read(dir.path().join("data/wardbook.db")).expect("database");
    std::fs::write(&key, "ab".repeat(32)).expect("another key");
    for spec in [None, Some("trace")] {
        for args in [&["status"][..], &["audit", "verify"][..], &["doctor"][..]] {
            let mut vars = vars.to_vec();
            vars.extend(spec.map(|s| ("WARDBOOK_LOG", s)));
            let out = run(dir.path(), &vars, args);
            assert!(!out.out.status.success(), "{}: {}", out.line, out.text());
            let stderr = String::from_utf8_lossy(&out.out.stderr).into_owned();
            let text = out.text();
            assert_eq!(text.matches("Cannot decrypt this database").count(), 1, "{}: one message:\n{text}", out.line);
            // SQLCipher's lines name its functions; `doctor` names SQLCipher
            // itself (its version) on standard output only.
            let raw = ["ERROR CORE", "hmac check failed", "sqlcipher_", "sqlite3Codec"];
            let leaked = raw.iter().any(|r| text.contains(r)) || stderr.to_lowercase().contains("sqlcipher");
            assert!(!leaked, "{}: SQLCipher's own log on standard error:\n{stderr}", out.line);
        }
    }
    assert_eq!(std::fs::read(dir.path().join("data/wardbook.db")).expect("database"), database, "nothing changed");
}
