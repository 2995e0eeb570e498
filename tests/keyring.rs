//! The database key in the real Secret Service (gnome-keyring inside
//! `dbus-run-session`, as `make test` runs it), and the refusal to start in
//! production without one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;
use wardbook::keys::{DbKey, KeySlot, KeyStore, OsKeyring};

fn require_session_bus() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "the keyring tests need a D-Bus session with an unlocked gnome-keyring: run them through `make test` \
         (scripts/with-keyring.sh), not plain `cargo test`"
    );
}

#[test]
fn the_database_key_round_trips_through_the_secret_service() {
    require_session_bus();
    let dir = tempfile::tempdir().expect("dir");
    let keyring = OsKeyring::for_data_dir(dir.path());
    keyring.self_test().expect("self-test against the real Secret Service");
    let key = DbKey::generate();
    keyring.save(KeySlot::Current, &key).expect("save");
    // A second, independent handle reads it back: keyring's mock store
    // shares nothing between entries and would fail here.
    let again = OsKeyring::for_data_dir(dir.path());
    assert_eq!(again.load(KeySlot::Current).expect("load"), Some(key.clone()));
    // And another process sees it too.
    let out = Command::new("secret-tool")
        .args(["lookup", "service", wardbook::keys::KEYRING_SERVICE, "username", &keyring.account(KeySlot::Current)])
        .output()
        .expect("secret-tool (libsecret-tools) is installed by make test");
    assert!(out.status.success(), "secret-tool lookup failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), &*key.expose_hex());
    keyring.delete(KeySlot::Current).expect("delete");
    assert_eq!(again.load(KeySlot::Current).expect("load"), None);
    keyring.delete(KeySlot::Current).expect("deleting an absent key is fine");
}

#[test]
fn the_app_opens_its_database_with_a_keyring_key() {
    require_session_bus();
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        Command::new(wardbook_bin())
            .args(args)
            .env("WARDBOOK_ENV", "test")
            .env("WARDBOOK_DATA_DIR", &data)
            .env_remove("WARDBOOK_INSECURE_KEY_FILE")
            .output()
            .expect("run wardbook")
    };
    let seeded = run(&["dev", "seed", "--patients", "4"]);
    assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
    let doctor = run(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "doctor failed:\n{text}\n{}", String::from_utf8_lossy(&doctor.stderr));
    assert!(text.contains("keyring self-test") && text.contains("Secret Service"), "{text}");
    // the key is in the keyring, not beside the database
    for file in files_below(&data) {
        let name = file.file_name().expect("name").to_string_lossy().to_string();
        assert!(name.starts_with("wardbook.db"), "unexpected file in the data directory: {name}");
    }
    let keyring = OsKeyring::for_data_dir(&data);
    assert!(keyring.load(KeySlot::Current).expect("load").is_some());
    keyring.delete(KeySlot::Current).expect("clean up");
}

#[test]
fn production_refuses_to_start_without_a_secret_service() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let out = Command::new(wardbook_bin())
        .args(["audit", "verify"])
        .env_remove("WARDBOOK_ENV")
        .env_remove("WARDBOOK_INSECURE_KEY_FILE")
        .env("WARDBOOK_DATA_DIR", &data)
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", dir.path().join("no-bus").display()))
        .output()
        .expect("run wardbook");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("No usable OS keyring"), "{stderr}");
    assert!(stderr.contains("Secret Service"), "names the keyring tried: {stderr}");
    assert!(stderr.contains("gnome-keyring"), "says how to fix it: {stderr}");
    assert!(!data.join("wardbook.db").exists(), "no database was created");
}

#[test]
fn production_refuses_the_insecure_key_file() {
    let dir = tempfile::tempdir().expect("dir");
    let out = Command::new(wardbook_bin())
        .args(["audit", "verify"])
        .env("WARDBOOK_ENV", "production")
        .env("WARDBOOK_DATA_DIR", dir.path().join("data"))
        .env("WARDBOOK_INSECURE_KEY_FILE", dir.path().join("key"))
        .output()
        .expect("run wardbook");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("must live in the OS keyring"), "{stderr}");
    assert!(!dir.path().join("key").exists());
}
