//! `wardbook-server fhir ...`: FHIR Bulk Data files, for IT staff. The work
//! is [`wardbook_server::fhir::ndjson`]'s; this prints its progress and
//! report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use wardbook_server::config::Settings;
use wardbook_server::fhir::ndjson::{self, ImportReport, Options, Progress};
use wardbook_server::fhir::store::Context;

use crate::{client_and_keys, emit};

/// How often a long import prints its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

#[derive(Subcommand, Debug)]
pub(crate) enum FhirCommand {
    /// Import FHIR Bulk Data NDJSON files (one resource per line: Patient,
    /// Encounter, Observation, AllergyIntolerance, MedicationRequest).
    /// Patient files go first,
    /// then Encounter files, then the rest. A line that cannot be applied is
    /// reported (file, line, element path) and the others are applied;
    /// exit 1 when any line failed. Importing a file again changes nothing
    /// that is already stored.
    Import {
        /// NDJSON files, e.g. an export's Patient.ndjson Observation.ndjson.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The sending system the rows are filed under (source system).
        #[arg(long, default_value = "fhir-bulk-import")]
        source: String,
        /// Resources per database transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..))]
        batch: u16,
    },
}

pub(crate) async fn fhir(settings: &Settings, json: bool, command: FhirCommand) -> anyhow::Result<ExitCode> {
    match command {
        FhirCommand::Import { files, source, batch } => {
            let (mut db, keys) = client_and_keys(settings).await?;
            let mut ctx = Context::new(source, settings.fhir_mrn_system.clone(), keys);
            let options = Options { batch_size: usize::from(batch), ..Options::default() };
            let mut last = Instant::now();
            let mut progress = |p: Progress| {
                if last.elapsed() >= PROGRESS_EVERY {
                    last = Instant::now();
                    eprintln!("fhir import: {} lines read, {} applied, {} failed", p.lines, p.applied, p.failed);
                }
            };
            match ndjson::import_files(&mut db, &files, &mut ctx, &options, &mut progress).await {
                Ok(report) => {
                    emit(json, serde_json::to_value(&report)?, &summary(&report));
                    Ok(if report.failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
                }
                Err(e) => {
                    // What was committed before the stop, then why it stopped.
                    emit(json, serde_json::to_value(&e.report)?, &summary(&e.report));
                    Err(e.into())
                }
            }
        }
    }
}

/// The report for a person: totals, each type, each failure listed.
fn summary(report: &ImportReport) -> String {
    let mut out = format!(
        "{} files, {} resources: {} applied, {} failed",
        report.files.len(),
        report.resources,
        report.applied,
        report.failed
    );
    for (resource_type, counts) in &report.by_type {
        out.push_str(&format!("\n  {resource_type}: {} applied, {} failed", counts.applied, counts.failed));
    }
    for f in &report.failures {
        out.push_str(&format!(
            "\n{} line {}{}: {}",
            f.file.display(),
            f.line,
            f.resource_type.as_ref().map(|t| format!(" ({t})")).unwrap_or_default(),
            f.message
        ));
    }
    if report.failures_not_listed > 0 {
        out.push_str(&format!("\n... and {} more failures", report.failures_not_listed));
    }
    out
}
