//! FHIR Bulk Data import (issue 14): the files `synth --fhir` writes, for
//! 10,000 patients, imported through `fhir::ndjson::import_files` (the
//! function `fhir import` calls) into a real PostgreSQL as the service's
//! own role; a second import of the same files changes nothing; a file with
//! bad lines has them reported (line, path, never a value) and the rest
//! applied; and the binary run once on a small file.
//!
//! Observations and allergies come from the first 20 patients' first day
//! (the generator makes patient `i` the same whatever the ward's size), so
//! that the test takes seconds while the Patient and Encounter files hold
//! all 10,000. Synthetic data only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use common::TestServer;
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate};
use wardbook_server::config::DEFAULT_FHIR_MRN_SYSTEM;
use wardbook_server::fhir::emit;
use wardbook_server::fhir::ndjson::{self, ImportReport, Options, Progress};
use wardbook_server::fhir::store::Context;

const SEED: u64 = 14;
const PATIENTS: usize = 10_000;
/// Patients whose observations and allergies are written too.
const WITH_RESULTS: usize = 20;

fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().unwrap()
}

/// 10,000 patients on wards 7A and 7B; the first 20's observations and
/// allergies over one day.
fn ward() -> SyntheticWard {
    let mut config = SyntheticConfig::new(SEED, PATIENTS, anchor());
    config.days = 0;
    let mut ward = generate(&config);
    config.patients = WITH_RESULTS;
    config.days = 1;
    let first = generate(&config);
    assert_eq!(ward.patients[..WITH_RESULTS], first.patients[..], "patient i does not depend on the ward's size");
    ward.observations = first.observations;
    ward.allergies = first.allergies;
    ward
}

async fn add_wards(server: &TestServer) {
    let client = server.service().await;
    for ward in ["Ward 7A", "Ward 7B"] {
        wardbook_server::admin::location_add(&client, ward, ward).await.unwrap();
    }
}

async fn context(server: &TestServer) -> Context {
    let keys = server.state.keys.get().await.expect("the data keys");
    Context::new("fhir-bulk-import", DEFAULT_FHIR_MRN_SYSTEM, keys)
}

/// Imports `files` as the service's role, with the CLI's options; the
/// report, and every progress the callback saw.
async fn import(server: &TestServer, files: &[PathBuf]) -> (ImportReport, Vec<Progress>) {
    let mut client = server.service().await;
    let mut seen = Vec::new();
    let mut context = context(server).await;
    let report = ndjson::import_files(&mut client, files, &mut context, &Options::default(), &mut |p| seen.push(p))
        .await
        .expect("the import runs to its end");
    (report, seen)
}

/// Every synced row's (version, change_xid), by table and key.
async fn stamps(server: &TestServer) -> BTreeMap<(String, String), (i64, i64)> {
    let client = server.owner().await;
    let mut out = BTreeMap::new();
    for (table, key) in [
        ("patients", "id::text"),
        ("observations", "id::text"),
        ("allergies", "id::text"),
        ("patient_locations", "patient_id::text || '/' || location_id::text"),
    ] {
        for row in client.query(&format!("SELECT {key}, version, change_xid FROM {table}"), &[]).await.unwrap() {
            out.insert((table.to_owned(), row.get(0)), (row.get(1), row.get(2)));
        }
    }
    out
}

fn files_in(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(|name| dir.join(format!("{name}.ndjson"))).collect()
}

#[tokio::test]
async fn ten_thousand_patients_import_and_a_second_import_changes_nothing() {
    let server = TestServer::start().await;
    add_wards(&server).await;
    let ward = ward();
    let dir = tempfile::tempdir().unwrap();
    let written = emit::write_ward(&ward, DEFAULT_FHIR_MRN_SYSTEM, dir.path()).unwrap();
    assert_eq!((written.patients, written.encounters), (PATIENTS as u64, PATIENTS as u64));
    assert!(written.observations > 500 && written.allergies > 0, "{written:?}");

    // Given the dependants first: the import puts Patient, then Encounter first.
    let files = files_in(dir.path(), &["AllergyIntolerance", "Observation", "Encounter", "Patient"]);
    let started = Instant::now();
    let (report, progress) = import(&server, &files).await;
    println!("first import: {} resources in {:.1} s", report.resources, started.elapsed().as_secs_f64());
    assert_eq!(report.failures, [], "every resource applies");
    assert_eq!((report.resources, report.applied, report.failed), (written.resources(), written.resources(), 0));
    let order: Vec<_> = report.files.iter().map(|f| f.resource_type.as_deref().unwrap()).collect();
    assert_eq!(order, ["Patient", "Encounter", "AllergyIntolerance", "Observation"]);
    for (name, count) in [
        ("Patient", written.patients),
        ("Encounter", written.encounters),
        ("Observation", written.observations),
        ("AllergyIntolerance", written.allergies),
    ] {
        assert_eq!(report.by_type[name].applied, count, "{name}");
    }
    // Progress after every batch of 500, rising to the totals.
    assert!(progress.len() as u64 >= written.resources() / 500, "{}", progress.len());
    assert!(progress.windows(2).all(|w| w[0].lines <= w[1].lines && w[0].applied <= w[1].applied));
    let last = progress.last().unwrap();
    assert_eq!((last.lines, last.applied, last.failed), (written.resources(), written.resources(), 0));

    // Row counts are what was written; every row synthetic.
    let count = |sql: &'static str| {
        let server = &server;
        async move { server.owner().await.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) as u64 }
    };
    assert_eq!(count("SELECT count(*) FROM patients").await, written.patients);
    assert_eq!(count("SELECT count(*) FROM phi.patient_identities").await, written.patients);
    assert_eq!(count("SELECT count(*) FROM patient_locations WHERE active").await, written.encounters);
    assert_eq!(count("SELECT count(*) FROM observations").await, written.observations);
    assert_eq!(count("SELECT count(*) FROM allergies").await, written.allergies);
    assert_eq!(count("SELECT count(*) FROM patients WHERE NOT synthetic").await, 0);
    assert_eq!(count("SELECT count(*) FROM observations WHERE NOT synthetic").await, 0);
    assert_eq!(count("SELECT count(*) FROM allergies WHERE NOT synthetic").await, 0);
    // Each patient's MRN, ward and bed as the generator made them.
    let keys = server.state.keys.get().await.expect("the data keys");
    let stored: HashMap<String, (Option<String>, Option<String>)> =
        wardbook_server::admin::patients(&mut server.owner().await, &keys)
            .await
            .expect("the stored patients")
            .into_iter()
            .map(|p| (p.mrn, (p.location, p.bed)))
            .collect();
    for p in &ward.patients {
        assert_eq!(stored.get(&p.mrn), Some(&(p.location.clone(), p.bed.clone())), "patient {}", p.id);
    }

    // The same files again: found by identifier, nothing written.
    let before = stamps(&server).await;
    let ids = count("SELECT count(*) FROM phi.external_ids").await;
    let started = Instant::now();
    let (again, _) = import(&server, &files).await;
    println!("second import: {} resources in {:.1} s", again.resources, started.elapsed().as_secs_f64());
    assert_eq!(again.failures, []);
    assert_eq!((again.applied, again.failed), (written.resources(), 0));
    assert_eq!(stamps(&server).await, before, "no row has a new version or change_xid");
    assert_eq!(count("SELECT count(*) FROM phi.external_ids").await, ids);
}

/// A small ward's files, in a directory of their own.
fn small_ward(dir: &Path) -> (SyntheticWard, emit::Written) {
    let mut config = SyntheticConfig::new(SEED + 1, 2, anchor());
    config.days = 0;
    let ward = generate(&config);
    let written = emit::write_ward(&ward, DEFAULT_FHIR_MRN_SYSTEM, dir).unwrap();
    (ward, written)
}

/// `Patient.ndjson` of `dir` with a bad patient (a birth date that is no
/// date) and a resource type the import does not take put in as lines 2
/// and 3; the values are markers no report may repeat.
fn with_bad_lines(dir: &Path) -> PathBuf {
    let file = dir.join("Patient.ndjson");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut bad: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    bad["birthDate"] = "SECRET-DOB-1".into();
    bad["identifier"][0]["value"] = "SYN-SECRET".into();
    lines.insert(1, bad.to_string());
    lines.insert(2, r#"{"resourceType":"Medication","id":"x","code":{"text":"SECRET-MEDICATION"}}"#.to_owned());
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    file
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_line_and_an_unknown_type_are_reported_and_the_rest_applies() {
    let server = TestServer::start().await;
    add_wards(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, written) = small_ward(dir.path());
    let patients = with_bad_lines(dir.path());
    let mut files = files_in(dir.path(), &["Observation", "Encounter"]);
    files.push(patients.clone());

    // A file that cannot be opened stops the import before anything is applied.
    let mut client = server.service().await;
    let missing = [patients.clone(), dir.path().join("Missing.ndjson")];
    let mut context = context(&server).await;
    let stopped = ndjson::import_files(&mut client, &missing, &mut context, &Options::default(), &mut |_| {})
        .await
        .expect_err("a missing file is an error");
    assert!(matches!(stopped.cause, ndjson::Cause::Read { ref file, .. } if file.ends_with("Missing.ndjson")));
    assert_eq!((stopped.report.applied, server.row_count("patients").await), (0, 0));

    let (report, _) = import(&server, &files).await;
    let good = written.patients + written.encounters + written.observations;
    assert_eq!((report.resources, report.applied, report.failed), (good + 2, good, 2));
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
    let (bad, unknown) = (&report.failures[0], &report.failures[1]);
    assert_eq!((&bad.file, bad.line, bad.resource_type.as_deref()), (&patients, 2, Some("Patient")));
    assert_eq!(bad.paths, ["Patient.birthDate"]);
    assert_eq!((&unknown.file, unknown.line, unknown.resource_type.as_deref()), (&patients, 3, Some("Medication")));
    assert_eq!(unknown.paths, ["Medication"]);
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("SECRET"), "no value in the report: {text}");
    assert_eq!(report.by_type["Medication"].failed, 1);
    assert_eq!(report.by_type["Patient"].applied, written.patients);

    assert_eq!(server.row_count("patients").await as u64, written.patients);
    assert_eq!(server.row_count("observations").await as u64, written.observations);

    // A value FHIR accepts and Wardbook refuses (a NUL character): the
    // refusal is that line's, names the element, and the next line applies.
    let first: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&patients).unwrap().lines().next().unwrap()).unwrap();
    let new_patient = |mrn: &str, address: &str| {
        let mut p = first.clone();
        p["identifier"][0]["value"] = mrn.into();
        p["address"] = serde_json::json!([{ "text": address }]);
        p.to_string()
    };
    let file = dir.path().join("more.ndjson");
    let lines =
        [new_patient("SYN-990001", "1 Synthetic\u{0}Way SECRET-ADDRESS"), new_patient("SYN-990002", "2 Synthetic Way")];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (report, _) = import(&server, std::slice::from_ref(&file)).await;
    assert_eq!((report.applied, report.failed), (1, 1), "{:?}", report.failures);
    assert_eq!(
        (report.failures[0].line, report.failures[0].paths.as_slice()),
        (1, ["Patient.address[0].text".to_owned()].as_slice())
    );
    assert!(!serde_json::to_string(&report).unwrap().contains("SECRET"));
    assert_eq!(server.row_count("patients").await as u64, written.patients + 1);
}

#[test]
fn the_cli_writes_a_ward_and_imports_it_reporting_a_bad_line() {
    const BIN: &str = env!("CARGO_BIN_EXE_wardbook-server");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(async {
        let server = TestServer::start().await;
        add_wards(&server).await;
        server
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "").unwrap();
    // A key-encryption key of this test's own: with the environment cleared
    // the throwaway key's place (user, temporary directory) is not this
    // user's.
    let kek = dir.path().join("kek");
    wardbook_server::keys::write_new_kek(&kek).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("WARDBOOK_SERVER_CONFIG", &config)
            .env("WARDBOOK_KEK_FILE", &kek)
            .env("WARDBOOK_DATABASE_URL", &server.service_url)
            .env("WARDBOOK_ENV", "test")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("the wardbook-server binary runs");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (out.status.code(), stdout, stderr)
    };

    // synth --fhir with --hl7: no database needed, both written.
    let ward = dir.path().join("ward");
    let hl7 = dir.path().join("ward.hl7");
    let args = ["synth", "--patients", "3", "--seed", "5", "--json", "--fhir"];
    let (code, stdout, stderr) = run(&[&args[..], &[ward.to_str().unwrap(), "--hl7", hl7.to_str().unwrap()]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    let synth: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(synth["fhir"]["patients"], 3);
    assert!(synth["messages"].as_u64().unwrap() > 3);
    assert!(hl7.exists());

    let patients = with_bad_lines(&ward);
    let observations = ward.join("Observation.ndjson");
    let (code, stdout, stderr) =
        run(&["fhir", "import", observations.to_str().unwrap(), patients.to_str().unwrap(), "--json"]);
    assert_eq!(code, Some(1), "a failed line exits 1: {stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["failed"], 2);
    assert_eq!(report["applied"], report["resources"].as_u64().unwrap() - 2);
    assert_eq!(report["by_type"]["Patient"]["applied"], 3);
    assert_eq!(report["failures"][0]["line"], 2);
    assert_eq!(report["failures"][0]["paths"][0], "Patient.birthDate");
    assert_eq!(report["failures"][1]["line"], 3);
    assert!(!stdout.contains("SECRET") && !stderr.contains("SECRET"), "{stdout}\n{stderr}");
    // For a person: the totals, each type, each failure by file and line.
    let (code, stdout, stderr) = run(&["fhir", "import", observations.to_str().unwrap(), patients.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    println!("{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "2 files, {} resources: {} applied, 2 failed",
            report["resources"], report["applied"]
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} line 2 (Patient): Patient.birthDate is invalid", patients.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} line 3 (Medication): Medication cannot be accepted", patients.display())),
        "{stdout}"
    );
    assert!(!stdout.contains("SECRET"));
    let observations_written = synth["fhir"]["observations"].as_u64().unwrap();
    let stored = runtime.block_on(server.row_count("observations")) as u64;
    assert_eq!(stored, observations_written);
}
