//! Pulls read from streaming replicas (issue 18, item 8), on the harness's
//! real hot standby: reads go to the replica while it is fit and say so in
//! health; the feed's no-skipped-rows horizon holds on the standby (a late
//! commit still arrives, a cursor issued by the primary beyond the
//! replica's horizon is served by the primary); a replica that lags past
//! the limit, or is stopped in the middle of a pull, hands its reads back
//! to the primary without a failed request or a lost row. Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Device, TestServer, eventually};
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;
use wardbook_protocol::api::{Change, PullResponse};
use wardbook_server::{AppState, app};
use wardbook_test_support::PgCluster;

const DEADLINE: Duration = Duration::from_secs(60);

/// A service instance configured with the replica, its monitor running.
struct ReadingFromReplica {
    state: Arc<AppState>,
    router: Router,
    monitor: tokio::task::JoinHandle<()>,
}

impl Drop for ReadingFromReplica {
    fn drop(&mut self) {
        self.monitor.abort();
    }
}

/// The test server's primary with a streaming replica of it, and an
/// instance whose pulls read from that replica (`max_lag` its lag limit).
async fn with_replica(server: &TestServer, max_lag_seconds: u32) -> (PgCluster, ReadingFromReplica) {
    let cluster =
        server.db.cluster().expect("this test starts a replica: it needs a cluster of its own (unset DATABASE_URL)");
    let replica = tokio::task::block_in_place(|| cluster.start_replica()).expect("a streaming replica");
    let instance = instance_on(server, &replica, max_lag_seconds).await;
    (replica, instance)
}

async fn instance_on(server: &TestServer, replica: &PgCluster, max_lag_seconds: u32) -> ReadingFromReplica {
    // The service's own role, on the replica (roles replicate with everything else).
    let config: tokio_postgres::Config = server.service_url.parse().unwrap();
    let replica_url = format!(
        "postgres://{}:synthetic-test-only@{}:{}/{}",
        config.get_user().unwrap(),
        replica.host(),
        replica.port(),
        config.get_dbname().unwrap()
    );
    let mut settings = server.settings.clone();
    settings.database_replica_urls = vec![replica_url];
    settings.policy.replica_max_lag_seconds = max_lag_seconds;
    let state = AppState::new(settings).unwrap();
    let monitor =
        wardbook_server::replicas::spawn_monitor(state.clone()).expect("a monitor for the configured replica");
    let router = app(state.clone());
    let instance = ReadingFromReplica { state, router, monitor };
    eventually(DEADLINE, "the replica in use", || async {
        (instance.health().await["database"]["reads"]["pulls_to"] == "replicas").then_some(())
    })
    .await;
    instance
}

impl ReadingFromReplica {
    async fn send(&self, method: Method, path: &str, auth: Option<&str>) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method.clone()).uri(path);
        if let Some(token) = auth {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = self.router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("a JSON body") };
        let path = path.split('?').next().unwrap();
        common::contract::check(&method, path, status, &value);
        (status, value)
    }

    async fn health(&self) -> Value {
        let (status, body) = self.send(Method::GET, "/v1/health", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The replica's entry in health.
    async fn replica_reads(&self) -> Value {
        let health = self.health().await;
        let replicas = health["database"]["reads"]["replicas"].as_array().unwrap().clone();
        assert_eq!(replicas.len(), 1, "{health}");
        replicas[0].clone()
    }

    async fn pull(&self, device: &Device, cursor: Option<&str>, limit: u32) -> PullResponse {
        let mut path = format!("/v1/sync/pull?limit={limit}");
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = self.send(Method::GET, &path, Some(&device.credential)).await;
        assert_eq!(status, StatusCode::OK, "every page is answered, from the replica or the primary: {body}");
        serde_json::from_value(body).expect("a pull response")
    }

    async fn pull_all(&self, device: &Device, cursor: Option<&str>, limit: u32) -> (Vec<Change>, String) {
        let mut changes = Vec::new();
        let mut cursor = cursor.map(str::to_owned);
        loop {
            let page = self.pull(device, cursor.as_deref(), limit).await;
            changes.extend(page.changes);
            cursor = Some(page.cursor);
            if !page.has_more {
                return (changes, cursor.unwrap());
            }
        }
    }

    fn served(&self) -> (u64, u64) {
        let routing = self.state.replicas.routing();
        (routing.replicas[0].pulls_served, routing.replicas[0].fallbacks)
    }
}

/// Each entry's count: every row must come exactly once.
fn counted(changes: &[Change]) -> BTreeMap<(&'static str, Uuid), usize> {
    let mut counts = BTreeMap::new();
    for change in changes {
        *counts.entry(common::change_key(change)).or_insert(0) += 1;
    }
    counts
}

/// The rows a device of `location` should hold (patients and observations in scope), from the primary.
async fn rows_in_scope(server: &TestServer, location: &str) -> (i64, i64) {
    let id = server.location_id(location).await;
    let row = server
        .owner()
        .await
        .query_one(
            "WITH scope AS (SELECT DISTINCT patient_id FROM patient_locations WHERE location_id = $1 AND active)
             SELECT (SELECT count(*) FROM scope),
                    (SELECT count(*) FROM observations WHERE patient_id IN (SELECT patient_id FROM scope))",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

fn kinds(changes: &[Change]) -> (i64, i64) {
    let patients = changes.iter().filter(|c| matches!(c, Change::Patient { .. })).count() as i64;
    let observations = changes.iter().filter(|c| matches!(c, Change::Observation { .. })).count() as i64;
    (patients, observations)
}

/// Pauses or resumes WAL replay on the replica (superuser, on the standby).
fn replay(replica: &PgCluster, database: &str, paused: bool) {
    let sql = if paused { "SELECT pg_wal_replay_pause()" } else { "SELECT pg_wal_replay_resume()" };
    replica.psql(database, sql).expect("replay paused or resumed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_read_from_the_replica_and_health_says_where_reads_go() {
    let server = TestServer::start().await;
    // Without replicas, health says reads go to the primary.
    let (_, health) = server.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(health["database"]["reads"]["pulls_to"], "primary", "{health}");
    assert_eq!(health["database"]["reads"]["replicas"], serde_json::json!([]), "{health}");

    server.synth(12, 81).await;
    let device = server.enrol("Ward 7A").await;
    let (replica, instance) = with_replica(&server, 30).await;

    let entry = instance.replica_reads().await;
    assert_eq!(entry["state"], "in_use", "{entry}");
    assert_eq!(entry["target"], format!("{}:{}", replica.host(), replica.port()), "{entry}");
    assert!(entry["lag_seconds"].as_f64().unwrap() <= 30.0, "{entry}");
    assert!(!entry["target"].as_str().unwrap().contains("synthetic-test-only"), "no password in health: {entry}");

    let (changes, _) = instance.pull_all(&device, None, 40).await;
    assert!(counted(&changes).values().all(|&n| n == 1), "every row once");
    assert_eq!(kinds(&changes), rows_in_scope(&server, "Ward 7A").await, "the whole scope, read on the replica");
    let (served, fallbacks) = instance.served();
    assert!(served >= 2, "the pages were read on the replica (served {served}, fell back {fallbacks})");
    assert_eq!(fallbacks, 0, "a caught-up replica serves every page");
    assert!(instance.replica_reads().await["pulls_served"].as_u64().unwrap() >= served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_still_arrives_through_the_replica() {
    let server = TestServer::start().await;
    server.synth(10, 82).await;
    let device = server.enrol("Ward 7A").await;
    let (_replica, instance) = with_replica(&server, 30).await;
    let (_, cursor) = instance.pull_all(&device, None, 100).await;
    let location = server.location_id("Ward 7A").await;
    let patients: Vec<Uuid> = server
        .owner()
        .await
        .query("SELECT patient_id FROM patient_locations WHERE location_id = $1 AND active ORDER BY 1", &[&location])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    // Writer 1 (on the primary) changes a patient and stays open; writer 2
    // starts later, changes another and commits first.
    let mut early = server.service().await;
    let tx1 = early.transaction().await.unwrap();
    tx1.execute("UPDATE patients SET preferred_language = 'fr' WHERE id = $1", &[&patients[0]]).await.unwrap();
    server
        .service()
        .await
        .execute("UPDATE patients SET preferred_language = 'de' WHERE id = $1", &[&patients[1]])
        .await
        .unwrap();
    let (during, cursor) = instance.pull_all(&device, Some(&cursor), 100).await;
    assert!(!common::patient_ids(&during).contains(&patients[0]), "an uncommitted change cannot have been sent");

    tx1.commit().await.unwrap();
    let (_, fallbacks_before) = instance.served();
    let mut seen = during;
    let mut cursor = cursor;
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let (changes, next) = instance.pull_all(&device, Some(&cursor), 100).await;
        seen.extend(changes);
        cursor = next;
        let ids = common::patient_ids(&seen);
        if ids.contains(&patients[0]) && ids.contains(&patients[1]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "both writers' changes did not arrive through the replica");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (served, fallbacks) = instance.served();
    assert!(served > 0);
    assert_eq!(fallbacks, fallbacks_before, "the replica's own horizon served the late commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_beyond_the_replicas_horizon_is_served_by_the_primary() {
    let server = TestServer::start().await;
    server.synth(10, 83).await;
    let device = server.enrol("Ward 7A").await;
    // A generous limit: the paused replica stays "in use", so only the
    // feed's own horizon check keeps it from serving what it has not replayed.
    let (replica, instance) = with_replica(&server, 3600).await;
    let (first, cursor) = instance.pull_all(&device, None, 1000).await;
    let database = server.db.name().to_owned();
    replay(&replica, &database, true);

    // New rows on the primary the replica has not replayed; the device
    // pulls one page of them from the primary alone (another instance, with
    // no replica), then continues at the instance that has one.
    server.synth(6, 84).await;
    let page = server.pull(&device, Some(&cursor), 5).await;
    assert!(page.has_more, "a window the primary opened, paged part way");
    let (_, fallbacks_before) = instance.served();
    let (rest, cursor) = instance.pull_all(&device, Some(&page.cursor), 5).await;
    let (_, fallbacks) = instance.served();
    assert!(fallbacks > fallbacks_before, "the replica, behind the cursor, handed the pages to the primary");
    assert_eq!(instance.replica_reads().await["state"], "in_use", "being behind a cursor is not a fault");

    let mut all = first;
    all.extend(page.changes);
    all.extend(rest);
    assert!(counted(&all).values().all(|&n| n == 1), "every row once");
    assert_eq!(kinds(&all), rows_in_scope(&server, "Ward 7A").await, "nothing skipped");

    // Once the replica replays again it serves the next window.
    replay(&replica, &database, false);
    server.synth(3, 85).await;
    let (served_before, _) = instance.served();
    let (more, _) = eventually(DEADLINE, "the replica serving again", || {
        let (instance, device, cursor) = (&instance, &device, cursor.clone());
        async move {
            let (changes, next) = instance.pull_all(device, Some(&cursor), 1000).await;
            (instance.served().0 > served_before && !changes.is_empty()).then_some((changes, next))
        }
    })
    .await;
    all.extend(more);
    assert!(counted(&all).values().all(|&n| n == 1), "every row once");
    assert_eq!(kinds(&all), rows_in_scope(&server, "Ward 7A").await, "nothing skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_lagging_past_the_limit_hands_reads_to_the_primary() {
    let server = TestServer::start().await;
    server.synth(8, 86).await;
    let device = server.enrol("Ward 7A").await;
    let (replica, instance) = with_replica(&server, 1).await;
    let (first, cursor) = instance.pull_all(&device, None, 1000).await;
    let database = server.db.name().to_owned();
    replay(&replica, &database, true);
    server.synth(4, 87).await;

    let entry = eventually(DEADLINE, "the replica reported lagging", || async {
        let entry = instance.replica_reads().await;
        (entry["state"] == "lagging").then_some(entry)
    })
    .await;
    assert!(entry["lag_seconds"].as_f64().unwrap() > 1.0, "{entry}");
    assert!(entry["problem"].as_str().unwrap().contains("behind the primary"), "{entry}");
    assert_eq!(instance.health().await["database"]["reads"]["pulls_to"], "primary");

    // The new rows arrive at once, from the primary.
    let (served_before, _) = instance.served();
    let (rest, _) = instance.pull_all(&device, Some(&cursor), 1000).await;
    assert_eq!(instance.served().0, served_before, "nothing read from a lagging replica");
    let mut all = first;
    all.extend(rest);
    assert!(counted(&all).values().all(|&n| n == 1), "every row once");
    assert_eq!(kinds(&all), rows_in_scope(&server, "Ward 7A").await, "nothing skipped");

    replay(&replica, &database, false);
    eventually(DEADLINE, "the replica back in use once caught up", || async {
        (instance.replica_reads().await["state"] == "in_use").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stopped_mid_pull_loses_no_request_and_no_row() {
    let server = TestServer::start().await;
    server.synth(30, 88).await;
    let device = server.enrol("Ward 7A").await;
    let (replica, instance) = with_replica(&server, 30).await;
    let replica = Arc::new(replica);

    // Small pages, so the pull is still running when the replica stops.
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut stopping: Option<tokio::task::JoinHandle<()>> = None;
    let mut pages = 0;
    loop {
        let page = instance.pull(&device, cursor.as_deref(), 10).await;
        pages += 1;
        all.extend(page.changes);
        cursor = Some(page.cursor);
        if pages == 3 {
            assert!(instance.served().0 >= 3, "the first pages came from the replica");
            // A fast shutdown while pulls go on: a page may be in flight on
            // it, and the pool holds connections that are about to break.
            let replica = replica.clone();
            stopping = Some(tokio::task::spawn_blocking(move || replica.stop().expect("the replica stops")));
        }
        if !page.has_more {
            break;
        }
    }
    assert!(pages > 3, "the pull outlived the replica's first pages");
    stopping.expect("the replica was stopped").await.unwrap();
    // Pages after the stop, to be sure some were tried on the stopped replica.
    server.synth(3, 89).await;
    let (more, _) = instance.pull_all(&device, cursor.as_deref(), 10).await;
    all.extend(more);

    assert!(counted(&all).values().all(|&n| n == 1), "every row once");
    assert_eq!(kinds(&all), rows_in_scope(&server, "Ward 7A").await, "nothing lost");
    let entry = eventually(DEADLINE, "the stopped replica reported down", || async {
        let entry = instance.replica_reads().await;
        (entry["state"] == "down").then_some(entry)
    })
    .await;
    assert!(!entry["problem"].as_str().unwrap().is_empty(), "{entry}");
    assert_eq!(instance.health().await["database"]["reads"]["pulls_to"], "primary");

    // Started again, it is found and used again.
    let restart = replica.clone();
    tokio::task::spawn_blocking(move || restart.start_again().expect("the replica starts again")).await.unwrap();
    eventually(DEADLINE, "the replica back in use", || async {
        (instance.replica_reads().await["state"] == "in_use").then_some(())
    })
    .await;
    let (served_before, _) = instance.served();
    server.synth(2, 90).await;
    eventually(DEADLINE, "a page read on the restarted replica", || {
        let (instance, device, cursor) = (&instance, &device, cursor.clone());
        async move {
            instance.pull_all(device, cursor.as_deref(), 1000).await;
            (instance.served().0 > served_before).then_some(())
        }
    })
    .await;
}
