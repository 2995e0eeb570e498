//! `make bench`: the app's sync engine end to end, PostgreSQL -> the real
//! service -> HTTP on loopback -> the engine -> SQLCipher, in one run, on this
//! machine. Runs inside `scripts/with-keyring.sh` (the workstations keep their
//! database key and device credential in the real Secret Service).
//!
//! At 10,000 patients and 1,000,000 observations (override with
//! WARDBOOK_BENCH_PATIENTS / WARDBOOK_BENCH_OBSERVATIONS), all on one
//! location, so the whole ward is in the enrolled workstation's scope:
//! - the initial sync of the whole ward by one `Engine::cycle`, next to a raw
//!   SQLCipher prepared-INSERT loop of the same rows into the same schema
//!   with the same kind of key and the same settings, in 5,000-row
//!   transactions (the engine's pull page);
//! - where that time goes: the service's pull alone through the app's
//!   client, the HTTP exchange split into time-to-headers / body / decode,
//!   the service's feed function in-process (no HTTP), the local apply
//!   replayed from a loopback server that answers instantly, and the
//!   store's bulk upserts of the same rows;
//! - audit upload: a backlog of 100,000 events (WARDBOOK_BENCH_AUDIT) by one
//!   cycle of a workstation on a separate, tiny location (its pull is a few
//!   rows), next to the same number of events POSTed straight to the service;
//! - push: 5,000 new observations (WARDBOOK_BENCH_PUSH) recorded as edits,
//!   then one cycle, next to the same number of mutations POSTed straight to
//!   the service.
//!
//! A benchmark, not a test: it prints figures and asserts nothing about time.
//! Synthetic data only.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/common/central.rs"]
mod central;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, params};
use uuid::Uuid;
use wardbook::keys::DbKey;
use wardbook::store::Store;
use wardbook::sync::client::Client;
use wardbook::sync::engine::{APPLY_ROWS, AUDIT_BATCH, Engine, PULL_PAGE};
use wardbook::sync::plan::PUSH_BATCH;
use wardbook::sync::{CycleReport, StoreAccess};
use wardbook_protocol::api::{
    AuditUploadRequest, AuditUploadResponse, Change, Mutation, PullResponse, PushRequest, PushResponse, Record,
};
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate};
use wardbook_protocol::{Allergy, Environment, Observation, ObservationValue, Patient};

use central::{Central, Station, heart_rate};

/// The location of the big ward (every patient), and of the tiny one the
/// audit and push workstation serves.
const WARD: &str = "Ward 7A";
const SMALL_WARD: &str = "Ward 9C";
const SMALL_PATIENTS: usize = 20;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let patients = env_usize("WARDBOOK_BENCH_PATIENTS", 10_000);
    let wanted = env_usize("WARDBOOK_BENCH_OBSERVATIONS", 1_000_000);
    let audit_count = env_usize("WARDBOOK_BENCH_AUDIT", 100_000) as u64;
    let push_count = env_usize("WARDBOOK_BENCH_PUSH", 5_000);

    let central = Central::start();
    let anchor = chrono::DurationRound::duration_trunc(Utc::now(), chrono::TimeDelta::hours(1)).expect("anchor");
    println!("generating a synthetic ward of {patients} patients on {WARD} ...");
    let ward = big_ward(patients, wanted, anchor);
    let small = small_ward(&ward, anchor);
    println!(
        "loading {} patients, {} observations, {} allergies (+ {} patients on {SMALL_WARD}) into PostgreSQL ...",
        ward.patients.len(),
        ward.observations.len(),
        ward.allergies.len(),
        small.patients.len()
    );
    {
        let mut owner = central.owner();
        central.rt.block_on(async {
            wardbook_server::admin::load_ward(&mut owner, Environment::Test, &ward).await.expect("load ward");
            wardbook_server::admin::load_ward(&mut owner, Environment::Test, &small).await.expect("load small ward");
            owner.batch_execute("VACUUM ANALYZE").await.expect("analyze");
        });
    }
    let ward_rows = (ward.patients.len() + ward.observations.len() + ward.allergies.len()) as u64;
    drop(ward);

    // 1. The initial sync, end to end: one engine cycle of a fresh workstation.
    println!("initial sync of {ward_rows} rows ...");
    let mut station = Station::new("bench-clinician");
    station.enroll(&central, &central.url(), WARD);
    let (report, e2e, e2e_local) = timed_cycle(&central, &station);
    if report.pulled != ward_rows {
        println!("NOTE: the cycle pulled {} rows, the ward has {ward_rows}", report.pulled);
    }
    let rows = report.pulled;
    let e2e_rate = rows as f64 / e2e.as_secs_f64();
    println!(
        "  {rows} rows in {:.2} s, {:.2} s of it in local store steps",
        e2e.as_secs_f64(),
        e2e_local.as_secs_f64()
    );
    let db_bytes = file_size(&station.data_dir().join("wardbook.db"));

    // 2a. The service's pull alone, through the app's own client (decode included).
    println!("breakdown: the service's pull through the app's client ...");
    let credential = station.keys().load_credential().expect("keyring").expect("credential");
    let client = Client::new(&central.url(), None, Environment::Test, Some(credential.clone())).expect("client");
    let started = Instant::now();
    let mut pages: Vec<PullResponse> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = central.rt.block_on(client.pull(cursor.as_deref(), PULL_PAGE)).expect("pull");
        cursor = Some(page.cursor.clone());
        let more = page.has_more;
        pages.push(page);
        if !more {
            break;
        }
    }
    let client_pull = started.elapsed();
    let pulled_rows: usize = pages.iter().map(|p| p.changes.len()).sum();

    // 2b. The same requests raw: time to the response headers (the service
    // has run its queries and encoded the whole page by then), the body, and
    // the client's decode separately.
    println!("breakdown: the same pages as raw bytes ...");
    let http = reqwest::Client::new();
    let base = central.url();
    let (mut to_headers, mut body_time) = (Duration::ZERO, Duration::ZERO);
    let mut bodies: Vec<Vec<u8>> = Vec::with_capacity(pages.len());
    let mut per_page: Vec<Duration> = Vec::with_capacity(pages.len());
    // The cursor each page was asked for with (None: the first page). The
    // next one is read off the end of the body, where the cursor is encoded.
    let mut requested: Vec<Option<String>> = Vec::with_capacity(pages.len());
    let mut cursor: Option<String> = None;
    loop {
        let (h, b, bytes) = central.rt.block_on(raw_pull(&http, &base, credential.as_str(), cursor.as_deref()));
        to_headers += h;
        body_time += b;
        per_page.push(h);
        requested.push(cursor.take());
        let (next, more) = tail_of(&bytes);
        bodies.push(bytes);
        if !more {
            break;
        }
        cursor = Some(next);
    }
    let wire_bytes: usize = bodies.iter().map(|b| b.len()).sum();
    let started = Instant::now();
    for b in &bodies {
        let page: PullResponse = serde_json::from_slice(b).expect("decode");
        std::hint::black_box(&page);
    }
    let decode = started.elapsed();
    let started = Instant::now();
    for p in &pages {
        std::hint::black_box(serde_json::to_vec(p).expect("encode"));
    }
    let encode = started.elapsed();

    // 2b'. The service's feed function in-process (its SQL and its decode of
    // the JSON text PostgreSQL builds), no HTTP, same device scope.
    println!("breakdown: the feed in-process ...");
    let mut owner = central.owner();
    let device = central.rt.block_on(async {
        let location = wardbook_server::admin::location_id(&owner, WARD).await.expect("location");
        wardbook_server::auth::DeviceAuth { device_id: station.device_id(), locations: vec![location] }
    });
    let started = Instant::now();
    let mut feed_cursor = wardbook_server::feed::Cursor::START;
    let mut feed_rows = 0usize;
    loop {
        let page = central
            .rt
            .block_on(wardbook_server::feed::pull(&mut owner, &device, feed_cursor, PULL_PAGE))
            .expect("feed pull");
        feed_rows += page.changes.len();
        feed_cursor = wardbook_server::feed::Cursor::parse(&page.cursor).expect("cursor");
        if !page.has_more {
            break;
        }
    }
    let feed_time = started.elapsed();

    // 2c. The local side, replayed: the real engine cycle into a fresh store,
    // against a loopback server that answers each pull with the bytes the
    // service sent (no database behind it).
    println!("breakdown: the engine against an instant replay server ...");
    let dir = tempfile::tempdir().expect("temp dir");
    let replay_addr = central.rt.block_on(replay_server(&requested, &bodies));
    let replay = {
        let key = DbKey::generate();
        let (store, _) = Store::open(&dir.path().join("replay.db"), &key, &dir.path().join("q")).expect("open");
        let store = Mutex::new(store);
        let client = Client::new(
            &format!("http://{replay_addr}"),
            None,
            Environment::Test,
            Some(zeroize::Zeroizing::new("replay".to_owned())),
        )
        .expect("client");
        let engine = Engine::new(client, 90, dir.path());
        let timed = Timed::new(&store);
        let started = Instant::now();
        let report = central.rt.block_on(engine.cycle(&timed)).expect("replayed cycle");
        let t = started.elapsed();
        assert_eq!(report.pulled, rows, "the replay carried every row");
        (t, timed.spent())
    };
    let (replay, replay_local) = replay;

    // 2c'. The store's own bulk upserts of the decoded rows, page by page.
    println!("breakdown: the store's bulk upserts of the same rows ...");
    let upserts = {
        let key = DbKey::generate();
        let (mut store, _) = Store::open(&dir.path().join("upserts.db"), &key, &dir.path().join("q")).expect("open");
        let started = Instant::now();
        for page in &pages {
            let (p, o, a) = split(page);
            if !p.is_empty() {
                store.upsert_patients(&p).expect("patients");
            }
            if !a.is_empty() {
                store.upsert_allergies(&a).expect("allergies");
            }
            if !o.is_empty() {
                store.upsert_observations(&o).expect("observations");
            }
        }
        started.elapsed()
    };

    // 1'. Baseline: raw prepared INSERTs of the same rows, same schema, key
    // kind and settings, in transactions as big as the engine's largest
    // (APPLY_ROWS).
    println!("baseline: raw SQLCipher inserts of the same rows ...");
    let (raw_time, cipher) = {
        let key = DbKey::generate();
        let path = dir.path().join("raw.db");
        let (store, _) = Store::open(&path, &key, &dir.path().join("q")).expect("open");
        drop(store);
        let mut conn = raw_connection(&path, &key);
        let started = Instant::now();
        for group in pages.chunks((APPLY_ROWS / PULL_PAGE as usize).max(1)) {
            raw_insert_pages(&mut conn, group);
        }
        let t = started.elapsed();
        let cipher: String = conn.query_row("PRAGMA cipher_version", [], |r| r.get(0)).expect("version");
        (t, cipher)
    };
    let raw_rate = rows as f64 / raw_time.as_secs_f64();
    drop(pages);
    drop(bodies);

    // 3. Audit upload: a workstation on the tiny location, synced once, then
    // a backlog of events uploaded by one cycle.
    println!("audit upload of {audit_count} events ...");
    let mut auditor = Station::new("bench-auditor");
    auditor.enroll(&central, &central.url(), SMALL_WARD);
    auditor.sync(&central).expect("first sync of the small ward");
    auditor.with(|s| wardbook::admin::audit_backlog(s, Environment::Test, &auditor.ctx, audit_count)).expect("backlog");
    let (audit_report, audit_time, audit_local) = timed_cycle(&central, &auditor);
    let audit_rate = audit_report.audit_uploaded as f64 / audit_time.as_secs_f64();

    // Baseline: another workstation's backlog of the same size POSTed
    // straight to the service in the engine's batch size.
    let mut raw_station = Station::new("bench-auditor-raw");
    raw_station.enroll(&central, &central.url(), SMALL_WARD);
    raw_station.sync(&central).expect("first sync of the small ward");
    raw_station
        .with(|s| wardbook::admin::audit_backlog(s, Environment::Test, &raw_station.ctx, audit_count))
        .expect("backlog");
    let events = raw_station.with(|s| wardbook::audit::recent_events(s, audit_count as u32)).expect("events");
    let raw_credential = raw_station.keys().load_credential().expect("keyring").expect("credential");
    let started = Instant::now();
    central.rt.block_on(async {
        for chunk in events.chunks(AUDIT_BATCH as usize) {
            let answer: AuditUploadResponse = post(
                &http,
                &format!("{base}/v1/audit/events"),
                raw_credential.as_str(),
                &AuditUploadRequest { events: chunk.to_vec() },
            )
            .await;
            assert_eq!(answer.stored as usize, chunk.len(), "the service stored the batch");
        }
    });
    let raw_audit_time = started.elapsed();
    let raw_audit_rate = events.len() as f64 / raw_audit_time.as_secs_f64();
    drop(events);

    // 4. Push: new observations recorded as edits, then one cycle.
    println!("push of {push_count} new observations ...");
    let small_ids: Vec<Uuid> = small.patients.iter().map(|p| p.id).collect();
    let started = Instant::now();
    auditor.with(|s| {
        for i in 0..push_count {
            let o = heart_rate(small_ids[i % small_ids.len()], 60.0 + (i % 40) as f64);
            wardbook::edits::record_observation(s, &auditor.ctx, o).expect("record");
        }
    });
    let record_time = started.elapsed();
    let (push_report, push_time, push_local) = timed_cycle(&central, &auditor);
    let push_rate = push_report.pushed.applied as f64 / push_time.as_secs_f64();

    // Baseline: the same number of new observations POSTed straight to the
    // service in the engine's batch size.
    let mutations: Vec<Mutation> = (0..push_count)
        .map(|i| {
            let mut o = heart_rate(small_ids[i % small_ids.len()], 60.0 + (i % 40) as f64);
            o.id = Uuid::now_v7();
            o.recorded_by = "bench-auditor-raw".into();
            Mutation {
                id: Uuid::now_v7(),
                base_version: None,
                author: "bench-auditor-raw".into(),
                authored_at: Utc::now(),
                record: Record::Observation { observation: o },
            }
        })
        .collect();
    let started = Instant::now();
    let raw_applied = central.rt.block_on(async {
        let mut applied = 0usize;
        for chunk in mutations.chunks(PUSH_BATCH) {
            let answer: PushResponse = post(
                &http,
                &format!("{base}/v1/sync/push"),
                raw_credential.as_str(),
                &PushRequest { mutations: chunk.to_vec() },
            )
            .await;
            applied += answer
                .results
                .iter()
                .filter(|r| matches!(r.outcome, wardbook_protocol::api::MutationOutcome::Applied { .. }))
                .count();
        }
        applied
    });
    let raw_push_time = started.elapsed();
    let raw_push_rate = raw_applied as f64 / raw_push_time.as_secs_f64();
    let pg_version: String = central.rt.block_on(owner.query_one("SHOW server_version", &[])).expect("version").get(0);

    // The report.
    println!();
    println!(
        "Wardbook sync end-to-end benchmark: {patients} patients, {} rows in scope ({} observations asked), \
         pages of {PULL_PAGE}, PostgreSQL {pg_version}, SQLCipher {cipher}",
        rows, wanted
    );
    println!();
    header(&["measurement", "wardbook", "baseline", "ratio", "baseline is"]);
    row(
        "initial sync, end to end (rows/s)",
        e2e_rate,
        raw_rate,
        &format!(
            "raw SQLCipher prepared INSERT loop of the same rows, same schema, key kind and settings, {APPLY_ROWS} rows per transaction (the engine's most)"
        ),
    );
    row(
        "audit upload, one cycle (events/s)",
        audit_rate,
        raw_audit_rate,
        "the service alone: the same number of events POSTed straight to /v1/audit/events, 2,000 per request",
    );
    row(
        "push, one cycle (mutations/s)",
        push_rate,
        raw_push_rate,
        "the service alone: the same number of new observations POSTed straight to /v1/sync/push, 500 per request",
    );
    println!();
    println!(
        "initial sync: {rows} rows in {:.2} s ({:.0} MB of JSON on the wire, {:.0} MB cache file); \
         goal >= 100,000 rows/s and >= 0.55 of raw",
        e2e.as_secs_f64(),
        wire_bytes as f64 / 1e6,
        db_bytes as f64 / 1e6
    );
    println!(
        "audit cycle: {} events uploaded, {} rows pulled (a workstation on a separate location of {SMALL_PATIENTS} \
         patients, synced before the backlog: the pull is negligible), {:.2} s, of which {:.2} s in local store steps",
        audit_report.audit_uploaded,
        audit_report.pulled,
        audit_time.as_secs_f64(),
        audit_local.as_secs_f64()
    );
    println!(
        "push cycle: {} applied, {} conflicts, {} rejected, then {} rows pulled (the pushed rows come back in the \
         same cycle's pull), {:.2} s, of which {:.2} s in local store steps; recording the {push_count} edits \
         locally took {:.2} s (not in the rate)",
        push_report.pushed.applied,
        push_report.pushed.conflicts,
        push_report.pushed.rejected,
        push_report.pulled,
        push_time.as_secs_f64(),
        push_local.as_secs_f64(),
        record_time.as_secs_f64()
    );
    println!("ratio = wardbook / baseline (rates: higher is better).");

    println!();
    println!("Where the initial sync's time goes ({rows} rows, {} pages)", requested.len());
    println!();
    header(&["step", "seconds", "rows/s", "of e2e", "what"]);
    let step = |name: &str, t: Duration, what: &str| {
        let secs = t.as_secs_f64();
        println!(
            "| {name:<44} | {secs:>10.2} | {:>12.0} | {:>7.0}% | {what} |",
            rows as f64 / secs,
            100.0 * secs / e2e.as_secs_f64()
        );
    };
    step("initial sync, end to end", e2e, "one Engine::cycle: PostgreSQL -> service -> HTTP -> decode -> SQLCipher");
    step("  in the cycle: local store steps", e2e_local, "time inside StoreAccess::with: apply_pages (and snapshots)");
    step("  in the cycle: everything else", e2e - e2e_local, "awaiting Client::pull: service, HTTP, client decode");
    step("(a) service pull via the app's Client::pull", client_pull, "same pages fetched and decoded, nothing stored");
    step("(b1) HTTP: request to response headers", to_headers, "service: SQL, JSON text -> structs, encode page");
    step("(b2) HTTP: response body", body_time, "transfer of the encoded page on loopback");
    step("(b3) client decode (serde_json)", decode, "PullResponse from the bytes, in this process");
    step("(b4) service feed::pull in-process", feed_time, "SQL + the service's decode, no HTTP, owner connection");
    step("(b5) JSON encode of the pages", encode, "serde_json::to_vec here: about the service's encode");
    step("(c) engine cycle vs instant replay", replay, "real Engine::cycle + apply_pages; server answers from memory");
    step("  in it: local store steps", replay_local, "apply_pages and snapshots, into a fresh store");
    step("(c') Store::upsert_* of the decoded rows", upserts, "per page: patients, allergies, observations");
    step(
        "raw SQLCipher INSERT (baseline)",
        raw_time,
        &format!("same rows, plain INSERT, {APPLY_ROWS} per transaction"),
    );
    println!();
    println!(
        "(a) + (c) = {:.2} s, max((a), (c)) = {:.2} s, e2e = {:.2} s: e2e near the sum means fetch and apply take turns, \
         near the max that they overlap.",
        (client_pull + replay).as_secs_f64(),
        client_pull.max(replay).as_secs_f64(),
        e2e.as_secs_f64()
    );
    println!(
        "(b4) pulled {feed_rows} rows; pulls repeated after the initial sync find PostgreSQL's cache warm. Pages: {pulled_rows} rows."
    );
    let ms = |d: &[Duration]| 1000.0 * d.iter().map(Duration::as_secs_f64).sum::<f64>() / d.len().max(1) as f64;
    let tenth = (per_page.len() / 10).max(1);
    println!(
        "(b1) per page, request to headers: first tenth {:.1} ms, last tenth {:.1} ms, whole run {:.1} ms",
        ms(&per_page[..tenth]),
        ms(&per_page[per_page.len() - tenth..]),
        ms(&per_page)
    );
}

/// A StoreAccess that adds up the time spent inside the store (the engine's
/// local steps); the rest of a cycle is spent awaiting the service.
struct Timed<'a> {
    inner: &'a Mutex<Store>,
    spent: Mutex<Duration>,
}

impl<'a> Timed<'a> {
    fn new(inner: &'a Mutex<Store>) -> Timed<'a> {
        Timed { inner, spent: Mutex::new(Duration::ZERO) }
    }

    fn spent(&self) -> Duration {
        *self.spent.lock().expect("timer")
    }
}

impl StoreAccess for Timed<'_> {
    fn with<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let mut store = self.inner.lock().expect("store lock");
        let started = Instant::now();
        let result = f(&mut store);
        *self.spent.lock().expect("timer") += started.elapsed();
        result
    }
}

/// One cycle of the station's engine (what `Station::sync` does), timed:
/// (report, wall time, time in local store steps).
fn timed_cycle(central: &Central, station: &Station) -> (CycleReport, Duration, Duration) {
    let engine = station.engine.as_ref().expect("enrolled");
    let timed = Timed::new(&station.store);
    let started = Instant::now();
    let report = central.rt.block_on(engine.cycle(&timed)).expect("cycle");
    (report, started.elapsed(), timed.spent())
}

/// The big ward: one location, with `days` chosen so the generator makes at
/// least `wanted` observations, then trimmed (or topped up with fresh ids).
fn big_ward(patients: usize, wanted: usize, anchor: DateTime<Utc>) -> SyntheticWard {
    let probe_patients = patients.clamp(1, 200);
    let mut config = SyntheticConfig::new(2026, probe_patients, anchor);
    config.locations = vec![WARD.to_owned()];
    config.days = 1;
    let per_patient_day = generate(&config).observations.len().max(1) as f64 / probe_patients as f64;
    config.days = ((wanted as f64 / patients.max(1) as f64 / per_patient_day).ceil() as u32).max(1);
    config.patients = patients;
    let mut ward = generate(&config);
    // Later days add slightly fewer rows per day than the first (admission draws).
    while ward.observations.len() < wanted && config.days < 60 {
        config.days += 1;
        ward = generate(&config);
    }
    println!("{} days of data: {} observations generated", config.days, ward.observations.len());
    // Keep `wanted` of them spread evenly over every patient's stay.
    let total = ward.observations.len();
    if total > wanted {
        let mut i = 0usize;
        ward.observations.retain(|_| {
            let keep = (i + 1) * wanted / total > i * wanted / total;
            i += 1;
            keep
        });
    }
    let n = ward.observations.len();
    let mut i = 0;
    while ward.observations.len() < wanted && n > 0 {
        let mut o = ward.observations[i % n].clone();
        o.id = Uuid::now_v7();
        ward.observations.push(o);
        i += 1;
    }
    ward
}

/// A few patients on their own location, with MRNs that do not collide with
/// the big ward's.
fn small_ward(big: &SyntheticWard, anchor: DateTime<Utc>) -> SyntheticWard {
    let mut config = SyntheticConfig::new(9090, SMALL_PATIENTS * 2, anchor);
    config.locations = vec![SMALL_WARD.to_owned()];
    config.days = 1;
    let mut ward = generate(&config);
    let taken: HashSet<&str> = big.patients.iter().map(|p| p.mrn.as_str()).collect();
    ward.patients.retain(|p| !taken.contains(p.mrn.as_str()));
    ward.patients.truncate(SMALL_PATIENTS);
    let kept: HashSet<Uuid> = ward.patients.iter().map(|p| p.id).collect();
    ward.observations.retain(|o| kept.contains(&o.patient_id));
    ward.allergies.retain(|a| kept.contains(&a.patient_id));
    ward
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn split(page: &PullResponse) -> (Vec<Patient>, Vec<Observation>, Vec<Allergy>) {
    let (mut p, mut o, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for change in &page.changes {
        match change {
            Change::Patient { patient } => p.push(patient.clone()),
            Change::Observation { observation } => o.push(observation.clone()),
            Change::Allergy { allergy } => a.push(allergy.clone()),
            Change::Remove { .. } => {}
        }
    }
    (p, o, a)
}

/// The cursor and `has_more` of an encoded page, read from its end (they
/// follow the changes), without decoding the page.
fn tail_of(body: &[u8]) -> (String, bool) {
    #[derive(serde::Deserialize)]
    struct Tail {
        cursor: String,
        has_more: bool,
    }
    let key = b"\"cursor\":";
    let at = body.windows(key.len()).rposition(|w| w == key).expect("a cursor in the page");
    let tail: Tail = serde_json::from_slice(&[b"{", &body[at..]].concat()).expect("page tail");
    (tail.cursor, tail.has_more)
}

/// One pull as raw bytes: (time to the response headers, time for the body, body).
async fn raw_pull(
    http: &reqwest::Client,
    base: &str,
    credential: &str,
    cursor: Option<&str>,
) -> (Duration, Duration, Vec<u8>) {
    let limit = PULL_PAGE.to_string();
    let mut query = vec![("limit", limit.as_str())];
    if let Some(c) = cursor {
        query.push(("cursor", c));
    }
    let started = Instant::now();
    let response = http
        .get(format!("{base}/v1/sync/pull"))
        .bearer_auth(credential)
        .query(&query)
        .send()
        .await
        .expect("send")
        .error_for_status()
        .expect("status");
    let headers = started.elapsed();
    let started = Instant::now();
    let bytes = response.bytes().await.expect("body").to_vec();
    (headers, started.elapsed(), bytes)
}

/// POSTs a JSON body that must succeed and decodes the answer.
async fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    credential: &str,
    body: &B,
) -> T {
    http.post(url)
        .bearer_auth(credential)
        .json(body)
        .send()
        .await
        .expect("send")
        .error_for_status()
        .expect("status")
        .json()
        .await
        .expect("decode")
}

/// A loopback HTTP/1.1 server that answers `GET /v1/sync/pull?...cursor=C`
/// with the recorded body for C (no cursor: the first page), from memory.
async fn replay_server(requested: &[Option<String>], bodies: &[Vec<u8>]) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answers: Arc<HashMap<String, Vec<u8>>> =
        Arc::new(requested.iter().zip(bodies).map(|(c, b)| (c.clone().unwrap_or_default(), b.clone())).collect());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                loop {
                    // Read one request head (the pull has no body).
                    let end = loop {
                        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break pos + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end);
                    let target = head.split_whitespace().nth(1).unwrap_or_default();
                    let cursor = target
                        .split_once('?')
                        .map(|(_, q)| q)
                        .unwrap_or_default()
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("cursor="))
                        .map(percent_decode)
                        .unwrap_or_default();
                    let response = match answers.get(&cursor) {
                        Some(body) => {
                            let mut r = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                                body.len()
                            )
                            .into_bytes();
                            r.extend_from_slice(body);
                            r
                        }
                        None => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec(),
                    };
                    if socket.write_all(&response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn raw_connection(path: &std::path::Path, key: &DbKey) -> Connection {
    let conn = Connection::open(path).expect("raw open");
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\"; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -131072; -- the engine's page cache during an initial sync",
        &*key.expose_hex()
    ))
    .expect("raw settings");
    conn
}

fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Pages in one transaction, plain prepared INSERTs (no upsert, no
/// bookkeeping): what storing these rows costs at least.
fn raw_insert_pages(conn: &mut Connection, pages: &[PullResponse]) {
    let tx = conn.transaction().expect("tx");
    {
        let mut patient = tx
            .prepare_cached(
                "INSERT INTO patients (id, version, updated_at, deleted, synthetic, mrn, given_name,
                     family_name, birth_date, sex, phone, email, address, preferred_language, location,
                     source_system)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )
            .expect("prepare");
        let mut observation = tx
            .prepare_cached(
                "INSERT INTO observations (id, version, updated_at, deleted, synthetic, patient_id, category,
                     code_system, code, code_display, panel_code, panel_display, value_kind, value_quantity,
                     value_unit, value_text, value_boolean, value_code_system, value_code, value_code_display,
                     reference_low, reference_high, reference_unit, interpretation, status, effective_at,
                     recorded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                     ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
            )
            .expect("prepare");
        let mut allergy = tx
            .prepare_cached(
                "INSERT INTO allergies (id, version, updated_at, deleted, synthetic, patient_id,
                     allergen_system, allergen_code, allergen_display, allergy_type, category,
                     clinical_status, verification_status, criticality, reactions_json, recorded_at,
                     recorded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )
            .expect("prepare");
        for change in pages.iter().flat_map(|page| &page.changes) {
            match change {
                Change::Patient { patient: p } => {
                    patient
                        .execute(params![
                            p.id.to_string(),
                            p.version,
                            time_text(&p.updated_at),
                            p.deleted,
                            p.synthetic,
                            p.mrn,
                            p.given_name,
                            p.family_name,
                            p.birth_date.format("%Y-%m-%d").to_string(),
                            p.sex.as_str(),
                            p.phone,
                            p.email,
                            p.address,
                            p.preferred_language,
                            p.location,
                            p.source_system,
                        ])
                        .expect("insert patient");
                }
                Change::Observation { observation: o } => {
                    let (kind, quantity, unit, text, boolean, coded) = match &o.value {
                        ObservationValue::Quantity(q) => {
                            ("quantity", Some(q.value), Some(q.unit.as_str()), None, None, None)
                        }
                        ObservationValue::String { text } => ("string", None, None, Some(text.as_str()), None, None),
                        ObservationValue::Boolean { value } => ("boolean", None, None, None, Some(*value), None),
                        ObservationValue::Coded(c) => ("coded", None, None, None, None, Some(c)),
                    };
                    let range = o.reference_range.as_ref();
                    observation
                        .execute(params![
                            o.id.to_string(),
                            o.version,
                            time_text(&o.updated_at),
                            o.deleted,
                            o.synthetic,
                            o.patient_id.to_string(),
                            o.category.as_str(),
                            o.code.system,
                            o.code.code,
                            o.code.display,
                            o.panel.as_ref().map(|p| p.code.as_str()),
                            o.panel.as_ref().map(|p| p.display.as_str()),
                            kind,
                            quantity,
                            unit,
                            text,
                            boolean,
                            coded.map(|c| c.system.as_str()),
                            coded.map(|c| c.code.as_str()),
                            coded.map(|c| c.display.as_str()),
                            range.and_then(|r| r.low),
                            range.and_then(|r| r.high),
                            range.map(|r| r.unit.as_str()),
                            o.interpretation.map(|i| i.as_str()),
                            o.status.as_str(),
                            time_text(&o.effective_at),
                            o.recorded_by,
                        ])
                        .expect("insert observation");
                }
                Change::Allergy { allergy: a } => {
                    allergy
                        .execute(params![
                            a.id.to_string(),
                            a.version,
                            time_text(&a.updated_at),
                            a.deleted,
                            a.synthetic,
                            a.patient_id.to_string(),
                            a.allergen.system,
                            a.allergen.code,
                            a.allergen.display,
                            a.allergy_type.as_str(),
                            a.category.as_str(),
                            a.clinical_status.as_str(),
                            a.verification_status.as_str(),
                            a.criticality.as_str(),
                            serde_json::to_string(&a.reactions).expect("reactions"),
                            time_text(&a.recorded_at),
                            a.recorded_by,
                        ])
                        .expect("insert allergy");
                }
                Change::Remove { .. } => {}
            }
        }
    }
    tx.commit().expect("commit");
}

fn header(cols: &[&str]) {
    println!("| {:<44} | {:>10} | {:>12} | {:>8} | {} |", cols[0], cols[1], cols[2], cols[3], cols[4]);
    println!("|{}|{}:|{}:|{}:|---|", "-".repeat(46), "-".repeat(11), "-".repeat(13), "-".repeat(9));
}

fn row(name: &str, ours: f64, base: f64, what: &str) {
    println!("| {name:<44} | {ours:>10.0} | {base:>12.0} | {:>8.2} | {what} |", ours / base);
}
