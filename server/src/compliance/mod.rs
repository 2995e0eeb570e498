//! The compliance report (`GET /v1/admin/reports/compliance`, `wardbook-server
//! report compliance`): what an auditor asks and a monitoring system polls,
//! in one pass over the database as it is now.
//!
//! Each check has a stable code and its own status; the report's status is
//! the worst of them. The checks reuse what answers the same question
//! elsewhere (health's replicas and synthetic rows, the audit store's chain
//! verification, the interfaces' findings, break-the-glass's pending
//! reviews, the keys' status) and only decide how serious each answer is:
//! the rules are the pure functions at the end, tested on their own. A check
//! whose query fails is `unknown`, not a failed report, so one broken check
//! never hides the others. Messages carry identifiers and counts, never
//! patient data, secrets or SQL.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;
use wardbook_protocol::Environment;
use wardbook_protocol::api::{
    ComplianceCheck, ComplianceFinding, ComplianceReport, ComplianceStatus, EncryptionStatus, ReplicaStatus, Severity,
};

use crate::error::Result;
use crate::{AppState, audit, break_glass, db, health, interfaces};

/// The codes of the checks, in the report's order.
pub const ENCRYPTION: &str = "encryption";
pub const CLEAR_TEXT_ROWS: &str = "clear_text_rows";
pub const SYNTHETIC_IN_PRODUCTION: &str = "synthetic_in_production";
pub const AUDIT_CHAIN: &str = "audit_chain";
pub const AUDIT_UPLOAD_SILENCE: &str = "audit_upload_silence";
pub const BREAK_GLASS_UNREVIEWED: &str = "break_glass_unreviewed";
pub const INTERFACES: &str = "interfaces";
pub const DATABASE_CONNECTION: &str = "database_connection";
pub const REPLICA_LAG: &str = "replica_lag";

pub const CHECKS: [&str; 9] = [
    ENCRYPTION,
    CLEAR_TEXT_ROWS,
    SYNTHETIC_IN_PRODUCTION,
    AUDIT_CHAIN,
    AUDIT_UPLOAD_SILENCE,
    BREAK_GLASS_UNREVIEWED,
    INTERFACES,
    DATABASE_CONNECTION,
    REPLICA_LAG,
];

/// Refused audit uploads (security findings) this recent make the audit
/// check a warning. The store keeps findings for ever and has no "seen"
/// mark, so a window keeps an old, understood refusal from holding the
/// report at warning; `wardbook-server audit verify` and the findings table
/// keep the full history.
pub const FINDINGS_WINDOW_DAYS: i32 = 7;

/// A replica this far behind is a warning, this much further a critical
/// finding: past 15 minutes a failover would lose a quarter of an hour of
/// charting.
pub const REPLICA_WARNING_SECONDS: f64 = 60.0;
pub const REPLICA_CRITICAL_SECONDS: f64 = 900.0;
/// WAL not yet replayed: 64 MiB is a few busy minutes, 1 GiB is not a blip.
pub const REPLICA_WARNING_BYTES: i64 = 64 * 1024 * 1024;
pub const REPLICA_CRITICAL_BYTES: i64 = 1024 * 1024 * 1024;

/// Findings listed per check, at most (the metrics keep the full counts).
const MAX_FINDINGS: usize = 50;

/// Builds the report. Never fails: an unreachable database makes every
/// check `unknown`, with the reason on `database_connection`.
pub async fn report(state: &AppState) -> ComplianceReport {
    let environment = state.environment();
    let client = match state.db().await {
        Ok(client) => client,
        Err(_) => {
            return unavailable(
                environment,
                &format!(
                    "The central database cannot be reached: is PostgreSQL running at {}? Check the service and WARDBOOK_DATABASE_URL.",
                    state.db_target
                ),
            );
        }
    };
    let settings = &state.settings;
    let mut checks = encryption(state, &client).await;
    checks.push(settle(SYNTHETIC_IN_PRODUCTION, synthetic(&client, environment).await));
    checks.push(settle(AUDIT_CHAIN, audit_chain(&client).await));
    checks.push(settle(AUDIT_UPLOAD_SILENCE, audit_silence(&client, settings.policy.audit_upload_silence_hours).await));
    checks.push(settle(BREAK_GLASS_UNREVIEWED, break_glass_reviews(&client).await));
    checks.push(settle(INTERFACES, interface_health(&client, settings.policy.hl7_outbound_stale_minutes).await));
    checks.push(settle(DATABASE_CONNECTION, connection(&client, environment).await));
    checks.push(settle(REPLICA_LAG, replica_lag(&client).await));
    ComplianceReport::new(Utc::now(), environment.as_str(), checks)
}

/// The report when nothing could be checked: every check `unknown`, the
/// reason (no secret: the target is `host:port`) on `database_connection`.
pub fn unavailable(environment: Environment, reason: &str) -> ComplianceReport {
    let checks = CHECKS
        .iter()
        .map(|code| {
            let message = if *code == DATABASE_CONNECTION {
                reason.to_owned()
            } else {
                "Not checked: the central database is unreachable.".to_owned()
            };
            ComplianceCheck::new(code, ComplianceStatus::Unknown, message)
        })
        .collect();
    ComplianceReport::new(Utc::now(), environment.as_str(), checks)
}

/// A check's result, or `unknown` when its queries failed (the detail goes
/// to the log, not the report).
fn settle(code: &str, result: Result<ComplianceCheck>) -> ComplianceCheck {
    result.unwrap_or_else(|e| {
        tracing::warn!(check = code, error = ?e, "a compliance check could not run");
        ComplianceCheck::new(
            code,
            ComplianceStatus::Unknown,
            "Not checked: the query behind this check failed (see the service's log). Run the report again; if it persists, check the database schema and the service role's grants.",
        )
    })
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `encryption` and `clear_text_rows`, from the keys' status (rows per data
/// key, in clear text, not yet under the current key). A key-encryption key
/// that cannot be had (none in production, an unreadable file) is critical:
/// nothing new can be sealed or read.
async fn encryption(state: &AppState, client: &tokio_postgres::Client) -> Vec<ComplianceCheck> {
    let environment = state.environment();
    let kek = state.keys.kek().map(|k| k.is_throwaway());
    let status = match crate::keys::store::status(client, matches!(kek, Ok(true))).await {
        Ok(status) => status,
        Err(e) => {
            let failed = settle(ENCRYPTION, Err(e));
            let clear = ComplianceCheck { code: CLEAR_TEXT_ROWS.to_owned(), ..failed.clone() };
            return vec![failed, clear];
        }
    };
    let mut checks = encryption_rules(&status, environment);
    if let Err(e) = kek {
        let metrics = std::mem::take(&mut checks[0].metrics);
        checks[0] =
            ComplianceCheck { metrics, ..ComplianceCheck::new(ENCRYPTION, ComplianceStatus::Critical, e.to_string()) };
    }
    checks
}

async fn synthetic(client: &tokio_postgres::Client, environment: Environment) -> Result<ComplianceCheck> {
    let mut check = if environment != Environment::Production {
        ComplianceCheck::new(
            SYNTHETIC_IN_PRODUCTION,
            ComplianceStatus::Ok,
            format!("Not production ({}): synthetic rows are allowed here.", environment.as_str()),
        )
    } else if health::synthetic_rows(client).await? {
        ComplianceCheck::new(
            SYNTHETIC_IN_PRODUCTION,
            ComplianceStatus::Critical,
            "Synthetic (generated) rows are in the production database. Find how they got there and remove them; production must hold real records only.",
        )
    } else {
        ComplianceCheck::new(SYNTHETIC_IN_PRODUCTION, ComplianceStatus::Ok, "No synthetic row in production.")
    };
    let found = check.status == ComplianceStatus::Critical;
    check.metrics.insert("synthetic_rows_present".into(), i64::from(found));
    Ok(check)
}

/// Every device's stored chain re-verified (as `audit verify` does), and the
/// uploads refused recently (security findings).
async fn audit_chain(client: &tokio_postgres::Client) -> Result<ComplianceCheck> {
    let chains = audit::verify(client, None).await?;
    let mut findings = Vec::new();
    for chain in &chains {
        if let Some((position, kind)) = chain.broken_at {
            findings.push(ComplianceFinding {
                code: kind.to_owned(),
                status: ComplianceStatus::Critical,
                subject: Some(chain.device_id.to_string()),
                message: format!(
                    "Device {}: the stored audit chain is broken at sequence {position} ({}). Events were removed or altered in the database; secure it, then run `wardbook-server audit verify --device {}`.",
                    chain.device_id,
                    broken_kind(kind),
                    chain.device_id
                ),
            });
        }
    }
    let broken = findings.len() as i64;
    let refused = client
        .query(
            "SELECT device_id, kind, count(*), (array_agg(position ORDER BY detected_at DESC))[1], max(detected_at)
               FROM security_findings WHERE detected_at > now() - make_interval(days => $1)
              GROUP BY device_id, kind ORDER BY max(detected_at) DESC, device_id, kind",
            &[&FINDINGS_WINDOW_DAYS],
        )
        .await?;
    let mut recent = 0i64;
    for row in &refused {
        let (device, kind, count, position, last): (Option<Uuid>, String, i64, Option<i64>, DateTime<Utc>) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        recent += count;
        let device_text = device.map(|d| format!("device {d}")).unwrap_or_else(|| "an unknown device".into());
        let at = position.map(|p| format!(" at sequence {p}")).unwrap_or_default();
        findings.push(ComplianceFinding {
            code: kind.clone(),
            status: ComplianceStatus::Warning,
            subject: device.map(|d| d.to_string()),
            message: format!(
                "{count} audit upload(s) from {device_text} refused ({kind}), the last{at} on {}. Nothing refused was stored; find why the workstation sends a broken chain.",
                time(last)
            ),
        });
    }
    let events: i64 = chains.iter().map(|c| c.events).sum();
    let (status, message) = if broken > 0 {
        (
            ComplianceStatus::Critical,
            format!("{broken} device(s) have a broken stored audit chain: the audit trail is incomplete or altered."),
        )
    } else if recent > 0 {
        (
            ComplianceStatus::Warning,
            format!(
                "Every stored chain is intact, but {recent} audit upload(s) were refused in the last {FINDINGS_WINDOW_DAYS} days (security findings)."
            ),
        )
    } else {
        (
            ComplianceStatus::Ok,
            format!(
                "Every device's audit chain is continuous and intact ({} device(s), {events} event(s)); no upload refused in the last {FINDINGS_WINDOW_DAYS} days.",
                chains.len()
            ),
        )
    };
    let mut check = ComplianceCheck::new(AUDIT_CHAIN, status, message);
    check.metrics.insert("devices".into(), chains.len() as i64);
    check.metrics.insert("events".into(), events);
    check.metrics.insert("broken_chains".into(), broken);
    check.metrics.insert("refused_uploads_recent".into(), recent);
    findings.truncate(MAX_FINDINGS);
    check.findings = findings;
    Ok(check)
}

fn broken_kind(kind: &str) -> &'static str {
    match kind {
        "audit_gap" => "a sequence number is missing",
        "audit_unlinked" => "an event does not link to the one before it",
        "audit_altered" => "an event does not match its hash",
        _ => "the chain does not verify",
    }
}

/// Active devices that have uploaded nothing (or nothing since their
/// enrolment) for longer than the policy allows. Uploads arrive in order,
/// so a device's newest upload is its highest sequence's (one index probe).
async fn audit_silence(client: &tokio_postgres::Client, hours: u32) -> Result<ComplianceCheck> {
    let hours_i32 = i32::try_from(hours).unwrap_or(i32::MAX);
    let active: i64 = client.query_one("SELECT count(*) FROM devices WHERE revoked_at IS NULL", &[]).await?.get(0);
    let rows = client
        .query(
            "SELECT d.id, d.name, d.enrolled_at, last.received_at
               FROM devices d
               LEFT JOIN LATERAL (SELECT e.received_at FROM audit_events e WHERE e.device_id = d.id
                                   ORDER BY e.sequence DESC LIMIT 1) last ON true
              WHERE d.revoked_at IS NULL
                AND coalesce(last.received_at, d.enrolled_at) < now() - make_interval(hours => $1)
              ORDER BY coalesce(last.received_at, d.enrolled_at), d.id",
            &[&hours_i32],
        )
        .await?;
    let mut check = if rows.is_empty() {
        ComplianceCheck::new(
            AUDIT_UPLOAD_SILENCE,
            ComplianceStatus::Ok,
            format!("Every active device ({active}) has uploaded audit events within the last {hours} hours."),
        )
    } else {
        ComplianceCheck::new(
            AUDIT_UPLOAD_SILENCE,
            ComplianceStatus::Warning,
            format!(
                "{} of {active} active device(s) have uploaded no audit event for more than {hours} hours: their views of patient data are not in the central audit yet. Check that each is on and reaches this service, or revoke it.",
                rows.len()
            ),
        )
    };
    for row in rows.iter().take(MAX_FINDINGS) {
        let (id, name, enrolled_at, last): (Uuid, String, DateTime<Utc>, Option<DateTime<Utc>>) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let since = match last {
            Some(t) => format!("its last upload was on {}", time(t)),
            None => format!("it has uploaded nothing since its enrolment on {}", time(enrolled_at)),
        };
        check.findings.push(ComplianceFinding {
            code: "device_silent".into(),
            status: ComplianceStatus::Warning,
            subject: Some(id.to_string()),
            message: format!("Device {id} ({}): {since}.", name.escape_default()),
        });
    }
    check.metrics.insert("active_devices".into(), active);
    check.metrics.insert("silent_devices".into(), rows.len() as i64);
    check.metrics.insert("silence_hours".into(), i64::from(hours));
    Ok(check)
}

/// Break-the-glass accesses the privacy office has not reviewed. The
/// reasons and the patients stay out of the report: `audit break-glass`
/// shows them to the reviewer.
async fn break_glass_reviews(client: &tokio_postgres::Client) -> Result<ComplianceCheck> {
    let pending = break_glass::pending(client).await?;
    let mut check = match pending.first() {
        None => ComplianceCheck::new(
            BREAK_GLASS_UNREVIEWED,
            ComplianceStatus::Ok,
            "No break-the-glass access awaits review.",
        ),
        Some(oldest) => ComplianceCheck::new(
            BREAK_GLASS_UNREVIEWED,
            ComplianceStatus::Warning,
            format!(
                "{} break-the-glass access(es) await the privacy office's review, the oldest since {}. `wardbook-server audit break-glass` lists them with the reasons given.",
                pending.len(),
                time(oldest.started_at)
            ),
        ),
    };
    for access in pending.iter().take(MAX_FINDINGS) {
        check.findings.push(ComplianceFinding {
            code: "break_glass_pending".into(),
            status: ComplianceStatus::Warning,
            subject: Some(access.access_id.to_string()),
            message: format!(
                "Access {} by user {} on device {}, started {}, not reviewed.",
                access.access_id,
                access.user_id,
                access.device_id,
                time(access.started_at)
            ),
        });
    }
    check.metrics.insert("pending".into(), pending.len() as i64);
    let oldest_hours = pending.first().map(|p| (Utc::now() - p.started_at).num_hours()).unwrap_or(0);
    check.metrics.insert("oldest_pending_hours".into(), oldest_hours);
    Ok(check)
}

/// The feed's health, as `/v1/health` reports it: silent interfaces,
/// messages in error, unregistered senders, filed-back messages stuck.
async fn interface_health(client: &tokio_postgres::Client, stale_minutes: u32) -> Result<ComplianceCheck> {
    let mut found = interfaces::findings(client).await?;
    found.extend(crate::hl7::outbound::findings(client, stale_minutes).await?);
    let mut check = if found.is_empty() {
        ComplianceCheck::new(
            INTERFACES,
            ComplianceStatus::Ok,
            "Every active interface has sent within its silence window; no message in error.",
        )
    } else {
        ComplianceCheck::new(
            INTERFACES,
            ComplianceStatus::Warning,
            format!("{} problem(s) with the hospital feed: see each finding.", found.len()),
        )
    };
    for code in ["interface_silent", "hl7_messages_in_error", "hl7_unregistered_sender", "hl7_outbound_queued"] {
        check.metrics.insert(code.into(), found.iter().filter(|f| f.code == code).count() as i64);
    }
    check.findings = found
        .into_iter()
        .map(|f| ComplianceFinding {
            status: match f.severity {
                Severity::Warning => ComplianceStatus::Warning,
                Severity::Critical => ComplianceStatus::Critical,
            },
            code: f.code,
            subject: None,
            message: f.message,
        })
        .collect();
    check.status = ComplianceStatus::worst(check.findings.iter().map(|f| f.status));
    Ok(check)
}

/// This service's own connection to PostgreSQL (`pg_stat_ssl`).
async fn connection(client: &tokio_postgres::Client, environment: Environment) -> Result<ComplianceCheck> {
    Ok(connection_rule(db::connection_encrypted(client).await?, environment))
}

/// Replicas of this primary and how far behind each is (health's query).
async fn replica_lag(client: &tokio_postgres::Client) -> Result<ComplianceCheck> {
    let in_recovery: bool = client.query_one("SELECT pg_is_in_recovery()", &[]).await?.get(0);
    if in_recovery {
        return Ok(ComplianceCheck::new(
            REPLICA_LAG,
            ComplianceStatus::Ok,
            "This service reads a replica: run the report against the primary to see how far its replicas are behind.",
        ));
    }
    Ok(replica_rule(&health::replicas(client).await?))
}

mod rules;
pub use rules::{connection_rule, encryption_rules, replica_rule};

#[cfg(test)]
mod tests;
