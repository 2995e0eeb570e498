//! `wardbook-server report ...`: reports for monitoring systems and auditors.
//!
//! `report compliance` behaves as a monitoring plugin (Nagios, Icinga,
//! Zabbix, Checkmk run it as is): it exits 0 when every check is ok, 1 on a
//! warning, 2 on a critical finding and 3 when it could not check (the
//! database unreachable); `--json` prints the whole report as one document
//! whatever the status, and the human form prints each check on a line.

use std::process::ExitCode;

use clap::Subcommand;
use wardbook_protocol::api::{ComplianceReport, ComplianceStatus};
use wardbook_server::config::Settings;
use wardbook_server::{AppState, compliance};

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// The compliance report: encryption, synthetic data, audit coverage,
    /// break-the-glass reviews, interfaces, the database connection.
    /// Exits 0 ok, 1 warning, 2 critical, 3 unknown (database unreachable).
    Compliance,
}

pub async fn run(settings: &Settings, json: bool, command: ReportCommand) -> anyhow::Result<ExitCode> {
    match command {
        ReportCommand::Compliance => {
            let report = match AppState::new(settings.clone()) {
                Ok(state) => compliance::report(&state).await,
                Err(e) => compliance::unavailable(settings.environment, &e.to_string()),
            };
            print(json, &report)?;
            Ok(exit_code(report.status))
        }
    }
}

/// The monitoring plugins' convention.
fn exit_code(status: ComplianceStatus) -> ExitCode {
    ExitCode::from(match status {
        ComplianceStatus::Ok => 0,
        ComplianceStatus::Warning => 1,
        ComplianceStatus::Critical => 2,
        ComplianceStatus::Unknown => 3,
    })
}

#[allow(clippy::print_stdout)]
fn print(json: bool, report: &ComplianceReport) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!("{}", human(report));
    }
    Ok(())
}

/// The first line is the summary a monitoring system shows; then a line per
/// check, its findings and its numbers indented below it.
fn human(report: &ComplianceReport) -> String {
    let not_ok = report.checks.iter().filter(|c| c.status != ComplianceStatus::Ok).count();
    let mut out = format!(
        "COMPLIANCE {}: {} of {} checks ok ({}, {})\n",
        report.status.as_str().to_uppercase(),
        report.checks.len() - not_ok,
        report.checks.len(),
        report.environment,
        report.generated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    for check in &report.checks {
        out.push_str(&format!("{:<8} {}: {}\n", check.status.as_str().to_uppercase(), check.code, check.message));
        for finding in &check.findings {
            out.push_str(&format!("         - {} {}: {}\n", finding.status.as_str(), finding.code, finding.message));
        }
        if !check.metrics.is_empty() {
            let metrics: Vec<String> = check.metrics.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("         [{}]\n", metrics.join(" ")));
        }
    }
    out.trim_end().to_owned()
}
