//! `wardbook-server keys ...` as IT runs it: a key-encryption key written
//! once (never over an existing one), `keys init` once, `keys status`,
//! `keys rotate` and `keys reencrypt` without a service, `keys rotate-kek`
//! after which only the new key opens the database; `serve` in production
//! refusing a database without keys. Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::TestServer;
use serde_json::Value;
use wardbook_protocol::Environment;

const BIN: &str = env!("CARGO_BIN_EXE_wardbook-server");

/// The binary with only the settings given (no configuration file).
fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let config = dir.join("server.toml");
    if !config.exists() {
        std::fs::write(&config, "").unwrap();
    }
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("WARDBOOK_SERVER_CONFIG", &config)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the wardbook-server binary runs")
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_created_once_rotated_and_rewrapped_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    let kek_text = kek.to_str().unwrap();
    // A new key file needs no database.
    let written = json(&run(dir.path(), &[], &["--json", "keys", "generate-kek", kek_text]));
    assert_eq!(written["file"], Value::from(kek_text));
    let first = std::fs::read(&kek).unwrap();
    let again = run(dir.path(), &[], &["keys", "generate-kek", kek_text]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("exists already"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&kek).unwrap(), first, "the existing key is untouched");

    // A migrated database without keys, as production has it after `migrate`.
    let server = TestServer::start_with(Environment::Production, |s| s.kek_file = Some(kek.clone())).await;
    let url = server.service_url.clone();
    let env = [("WARDBOOK_DATABASE_URL", url.as_str()), ("WARDBOOK_KEK_FILE", kek_text), ("WARDBOOK_ENV", "test")];
    let prod =
        [("WARDBOOK_DATABASE_URL", url.as_str()), ("WARDBOOK_KEK_FILE", kek_text), ("WARDBOOK_ENV", "production")];
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let tls = [
        ("WARDBOOK_TLS_CERT", cert.to_str().unwrap()),
        ("WARDBOOK_TLS_KEY", key.to_str().unwrap()),
        ("WARDBOOK_LISTEN", "127.0.0.1:0"),
    ];
    let refused = run(dir.path(), &[&prod[..], &tls[..]].concat(), &["serve"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("keys init"), "serve names what to do: {}", stderr(&refused));

    let init = json(&run(dir.path(), &prod, &["--json", "keys", "init"]));
    assert_eq!(init["kek_fingerprint"].as_str().unwrap().len(), 16);
    let twice = run(dir.path(), &prod, &["keys", "init"]);
    assert!(!twice.status.success() && stderr(&twice).contains("runs once"), "{}", stderr(&twice));

    // Rows under the first key.
    server.synth(5, 8).await;
    let status = json(&run(dir.path(), &env, &["--json", "keys", "status"]));
    let first_key = status["current_key_id"].as_i64().unwrap();
    assert_eq!(status["clear_rows"], Value::from(0));
    assert_eq!(status["pending_rows"], Value::from(0));
    assert!(status["keys"][0]["rows"].as_i64().unwrap() >= 5);

    // Rotation, then the re-encryption without a service.
    let rotated = json(&run(dir.path(), &env, &["--json", "keys", "rotate"]));
    let second_key = rotated["current_key_id"].as_i64().unwrap();
    assert_ne!(second_key, first_key);
    assert!(rotated["pending_rows"].as_i64().unwrap() >= 5);
    let moved = json(&run(dir.path(), &env, &["--json", "keys", "reencrypt"]));
    assert_eq!(moved["status"]["pending_rows"], Value::from(0));
    let keys = moved["status"]["keys"].as_array().unwrap();
    let state = |id: i64| keys.iter().find(|k| k["key_id"] == id).unwrap()["state"].clone();
    assert_eq!((state(first_key), state(second_key)), (Value::from("retired"), Value::from("current")));

    // A new key-encryption key: the data keys re-wrapped, the old file refused.
    let new_kek = dir.path().join("kek-2");
    json(&run(dir.path(), &[], &["--json", "keys", "generate-kek", new_kek.to_str().unwrap()]));
    let rewrapped =
        json(&run(dir.path(), &env, &["--json", "keys", "rotate-kek", "--new-kek-file", new_kek.to_str().unwrap()]));
    assert!(rewrapped["keys"].as_u64().unwrap() >= 2);
    let old = run(dir.path(), &env, &["keys", "status"]);
    assert!(!old.status.success());
    assert!(stderr(&old).contains("is not the one that wrapped"), "{}", stderr(&old));
    let with_new = [
        ("WARDBOOK_DATABASE_URL", url.as_str()),
        ("WARDBOOK_KEK_FILE", new_kek.to_str().unwrap()),
        ("WARDBOOK_ENV", "test"),
    ];
    let status = json(&run(dir.path(), &with_new, &["--json", "keys", "status"]));
    assert_eq!(status["current_key_id"], Value::from(second_key));
    // Identifiers still open: a patient found by MRN on the command line.
    let mrn = {
        let mut client = server.owner().await;
        let mut settings = server.settings.clone();
        settings.kek_file = Some(new_kek.clone());
        let keys = wardbook_server::AppState::new(settings).unwrap().keys.get().await.unwrap();
        wardbook_server::admin::patients(&mut client, &keys).await.unwrap()[0].mrn.clone()
    };
    let assigned = run(dir.path(), &with_new, &["patient", "assign", &mrn, "--location", "Ward 7B"]);
    assert!(assigned.status.success(), "{}", stderr(&assigned));
}
