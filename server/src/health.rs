//! Health: is the database reachable, at which migration, primary or
//! replica, which replicas follow it and how far behind; and, in
//! production, synthetic rows as a critical finding.

use wardbook_protocol::Environment;
use wardbook_protocol::api::{
    DatabaseHealth, DatabaseRole, FeedHorizon, Health, HealthFinding, HealthStatus, ReplicaReadState, ReplicaStatus,
    Severity,
};

use crate::AppState;
use crate::db;

/// Builds the health report. Never fails: an unreachable database is a report too.
pub async fn check(state: &AppState) -> Health {
    let environment = state.environment();
    let mut database = DatabaseHealth {
        reachable: false,
        migration_version: None,
        expected_migration_version: db::expected_migration_version(),
        role: None,
        replicas: Vec::new(),
        connection_encrypted: None,
        encryption: None,
        feed_horizon: None,
        reads: state.replicas.routing(),
    };
    let mut findings = Vec::new();
    let client = match state.db().await {
        Ok(client) => client,
        Err(_) => return unavailable(state, environment, database),
    };
    if environment == Environment::Production
        && let Some(listen) = state.settings.mllp_listen
        && state.settings.mllp_plain()
        && !listen.ip().is_loopback()
    {
        findings.push(HealthFinding {
            severity: Severity::Warning,
            code: "mllp_plain".into(),
            message: format!(
                "HL7 v2 arrives over plain TCP on {listen} (mllp_allow_plain): patient data crosses the network unencrypted. Use TLS, or keep that network segment closed to everything but the interface engine."
            ),
        });
    }
    let policy = &state.settings.policy;
    match inspect(&client, environment, policy, &mut database, &mut findings).await {
        Ok(()) => {}
        Err(e) => {
            tracing::warn!(target = %state.db_target, error = %db::describe(&e), "health check query failed");
            return unavailable(state, environment, database);
        }
    }
    encryption(state, &client, &mut database, &mut findings).await;
    for r in database.reads.replicas.iter().filter(|r| {
        matches!(r.state, ReplicaReadState::Down | ReplicaReadState::Lagging | ReplicaReadState::NotAStandby)
    }) {
        findings.push(HealthFinding {
            severity: Severity::Warning,
            code: "replica_not_in_use".into(),
            message: format!(
                "The replica {} is not read from: {} Pulls go to the primary (or the other replicas) meanwhile.",
                r.target,
                r.problem.as_deref().unwrap_or("it is not fit to serve.")
            ),
        });
    }
    let identity_providers = state.providers.reachability().await;
    for p in identity_providers.iter().filter(|p| !p.reachable) {
        findings.push(HealthFinding {
            severity: Severity::Warning,
            code: "identity_provider_unreachable".into(),
            message: format!(
                "Sign-in through {} ({}) fails: {} Clinicians who signed in on a workstation recently can still unlock it offline.",
                p.name,
                p.id,
                p.problem.as_deref().unwrap_or("it does not answer.")
            ),
        });
    }
    let status = if findings.iter().any(|f| f.severity == Severity::Critical) {
        HealthStatus::Critical
    } else {
        HealthStatus::Ok
    };
    Health {
        status,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        environment: environment.as_str().to_owned(),
        database,
        findings,
        hint: None,
        identity_providers,
    }
}

fn unavailable(state: &AppState, environment: Environment, database: DatabaseHealth) -> Health {
    Health {
        status: HealthStatus::Unavailable,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        environment: environment.as_str().to_owned(),
        database,
        findings: vec![HealthFinding {
            severity: Severity::Critical,
            code: "database_unreachable".to_owned(),
            message: "The central database cannot be reached.".to_owned(),
        }],
        hint: Some(format!(
            "Is PostgreSQL running at {}? Check the service and WARDBOOK_DATABASE_URL; this service reconnects by itself.",
            state.db_target
        )),
        identity_providers: Vec::new(),
    }
}

async fn inspect(
    client: &tokio_postgres::Client,
    environment: Environment,
    policy: &crate::config::Policy,
    database: &mut DatabaseHealth,
    findings: &mut Vec<HealthFinding>,
) -> Result<(), tokio_postgres::Error> {
    let in_recovery: bool = client.query_one("SELECT pg_is_in_recovery()", &[]).await?.get(0);
    database.reachable = true;
    database.role = Some(if in_recovery { DatabaseRole::Replica } else { DatabaseRole::Primary });
    let encrypted = db::connection_encrypted(client).await?;
    database.connection_encrypted = Some(encrypted);
    if !encrypted && environment == Environment::Production {
        findings.push(HealthFinding {
            severity: Severity::Warning,
            code: "database_plain".into(),
            message: "The connection to PostgreSQL is not encrypted (no WARDBOOK_DATABASE_CA_FILE).".into(),
        });
    }
    database.migration_version = db::applied_version(client).await?;
    match database.migration_version {
        Some(v) if v == database.expected_migration_version => {}
        Some(v) if v > database.expected_migration_version => findings.push(HealthFinding {
            severity: Severity::Critical,
            code: "schema_newer".into(),
            message: format!("The database is at migration {v}, newer than this binary: upgrade wardbook-server."),
        }),
        _ => findings.push(HealthFinding {
            severity: Severity::Critical,
            code: "schema_behind".into(),
            message: "The database is not fully migrated: run `wardbook-server migrate`.".into(),
        }),
    }
    if !in_recovery {
        database.replicas = replicas(client).await?;
    }
    if database.migration_version.is_some_and(|v| v >= 5) {
        findings.extend(crate::interfaces::findings(client).await?);
    }
    if database.migration_version.is_some_and(|v| v >= 6) {
        findings.extend(crate::hl7::outbound::findings(client, policy.hl7_outbound_stale_minutes).await?);
    }
    if !in_recovery {
        database.feed_horizon = feed_horizon(client).await?;
        if let Some(h) = &database.feed_horizon
            && h.held_back_seconds >= f64::from(policy.feed_horizon_warn_minutes) * 60.0
        {
            findings.push(HealthFinding {
                severity: Severity::Warning,
                code: "feed_horizon_held".into(),
                message: format!(
                    "A transaction open for {} min ({}, application {:?}, {}) holds back every workstation's change feed: nothing written since it began reaches a ward until it ends, and then every workstation pulls the backlog at once. Find it in pg_stat_activity; if it is stuck, end it (pg_terminate_backend{}).",
                    (h.held_back_seconds / 60.0).floor(),
                    h.pid.map_or("a prepared transaction".to_owned(), |pid| format!("process {pid}")),
                    h.application_name,
                    h.state,
                    h.pid.map_or(" does not apply: ROLLBACK PREPARED its gid".to_owned(), |pid| format!("({pid})")),
                ),
            });
        }
    }
    if environment == Environment::Production && database.migration_version.is_some() && synthetic_rows(client).await? {
        findings.push(HealthFinding {
            severity: Severity::Critical,
            code: "synthetic_data_in_production".into(),
            message: "Synthetic (generated) rows are in the production database. Find how they got there and remove them; production must hold real records only.".into(),
        });
    }
    Ok(())
}

/// The oldest transaction on the cluster that holds a transaction id (a
/// writer, or a prepared transaction): the feed's horizon
/// (`pg_snapshot_xmin`, `crate::feed`) cannot pass it. Reading other roles'
/// sessions needs `pg_monitor` (granted by the first migration when it can).
pub(crate) async fn feed_horizon(
    client: &tokio_postgres::Client,
) -> Result<Option<FeedHorizon>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT seconds, pid, name, state FROM (
                 SELECT extract(epoch FROM now() - xact_start)::float8 AS seconds, pid,
                        coalesce(application_name, '') AS name, coalesce(state, 'unknown') AS state,
                        age(backend_xid) AS age
                   FROM pg_stat_activity
                  WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
                 UNION ALL
                 SELECT extract(epoch FROM now() - prepared)::float8, NULL, gid, 'prepared', age(transaction)
                   FROM pg_prepared_xacts) oldest
              ORDER BY age DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(row.map(|r| FeedHorizon {
        held_back_seconds: r.get::<_, f64>(0).max(0.0),
        pid: r.get(1),
        application_name: r.get(2),
        state: r.get(3),
    }))
}

/// The streaming replicas connected to this primary, and how far behind
/// each is (also the compliance report's `replica_lag`).
pub(crate) async fn replicas(client: &tokio_postgres::Client) -> Result<Vec<ReplicaStatus>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT coalesce(application_name, ''), host(client_addr), coalesce(state, 'unknown'),
                    pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
                    extract(epoch FROM replay_lag)::float8
               FROM pg_stat_replication ORDER BY application_name",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ReplicaStatus {
            application_name: r.get(0),
            client_addr: r.get(1),
            state: r.get(2),
            replay_lag_bytes: r.get(3),
            replay_lag_seconds: r.get(4),
        })
        .collect())
}

/// Whether any clinical row is marked synthetic (a critical finding in
/// production, here and in the compliance report).
pub(crate) async fn synthetic_rows(client: &tokio_postgres::Client) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE synthetic)
                 OR EXISTS (SELECT 1 FROM observations WHERE synthetic)
                 OR EXISTS (SELECT 1 FROM allergies WHERE synthetic)",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Rows per data key, and findings for rows in clear text (a database from
/// before encryption, being converted) or not yet under the current key.
async fn encryption(
    state: &AppState,
    client: &db::Client,
    database: &mut DatabaseHealth,
    findings: &mut Vec<HealthFinding>,
) {
    let status = match state.keys.status(&***client).await {
        Ok(status) => status,
        Err(e) => {
            tracing::warn!(error = %e, "health: the encryption status cannot be read");
            return;
        }
    };
    // Outside production the first keys are created on first use.
    if status.current_key_id.is_none() && state.environment() == Environment::Production {
        findings.push(HealthFinding {
            severity: Severity::Critical,
            code: "keys_not_initialised".into(),
            message: "The database has no encryption keys: run `wardbook-server keys init`.".into(),
        });
    }
    if status.clear_rows > 0 {
        findings.push(HealthFinding {
            severity: Severity::Warning,
            code: "clear_text_rows".into(),
            message: format!(
                "{} rows of patient identifiers are still in clear text (a database from before encryption). The service converts them in the background; until it has, dumps and backups show them.",
                status.clear_rows
            ),
        });
    } else if status.pending_rows > 0 {
        findings.push(HealthFinding {
            severity: Severity::Warning,
            code: "reencryption_in_progress".into(),
            message: format!(
                "{} rows are not yet under the current data key: a rotation is in progress.",
                status.pending_rows
            ),
        });
    }
    database.encryption = Some(status);
}
