//! `make bench`: the store against raw SQLCipher, in one run, on this machine.
//!
//! At 10,000 patients and 1,000,000 observations (override with
//! WARDBOOK_BENCH_PATIENTS / WARDBOOK_BENCH_OBSERVATIONS):
//! - bulk insert of observations through the store, next to a raw prepared
//!   INSERT loop into the same schema with the same key and settings;
//! - chart open (the app's own read: the chart header, the allergies and
//!   the vitals tab, under one audit commit) p50/p99, next to the same reads
//!   done raw plus one durable commit;
//! - census search by name prefix and by MRN (audited) p50/p99, next to the
//!   raw query plus one durable commit (the floor of any audited view);
//! - one durable commit alone (an event-sized row, synchronous=FULL);
//! - start: the store opened afresh and the first census of a ward, next to
//!   a raw open and the ward's patient rows;
//! - chart open with medications (the chart open, then the medications
//!   tab: active orders and the 24-hour MAR, each an audited read) p50/p99,
//!   next to the same rows read raw without audit;
//! - the census of a 40-bed ward with NEWS2 and the next dose due (one
//!   audited read) p50/p99, next to the raw census query plus the raw reads
//!   of each patient's latest vital signs, orders and administrations.
//!
//! The measured side calls the store and `audit::reads`, as the app does.
//! The baselines keep their own SQL (a plain INSERT, reads without audit:
//! that is what they measure). A raw read reads every column of every row
//! it returns, as any reader that shows them must (SQLite decodes a column
//! only when asked for it), and parses nothing. The rows the INSERT baseline wrote are
//! checked against the store's own through `Store::digest`, so a schema
//! change the baseline misses stops the run instead of skewing the ratio.
//!
//! A benchmark, not a test: it prints figures and asserts nothing about time.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

#[path = "common/raw_sqlcipher.rs"]
mod raw_sqlcipher;

use chrono::{TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use wardbook::audit::AccessContext;
use wardbook::audit::reads::{self, Source};
use wardbook::keys::DbKey;
use wardbook::store::Store;
use wardbook_protocol::Observation;
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate, generate_range};

const BATCH: usize = 10_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let patients = env_usize("WARDBOOK_BENCH_PATIENTS", 10_000);
    let wanted = env_usize("WARDBOOK_BENCH_OBSERVATIONS", 1_000_000);
    let samples = env_usize("WARDBOOK_BENCH_SAMPLES", 2_000);
    println!("generating a synthetic ward of {patients} patients ...");
    let anchor = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("anchor");
    let mut config = SyntheticConfig::new(2026, patients, anchor);
    config.days = 7;
    let (ward, observations) = generate_ward(&config, wanted);
    println!("{} observations, {} allergies", observations.len(), ward.allergies.len());

    let dir = tempfile::tempdir().expect("temp dir");
    let key = DbKey::generate();

    // Baseline: raw prepared INSERT into the same schema, same key and settings.
    let baseline_path = dir.path().join("baseline.db");
    let (mut base_store, _) = Store::open(&baseline_path, &key, &dir.path().join("q")).expect("open");
    base_store.upsert_patients(&ward.patients).expect("patients");
    drop(base_store);
    let mut raw = raw_sqlcipher::raw_connection(&baseline_path, &key, "");
    let raw_rate = timed_rate(observations.len(), || raw_insert(&mut raw, &observations));
    drop(raw);

    // Wardbook: the store's bulk upsert.
    let db_path = dir.path().join("wardbook.db");
    let (mut store, _) = Store::open(&db_path, &key, &dir.path().join("q")).expect("open");
    store.upsert_patients(&ward.patients).expect("patients");
    store.upsert_allergies(&ward.allergies).expect("allergies");
    store.upsert_medications(&ward.medication_requests, &ward.medication_administrations, &[]).expect("medications");
    let store_rate = timed_rate(observations.len(), || {
        for chunk in observations.chunks(BATCH) {
            store.upsert_observations(chunk).expect("insert");
        }
        // Timed with the rows: the raw loop's connection copies its log into
        // the database as it goes (SQLite's automatic checkpoints); the
        // store's checkpoint thread does it beside the inserts, and what is
        // left is copied here, so the chart opens below do not share the
        // disk with the inserts' backlog.
        settle(&store);
    });

    let ctx = AccessContext::treatment("bench-clinician");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let picks: Vec<uuid::Uuid> =
        (0..samples).map(|_| ward.patients[rng.random_range(0..ward.patients.len())].id).collect();
    let raw_reader = raw_sqlcipher::raw_connection(&db_path, &key, "");
    // The physical floor of an audited view: one durable commit of an
    // event-sized row, on the baseline's own connection to the same file.
    raw_reader
        .execute_batch("CREATE TABLE IF NOT EXISTS bench_floor (n INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .expect("floor table");
    let commit = || durable_commit(&raw_reader);

    let chart = latencies(&picks, |id| {
        reads::open_chart(&mut store, &ctx, *id, &Source::Cache).expect("chart");
    });
    let chart_raw = latencies(&picks, |id| {
        raw_chart(&raw_reader, *id);
        commit();
    });
    let commit_only = latencies(&picks, |_| commit());

    let prefixes: Vec<String> = (0..samples)
        .map(|_| {
            let p = &ward.patients[rng.random_range(0..ward.patients.len())];
            p.family_name.chars().take(3).collect()
        })
        .collect();
    let search = latencies(&prefixes, |prefix| {
        reads::search(&mut store, &ctx, prefix).expect("search");
    });
    let search_raw = latencies(&prefixes, |prefix| {
        raw_search(&raw_reader, prefix);
        commit();
    });
    let mrns: Vec<String> =
        (0..samples).map(|_| ward.patients[rng.random_range(0..ward.patients.len())].mrn.clone()).collect();
    let mrn_search = latencies(&mrns, |mrn| {
        let found = reads::search(&mut store, &ctx, mrn).expect("search");
        assert!(found.iter().any(|p| &p.mrn == mrn));
    });
    let mrn_search_raw = latencies(&mrns, |mrn| {
        raw_mrn_search(&raw_reader, mrn);
        commit();
    });

    let now = Utc::now();
    let window = (now - chrono::Duration::hours(24), now + chrono::Duration::hours(24));
    let chart_meds = latencies(&picks, |id| {
        reads::open_chart(&mut store, &ctx, *id, &Source::Cache).expect("chart");
        reads::medications(&mut store, &ctx, *id, &Source::Cache, window, now).expect("medications");
    });
    let chart_meds_raw = latencies(&picks, |id| raw_chart_medications(&raw_reader, *id));
    let (census, census_raw) = census_of_40_beds(&dir, &key, anchor, &ctx, samples);
    drop(store);
    let start = start_to_census(&db_path, &key, &dir.path().join("q"), &ctx, &ward.patients);

    let cipher: String = raw_reader.query_row("PRAGMA cipher_version", [], |r| r.get(0)).expect("version");
    // After every measurement (reading every row warms the page cache).
    let (base_store, _) = Store::open(&baseline_path, &key, &dir.path().join("q")).expect("open");
    let (store, _) = Store::open(&db_path, &key, &dir.path().join("q")).expect("open");
    assert!(
        observation_digests(&base_store) == observation_digests(&store),
        "the INSERT baseline no longer writes what the store writes: bring raw_insert up to the schema"
    );
    println!();
    println!(
        "Wardbook store benchmark: {patients} patients, {} observations, SQLCipher {cipher}, {samples} samples per latency",
        observations.len()
    );
    println!("{:<46} {:>14} {:>14} {:>8}   baseline", "measurement", "wardbook", "baseline", "ratio");
    row("bulk insert observations (rows/s)", store_rate, raw_rate, "raw prepared INSERT loop, same schema");
    row_ms("chart open p50 (ms)", chart.0, chart_raw.0, "same reads, raw, + one durable commit");
    row_ms("chart open p99 (ms)", chart.1, chart_raw.1, "same reads, raw, + one durable commit");
    row_ms("census search, name prefix p50 (ms)", search.0, search_raw.0, "same query, raw, + one durable commit");
    row_ms("census search, name prefix p99 (ms)", search.1, search_raw.1, "same query, raw, + one durable commit");
    row_ms("census search, MRN p50 (ms)", mrn_search.0, mrn_search_raw.0, "same query, raw, + one durable commit");
    row_ms("census search, MRN p99 (ms)", mrn_search.1, mrn_search_raw.1, "same query, raw, + one durable commit");
    row_ms("chart open + medications p50 (ms)", chart_meds.0, chart_meds_raw.0, "same rows, raw, no audit");
    row_ms("chart open + medications p99 (ms)", chart_meds.1, chart_meds_raw.1, "same rows, raw, no audit");
    row_ms("census 40 beds, NEWS2 + next due p50 (ms)", census.0, census_raw.0, "same rows, raw, no audit");
    row_ms("census 40 beds, NEWS2 + next due p99 (ms)", census.1, census_raw.1, "same rows, raw, no audit");
    row_ms("start: open p50 (ms)", start.open_only.0, start.raw.0, "raw open + the ward's patient rows");
    row_ms("start: open max (ms)", start.open_only.1, start.raw.1, "raw open + the ward's patient rows");
    row_ms("start: open + first census p50 (ms)", start.ours.0, start.raw.0, "raw open + the ward's patient rows");
    row_ms("start: open + first census max (ms)", start.ours.1, start.raw.1, "raw open + the ward's patient rows");
    println!();
    println!(
        "one durable commit (an event-sized row, synchronous=FULL; the floor of any audited view): p50 {:.3} ms, p99 {:.3} ms",
        commit_only.0, commit_only.1
    );
    println!(
        "start = Store::open (key, settings, migrations checked, device id; no whole-file check) then reads::census of {} ({} patients), {} runs, file in memory; database {:.0} MB",
        start.ward,
        start.ward_patients,
        START_RUNS,
        start.file_bytes as f64 / 1e6
    );
    println!(
        "the whole-file PRAGMA quick_check that start no longer runs (it runs in the background): {:.0} ms on this file",
        start.quick_check_ms
    );
    println!(
        "chart open + medications = reads::open_chart (header, allergies, vitals) and reads::medications (orders, 24 h back and ahead): two audit commits"
    );
    println!(
        "census = reads::census on a 40-patient ward (NEWS2 from the latest vitals, next due and overdue doses): one audit commit"
    );
    println!(
        "chart open = reads::open_chart (patient, allergies and the vitals tab: up to {} vitals, pending marks): one audit commit",
        reads::TAB_LIMIT
    );
    println!("with synchronous=FULL; ratio = wardbook / baseline (for rates, higher is better; for latency, lower).");
    println!("{}", resident_memory());
}

/// This process's resident memory now and at its peak (the generated rows
/// included), from /proc.
fn resident_memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    format!("resident memory afterwards: {} (peak {})", field("VmRSS:"), field("VmHWM:"))
}

/// How many cold starts `start_to_census` times.
const START_RUNS: usize = 7;

struct StartTimes {
    /// (p50, max) in ms of `Store::open` alone.
    open_only: (f64, f64),
    /// (p50, max) in ms (with so few runs the p99 is the max): open +
    /// census, and raw open + the ward's rows.
    ours: (f64, f64),
    raw: (f64, f64),
    ward: String,
    ward_patients: usize,
    file_bytes: u64,
    quick_check_ms: f64,
}

/// A workstation start on the large cache: the store opened afresh, then the
/// first census of one ward (what a clinician sees after signing in), next
/// to a raw open and the ward's patient rows. Also times the whole-file
/// check the start path used to run, for the record.
fn start_to_census(
    path: &std::path::Path,
    key: &DbKey,
    quarantine: &std::path::Path,
    ctx: &AccessContext,
    patients: &[wardbook_protocol::Patient],
) -> StartTimes {
    let ward = patients.iter().find_map(|p| p.location.clone()).expect("a ward");
    let ward_patients = patients.iter().filter(|p| p.location.as_deref() == Some(ward.as_str())).count();
    let runs: Vec<usize> = (0..START_RUNS).collect();
    let open_only = latencies(&runs, |_| {
        let (store, _) = Store::open(path, key, quarantine).expect("open");
        std::hint::black_box(store.device_id());
    });
    let ours = latencies(&runs, |_| {
        let (mut store, _) = Store::open(path, key, quarantine).expect("open");
        let census = reads::census(&mut store, ctx, Some(&ward)).expect("census");
        assert_eq!(census.len(), ward_patients);
    });
    let raw = latencies(&runs, |_| {
        let conn = raw_sqlcipher::raw_connection(path, key, "");
        let mut stmt = conn
            .prepare(
                "SELECT id, mrn, given_name, family_name, birth_date, sex, location, bed FROM patients
                 WHERE deleted = 0 AND location = ?1 ORDER BY bed",
            )
            .expect("census");
        let n = raw_sqlcipher::read_rows(&mut stmt, [&ward]);
        assert_eq!(n, ward_patients);
    });
    let conn = raw_sqlcipher::raw_connection(path, key, "");
    let started = Instant::now();
    let verdict: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).expect("quick_check");
    let quick_check_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(verdict, "ok");
    let file_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    StartTimes { open_only, ours, raw, ward, ward_patients, file_bytes, quick_check_ms }
}

/// The ward of `config` without its observations, and its first `wanted`
/// observations (cycling with fresh ids if it has fewer), made a slice of
/// patients at a time: at 100,000 patients over 7 days (`make bench-large`)
/// the generator makes some 36 M observations, more than this machine's
/// memory holds at once, of which the bench keeps 10 M.
fn generate_ward(config: &SyntheticConfig, wanted: usize) -> (SyntheticWard, Vec<Observation>) {
    const SLICE: usize = 2_000;
    let mut ward = SyntheticWard::default();
    let mut observations: Vec<Observation> = Vec::with_capacity(wanted);
    for start in (0..config.patients).step_by(SLICE) {
        let part = generate_range(config, start..start + SLICE);
        let room = wanted - observations.len();
        observations.extend(part.observations.into_iter().take(room));
        ward.patients.extend(part.patients);
        ward.allergies.extend(part.allergies);
        ward.medication_requests.extend(part.medication_requests);
        ward.medication_administrations.extend(part.medication_administrations);
    }
    let made = observations.len();
    let mut i = 0;
    while observations.len() < wanted && made > 0 {
        let mut o = observations[i % made].clone();
        o.id = uuid::Uuid::now_v7();
        observations.push(o);
        i += 1;
    }
    (ward, observations)
}

/// The observations of a store as (id, version, content digest).
fn observation_digests(store: &Store) -> Vec<(uuid::Uuid, i64, String)> {
    let digest = store.digest().expect("digest");
    digest.into_iter().filter(|((kind, _), _)| *kind == "observation").map(|((_, id), (v, d))| (id, v, d)).collect()
}

fn raw_insert(conn: &mut Connection, rows: &[Observation]) {
    for chunk in rows.chunks(BATCH) {
        let tx = conn.transaction().expect("tx");
        {
            let mut stmt = tx.prepare_cached(raw_sqlcipher::INSERT_OBSERVATION).expect("prepare");
            for o in chunk {
                raw_sqlcipher::insert_observation(&mut stmt, o);
            }
        }
        tx.commit().expect("commit");
    }
}

fn raw_chart(conn: &Connection, id: uuid::Uuid) {
    let id = id.to_string();
    let _: String = conn.query_row("SELECT family_name FROM patients WHERE id = ?1", [&id], |r| r.get(0)).expect("p");
    let mut stmt = conn.prepare_cached("SELECT * FROM allergies WHERE patient_id = ?1").expect("a");
    let n = raw_sqlcipher::read_rows(&mut stmt, [&id]);
    // The limit written in, as the store does: a bound one would have SQLite
    // prepare the statement again on every call.
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT * FROM observations WHERE patient_id = ?1 AND category = 'vital-signs' AND deleted = 0
             ORDER BY effective_at DESC LIMIT {}",
            reads::TAB_LIMIT
        ))
        .expect("o");
    let m = raw_sqlcipher::read_rows(&mut stmt, [&id]);
    let mut stmt = conn
        .prepare_cached("SELECT DISTINCT entity_id FROM outbox WHERE patient_id = ?1 AND state = 'pending'")
        .expect("pending");
    let k = raw_sqlcipher::read_rows(&mut stmt, [&id]);
    std::hint::black_box((n, m, k));
}

/// The rows the chart open and the medications tab show, raw: the patient,
/// allergies, vitals (with pending marks), orders and administrations.
fn raw_chart_medications(conn: &Connection, id: uuid::Uuid) {
    raw_chart(conn, id);
    let id = id.to_string();
    let mut n = 0;
    for sql in [
        "SELECT body FROM medication_requests WHERE patient_id = ?1",
        "SELECT body FROM medication_administrations WHERE patient_id = ?1",
        "SELECT body FROM dose_reviews WHERE patient_id = ?1",
    ] {
        let mut stmt = conn.prepare_cached(sql).expect("prepare");
        n += raw_sqlcipher::read_rows(&mut stmt, [&id]);
    }
    std::hint::black_box(n);
}

/// A 40-bed ward in its own store: the audited census (NEWS2, next due)
/// against the raw census query plus each patient's latest vital signs,
/// orders and administrations read raw.
fn census_of_40_beds(
    dir: &tempfile::TempDir,
    key: &DbKey,
    anchor: chrono::DateTime<Utc>,
    ctx: &AccessContext,
    samples: usize,
) -> ((f64, f64), (f64, f64)) {
    let mut config = SyntheticConfig::new(40, 40, anchor);
    config.locations = vec!["Ward 7A".to_owned()];
    let ward = generate(&config);
    let path = dir.path().join("ward40.db");
    let (mut store, _) = Store::open(&path, key, &dir.path().join("q40")).expect("open");
    store.upsert_patients(&ward.patients).expect("patients");
    store.upsert_allergies(&ward.allergies).expect("allergies");
    store.upsert_observations(&ward.observations).expect("observations");
    store.upsert_medications(&ward.medication_requests, &ward.medication_administrations, &[]).expect("medications");
    settle(&store);
    let runs: Vec<usize> = (0..samples.min(500)).collect();
    let ours = latencies(&runs, |_| {
        let census = reads::census(&mut store, ctx, None).expect("census");
        assert_eq!(census.len(), 40);
    });
    let raw = raw_sqlcipher::raw_connection(&path, key, "");
    let base = latencies(&runs, |_| {
        let mut stmt = raw
            .prepare_cached(
                "SELECT id, mrn, given_name, family_name, birth_date, sex, location, bed FROM patients
                 WHERE deleted = 0 ORDER BY location, bed",
            )
            .expect("census");
        let ids: Vec<String> = stmt.query_map([], |r| r.get(0)).expect("q").map(|r| r.expect("id")).collect();
        let mut n = 0;
        for id in &ids {
            for sql in [
                "SELECT * FROM observations WHERE patient_id = ?1 AND category = 'vital-signs' ORDER BY effective_at DESC LIMIT 20",
                "SELECT body FROM medication_requests WHERE patient_id = ?1",
                "SELECT body FROM medication_administrations WHERE patient_id = ?1",
            ] {
                let mut stmt = raw.prepare_cached(sql).expect("prepare");
                n += raw_sqlcipher::read_rows(&mut stmt, [id]);
            }
        }
        std::hint::black_box(n);
    });
    (ours, base)
}

/// Copies the store's write-ahead log into the database file now (the
/// checkpoint thread's work, on its connection), all of it.
fn settle(store: &Store) {
    let pass = store.checkpoint_wal().expect("checkpoint");
    assert!(pass.complete(), "the log was not copied: {pass:?}");
}

/// One row the size of an audit event, committed with synchronous=FULL.
fn durable_commit(conn: &Connection) {
    conn.execute("INSERT INTO bench_floor (body) VALUES (zeroblob(600))", []).expect("floor commit");
}

fn raw_mrn_search(conn: &Connection, mrn: &str) {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, mrn, given_name, family_name FROM patients
             WHERE deleted = 0 AND mrn LIKE ?1 ORDER BY mrn LIMIT 50",
        )
        .expect("s");
    let n = raw_sqlcipher::read_rows(&mut stmt, [format!("{mrn}%")]);
    std::hint::black_box(n);
}

fn raw_search(conn: &Connection, prefix: &str) {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, mrn, given_name, family_name FROM patients
             WHERE deleted = 0 AND (family_name LIKE ?1 OR given_name LIKE ?1)
             ORDER BY family_name, given_name LIMIT 50",
        )
        .expect("s");
    let n = raw_sqlcipher::read_rows(&mut stmt, [format!("{prefix}%")]);
    std::hint::black_box(n);
}

fn timed_rate(rows: usize, f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    rows as f64 / start.elapsed().as_secs_f64()
}

/// p50 and p99 of running `f` once per item, in milliseconds.
fn latencies<T>(items: &[T], mut f: impl FnMut(&T)) -> (f64, f64) {
    let mut times: Vec<Duration> = items
        .iter()
        .map(|item| {
            let start = Instant::now();
            f(item);
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.50), at(0.99))
}

fn row(name: &str, ours: f64, base: f64, what: &str) {
    println!("{name:<46} {ours:>14.0} {base:>14.0} {:>8.2}   {what}", ours / base);
}

fn row_ms(name: &str, ours: f64, base: f64, what: &str) {
    println!("{name:<46} {ours:>14.3} {base:>14.3} {:>8.2}   {what}", ours / base);
}
