//! `GET /v1/admin/reports/compliance` and `wardbook-server report compliance`.
//!
//! One document for a monitoring system and an auditor alike: an overall
//! status, then each check under a stable `code` with its own status, a
//! plain message, the numbers behind it (`metrics`) and the things at fault
//! (`findings`). Identifiers and counts only: never patient data, secrets
//! or SQL.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A check's status, and the report's (its worst check's). The names and
/// their exit codes are those of monitoring plugins (Nagios, Icinga,
/// Zabbix, Prometheus' blackbox exporters read them too): ok 0, warning 1,
/// critical 2, unknown 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ComplianceStatus {
    Ok,
    /// Someone should look, soon.
    Warning,
    /// A rule is broken now (clear text, synthetic rows in production, an
    /// altered audit chain).
    Critical,
    /// It could not be checked (the database is unreachable).
    Unknown,
}

impl ComplianceStatus {
    /// How much it demands attention: critical over warning over unknown
    /// over ok, the order monitoring systems fold several checks in (a
    /// warning is news; an unknown beside it is not worse).
    fn rank(self) -> u8 {
        match self {
            ComplianceStatus::Ok => 0,
            ComplianceStatus::Unknown => 1,
            ComplianceStatus::Warning => 2,
            ComplianceStatus::Critical => 3,
        }
    }

    /// The status of several: the one that most demands attention (ok for none).
    pub fn worst(statuses: impl IntoIterator<Item = ComplianceStatus>) -> ComplianceStatus {
        statuses.into_iter().max_by_key(|s| s.rank()).unwrap_or(ComplianceStatus::Ok)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceStatus::Ok => "ok",
            ComplianceStatus::Warning => "warning",
            ComplianceStatus::Critical => "critical",
            ComplianceStatus::Unknown => "unknown",
        }
    }
}

/// One thing at fault within a check: a device, an interface, a data key,
/// a replica, an access awaiting review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ComplianceFinding {
    /// Stable, e.g. `audit_altered`, `device_silent`, `interface_silent`,
    /// `replica_lag`, `break_glass_pending`.
    pub code: String,
    pub status: ComplianceStatus,
    /// What it is about, when it has an identifier: a device id, an access
    /// id, a replica's name, a key id.
    pub subject: Option<String>,
    pub message: String,
}

/// One check of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ComplianceCheck {
    /// Stable: `encryption`, `clear_text_rows`, `synthetic_in_production`,
    /// `audit_chain`, `audit_upload_silence`, `break_glass_unreviewed`,
    /// `interfaces`, `database_connection`, `replica_lag`.
    pub code: String,
    pub status: ComplianceStatus,
    /// What was found and, when it is not ok, what to do.
    pub message: String,
    /// The numbers behind the status, by stable name (`clear_rows`,
    /// `devices`, `pending`, ...), for a monitoring system's graphs and
    /// thresholds.
    #[ts(type = "Record<string, number>")]
    pub metrics: BTreeMap<String, i64>,
    /// Each thing at fault, with its own status.
    pub findings: Vec<ComplianceFinding>,
}

impl ComplianceCheck {
    /// A check with no metrics or findings yet.
    pub fn new(code: &str, status: ComplianceStatus, message: impl Into<String>) -> ComplianceCheck {
        ComplianceCheck {
            code: code.to_owned(),
            status,
            message: message.into(),
            metrics: BTreeMap::new(),
            findings: Vec::new(),
        }
    }
}

/// `GET /v1/admin/reports/compliance`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ComplianceReport {
    pub generated_at: DateTime<Utc>,
    /// production, development or test.
    pub environment: String,
    /// The worst status of `checks`.
    pub status: ComplianceStatus,
    pub checks: Vec<ComplianceCheck>,
}

impl ComplianceReport {
    /// The report of `checks`, its status folded from theirs.
    pub fn new(generated_at: DateTime<Utc>, environment: &str, checks: Vec<ComplianceCheck>) -> ComplianceReport {
        let status = ComplianceStatus::worst(checks.iter().map(|c| c.status));
        ComplianceReport { generated_at, environment: environment.to_owned(), status, checks }
    }

    /// The check with this code, if the report has it.
    pub fn check(&self, code: &str) -> Option<&ComplianceCheck> {
        self.checks.iter().find(|c| c.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::ComplianceStatus::{self, Critical, Ok, Unknown, Warning};

    #[test]
    fn the_report_takes_the_status_that_most_demands_attention() {
        let cases: &[(&[ComplianceStatus], ComplianceStatus)] = &[
            (&[], Ok),
            (&[Ok, Ok], Ok),
            (&[Ok, Unknown], Unknown),
            (&[Unknown, Warning, Ok], Warning),
            (&[Warning, Unknown], Warning),
            (&[Critical, Warning, Unknown], Critical),
            (&[Ok, Critical], Critical),
        ];
        for (statuses, want) in cases {
            assert_eq!(ComplianceStatus::worst(statuses.iter().copied()), *want, "{statuses:?}");
        }
    }

    #[test]
    fn statuses_are_spelt_on_the_wire_as_monitoring_systems_do() {
        for status in [Ok, Warning, Critical, Unknown] {
            let json = serde_json::to_value(status).unwrap_or_default();
            assert_eq!(json, status.as_str());
        }
    }
}
