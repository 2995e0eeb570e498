//! `make bench`: the app's sync engine end to end, PostgreSQL -> the real
//! service -> HTTP on loopback -> the engine -> SQLCipher, in one run, on this
//! machine. Runs inside `scripts/with-keyring.sh` (the workstations keep their
//! database key and device credential in the real Secret Service).
//!
//! At 10,000 patients and 1,000,000 observations (override with
//! WARDBOOK_BENCH_PATIENTS / WARDBOOK_BENCH_OBSERVATIONS) spread over 4
//! wards (WARDBOOK_BENCH_WARDS), with the enrolled workstation serving one
//! of them: its scope is a fraction of the hospital, as in service, and the
//! feed has to find its rows among the others':
//! - the initial sync of that ward by one `Engine::cycle`, next to a raw
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
//! The measured side is the app's own code (the engine, the client, the
//! store's upserts, `seed::audit_backlog`, `edits`). The raw SQLCipher
//! baseline keeps its own SQL (a plain INSERT: what it measures), and the
//! rows it wrote are checked against the workstation's through
//! `Store::digest`, so a schema change it misses stops the run instead of
//! skewing the ratio.
//!
//! A benchmark, not a test: it prints figures and asserts nothing about time.
//! Synthetic data only.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/common/central.rs"]
mod central;
#[path = "sync_e2e/http.rs"]
mod http;
#[path = "sync_e2e/raw.rs"]
mod raw;
#[path = "common/raw_sqlcipher.rs"]
mod raw_sqlcipher;
#[path = "sync_e2e/ward.rs"]
mod ward;

use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;
use wardbook::keys::DbKey;
use wardbook::store::Store;
use wardbook::sync::CycleReport;
use wardbook::sync::client::Client;
use wardbook::sync::engine::{APPLY_ROWS, AUDIT_BATCH, Engine, PULL_PAGE};
use wardbook::sync::plan::PUSH_BATCH;
use wardbook_protocol::Environment;
use wardbook_protocol::api::{
    AuditUploadRequest, AuditUploadResponse, Mutation, PullResponse, PushRequest, PushResponse, Record,
};

use central::{Central, Station, heart_rate};
use http::{post, raw_pull, replay_server, tail_of};
use raw::{raw_connection, raw_insert_pages};
use ward::{big_ward, small_ward, split};

/// The location the measured workstation serves (the first of the big
/// hospital's wards), and the tiny one the audit and push workstation serves.
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

    let ward_count = env_usize("WARDBOOK_BENCH_WARDS", 4).max(1);
    let wards: Vec<String> =
        std::iter::once(WARD.to_owned()).chain((2..=ward_count).map(|n| format!("Ward {n}B"))).collect();

    let central = Central::start();
    let anchor = chrono::DurationRound::duration_trunc(Utc::now(), chrono::TimeDelta::hours(1)).expect("anchor");
    println!("generating a synthetic hospital of {patients} patients on {ward_count} wards ...");
    let ward = big_ward(patients, wanted, anchor, &wards);
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
        let keys = central.keys();
        central.rt.block_on(async {
            wardbook_server::admin::load_ward(&mut owner, &keys, Environment::Test, &ward).await.expect("load ward");
            wardbook_server::admin::load_ward(&mut owner, &keys, Environment::Test, &small)
                .await
                .expect("load small ward");
            owner.batch_execute("VACUUM ANALYZE").await.expect("analyze");
        });
    }
    let hospital_rows = (ward.patients.len() + ward.observations.len() + ward.allergies.len()) as u64;
    // The rows of the device's ward: its patients and theirs.
    let in_ward: std::collections::HashSet<Uuid> =
        ward.patients.iter().filter(|p| p.location.as_deref() == Some(WARD)).map(|p| p.id).collect();
    let ward_rows = (in_ward.len()
        + ward.observations.iter().filter(|o| in_ward.contains(&o.patient_id)).count()
        + ward.allergies.iter().filter(|a| in_ward.contains(&a.patient_id)).count()) as u64;
    println!("the workstation's ward {WARD}: {ward_rows} of the hospital's {hospital_rows} rows");
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
    let db_bytes = file_size(&station.config.database_path());

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
    let owner = central.owner();
    let keys = central.keys();
    let device = central.rt.block_on(async {
        let location = wardbook_server::admin::location_id(&owner, WARD).await.expect("location");
        wardbook_server::auth::DeviceAuth { device_id: station.device_id(), locations: vec![location] }
    });
    // A pooled connection on the owner's URL, as the service's pull has (its
    // statement cache).
    let (pool, _) = wardbook_server::db::pool(&central.owner_url, None, 1).expect("a pool");
    let mut pooled = central.rt.block_on(pool.get()).expect("a pooled connection");
    let started = Instant::now();
    let mut feed_cursor = wardbook_server::feed::Cursor::START;
    let mut feed_rows = 0usize;
    loop {
        let page = central
            .rt
            .block_on(wardbook_server::feed::pull(
                &mut pooled,
                &keys,
                &device,
                feed_cursor,
                PULL_PAGE,
                chrono::Duration::hours(96),
            ))
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
    let replay_addr = central.rt.block_on(replay_server(&requested, bodies));
    let replay = {
        let replayer = Station::new("bench-replay");
        let client = Client::new(
            &format!("http://{replay_addr}"),
            None,
            Environment::Test,
            Some(zeroize::Zeroizing::new("replay".to_owned())),
        )
        .expect("client");
        let engine = Engine::new(client, 90, &replayer.data_dir());
        let started = Instant::now();
        let report = central.rt.block_on(engine.cycle(&replayer.ws)).expect("replayed cycle");
        let t = started.elapsed();
        assert_eq!(report.pulled, rows, "the replay carried every row");
        (t, report.local_time)
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
        let t = started.elapsed();
        drop(store);
        // At `make bench-large`'s 10 M rows this file is gigabytes the raw
        // baseline's own file needs next.
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.path().join(format!("upserts.db{suffix}")));
        }
        t
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
        drop(conn);
        let (raw_store, _) = Store::open(&path, &key, &dir.path().join("q")).expect("open");
        assert!(
            raw_store.digest().expect("digest") == station.digest(),
            "the INSERT baseline no longer writes what the store writes: bring raw_insert_pages up to the schema"
        );
        (t, cipher)
    };
    let raw_rate = rows as f64 / raw_time.as_secs_f64();
    drop(pages);

    // 3. Audit upload: a workstation on the tiny location, synced once, then
    // a backlog of events uploaded by one cycle.
    println!("audit upload of {audit_count} events ...");
    let mut auditor = Station::new("bench-auditor");
    auditor.enroll(&central, &central.url(), SMALL_WARD);
    auditor.sync(&central).expect("first sync of the small ward");
    auditor.with(|s| wardbook::seed::audit_backlog(s, Environment::Test, &auditor.ctx, audit_count)).expect("backlog");
    let (audit_report, audit_time, audit_local) = timed_cycle(&central, &auditor);
    let audit_rate = audit_report.audit_uploaded as f64 / audit_time.as_secs_f64();

    // Baseline: another workstation's backlog of the same size POSTed
    // straight to the service in the engine's batch size.
    let mut raw_station = Station::new("bench-auditor-raw");
    raw_station.enroll(&central, &central.url(), SMALL_WARD);
    raw_station.sync(&central).expect("first sync of the small ward");
    raw_station
        .with(|s| wardbook::seed::audit_backlog(s, Environment::Test, &raw_station.ctx, audit_count))
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
    step("  in the cycle: local store steps", e2e_local, "CycleReport::local_time: apply_pages (and snapshots)");
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

/// One cycle of the station's engine (what `Station::sync` does), timed:
/// (report, wall time, time in local store steps).
fn timed_cycle(central: &Central, station: &Station) -> (CycleReport, Duration, Duration) {
    let started = Instant::now();
    let report = station.sync(central).expect("cycle");
    (report, started.elapsed(), report.local_time)
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn header(cols: &[&str]) {
    println!("| {:<44} | {:>10} | {:>12} | {:>8} | {} |", cols[0], cols[1], cols[2], cols[3], cols[4]);
    println!("|{}|{}:|{}:|{}:|---|", "-".repeat(46), "-".repeat(11), "-".repeat(13), "-".repeat(9));
}

fn row(name: &str, ours: f64, base: f64, what: &str) {
    println!("| {name:<44} | {ours:>10.0} | {base:>12.0} | {:>8.2} | {what} |", ours / base);
}
