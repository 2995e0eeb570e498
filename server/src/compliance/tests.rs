//! The rules' boundaries, table by table.

#![allow(clippy::unwrap_used)]
use wardbook_protocol::api::KeyRows;

use super::*;
use ComplianceStatus::{Critical, Ok, Warning};

fn key(key_id: i32, state: &str, rows: i64) -> KeyRows {
    KeyRows { key_id, state: state.into(), rows, created_at: DateTime::from_timestamp(1_772_352_000, 0).unwrap() }
}

fn keys(clear: i64, pending: i64, throwaway: bool) -> EncryptionStatus {
    EncryptionStatus {
        current_key_id: Some(2),
        keys: vec![key(1, "active", pending - clear), key(2, "current", 100)],
        clear_rows: clear,
        pending_rows: pending,
        throwaway_kek: throwaway,
    }
}

#[test]
fn encryption_rules_name_clear_text_rotation_and_a_throwaway_kek() {
    use Environment::{Production, Test};
    // (status, environment, encryption, clear_text_rows)
    let cases = [
        (keys(0, 0, false), Production, Ok, Ok),
        (keys(0, 5, false), Production, Warning, Ok),
        (keys(3, 3, false), Production, Ok, Critical),
        (keys(3, 8, false), Production, Warning, Critical),
        (keys(0, 0, true), Production, Critical, Ok),
        (keys(0, 0, true), Test, Ok, Ok),
        (keys(1, 1, true), Test, Ok, Critical),
    ];
    for (status, environment, want_encryption, want_clear) in cases {
        let checks = encryption_rules(&status, environment);
        let got: Vec<_> = checks.iter().map(|c| (c.code.as_str(), c.status)).collect();
        assert_eq!(
            got,
            [(ENCRYPTION, want_encryption), (CLEAR_TEXT_ROWS, want_clear)],
            "{status:?} in {environment:?}"
        );
        assert_eq!(checks[1].metrics["clear_rows"], status.clear_rows);
        assert_eq!(checks[0].metrics["key_2_rows"], 100);
    }
    let clear = &encryption_rules(&keys(3, 3, false), Production)[1];
    assert!(clear.message.starts_with("3 row(s) of identifiers are in clear text"), "{}", clear.message);
}

#[test]
fn a_plain_connection_is_a_warning_only_in_production() {
    use Environment::{Development, Production, Test};
    let cases = [(true, Production, Ok), (false, Production, Warning), (false, Development, Ok), (false, Test, Ok)];
    for (encrypted, environment, want) in cases {
        let check = connection_rule(encrypted, environment);
        assert_eq!(check.status, want, "encrypted {encrypted}, {environment:?}");
        assert_eq!(check.metrics["encrypted"], i64::from(encrypted));
    }
}

fn replica(name: &str, state: &str, bytes: Option<i64>, seconds: Option<f64>) -> ReplicaStatus {
    ReplicaStatus {
        application_name: name.into(),
        client_addr: Some("127.0.0.1".into()),
        state: state.into(),
        replay_lag_bytes: bytes,
        replay_lag_seconds: seconds,
    }
}

#[test]
fn replica_lag_walks_each_threshold() {
    let cases = [
        (replica("r", "streaming", Some(0), None), Ok),
        (replica("r", "streaming", Some(REPLICA_WARNING_BYTES - 1), Some(59.9)), Ok),
        (replica("r", "streaming", Some(REPLICA_WARNING_BYTES), None), Warning),
        (replica("r", "streaming", Some(10), Some(REPLICA_WARNING_SECONDS)), Warning),
        (replica("r", "streaming", Some(REPLICA_CRITICAL_BYTES), None), Critical),
        (replica("r", "streaming", None, Some(REPLICA_CRITICAL_SECONDS)), Critical),
        (replica("r", "catchup", Some(0), None), Warning),
    ];
    for (r, want) in cases {
        let check = replica_rule(std::slice::from_ref(&r));
        assert_eq!(check.status, want, "{r:?}");
        if want != Ok {
            assert_eq!(check.findings[0].subject.as_deref(), Some("r"), "{check:?}");
        }
    }
    let none = replica_rule(&[]);
    assert_eq!((none.status, none.metrics["replicas"]), (Ok, 0));
    let two = replica_rule(&[
        replica("a", "streaming", Some(1), None),
        replica("b", "streaming", Some(REPLICA_CRITICAL_BYTES), Some(2.0)),
    ]);
    assert_eq!(two.status, Critical);
    assert_eq!(two.findings.len(), 1, "only the lagging one is named: {two:?}");
    assert_eq!(two.metrics["max_lag_bytes"], REPLICA_CRITICAL_BYTES);
}

#[test]
fn an_unreachable_database_makes_every_check_unknown() {
    let report = unavailable(Environment::Production, "The central database cannot be reached.");
    assert_eq!(report.status, ComplianceStatus::Unknown);
    let codes: Vec<_> = report.checks.iter().map(|c| c.code.as_str()).collect();
    assert_eq!(codes, CHECKS);
    assert!(report.checks.iter().all(|c| c.status == ComplianceStatus::Unknown));
}
