//! FHIR Bulk Data import: NDJSON files (one resource per line, as a Bulk
//! Data export writes them) applied through [`store::apply_resource`], the
//! same path as the FHIR API's writes, so a re-import updates the rows it
//! finds by identifier instead of duplicating them, and an unchanged
//! resource writes nothing.
//!
//! - Any size: a file is read a line at a time through a fixed buffer; a
//!   line longer than [`Options::max_line_bytes`] is reported, not read
//!   into memory.
//! - Batches: [`Options::batch_size`] resources per database transaction,
//!   so that a large file neither holds one transaction open for an hour
//!   nor pays a commit per line.
//! - One bad line does not spoil its batch: each resource is applied inside
//!   its own SAVEPOINT, rolled back alone when it is refused. The failure
//!   names the file, line, resource type and FHIR element path, never a
//!   value (values are patient data). A line the database refuses (a
//!   value PostgreSQL cannot hold, a constraint) fails alone the same way.
//! - Order: a resource refers to its patient, so Patient files are imported
//!   first, then Encounter files, then the rest (a file's type is that of
//!   its first resource, or else read from its name, `Patient.ndjson`).
//! - A lost database connection ends the import ([`ImportError`] holds the
//!   report of the batches committed). Running it again is safe: what was
//!   applied already is found and left unchanged.
//! - Memory: a line at a time, plus what [`Context`] keeps across files:
//!   `store` maps each imported Patient's `Patient/{id}` to its row, so that
//!   a later file's references by id resolve (some 100 bytes a patient).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio_postgres::{Client, Transaction};

use super::FhirError;
use super::resources::{
    self, AllergyIntolerance, Encounter, MedicationRequest, Observation, Patient, Resource, ResourceName,
};
use super::store::{self, Context};
use crate::error::Error;

/// How an import reads and batches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Resources per database transaction.
    pub batch_size: usize,
    /// The longest line read; a longer one is skipped and reported.
    pub max_line_bytes: usize,
    /// Failures listed in the report; past it they are only counted (a
    /// wholly wrong file would otherwise make a report as large as itself).
    pub max_failures_listed: usize,
}

impl Default for Options {
    fn default() -> Self {
        // 8 MiB: far above any resource of the supported types (a patient
        // is a few kilobytes), far below what would strain a server.
        Options { batch_size: 500, max_line_bytes: 8 << 20, max_failures_listed: 1000 }
    }
}

/// How far an import has got, handed to the progress callback after every
/// committed batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    /// Lines read, blank ones included.
    pub lines: u64,
    pub applied: u64,
    pub failed: u64,
}

/// Resources of one type: read, applied, failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TypeCounts {
    pub resources: u64,
    pub applied: u64,
    pub failed: u64,
}

impl TypeCounts {
    fn add(&mut self, other: TypeCounts) {
        self.resources += other.resources;
        self.applied += other.applied;
        self.failed += other.failed;
    }
}

/// A line that was not applied. Names where and what, never a value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub file: PathBuf,
    /// From 1.
    pub line: u64,
    /// The line's `resourceType`, when it has one shaped like a type name.
    pub resource_type: Option<String>,
    /// FHIR element paths (`Observation.valueQuantity.value`); none for a
    /// line that is not JSON.
    pub paths: Vec<String>,
    pub message: String,
}

/// One file as imported.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileReport {
    pub file: PathBuf,
    /// The type the file was ordered by (its first resource's, or its
    /// name's), if either told.
    pub resource_type: Option<String>,
    pub resources: u64,
    pub applied: u64,
    pub failed: u64,
}

/// What an import did, counting only committed batches.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// The files in the order they were imported.
    pub files: Vec<FileReport>,
    /// Resources read (non-blank lines).
    pub resources: u64,
    /// Stored, or found unchanged.
    pub applied: u64,
    pub failed: u64,
    /// By `resourceType`; lines without a readable one under `"unknown"`.
    pub by_type: BTreeMap<String, TypeCounts>,
    /// The first [`Options::max_failures_listed`] failures, in order.
    pub failures: Vec<Failure>,
    /// Failures past those listed.
    pub failures_not_listed: u64,
}

/// Why an import stopped before the end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Cause {
    #[error("cannot read {}: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("the database failed at line {line} of {}: {source}", file.display())]
    Database { file: PathBuf, line: u64, source: Error },
}

/// An import that stopped: why, and what the batches committed before did.
#[derive(Debug, thiserror::Error)]
#[error(
    "{cause}. {} resources were applied before it; the import can be run again (what is applied already is left unchanged).",
    report.applied
)]
pub struct ImportError {
    pub report: Box<ImportReport>,
    pub cause: Cause,
}

/// Imports `files` in dependency order (see the module documentation),
/// calling `progress` after each committed batch.
pub async fn import_files(
    client: &mut Client,
    files: &[PathBuf],
    ctx: &mut Context,
    options: &Options,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let order = match order(files, options.max_line_bytes).await {
        Ok(order) => order,
        Err(cause) => return Err(ImportError { report: Box::new(report), cause }),
    };
    let mut lines_read = 0;
    for (file, resource_type) in order {
        report.files.push(FileReport { file: file.clone(), resource_type, ..FileReport::default() });
        let run = Run { client: &mut *client, ctx: &mut *ctx, options, file: &file };
        if let Err(cause) = run.import(&mut report, &mut lines_read, progress).await {
            return Err(ImportError { report: Box::new(report), cause });
        }
    }
    Ok(report)
}

/// The files with their types, Patient files first, then Encounter files,
/// then the rest, each group in the order given. Every file is opened here,
/// so that a misspelt name stops the import before anything is applied.
async fn order(files: &[PathBuf], max_line_bytes: usize) -> Result<Vec<(PathBuf, Option<String>)>, Cause> {
    let mut typed = Vec::with_capacity(files.len());
    for file in files {
        let first =
            first_type(file, max_line_bytes).await.map_err(|source| Cause::Read { file: file.clone(), source })?;
        typed.push((file.clone(), first.or_else(|| type_from_name(file))));
    }
    typed.sort_by_key(|(_, resource_type)| rank(resource_type.as_deref()));
    Ok(typed)
}

/// Patient, then Encounter (it places a patient), then whatever refers to
/// a patient.
fn rank(resource_type: Option<&str>) -> u8 {
    match resource_type {
        Some(Patient::TYPE) => 0,
        Some(Encounter::TYPE) => 1,
        _ => 2,
    }
}

/// The `resourceType` of the first resource in the file, if it has one.
async fn first_type(file: &Path, max_line_bytes: usize) -> std::io::Result<Option<String>> {
    let mut lines = Lines::new(tokio::io::BufReader::new(tokio::fs::File::open(file).await?), max_line_bytes);
    while let Some((_, line)) = lines.next().await? {
        match line {
            Line::Text(bytes) if bytes.trim_ascii().is_empty() => continue,
            Line::Text(bytes) => {
                return Ok(serde_json::from_slice::<Value>(bytes).ok().as_ref().and_then(type_name));
            }
            Line::TooLong => return Ok(None),
        }
    }
    Ok(None)
}

/// The type a Bulk Data export's file name gives: `Patient.ndjson`,
/// `Patient.000.ndjson`, `Patient_2.ndjson`.
fn type_from_name(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    let stem: String = name.chars().take_while(char::is_ascii_alphabetic).collect();
    shaped(&stem).then_some(stem)
}

/// A `resourceType` shaped like one (a capital, then letters, at most 64):
/// the member is the sender's text, and a report must not repeat whatever
/// was put there.
fn shaped(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphabetic())
}

fn type_name(value: &Value) -> Option<String> {
    value.get("resourceType").and_then(Value::as_str).filter(|name| shaped(name)).map(str::to_owned)
}

/// One line read as a resource this import applies, or why not (with the
/// type when the line names one).
fn parse_line(bytes: &[u8], line: u64) -> Result<Resource, (Option<String>, FhirError)> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        (None, FhirError::Syntax { line: usize::try_from(line).unwrap_or(usize::MAX), column: e.column() })
    })?;
    let Some(resource_type) = type_name(&value) else {
        let error = match value.get("resourceType") {
            _ if !value.is_object() => FhirError::invalid("Resource", "a FHIR resource, a JSON object"),
            None => FhirError::missing("Resource.resourceType"),
            Some(_) => FhirError::unsupported_code("Resource.resourceType"),
        };
        return Err((None, error));
    };
    let fail = |error| (Some(resource_type.clone()), error);
    match resource_type.as_str() {
        Patient::TYPE => resources::from_value(value).map(|r| Resource::Patient(Box::new(r))).map_err(fail),
        Encounter::TYPE => resources::from_value(value).map(|r| Resource::Encounter(Box::new(r))).map_err(fail),
        Observation::TYPE => resources::from_value(value).map(|r| Resource::Observation(Box::new(r))).map_err(fail),
        AllergyIntolerance::TYPE => {
            resources::from_value(value).map(|r| Resource::AllergyIntolerance(Box::new(r))).map_err(fail)
        }
        MedicationRequest::TYPE => {
            resources::from_value(value).map(|r| Resource::MedicationRequest(Box::new(r))).map_err(fail)
        }
        other => Err(fail(FhirError::refused(
            other,
            "fhir import takes Patient, Encounter, Observation, AllergyIntolerance and MedicationRequest resources",
        ))),
    }
}

/// The import of one file.
struct Run<'a> {
    client: &'a mut Client,
    ctx: &'a mut Context,
    options: &'a Options,
    file: &'a Path,
}

/// What a batch did, merged into the report once it commits.
#[derive(Default)]
struct Pending {
    lines: u64,
    by_type: BTreeMap<String, TypeCounts>,
    failures: Vec<Failure>,
}

impl Pending {
    fn count(&mut self, resource_type: Option<&str>, applied: bool) {
        let counts = self.by_type.entry(resource_type.unwrap_or("unknown").to_owned()).or_default();
        counts.resources += 1;
        if applied {
            counts.applied += 1;
        } else {
            counts.failed += 1;
        }
    }

    fn fail(&mut self, file: &Path, line: u64, resource_type: Option<String>, error: &FhirError) {
        self.count(resource_type.as_deref(), false);
        self.failures.push(Failure {
            file: file.to_owned(),
            line,
            resource_type,
            paths: error.paths().into_iter().map(str::to_owned).collect(),
            message: error.to_string(),
        });
    }
}

impl ImportReport {
    /// Adds a committed batch of the last file.
    fn absorb(&mut self, pending: Pending, max_failures_listed: usize) {
        let mut batch = TypeCounts::default();
        for (resource_type, counts) in pending.by_type {
            batch.add(counts);
            self.by_type.entry(resource_type).or_default().add(counts);
        }
        self.resources += batch.resources;
        self.applied += batch.applied;
        self.failed += batch.failed;
        if let Some(file) = self.files.last_mut() {
            file.resources += batch.resources;
            file.applied += batch.applied;
            file.failed += batch.failed;
        }
        for failure in pending.failures {
            if self.failures.len() < max_failures_listed {
                self.failures.push(failure);
            } else {
                self.failures_not_listed += 1;
            }
        }
    }

    fn progress(&self, lines: u64) -> Progress {
        Progress { lines, applied: self.applied, failed: self.failed }
    }
}

impl Run<'_> {
    async fn import(
        self,
        report: &mut ImportReport,
        lines_read: &mut u64,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), Cause> {
        let Run { client, ctx, options, file } = self;
        let read = |source| Cause::Read { file: file.to_owned(), source };
        let database = |line, source| Cause::Database { file: file.to_owned(), line, source };
        let opened = tokio::fs::File::open(file).await.map_err(read)?;
        let mut lines = Lines::new(tokio::io::BufReader::with_capacity(1 << 16, opened), options.max_line_bytes);
        loop {
            let tx = client.transaction().await.map_err(|e| database(lines.number, e.into()))?;
            let mut pending = Pending::default();
            let mut savepoint = Savepoint::None;
            let mut resources = 0;
            let mut ended = true;
            while let Some((number, line)) = lines.next().await.map_err(read)? {
                pending.lines += 1;
                let bytes = match line {
                    Line::Text(bytes) if bytes.trim_ascii().is_empty() => continue,
                    Line::Text(bytes) => bytes,
                    Line::TooLong => {
                        let error = FhirError::refused("Resource", "the line is longer than fhir import reads (8 MiB)");
                        pending.fail(file, number, None, &error);
                        continue;
                    }
                };
                match parse_line(bytes, number) {
                    Ok(resource) => {
                        let resource_type = resource.resource_type().map(str::to_owned);
                        match savepoint.apply(&tx, &resource, ctx).await {
                            Ok(Ok(())) => pending.count(resource_type.as_deref(), true),
                            Ok(Err(error)) => pending.fail(file, number, resource_type, &error),
                            Err(e) => return Err(database(number, e)),
                        }
                    }
                    Err((resource_type, error)) => pending.fail(file, number, resource_type, &error),
                }
                resources += 1;
                if resources >= options.batch_size.max(1) {
                    ended = false;
                    break;
                }
            }
            tx.commit().await.map_err(|e| database(lines.number, e.into()))?;
            *lines_read += pending.lines;
            report.absorb(pending, options.max_failures_listed);
            progress(report.progress(*lines_read));
            if ended {
                return Ok(());
            }
        }
    }
}

/// The one savepoint of a batch, reused for each resource so that a
/// resource costs one extra round trip, not two: after a resource applied,
/// `RELEASE; SAVEPOINT` in one go; after one refused, the `ROLLBACK TO`
/// leaves the savepoint in place, clean, for the next. `COMMIT` releases it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Savepoint {
    /// None yet in this transaction.
    None,
    /// Set, with nothing done since.
    Clean,
    /// Set, with a resource applied since.
    Used,
}

const SAVEPOINT: &str = "SAVEPOINT fhir_import_line";

impl Savepoint {
    /// Applies one resource inside its own savepoint: kept when applied,
    /// rolled back alone when refused, whether by the FHIR rules or by the
    /// database (a constraint, a value PostgreSQL cannot hold). Only a
    /// database that is gone, or a savepoint that cannot be set or rolled
    /// back, is an `Err`: then no further line can be applied either.
    async fn apply(
        &mut self,
        tx: &Transaction<'_>,
        resource: &Resource,
        ctx: &mut Context,
    ) -> crate::error::Result<Result<(), FhirError>> {
        match self {
            Savepoint::None => tx.batch_execute(SAVEPOINT).await?,
            Savepoint::Used => tx.batch_execute(&format!("RELEASE {SAVEPOINT}; {SAVEPOINT}")).await?,
            Savepoint::Clean => {}
        }
        // Until the outcome is known, the savepoint is not clean.
        *self = Savepoint::Used;
        let refusal = match store::apply_resource(tx, resource, ctx).await {
            Ok(Ok(_)) => return Ok(Ok(())),
            Ok(Err(error)) => error,
            Err(error @ Error::Unavailable { .. }) => return Err(error),
            Err(error) => database_refusal(resource, &error),
        };
        tx.batch_execute("ROLLBACK TO SAVEPOINT fhir_import_line").await?;
        *self = Savepoint::Clean;
        Ok(Err(refusal))
    }
}

/// A database error about one resource, as a refusal of that resource. The
/// crate's errors hold no values (a data exception is reported by its code
/// only, see `error.rs`), so the text can be shown.
fn database_refusal(resource: &Resource, error: &Error) -> FhirError {
    let path = resource.resource_type().unwrap_or("Resource").to_owned();
    match error {
        Error::Internal(detail) => {
            tracing::warn!(detail = %detail, resource_type = %path, "the database refused an imported resource");
        }
        other => {
            tracing::warn!(code = other.code(), resource_type = %path, "the database refused an imported resource")
        }
    }
    match error {
        Error::BadRequest { .. } => FhirError::refused(
            path,
            "a value cannot be stored (text with a NUL character, or a date or number out of range)",
        ),
        _ => FhirError::refused(path, "the database refused it (the service log has the detail)"),
    }
}

/// A line, or the news that it was longer than the limit (and skipped).
enum Line<'a> {
    Text(&'a [u8]),
    TooLong,
}

/// Lines of at most `max` bytes, each without its `\n` (or `\r\n`), read
/// through the reader's buffer: memory stays bounded whatever the file.
struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    max: usize,
    /// The number of the line last returned, from 1.
    number: u64,
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    fn new(reader: R, max: usize) -> Self {
        Lines { reader, buf: Vec::new(), max, number: 0 }
    }

    /// The next line and its number, `None` at the end.
    async fn next(&mut self) -> std::io::Result<Option<(u64, Line<'_>)>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (chunk, used, end) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long && self.buf.len() + chunk.len() <= self.max {
                self.buf.extend_from_slice(chunk);
            } else {
                too_long = true;
                // Give back what a too long line took.
                self.buf = Vec::new();
            }
            self.reader.consume(used);
            if end {
                break;
            }
        }
        self.number += 1;
        if too_long {
            return Ok(Some((self.number, Line::TooLong)));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some((self.number, Line::Text(&self.buf))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn lines_of(text: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
        // A reader handing out 3 bytes at a time, so lines cross its buffer.
        let reader = tokio::io::BufReader::with_capacity(3, text);
        let mut lines = Lines::new(reader, max);
        let mut out = Vec::new();
        while let Some((_, line)) = lines.next().await.unwrap() {
            out.push(match line {
                Line::Text(bytes) => Some(bytes.to_vec()),
                Line::TooLong => None,
            });
        }
        out
    }

    #[tokio::test]
    async fn lines_end_at_newlines_crlf_or_the_end_and_long_ones_are_skipped() {
        let got = lines_of(b"ab\r\n\nlong line here\ncd", 5).await;
        assert_eq!(got, [Some(b"ab".to_vec()), Some(Vec::new()), None, Some(b"cd".to_vec())]);
        assert!(lines_of(b"", 5).await.is_empty());
        assert_eq!(lines_of(b"ab\n", 5).await, [Some(b"ab".to_vec())]);
    }

    #[test]
    fn files_are_ordered_patients_then_encounters_then_the_rest() {
        let mut files = [Some("Observation"), None, Some("Encounter"), Some("Patient"), Some("Bundle")];
        files.sort_by_key(|t| rank(*t));
        assert_eq!(files, [Some("Patient"), Some("Encounter"), Some("Observation"), None, Some("Bundle")]);
        assert_eq!(type_from_name(Path::new("/x/Patient.ndjson")).as_deref(), Some("Patient"));
        assert_eq!(type_from_name(Path::new("Observation_2.ndjson")).as_deref(), Some("Observation"));
        assert_eq!(type_from_name(Path::new("export-1.ndjson")), None);
    }

    #[test]
    fn a_bad_line_is_named_by_path_and_type_never_by_value() {
        let (t, e) = parse_line(br#"{"resourceType":"Patient","birthDate":["SECRET-1"]}"#, 4).unwrap_err();
        assert_eq!(t.as_deref(), Some("Patient"));
        assert_eq!(e.paths(), ["Patient.birthDate"]);
        assert!(!e.to_string().contains("SECRET"));

        let (t, e) = parse_line(br#"{"resourceType":"Medication","code":"SECRET-2"}"#, 5).unwrap_err();
        assert_eq!(t.as_deref(), Some("Medication"));
        assert_eq!(e.paths(), ["Medication"]);

        let (t, e) = parse_line(br#"{"resourceType":"SECRET 3"}"#, 6).unwrap_err();
        assert_eq!(t, None);
        assert_eq!(e.paths(), ["Resource.resourceType"]);
        assert!(!e.to_string().contains("SECRET"));

        let (_, e) = parse_line(br#"{"resourceType": "Patient", SECRET"#, 7).unwrap_err();
        assert_eq!(e, FhirError::Syntax { line: 7, column: 29 });
        assert!(parse_line(b"[1]", 8).is_err());
    }
}
