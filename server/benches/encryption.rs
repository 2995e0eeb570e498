//! `make bench`: patient identifiers encrypted at rest, next to the same code
//! reading them in clear, in one run.
//!
//! One cluster, two databases holding the same synthetic hospital (four
//! wards; the device serves one of them). Both are loaded by
//! `admin::load_ward`, so both start encrypted; in the "clear" one every
//! row of `phi.patient_identities` is then put back in clear text (no key
//! id, no blind index, the UTF-8 bytes of each value), which is how a
//! database from before encryption looks and what the read path still
//! serves. The measured code is therefore the same on both sides:
//!
//! - initial sync pull: the device's ward through `feed::pull` in-process
//!   (pages of 5,000, the app's), encrypted and clear runs alternating; with,
//!   as a breakdown, the time spent opening the ward's identities alone;
//! - MRN lookup: `admin::patient_id` (the blind index for encrypted rows,
//!   the partial unique index on the clear MRN for clear rows), alternating;
//! - push of patient edits (the phone changed) through `push::push`, on the
//!   encrypted database only: a write always seals, so there is no push
//!   without encryption to run. Next to it the sealing that push does
//!   (seven values, three blind indexes), timed alone, and their difference,
//!   which is derived, not measured.
//!
//! No `serve` against the clear database: its background worker would
//! encrypt the rows again. A real cluster started by wardbook-test-support
//! (fsync off there, on both sides alike). Synthetic data only. Sizes:
//! WARDBOOK_BENCH_ENCRYPTION_PATIENTS (patients over all four wards, default
//! 400), WARDBOOK_BENCH_ENCRYPTION_RUNS (pulls of each side, default 11),
//! WARDBOOK_BENCH_ENCRYPTION_LOOKUPS (lookups of each side, default 3,000),
//! WARDBOOK_BENCH_ENCRYPTION_PUSH_ROUNDS (pushes of every patient of the
//! ward, default 5).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;
use wardbook_protocol::api::{Change, Mutation, MutationOutcome, Record};
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate};
use wardbook_protocol::{Environment, Patient};
use wardbook_server::auth::DeviceAuth;
use wardbook_server::config::Settings;
use wardbook_server::feed::{self, Cursor};
use wardbook_server::keys::{Column, KeySet};
use wardbook_server::{AppState, admin, db, enrolment, push};
use wardbook_test_support::PgCluster;

/// The hospital's wards; the device serves the first, a quarter of the data.
const WARDS: [&str; 4] = ["Ward 7A", "Ward 7B", "Ward 8A", "Ward 8B"];
/// The app's pull page (src-tauri/sync/engine.rs, `PULL_PAGE`).
const PULL_PAGE: u32 = 5000;
/// Repeats of the identity opening and of the sealing timed alone.
const REPEAT: u32 = 200;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One database of the cluster, with its own data keys.
struct Side {
    state: Arc<AppState>,
    client: Client,
    keys: Arc<KeySet>,
    /// The device's ward there.
    location: Uuid,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let patients = env_usize("WARDBOOK_BENCH_ENCRYPTION_PATIENTS", 400);
    let runs = env_usize("WARDBOOK_BENCH_ENCRYPTION_RUNS", 11).max(1);
    let lookups = env_usize("WARDBOOK_BENCH_ENCRYPTION_LOOKUPS", 3000).max(1);
    let push_rounds = env_usize("WARDBOOK_BENCH_ENCRYPTION_PUSH_ROUNDS", 5).max(1);

    let cluster = tokio::task::spawn_blocking(PgCluster::start).await.unwrap().expect("a PostgreSQL cluster");
    println!("generating a synthetic hospital of {patients} patients on {} wards ...", WARDS.len());
    let anchor = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("anchor");
    let mut config = SyntheticConfig::new(2026, patients, anchor);
    config.locations = WARDS.iter().map(|w| (*w).to_owned()).collect();
    let ward = generate(&config);
    let mut enc = side(&cluster, &ward).await;
    let mut clear = side(&cluster, &ward).await;
    to_clear(&mut clear.client, &ward).await;
    // Both tables compact (the clear one was rewritten row by row), then analysed.
    for s in [&enc, &clear] {
        // One statement each: several in one query string would be one transaction.
        for sql in ["VACUUM FULL phi.patient_identities", "VACUUM ANALYZE"] {
            s.client.batch_execute(sql).await.expect("vacuum");
        }
    }
    let (enc_size, clear_size) = (identities_size(&enc).await, identities_size(&clear).await);

    // The device: enrolled in the encrypted database (push records it); the
    // feed itself reads only its locations.
    let (code, _) = enrolment::create_code(&enc.client, WARDS[0], chrono::Duration::hours(1)).await.unwrap();
    let (enrolled, _) = enrolment::enrol(&mut enc.client, code.expose(), "bench", None).await.unwrap();
    let enc_device = DeviceAuth { device_id: enrolled.device_id, locations: vec![enc.location] };
    let clear_device = DeviceAuth { device_id: Uuid::now_v7(), locations: vec![clear.location] };

    // Pull: both sides send the same ward, the same identifiers (also a warm-up).
    let (_, enc_changes) = initial_sync(&mut enc, &enc_device).await;
    let (_, clear_changes) = initial_sync(&mut clear, &clear_device).await;
    assert_eq!(enc_changes.len(), clear_changes.len(), "both sides send the same rows");
    let ward_patients = identities(&enc_changes);
    assert_eq!(ward_patients, identities(&clear_changes), "both sides send the same identifiers");
    let expected: Vec<_> = ward.patients.iter().filter(|p| p.location.as_deref() == Some(WARDS[0])).collect();
    assert_eq!(ward_patients.len(), expected.len(), "the device's ward, all of it");
    let rows = enc_changes.len();
    drop((enc_changes, clear_changes));

    println!("initial sync pull: {rows} rows ({} patients), {runs} runs of each side, alternating ...", expected.len());
    let (mut enc_pulls, mut clear_pulls) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for run in 0..runs {
        if run % 2 == 0 {
            enc_pulls.push(initial_sync(&mut enc, &enc_device).await.0);
            clear_pulls.push(initial_sync(&mut clear, &clear_device).await.0);
        } else {
            clear_pulls.push(initial_sync(&mut clear, &clear_device).await.0);
            enc_pulls.push(initial_sync(&mut enc, &enc_device).await.0);
        }
    }
    let (enc_open, clear_open) = (opening(&enc).await, opening(&clear).await);

    println!("MRN lookup: {lookups} of each side, alternating ...");
    let (mut enc_lookups, mut clear_lookups) = (Vec::with_capacity(lookups), Vec::with_capacity(lookups));
    for i in 0..lookups {
        let p = &ward.patients[(i * 7919) % ward.patients.len()];
        let (a, b) = if i % 2 == 0 {
            let a = lookup(&enc, &p.mrn).await;
            (a, lookup(&clear, &p.mrn).await)
        } else {
            let b = lookup(&clear, &p.mrn).await;
            (lookup(&enc, &p.mrn).await, b)
        };
        assert_eq!((a.0, b.0), (p.id, p.id), "the lookup finds the patient");
        enc_lookups.push(a.1);
        clear_lookups.push(b.1);
    }

    println!("push: {push_rounds} rounds of edits to each of the ward's {} patients ...", expected.len());
    let (push_each, seal_each) = push_edits(&enc, &enc_device, &expected, push_rounds).await;

    let version: String = enc.client.query_one("SHOW server_version", &[]).await.unwrap().get(0);
    let (enc_pull, clear_pull) = (p50(&mut enc_pulls), p50(&mut clear_pulls));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!();
    println!(
        "Wardbook encryption at rest benchmark: {patients} patients on {} wards, the device's ward {} patients and {rows} rows, PostgreSQL {version}",
        WARDS.len(),
        expected.len()
    );
    println!("phi.patient_identities: {} kB encrypted, {} kB clear", enc_size / 1024, clear_size / 1024);
    println!("{:<46} {:>10} {:>10} {:>7}   what", "measurement", "encrypted", "clear", "ratio");
    row("initial sync pull, p50 (ms)", ms(enc_pull), Some(ms(clear_pull)), "feed::pull in-process, pages of 5,000");
    row(
        "initial sync pull, min (ms)",
        ms(*enc_pulls.iter().min().unwrap()),
        Some(ms(*clear_pulls.iter().min().unwrap())),
        "",
    );
    row("  of which opening identities (ms)", ms(enc_open), Some(ms(clear_open)), "the ward's identities alone");
    row(
        "MRN lookup, p50 (µs)",
        us(p50(&mut enc_lookups)),
        Some(us(p50(&mut clear_lookups))),
        "admin::patient_id, one query",
    );
    row(
        "MRN lookup, p99 (µs)",
        us(percentile(&mut enc_lookups, 0.99)),
        Some(us(percentile(&mut clear_lookups, 0.99))),
        "",
    );
    row(
        "push of a patient edit, per mutation (µs)",
        us(push_each),
        Some(us(push_each.saturating_sub(seal_each))),
        "clear = push minus sealing: DERIVED",
    );
    row("  of which sealing (µs)", us(seal_each), None, "7 values sealed, 3 blind indexes, timed alone");
    println!();
    println!(
        "encrypted = identities sealed under a data key; clear = the same code on rows in clear text (key_id NULL); \
         ratio = encrypted / clear (1.000 = no cost, lower is better). Push was measured on the encrypted database \
         only (a write always seals): its clear figure is push minus the sealing timed alone, not a measurement."
    );
    let slower = ms(enc_pull) / ms(clear_pull) - 1.0;
    println!(
        "encrypted initial sync pull within 10% of clear (p50): {} ({:+.1}%)",
        if slower <= 0.10 { "yes" } else { "NO" },
        slower * 100.0
    );
}

/// A fresh database of `cluster`, migrated, with `ward` loaded (encrypted).
async fn side(cluster: &PgCluster, ward: &SyntheticWard) -> Side {
    let url = cluster.url(&cluster.create_database().expect("database"));
    db::migrate(&url, None).await.expect("migrate");
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    let mut client = client;
    let state = AppState::new(Settings::for_tests(url)).expect("state");
    let keys = state.keys.get().await.expect("the data keys");
    let loaded = admin::load_ward(&mut client, &keys, Environment::Test, ward).await.expect("load");
    let location = loaded.locations[WARDS[0]];
    Side { state, client, keys, location }
}

/// The bytes of `phi.patient_identities` with its indexes and TOAST.
async fn identities_size(side: &Side) -> i64 {
    let sql = "SELECT pg_total_relation_size('phi.patient_identities')";
    side.client.query_one(sql, &[]).await.unwrap().get(0)
}

/// Puts every identity back in clear text, as before encryption, without
/// moving versions (`wardbook.reencrypt`, migration V7).
async fn to_clear(client: &mut Client, ward: &SyntheticWard) {
    let versions = "SELECT id, version, change_xid::text FROM patients ORDER BY id";
    let before: Vec<(Uuid, i64, String)> =
        client.query(versions, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    client.batch_execute("SET wardbook.reencrypt = 'on'").await.unwrap();
    let tx = client.transaction().await.unwrap();
    let update = tx
        .prepare(
            "UPDATE phi.patient_identities SET key_id = NULL, mrn_index = NULL, name_birth_index = NULL,
                    mrn = convert_to($2, 'UTF8'), given_name = convert_to($3, 'UTF8'),
                    family_name = convert_to($4, 'UTF8'), birth_date = convert_to($5, 'UTF8'),
                    phone = convert_to($6, 'UTF8'), email = convert_to($7, 'UTF8'), address = convert_to($8, 'UTF8')
              WHERE patient_id = $1",
        )
        .await
        .unwrap();
    for p in &ward.patients {
        let birth_date = p.birth_date.to_string();
        let n = tx
            .execute(
                &update,
                &[&p.id, &p.mrn, &p.given_name, &p.family_name, &birth_date, &p.phone, &p.email, &p.address],
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    tx.commit().await.unwrap();
    client.batch_execute("RESET wardbook.reencrypt").await.unwrap();
    let sealed: i64 = client
        .query_one(
            "SELECT count(*) FROM phi.patient_identities
              WHERE key_id IS NOT NULL OR mrn_index IS NOT NULL OR name_birth_index IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sealed, 0, "every identity is in clear text");
    let after: Vec<(Uuid, i64, String)> =
        client.query(versions, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(before, after, "no version moved");
}

/// The device's full initial sync: its time and every change.
async fn initial_sync(side: &mut Side, device: &DeviceAuth) -> (Duration, Vec<Change>) {
    let started = Instant::now();
    let mut cursor = Cursor::START;
    let mut changes = Vec::new();
    // A pooled connection, as the service's pull has (its statement cache).
    let mut db = side.state.db().await.expect("a pooled connection");
    loop {
        let page = feed::pull(&mut db, &side.keys, device, cursor, PULL_PAGE, chrono::Duration::hours(96))
            .await
            .expect("pull")
            .decode()
            .expect("a page that reads back");
        changes.extend(page.changes);
        cursor = Cursor::parse(&page.cursor).expect("cursor");
        if !page.has_more {
            break;
        }
    }
    (started.elapsed(), changes)
}

/// The patients' identifiers a pull carried, by id.
fn identities(changes: &[Change]) -> Vec<(Uuid, [Option<String>; 7])> {
    let mut out: Vec<_> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Patient { patient: p } => Some((
                p.id,
                [
                    Some(p.mrn.clone()),
                    Some(p.given_name.clone()),
                    Some(p.family_name.clone()),
                    Some(p.birth_date.to_string()),
                    p.phone.clone(),
                    p.email.clone(),
                    p.address.clone(),
                ],
            )),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// Opening the identities of the device's ward as the feed's decode does
/// (`Identity::open`: seven values, the date parsed), per pull.
async fn opening(side: &Side) -> Duration {
    let rows = side
        .client
        .query(
            "SELECT i.patient_id, i.key_id, i.mrn, i.given_name, i.family_name, i.birth_date, i.phone, i.email, i.address
               FROM phi.patient_identities i JOIN patient_locations l ON l.patient_id = i.patient_id
              WHERE l.location_id = $1 AND l.active",
            &[&side.location],
        )
        .await
        .unwrap();
    let keys = &side.keys;
    let started = Instant::now();
    for _ in 0..REPEAT {
        for row in &rows {
            let id: Uuid = row.get(0);
            let key_id: Option<i32> = row.get(1);
            let r = id.to_string();
            let text = |column, i: usize| keys.open_text(key_id, column, &r, row.get(i)).unwrap();
            let opt = |column, i: usize| keys.open_opt(key_id, column, &r, row.get::<_, Option<&[u8]>>(i)).unwrap();
            let birth_date = text(Column::BirthDate, 5).parse::<chrono::NaiveDate>().unwrap();
            black_box((
                text(Column::Mrn, 2),
                text(Column::GivenName, 3),
                text(Column::FamilyName, 4),
                birth_date,
                opt(Column::Phone, 6),
                opt(Column::Email, 7),
                opt(Column::Address, 8),
            ));
        }
    }
    started.elapsed() / REPEAT
}

/// One `admin::patient_id` by MRN: the patient found and the time taken.
async fn lookup(side: &Side, mrn: &str) -> (Uuid, Duration) {
    let started = Instant::now();
    let id = admin::patient_id(&side.client, &side.keys, mrn).await.expect("lookup");
    (id, started.elapsed())
}

/// Pushes `rounds` edits (the phone changed) of each of `patients`, one
/// batch per round after an untimed first one; returns the time per
/// mutation (p50 of the rounds) and the sealing a write does, timed alone.
async fn push_edits(side: &Side, device: &DeviceAuth, patients: &[&Patient], rounds: usize) -> (Duration, Duration) {
    let ids: Vec<Uuid> = patients.iter().map(|p| p.id).collect();
    let mut versions: HashMap<Uuid, i64> = side
        .client
        .query("SELECT id, version FROM patients WHERE id = ANY($1)", &[&ids])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut db = side.state.db().await.expect("a pooled connection");
    let mut per_mutation = Vec::with_capacity(rounds);
    let mut edited = Vec::new();
    for round in 0..=rounds {
        edited = patients
            .iter()
            .enumerate()
            .map(|(i, p)| Patient {
                version: versions[&p.id],
                phone: Some(format!("+1 202 555 01{:02}", (round * 37 + i) % 100)),
                ..(*p).clone()
            })
            .collect::<Vec<_>>();
        let mutations: Vec<Mutation> = edited
            .iter()
            .map(|p| Mutation {
                id: Uuid::now_v7(),
                base_version: Some(p.version),
                author: "bench.synthetic".into(),
                authored_at: Utc::now(),
                record: Record::Patient { patient: p.clone() },
            })
            .collect();
        let started = Instant::now();
        let response = push::push(&mut db, &side.keys, device, &side.state.settings, &mutations).await.expect("push");
        let took = started.elapsed();
        for (p, result) in edited.iter().zip(&response.results) {
            let MutationOutcome::Applied { version } = result.outcome else {
                panic!("not applied: {:?}", result.outcome)
            };
            versions.insert(p.id, version);
        }
        if round > 0 {
            per_mutation.push(took / mutations.len() as u32);
        }
    }
    let started = Instant::now();
    for _ in 0..REPEAT {
        for p in &edited {
            black_box(seal(&side.keys, p));
        }
    }
    let sealing = started.elapsed() / (REPEAT * edited.len() as u32);
    (p50(&mut per_mutation), sealing)
}

/// What a patient write seals (`Identity::seal`, crate-private) and the MRN
/// index of push's "MRN taken" check.
fn seal(keys: &KeySet, p: &Patient) -> impl Sized {
    let row = p.id.to_string();
    (
        keys.current(),
        keys.seal_text(Column::Mrn, &row, &p.mrn),
        keys.seal_text(Column::GivenName, &row, &p.given_name),
        keys.seal_text(Column::FamilyName, &row, &p.family_name),
        keys.seal_text(Column::BirthDate, &row, &p.birth_date.to_string()),
        keys.seal_opt(Column::Phone, &row, p.phone.as_deref()),
        keys.seal_opt(Column::Email, &row, p.email.as_deref()),
        keys.seal_opt(Column::Address, &row, p.address.as_deref()),
        keys.mrn_index(&p.mrn),
        keys.name_birth_index(&p.family_name, p.birth_date),
        keys.mrn_index(&p.mrn),
    )
}

fn percentile(times: &mut [Duration], q: f64) -> Duration {
    times.sort();
    times[((times.len() - 1) as f64 * q).round() as usize]
}

fn p50(times: &mut [Duration]) -> Duration {
    percentile(times, 0.5)
}

fn row(name: &str, encrypted: f64, clear: Option<f64>, what: &str) {
    match clear {
        Some(clear) => println!("{name:<46} {encrypted:>10.3} {clear:>10.3} {:>7.3}   {what}", encrypted / clear),
        None => println!("{name:<46} {encrypted:>10.3} {:>10} {:>7}   {what}", "-", "-"),
    }
}
