//! `wardbook-server health`: the report `GET /v1/health` gives, as JSON
//! (`--json`) or a line per fact; exits 1 when the service is not healthy.

use std::process::ExitCode;

use wardbook_protocol::api::{Health, HealthStatus, ProviderKind};
use wardbook_server::config::Settings;
use wardbook_server::{AppState, health};

pub async fn run(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let state = AppState::new(settings.clone())?;
    if !state.replicas.is_empty() {
        // Two checks a second apart: the lag is measured against the
        // primary's WAL position as noted at the first.
        state.replicas.check(&state.pool).await;
        tokio::time::sleep(wardbook_server::replicas::CHECK_EVERY).await;
        state.replicas.check(&state.pool).await;
    }
    let report = health::check(&state).await;
    super::emit(json, serde_json::to_value(&report)?, describe(&report).trim_end());
    Ok(if report.status == HealthStatus::Ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The human form: one fact a line. Holds no patient data and no secret.
fn describe(report: &Health) -> String {
    let mut human = format!("status: {:?}\n", report.status).to_lowercase();
    let database = &report.database;
    human.push_str(&format!(
        "database reachable: {}; migration {:?} (binary {}); role {:?}\n",
        database.reachable, database.migration_version, database.expected_migration_version, database.role
    ));
    if let Some(encrypted) = database.connection_encrypted {
        human.push_str(&format!("database connection encrypted (TLS): {encrypted}\n"));
    }
    if let Some(e) = &database.encryption {
        let per_key: Vec<String> =
            e.keys.iter().filter(|k| k.rows > 0).map(|k| format!("key {}: {}", k.key_id, k.rows)).collect();
        human.push_str(&format!(
            "identifiers: current data key {:?}; rows {}; in clear text {}; pending re-encryption {}\n",
            e.current_key_id,
            if per_key.is_empty() { "none".to_owned() } else { per_key.join(", ") },
            e.clear_rows,
            e.pending_rows
        ));
    }
    if let Some(h) = &database.feed_horizon {
        human.push_str(&format!(
            "feed horizon held back {:.0} s by {} ({:?}, {})\n",
            h.held_back_seconds,
            h.pid.map_or("a prepared transaction".to_owned(), |pid| format!("process {pid}")),
            h.application_name,
            h.state
        ));
    }
    for r in &database.replicas {
        human.push_str(&format!(
            "replica {} ({}): {} bytes behind\n",
            r.application_name,
            r.state,
            r.replay_lag_bytes.unwrap_or(-1)
        ));
    }
    let reads = &database.reads;
    human.push_str(&format!("pulls read from: {:?}\n", reads.pulls_to).to_lowercase());
    for r in &reads.replicas {
        human.push_str(&format!(
            "replica for reads {}: {:?}, lag {}; {} pages served, {} handed to the primary{}\n",
            r.target,
            r.state,
            r.lag_seconds.map_or("unknown".to_owned(), |s| format!("{s:.1} s")),
            r.pulls_served,
            r.fallbacks,
            r.problem.as_deref().map(|p| format!(": {p}")).unwrap_or_default()
        ));
    }
    for p in &report.identity_providers {
        let kind = match p.kind {
            ProviderKind::Oidc => "OpenID Connect",
            ProviderKind::Ldap => "LDAP",
        };
        match &p.problem {
            None => human.push_str(&format!("sign-in provider {} ({}, {kind}): reachable\n", p.name, p.id)),
            Some(problem) => {
                human.push_str(&format!("sign-in provider {} ({}, {kind}): NOT reachable: {problem}\n", p.name, p.id));
            }
        }
    }
    for f in &report.findings {
        human.push_str(&format!("{:?}: {} ({})\n", f.severity, f.message, f.code));
    }
    if let Some(hint) = &report.hint {
        human.push_str(hint);
    }
    human
}
