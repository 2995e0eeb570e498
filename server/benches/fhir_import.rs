//! `make bench`: FHIR Bulk Data import against raw PostgreSQL, side by side.
//!
//! A synthetic ward of 10,000 patients with their observations and
//! allergies, written by `synth --fhir`'s writer as NDJSON, imported by
//! `fhir::ndjson::import_files` (what `fhir import` runs): each line parsed,
//! checked, resolved and applied through `ingest` in its own savepoint, 500
//! per transaction. One file type at a time, so each has its rate: Patient
//! with Encounter (which places the patient), Observation, AllergyIntolerance.
//!
//! The baseline writes the same rows into a second database of the same
//! cluster by binary `COPY`, in one transaction per file type, without
//! parsing or lookups: patients with their ward and bed, identities,
//! location assignments and the MRN identifiers; observations and their
//! keys; allergies and their keys. Rows are built before the clock starts.
//!
//! A real cluster started by wardbook-test-support (fsync off there, on both
//! sides alike). Synthetic data only. Sizes: WARDBOOK_BENCH_FHIR_PATIENTS
//! (default 10,000) and WARDBOOK_BENCH_FHIR_DAYS, the days of observations
//! per patient (default 0: the admission's vital signs and laboratory
//! panels).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Transaction};
use uuid::Uuid;
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate};
use wardbook_server::config::DEFAULT_FHIR_MRN_SYSTEM;
use wardbook_server::fhir::emit::{self, ALLERGY_SYSTEM, OBSERVATION_SYSTEM};
use wardbook_server::fhir::ndjson::{self, Options};
use wardbook_server::fhir::store::Context;
use wardbook_server::{admin, db};
use wardbook_test_support::PgCluster;

const SOURCE: &str = "fhir-bulk-import";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let patients = env_usize("WARDBOOK_BENCH_FHIR_PATIENTS", 10_000);
    let days = env_usize("WARDBOOK_BENCH_FHIR_DAYS", 0);

    let cluster = tokio::task::spawn_blocking(PgCluster::start).await.unwrap().expect("a PostgreSQL cluster");
    let ours_url = cluster.url(&cluster.create_database().expect("database"));
    let raw_url = cluster.url(&cluster.create_database().expect("database"));
    db::migrate(&ours_url, None).await.expect("migrate");
    db::migrate(&raw_url, None).await.expect("migrate");
    let mut ours = connect(&ours_url).await;
    let mut raw = connect(&raw_url).await;
    let mut wards = HashMap::new();
    for ward in ["Ward 7A", "Ward 7B"] {
        admin::location_add(&ours, ward, ward).await.expect("a ward");
        wards.insert(ward.to_owned(), admin::location_add(&raw, ward, ward).await.expect("a ward"));
    }

    println!("generating a synthetic ward of {patients} patients ({days} days) as NDJSON ...");
    let anchor = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("anchor");
    let mut config = SyntheticConfig::new(2026, patients, anchor);
    config.days = u32::try_from(days).unwrap();
    let ward = generate(&config);
    let dir = tempfile::tempdir().unwrap();
    let written = emit::write_ward(&ward, DEFAULT_FHIR_MRN_SYSTEM, dir.path()).expect("the NDJSON files");
    let rows = RawRows::new(&ward, &wards);
    println!(
        "{} Patient, {} Encounter, {} Observation, {} AllergyIntolerance",
        written.patients, written.encounters, written.observations, written.allergies
    );

    let state = wardbook_server::AppState::new(wardbook_server::Settings::for_tests(ours_url.clone())).expect("state");
    let keys = state.keys.get().await.expect("the data keys");
    let mut ctx = Context::new(SOURCE, DEFAULT_FHIR_MRN_SYSTEM, keys);
    let mut cases = Vec::new();
    let (n, took) = import(&mut ours, &mut ctx, dir.path(), &["Patient", "Encounter"]).await;
    cases.push(("Patient + Encounter", n, took, rows.patients(&mut raw).await));
    let (n, took) = import(&mut ours, &mut ctx, dir.path(), &["Observation"]).await;
    cases.push(("Observation", n, took, rows.observations(&mut raw).await));
    let (n, took) = import(&mut ours, &mut ctx, dir.path(), &["AllergyIntolerance"]).await;
    cases.push(("AllergyIntolerance", n, took, rows.allergies(&mut raw).await));
    let total =
        cases.iter().fold((0, Duration::ZERO, Duration::ZERO), |(n, a, b), (_, m, c, d)| (n + m, a + *c, b + *d));
    cases.push(("all", total.0, total.1, total.2));

    // Both sides hold the same rows.
    for table in
        ["patients", "phi.patient_identities", "patient_locations", "observations", "allergies", "phi.external_ids"]
    {
        let sql = format!("SELECT count(*) FROM {table}");
        let ours_count: i64 = ours.query_one(&sql, &[]).await.unwrap().get(0);
        let raw_count: i64 = raw.query_one(&sql, &[]).await.unwrap().get(0);
        assert_eq!(ours_count, raw_count, "{table}");
    }

    let version: String = ours.query_one("SHOW server_version", &[]).await.unwrap().get(0);
    println!();
    println!("Wardbook FHIR Bulk Data import: {patients} patients, {days} days of observations, PostgreSQL {version}");
    println!();
    println!("| resources | count | seconds | resources/s | raw COPY seconds | raw COPY rows/s | ratio to baseline |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (case, n, took, base) in cases {
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        println!(
            "| {case} | {n} | {:.2} | {:.0} | {:.3} | {:.0} | {:.4} |",
            took.as_secs_f64(),
            rate(took),
            base.as_secs_f64(),
            rate(base),
            rate(took) / rate(base)
        );
    }
    println!();
    println!(
        "import = NDJSON read a line at a time, parsed, checked and applied through ingest, each resource in its own \
         savepoint, 500 per transaction, one connection; raw COPY = the same rows by binary COPY in one transaction, \
         no parsing or lookups (rows/s counted per resource); ratio = resources/s over the baseline's (higher is better)."
    );
}

/// Imports `{name}.ndjson` of `dir` for each name: resources applied, time taken.
async fn import(client: &mut Client, ctx: &mut Context, dir: &std::path::Path, names: &[&str]) -> (u64, Duration) {
    let files: Vec<_> = names.iter().map(|n| dir.join(format!("{n}.ndjson"))).collect();
    let started = Instant::now();
    let report = ndjson::import_files(client, &files, ctx, &Options::default(), &mut |_| {})
        .await
        .expect("the import runs to its end");
    let took = started.elapsed();
    assert_eq!(report.failures, [], "every resource applies");
    (report.applied, took)
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// The rows the import writes, built ahead for COPY.
struct RawRows {
    /// Each patient with its ward's id.
    patients: Vec<(wardbook_protocol::Patient, Option<Uuid>)>,
    observations: Vec<(wardbook_protocol::Observation, serde_json::Value, String)>,
    allergies: Vec<(wardbook_protocol::Allergy, serde_json::Value, String)>,
}

type Writer = std::pin::Pin<Box<BinaryCopyInWriter>>;

/// A binary COPY into `table (columns)` of values of `types`.
async fn writer(tx: &Transaction<'_>, table: &str, types: &[Type]) -> Writer {
    let sink = tx.copy_in(&format!("COPY {table} FROM STDIN (FORMAT binary)")).await.unwrap();
    Box::pin(BinaryCopyInWriter::new(sink, types))
}

async fn write(writer: &mut Writer, row: &[&(dyn ToSql + Sync)]) {
    writer.as_mut().write(row).await.unwrap();
}

async fn finish(mut writer: Writer) {
    writer.as_mut().finish().await.unwrap();
}

/// The sender's keys as the import files them.
async fn external_ids(tx: &Transaction<'_>) -> Writer {
    writer(tx, "phi.external_ids (kind, system, value, entity_id)", &[Type::TEXT, Type::TEXT, Type::TEXT, Type::UUID])
        .await
}

impl RawRows {
    fn new(ward: &SyntheticWard, wards: &HashMap<String, Uuid>) -> RawRows {
        let patients = ward
            .patients
            .iter()
            .map(|p| {
                let p = wardbook_protocol::Patient { source_system: SOURCE.to_owned(), ..p.clone() };
                let ward = p.location.as_ref().map(|w| wards[w]);
                (p, ward)
            })
            .collect();
        // As the import stores them: no panel (FHIR's subset has none),
        // recorded by the sending system.
        let observations = ward
            .observations
            .iter()
            .map(|o| {
                let o = wardbook_protocol::Observation { panel: None, recorded_by: SOURCE.to_owned(), ..o.clone() };
                let body = serde_json::to_value(&o).unwrap();
                let key = o.id.to_string();
                (o, body, key)
            })
            .collect();
        let allergies = ward
            .allergies
            .iter()
            .map(|a| {
                let a = wardbook_protocol::Allergy { recorded_by: SOURCE.to_owned(), ..a.clone() };
                let body = serde_json::to_value(&a).unwrap();
                let key = a.id.to_string();
                (a, body, key)
            })
            .collect();
        RawRows { patients, observations, allergies }
    }

    /// Patients with ward and bed, identities, assignments, MRN keys.
    async fn patients(&self, client: &mut Client) -> Duration {
        use Type as T;
        let started = Instant::now();
        let tx = client.transaction().await.unwrap();
        let mut out = writer(
            &tx,
            "patients (id, deleted, synthetic, sex, preferred_language, location, source_system, bed)",
            &[T::UUID, T::BOOL, T::BOOL, T::TEXT, T::TEXT, T::TEXT, T::TEXT, T::TEXT],
        )
        .await;
        for (p, _) in &self.patients {
            let row: [&(dyn ToSql + Sync); 8] = [
                &p.id,
                &p.deleted,
                &p.synthetic,
                &p.sex.as_str(),
                &p.preferred_language,
                &p.location,
                &p.source_system,
                &p.bed,
            ];
            write(&mut out, &row).await;
        }
        finish(out).await;
        let mut out = writer(
            &tx,
            "phi.patient_identities (patient_id, mrn, given_name, family_name, birth_date, phone, email, address)",
            &[T::UUID, T::TEXT, T::TEXT, T::TEXT, T::DATE, T::TEXT, T::TEXT, T::TEXT],
        )
        .await;
        for (p, _) in &self.patients {
            let row: [&(dyn ToSql + Sync); 8] =
                [&p.id, &p.mrn, &p.given_name, &p.family_name, &p.birth_date, &p.phone, &p.email, &p.address];
            write(&mut out, &row).await;
        }
        finish(out).await;
        let mut out =
            writer(&tx, "patient_locations (patient_id, location_id, active)", &[T::UUID, T::UUID, T::BOOL]).await;
        for (p, ward) in &self.patients {
            if let Some(ward) = ward {
                write(&mut out, &[&p.id, ward, &true]).await;
            }
        }
        finish(out).await;
        let mut out = external_ids(&tx).await;
        for (p, _) in &self.patients {
            write(&mut out, &[&"patient", &DEFAULT_FHIR_MRN_SYSTEM, &p.mrn, &p.id]).await;
        }
        finish(out).await;
        tx.commit().await.unwrap();
        started.elapsed()
    }

    /// Observations and their keys.
    async fn observations(&self, client: &mut Client) -> Duration {
        use Type as T;
        let started = Instant::now();
        let tx = client.transaction().await.unwrap();
        let mut out = writer(
            &tx,
            "observations (id, patient_id, synthetic, deleted, category, code, status, effective_at, body)",
            &[T::UUID, T::UUID, T::BOOL, T::BOOL, T::TEXT, T::TEXT, T::TEXT, T::TIMESTAMPTZ, T::JSONB],
        )
        .await;
        for (o, body, _) in &self.observations {
            let row: [&(dyn ToSql + Sync); 9] = [
                &o.id,
                &o.patient_id,
                &o.synthetic,
                &o.deleted,
                &o.category.as_str(),
                &o.code.code,
                &o.status.as_str(),
                &o.effective_at,
                body,
            ];
            write(&mut out, &row).await;
        }
        finish(out).await;
        let mut out = external_ids(&tx).await;
        for (o, _, key) in &self.observations {
            write(&mut out, &[&"observation", &OBSERVATION_SYSTEM, key, &o.id]).await;
        }
        finish(out).await;
        tx.commit().await.unwrap();
        started.elapsed()
    }

    /// Allergies and their keys.
    async fn allergies(&self, client: &mut Client) -> Duration {
        use Type as T;
        let started = Instant::now();
        let tx = client.transaction().await.unwrap();
        let mut out = writer(
            &tx,
            "allergies (id, patient_id, synthetic, deleted, criticality, clinical_status, verification_status, body)",
            &[T::UUID, T::UUID, T::BOOL, T::BOOL, T::TEXT, T::TEXT, T::TEXT, T::JSONB],
        )
        .await;
        for (a, body, _) in &self.allergies {
            let row: [&(dyn ToSql + Sync); 8] = [
                &a.id,
                &a.patient_id,
                &a.synthetic,
                &a.deleted,
                &a.criticality.as_str(),
                &a.clinical_status.as_str(),
                &a.verification_status.as_str(),
                body,
            ];
            write(&mut out, &row).await;
        }
        finish(out).await;
        let mut out = external_ids(&tx).await;
        for (a, _, key) in &self.allergies {
            write(&mut out, &[&"allergy", &ALLERGY_SYSTEM, key, &a.id]).await;
        }
        finish(out).await;
        tx.commit().await.unwrap();
        started.elapsed()
    }
}
