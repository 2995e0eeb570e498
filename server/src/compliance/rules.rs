//! The compliance rules: pure functions from what was measured to a
//! check's status, so each boundary is tested (`tests.rs`).

use super::*;

/// `encryption` and `clear_text_rows` from the keys' status: a row in clear
/// text is critical; rows not yet under the current key are a rotation or
/// conversion in progress (a warning); a throwaway key-encryption key is
/// critical in production (its data keys die with the process).
pub fn encryption_rules(status: &EncryptionStatus, environment: Environment) -> Vec<ComplianceCheck> {
    let older = (status.pending_rows - status.clear_rows).max(0);
    let sealed: i64 = status.keys.iter().map(|k| k.rows).sum();
    let per_key = status
        .keys
        .iter()
        .filter(|k| k.rows > 0 || k.state == "current")
        .map(|k| format!("key {} ({}) {} row(s)", k.key_id, k.state, k.rows))
        .collect::<Vec<_>>()
        .join(", ");
    let mut encryption = if status.throwaway_kek && environment == Environment::Production {
        ComplianceCheck::new(
            ENCRYPTION,
            ComplianceStatus::Critical,
            "The key-encryption key is a throwaway one: the data keys are lost when the service stops. Configure WARDBOOK_KEK_FILE with the hospital's key.",
        )
    } else if older > 0 {
        ComplianceCheck::new(
            ENCRYPTION,
            ComplianceStatus::Warning,
            format!(
                "A key rotation is in progress: {older} row(s) are still under older keys ({per_key}). A running service moves them in the background (`wardbook-server keys status` shows the progress; with no service running, `wardbook-server keys reencrypt` does it now)."
            ),
        )
    } else {
        let throwaway =
            if status.throwaway_kek { " The key-encryption key is a throwaway one (not production)." } else { "" };
        let message = if per_key.is_empty() {
            format!("No data key yet, and no identifier stored.{throwaway}")
        } else {
            format!("Identifiers are sealed under the current data key: {per_key}.{throwaway}")
        };
        ComplianceCheck::new(ENCRYPTION, ComplianceStatus::Ok, message)
    };
    for key in &status.keys {
        encryption.metrics.insert(format!("key_{}_rows", key.key_id), key.rows);
    }
    encryption.metrics.insert("sealed_rows".into(), sealed);
    encryption.metrics.insert("pending_rows".into(), status.pending_rows);
    encryption.metrics.insert("current_key_id".into(), status.current_key_id.map_or(0, i64::from));
    encryption.metrics.insert("throwaway_kek".into(), i64::from(status.throwaway_kek));
    let mut clear = if status.clear_rows > 0 {
        ComplianceCheck::new(
            CLEAR_TEXT_ROWS,
            ComplianceStatus::Critical,
            format!(
                "{} row(s) of identifiers are in clear text in the database. A running service seals them in the background; with none running, `wardbook-server keys reencrypt` seals them now. If the count does not fall, find what writes identifiers unsealed.",
                status.clear_rows
            ),
        )
    } else {
        ComplianceCheck::new(CLEAR_TEXT_ROWS, ComplianceStatus::Ok, "No identifier is stored in clear text.")
    };
    clear.metrics.insert("clear_rows".into(), status.clear_rows);
    vec![encryption, clear]
}

/// `database_connection`: TLS is expected in production. The service
/// connects in plain only to this machine (loopback, a Unix socket: `db`
/// refuses anything else without a CA file), so a plain connection there is
/// a warning, not a leak.
pub fn connection_rule(encrypted: bool, environment: Environment) -> ComplianceCheck {
    let mut check = if encrypted {
        ComplianceCheck::new(
            DATABASE_CONNECTION,
            ComplianceStatus::Ok,
            "This service's connection to PostgreSQL is encrypted (TLS, the server's certificate verified).",
        )
    } else if environment == Environment::Production {
        ComplianceCheck::new(
            DATABASE_CONNECTION,
            ComplianceStatus::Warning,
            "This service's connection to PostgreSQL is not encrypted (it stays on this machine: loopback or a Unix socket). Production expects TLS: enable it on PostgreSQL, set WARDBOOK_DATABASE_CA_FILE and use the host name its certificate names.",
        )
    } else {
        ComplianceCheck::new(
            DATABASE_CONNECTION,
            ComplianceStatus::Ok,
            format!(
                "This service's connection to PostgreSQL is not encrypted (on this machine; acceptable outside production: {}).",
                environment.as_str()
            ),
        )
    };
    check.metrics.insert("encrypted".into(), i64::from(encrypted));
    check
}

/// `replica_lag`: each replica's replay lag (time, or WAL bytes when the
/// time is unknown or small) against the thresholds above; a replica not
/// streaming (catching up, starting) is a warning.
pub fn replica_rule(replicas: &[ReplicaStatus]) -> ComplianceCheck {
    let mut findings = Vec::new();
    for r in replicas {
        let seconds = r.replay_lag_seconds.unwrap_or(0.0);
        let bytes = r.replay_lag_bytes.unwrap_or(0);
        let behind = format!("{bytes} bytes, {seconds:.0} s behind");
        let (status, message) = if seconds >= REPLICA_CRITICAL_SECONDS || bytes >= REPLICA_CRITICAL_BYTES {
            (
                ComplianceStatus::Critical,
                format!(
                    "Replica {} is {behind}: a failover now would lose that much. Check its disk, network and load.",
                    r.application_name
                ),
            )
        } else if seconds >= REPLICA_WARNING_SECONDS || bytes >= REPLICA_WARNING_BYTES {
            (ComplianceStatus::Warning, format!("Replica {} is {behind}.", r.application_name))
        } else if r.state != "streaming" {
            (
                ComplianceStatus::Warning,
                format!("Replica {} is {} (not streaming yet), {behind}.", r.application_name, r.state),
            )
        } else {
            continue;
        };
        findings.push(ComplianceFinding {
            code: "replica_lag".into(),
            status,
            subject: Some(r.application_name.clone()),
            message,
        });
    }
    let max_bytes = replicas.iter().filter_map(|r| r.replay_lag_bytes).max().unwrap_or(0);
    let max_seconds = replicas.iter().filter_map(|r| r.replay_lag_seconds).fold(0.0, f64::max);
    let status = ComplianceStatus::worst(findings.iter().map(|f| f.status));
    let message = if replicas.is_empty() {
        "No streaming replica is connected to this primary.".to_owned()
    } else if findings.is_empty() {
        format!("{} replica(s) streaming, at most {max_bytes} bytes and {max_seconds:.0} s behind.", replicas.len())
    } else {
        format!("{} of {} replica(s) are behind or not streaming: see each finding.", findings.len(), replicas.len())
    };
    let mut check = ComplianceCheck::new(REPLICA_LAG, status, message);
    check.metrics.insert("replicas".into(), replicas.len() as i64);
    check.metrics.insert("max_lag_bytes".into(), max_bytes);
    check.metrics.insert("max_lag_seconds".into(), max_seconds.ceil() as i64);
    check.findings = findings;
    check
}
