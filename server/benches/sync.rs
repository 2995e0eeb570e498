//! `make bench`: the sync service against raw PostgreSQL, side by side.
//!
//! - pull: an initial sync of 10,000 patients and 1,000,000 observations over
//!   HTTP (JSON, pages of 5,000, decoded by the client), next to a raw
//!   `COPY (...) TO STDOUT` of the same rows;
//! - push: new observations over HTTP in batches of 500 (exactly-once
//!   bookkeeping, scope and version checks), next to the same rows by one
//!   multi-row INSERT per batch of 500, one transaction each;
//! - audit ingest: sealed events over HTTP in batches of 1,000 (chain
//!   verified), next to a binary `COPY ... FROM STDIN` of the same events
//!   into the same table, one per batch.
//!
//! A real cluster started by wardbook-test-support with production's
//! durability (`PgCluster::start_durable`: fsync, synchronous_commit and
//! full_page_writes on), so every commit pays its flush on both sides alike.
//! Synthetic data only. Sizes: WARDBOOK_BENCH_PATIENTS,
//! WARDBOOK_BENCH_OBSERVATIONS, WARDBOOK_BENCH_PUSH, WARDBOOK_BENCH_AUDIT.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use chrono::{TimeZone, Utc};
use futures_util::{StreamExt, pin_mut};
use tokio_postgres::NoTls;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;
use wardbook_protocol::api::{AuditUploadResponse, PullResponse, PushResponse};
use wardbook_protocol::synthetic::{SyntheticConfig, generate};
use wardbook_protocol::{
    AuditAction, AuditEvent, AuditOutcome, AuditSubtype, Environment, GENESIS_HASH, Observation, PurposeOfUse,
};
use wardbook_server::config::Settings;
use wardbook_server::{admin, db, enrolment, serve};
use wardbook_test_support::PgCluster;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let patients = env_usize("WARDBOOK_BENCH_PATIENTS", 10_000);
    let wanted = env_usize("WARDBOOK_BENCH_OBSERVATIONS", 1_000_000);
    let push_count = env_usize("WARDBOOK_BENCH_PUSH", 20_000);
    let audit_count = env_usize("WARDBOOK_BENCH_AUDIT", 100_000);

    let cluster = tokio::task::spawn_blocking(PgCluster::start_durable).await.unwrap().expect("a PostgreSQL cluster");
    let name = cluster.create_database().expect("database");
    let url = cluster.url(&name);
    db::migrate(&url, None).await.expect("migrate");
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    let mut client = client;

    println!("generating and loading a synthetic ward of {patients} patients ...");
    let anchor = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("anchor");
    let mut config = SyntheticConfig::new(2026, patients, anchor);
    config.days = 7;
    let mut ward = generate(&config);
    top_up(&mut ward.observations, wanted);
    let state = wardbook_server::AppState::new(Settings::for_tests(url.clone())).expect("state");
    let keys = state.keys.get().await.expect("the data keys");
    let loaded = admin::load_ward(&mut client, &keys, Environment::Test, &ward).await.expect("load");
    client.execute("VACUUM ANALYZE", &[]).await.expect("analyze");
    println!("{} patients, {} observations, {} allergies", loaded.patients, loaded.observations, loaded.allergies);

    // One device serving every location, so the initial sync is the whole ward.
    let (code, _) = enrolment::create_code(&client, "Ward 7A", chrono::Duration::hours(1)).await.unwrap();
    let (enrolled, _) = enrolment::enrol(&mut client, code.expose(), "bench", None).await.unwrap();
    for id in loaded.locations.values() {
        client
            .execute(
                "INSERT INTO device_locations (device_id, location_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&enrolled.device_id, id],
            )
            .await
            .unwrap();
    }
    let mut settings = Settings::for_tests(url.clone());
    settings.policy.max_pull_page = 5000;
    settings.policy.pool_size = 8;
    let running = serve::start(settings).await.expect("serve");
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let credential = enrolled.credential.clone();

    // Pull: the initial sync, decoded as the app would.
    let started = Instant::now();
    let mut cursor: Option<String> = None;
    let mut rows = 0usize;
    loop {
        let mut req = http.get(format!("{base}/v1/sync/pull")).bearer_auth(&credential).query(&[("limit", "5000")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let bytes = req.send().await.unwrap().error_for_status().unwrap().bytes().await.unwrap();
        let page: PullResponse = serde_json::from_slice(&bytes).unwrap();
        rows += page.changes.len();
        cursor = Some(page.cursor);
        if !page.has_more {
            break;
        }
    }
    let pull_rate = rows as f64 / started.elapsed().as_secs_f64();

    // Baseline: the same rows straight out of PostgreSQL with COPY.
    let started = Instant::now();
    let mut copied = 0usize;
    for sql in [
        "COPY (SELECT p.*, i.* FROM patients p JOIN phi.patient_identities i ON i.patient_id = p.id) TO STDOUT",
        "COPY (SELECT * FROM allergies) TO STDOUT",
        "COPY (SELECT * FROM observations) TO STDOUT",
        "COPY (SELECT * FROM medication_requests) TO STDOUT",
        "COPY (SELECT * FROM medication_administrations) TO STDOUT",
        "COPY (SELECT * FROM dose_reviews) TO STDOUT",
    ] {
        let stream = client.copy_out(sql).await.unwrap();
        pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            copied += chunk.unwrap().iter().filter(|b| **b == b'\n').count();
        }
    }
    let copy_rate = copied as f64 / started.elapsed().as_secs_f64();
    assert_eq!(copied, rows, "the pull carried every row");

    // Push: new observations in batches of 500.
    let template = ward.observations[0].clone();
    let news: Vec<Observation> = (0..push_count)
        .map(|_| {
            let mut o = template.clone();
            o.id = Uuid::now_v7();
            o
        })
        .collect();
    let started = Instant::now();
    for chunk in news.chunks(500) {
        let mutations: Vec<serde_json::Value> = chunk
            .iter()
            .map(|o| {
                serde_json::json!({ "id": Uuid::now_v7(), "base_version": null, "author": "bench.synthetic",
                    "authored_at": Utc::now(), "record": { "type": "observation", "observation": o } })
            })
            .collect();
        let response: PushResponse = ok_json(
            http.post(format!("{base}/v1/sync/push"))
                .bearer_auth(&credential)
                .json(&serde_json::json!({ "mutations": mutations })),
        )
        .await;
        assert_eq!(response.results.len(), chunk.len());
    }
    let push_rate = push_count as f64 / started.elapsed().as_secs_f64();

    // Baseline: the same rows, one multi-row INSERT per batch of 500, one
    // transaction each.
    let raw_news: Vec<Observation> = news
        .iter()
        .map(|o| {
            let mut o = o.clone();
            o.id = Uuid::now_v7();
            o
        })
        .collect();
    let started = Instant::now();
    for chunk in raw_news.chunks(500) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p: Vec<String> = (1..=9).map(|c| format!("${}", i * 9 + c)).collect();
                format!("({})", p.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO observations (id, patient_id, synthetic, deleted, category, code, status, effective_at, body)
             VALUES {}",
            values.join(", ")
        );
        let columns: Vec<(&'static str, &'static str, serde_json::Value)> =
            chunk.iter().map(|o| (o.category.as_str(), o.status.as_str(), serde_json::to_value(o).unwrap())).collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(chunk.len() * 9);
        for (o, (category, status, body)) in chunk.iter().zip(&columns) {
            params.extend_from_slice(&[
                &o.id,
                &o.patient_id,
                &o.synthetic,
                &o.deleted,
                category,
                &o.code.code,
                status,
                &o.effective_at,
                body,
            ]);
        }
        let tx = client.transaction().await.unwrap();
        let n = tx.execute(sql.as_str(), &params).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(n as usize, chunk.len());
    }
    let raw_push_rate = push_count as f64 / started.elapsed().as_secs_f64();

    // Audit ingest: one device's chain in batches of 1,000.
    let events = chain(enrolled.device_id, audit_count, &ward.patients.iter().map(|p| p.id).collect::<Vec<_>>());
    let started = Instant::now();
    for chunk in events.chunks(1000) {
        let response: AuditUploadResponse = ok_json(
            http.post(format!("{base}/v1/audit/events"))
                .bearer_auth(&credential)
                .json(&serde_json::json!({ "events": chunk })),
        )
        .await;
        assert_eq!(response.stored as usize, chunk.len());
    }
    let audit_rate = audit_count as f64 / started.elapsed().as_secs_f64();

    // Baseline: the same events (another device's copy) by binary COPY, one
    // transaction per batch.
    let (code, _) = enrolment::create_code(&client, "Ward 7A", chrono::Duration::hours(1)).await.unwrap();
    let (other, _) = enrolment::enrol(&mut client, code.expose(), "bench-raw", None).await.unwrap();
    let raw_events = chain(other.device_id, audit_count, &ward.patients.iter().map(|p| p.id).collect::<Vec<_>>());
    let types = [
        Type::UUID,
        Type::INT8,
        Type::UUID,
        Type::TIMESTAMPTZ,
        Type::TEXT,
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
    ];
    let started = Instant::now();
    for chunk in raw_events.chunks(1000) {
        let tx = client.transaction().await.unwrap();
        let sink = tx
            .copy_in(
                "COPY audit_events (device_id, sequence, id, recorded_at, user_id, session_id, action, subtype,
                        patient_id, purpose_of_use, outcome, prev_hash, hash) FROM STDIN (FORMAT binary)",
            )
            .await
            .unwrap();
        let writer = BinaryCopyInWriter::new(sink, &types);
        let mut writer = std::pin::pin!(writer);
        for e in chunk {
            writer
                .as_mut()
                .write(&[
                    &e.device_id,
                    &e.sequence,
                    &e.id,
                    &e.recorded_at,
                    &e.user_id,
                    &e.session_id,
                    &e.action.as_str(),
                    &e.subtype.as_str(),
                    &e.patient_id,
                    &e.purpose_of_use.as_str(),
                    &e.outcome.as_str(),
                    &e.prev_hash,
                    &e.hash,
                ])
                .await
                .unwrap();
        }
        let n = writer.as_mut().finish().await.unwrap();
        assert_eq!(n as usize, chunk.len());
        tx.commit().await.unwrap();
    }
    let raw_audit_rate = audit_count as f64 / started.elapsed().as_secs_f64();
    running.shutdown().await.unwrap();

    let version: String = client.query_one("SHOW server_version", &[]).await.unwrap().get(0);
    let mut durability = Vec::new();
    for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
        let value: String = client.query_one(&format!("SHOW {setting}"), &[]).await.unwrap().get(0);
        assert_eq!(value, "on", "the bench cluster runs with {setting} on, as production does");
        durability.push(format!("{setting}={value}"));
    }
    println!();
    println!(
        "Wardbook sync service benchmark: {patients} patients, {} observations, PostgreSQL {version} ({})",
        loaded.observations,
        durability.join(", ")
    );
    println!("{:<44} {:>12} {:>12} {:>7}   baseline", "measurement", "wardbook", "baseline", "ratio");
    row("initial sync pull (rows/s)", pull_rate, copy_rate, "COPY (...) TO STDOUT of the same rows");
    row("push, new observations (mutations/s)", push_rate, raw_push_rate, "multi-row INSERT, one transaction per 500");
    row("audit ingest (events/s)", audit_rate, raw_audit_rate, "binary COPY FROM STDIN, one per 1,000");
    println!();
    println!(
        "wardbook = over HTTP on loopback, JSON both ways, authenticated; ratio = wardbook / baseline (higher is better)."
    );
}

fn row(name: &str, ours: f64, baseline: f64, what: &str) {
    println!("{name:<44} {ours:>12.0} {baseline:>12.0} {:>7.3}   {what}", ours / baseline);
}

/// Tops the generated observations up to `wanted` with fresh ids.
fn top_up(observations: &mut Vec<Observation>, wanted: usize) {
    observations.truncate(wanted);
    let n = observations.len();
    let mut i = 0;
    while observations.len() < wanted {
        let mut o = observations[i % n].clone();
        o.id = Uuid::now_v7();
        observations.push(o);
        i += 1;
    }
}

/// A sealed, chained run of chart views for one device.
fn chain(device_id: Uuid, count: usize, patients: &[Uuid]) -> Vec<AuditEvent> {
    let session = Uuid::now_v7();
    let mut prev = GENESIS_HASH.to_owned();
    (1..=count as i64)
        .map(|sequence| {
            let event = AuditEvent {
                id: Uuid::now_v7(),
                device_id,
                sequence,
                recorded_at: Utc::now(),
                user_id: "bench.synthetic".into(),
                session_id: session,
                action: AuditAction::Read,
                subtype: AuditSubtype::ChartOpen,
                patient_id: Some(patients[sequence as usize % patients.len()]),
                purpose_of_use: PurposeOfUse::Treatment,
                outcome: AuditOutcome::Success,
                prev_hash: prev.clone(),
                hash: String::new(),
            }
            .seal();
            prev = event.hash.clone();
            event
        })
        .collect()
}

/// Sends a request that must succeed and decodes its JSON answer.
async fn ok_json<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    request.send().await.unwrap().error_for_status().unwrap().json().await.unwrap()
}
