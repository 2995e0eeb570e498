//! Health against real PostgreSQL: a primary with a streaming replica, a
//! database that goes away and comes back, and production's guard against
//! synthetic data. Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::TestServer;
use serde_json::{Value, json};
use tower::ServiceExt;
use wardbook_protocol::Environment;
use wardbook_protocol::api::{Change, MutationOutcome, PushResponse, RejectReason};
use wardbook_server::config::Settings;
use wardbook_server::{AppState, admin, app, db};

const DEADLINE: Duration = Duration::from_secs(60);

async fn health_of(router: &Router) -> (StatusCode, Value) {
    let req = Request::builder().method(Method::GET).uri("/v1/health").body(Body::empty()).unwrap();
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap();
    common::contract::check(&Method::GET, "/v1/health", status, &body);
    (status, body)
}

/// A router of its own over `settings` (what another service instance would be).
fn router_for(settings: Settings) -> Router {
    app(AppState::new(settings).unwrap())
}

fn finding_codes(health: &Value) -> Vec<String> {
    health["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_primary_its_replica_and_the_migration() {
    let server = TestServer::start().await;
    let cluster =
        server.db.cluster().expect("this test starts a replica: it needs a cluster of its own (unset DATABASE_URL)");
    let replica = tokio::task::block_in_place(|| cluster.start_replica()).expect("a streaming replica");

    let expected = db::expected_migration_version();
    assert!(expected >= 1);
    let health = common::eventually(DEADLINE, "the replica in health with its lag in bytes", || async {
        let (status, body) = server.call(Method::GET, "/v1/health", None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let listed = body["database"]["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["application_name"] == replica.cluster_name() && r["replay_lag_bytes"].is_i64());
        listed.then_some(body)
    })
    .await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["environment"], "test");
    assert_eq!(health["database"]["reachable"], true);
    assert_eq!(health["database"]["role"], "primary");
    assert_eq!(health["database"]["migration_version"], expected);
    assert_eq!(health["database"]["expected_migration_version"], expected);
    assert!(health["hint"].is_null());
    let entry = health["database"]["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["application_name"] == replica.cluster_name())
        .unwrap()
        .clone();
    assert_eq!(entry["state"], "streaming", "{entry}");
    assert!(entry["replay_lag_bytes"].as_i64().unwrap() >= 0, "{entry}");
    assert_eq!(entry["client_addr"], "127.0.0.1", "the address alone, without a netmask: {entry}");

    // A service instance pointed at the replica sees a replica, with the same migration.
    let on_replica = router_for(Settings::for_tests(replica.url(server.db.name())));
    let health = common::eventually(DEADLINE, "health on the replica", || async {
        let (status, body) = health_of(&on_replica).await;
        (status == StatusCode::OK && body["database"]["reachable"] == true).then_some(body)
    })
    .await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["database"]["role"], "replica");
    assert_eq!(health["database"]["migration_version"], expected);
    assert_eq!(health["database"]["replicas"], json!([]), "a replica lists no replicas of its own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_answers_503_with_a_hint_and_recovers_by_itself() {
    let server = TestServer::start().await;
    wardbook_server::admin::location_add(&server.service().await, "W1", "Synthetic Ward One").await.unwrap();
    let device = server.enrol("W1").await;
    let (status, body) = server.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server.call(Method::GET, "/v1/sync/pull", Some(&device.credential), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let cluster =
        server.db.cluster().expect("this test stops the server: it needs a cluster of its own (unset DATABASE_URL)");
    tokio::task::block_in_place(|| cluster.stop()).unwrap();

    let (status, body) = server.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"]["reachable"], false);
    assert!(body["database"]["role"].is_null());
    assert!(finding_codes(&body).contains(&"database_unreachable".to_owned()), "{body}");
    let hint = body["hint"].as_str().expect("a hint");
    assert!(hint.contains(&format!("Is PostgreSQL running at 127.0.0.1:{}?", cluster.port())), "{hint}");

    let (status, body) = server.call(Method::GET, "/v1/sync/pull", Some(&device.credential), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "database_unavailable");
    // Once no pooled connection is left over, the message names where PostgreSQL should be.
    let target = format!("Is PostgreSQL running at 127.0.0.1:{}?", cluster.port());
    common::eventually(DEADLINE, "a 503 naming the database's address", || async {
        let (status, body) = server.call(Method::GET, "/v1/sync/pull", Some(&device.credential), None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], "database_unavailable");
        body["message"].as_str().unwrap().contains(&target).then_some(())
    })
    .await;

    tokio::task::block_in_place(|| cluster.start_again()).unwrap();
    // Same router, same pool: it reconnects by itself.
    let body = common::eventually(DEADLINE, "health to recover after PostgreSQL restarted", || async {
        let (status, body) = server.call(Method::GET, "/v1/health", None, None).await;
        (status == StatusCode::OK).then_some(body)
    })
    .await;
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["database"]["role"], "primary");
    assert!(body["hint"].is_null());
    common::eventually(DEADLINE, "pull to work again", || async {
        let (status, _) = server.call(Method::GET, "/v1/sync/pull", Some(&device.credential), None).await;
        (status == StatusCode::OK).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_refuses_synthetic_data_and_reports_it_as_critical() {
    let server = TestServer::start_with(Environment::Production, |_| {}).await;
    let (status, body) = server.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["environment"], "production");
    // Only the plain (loopback) connection to PostgreSQL is worth a warning.
    assert_eq!(finding_codes(&body), vec!["database_plain".to_owned()], "{body}");
    assert_eq!(body["findings"][0]["severity"], "warning");

    let keys = server.state.keys.get().await.unwrap();
    let refused =
        admin::synth(&mut server.service().await, &keys, Environment::Production, 5, 3, chrono::Utc::now()).await;
    match refused {
        Err(e @ wardbook_server::Error::Forbidden(_)) => assert!(e.to_string().contains("production"), "{e}"),
        other => panic!("synth in production must be refused, got {other:?}"),
    }
    let patients: i64 = server.owner().await.query_one("SELECT count(*) FROM patients", &[]).await.unwrap().get(0);
    assert_eq!(patients, 0);

    // Synthetic rows got in anyway (loaded as if for a test environment, by the owner).
    let report =
        admin::synth(&mut server.owner().await, &keys, Environment::Test, 5, 3, chrono::Utc::now()).await.unwrap();
    assert_eq!(report.patients, 5);

    let (status, body) = server.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "critical, but still serving: {body}");
    assert_eq!(body["status"], "critical", "{body}");
    let finding = body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "synthetic_data_in_production")
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(finding["severity"], "critical");

    // A test-environment instance on the same data has nothing to report.
    let test_instance = router_for(Settings::for_tests(server.service_url.clone()));
    let (status, body) = health_of(&test_instance).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["environment"], "test");
    assert_eq!(body["findings"], json!([]));

    // Only synthetic rows trigger it: with them all marked real, production is ok again.
    server
        .owner()
        .await
        .batch_execute(
            "UPDATE patients SET synthetic = false; UPDATE observations SET synthetic = false;
             UPDATE allergies SET synthetic = false;",
        )
        .await
        .unwrap();
    let (_, body) = server.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(body["status"], "ok", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_rejects_a_pushed_synthetic_row() {
    let server = TestServer::start_with(Environment::Production, |_| {}).await;
    let keys = server.state.keys.get().await.unwrap();
    admin::synth(&mut server.owner().await, &keys, Environment::Test, 6, 5, chrono::Utc::now()).await.unwrap();
    let device = server.enrol("Ward 7A").await;
    let (changes, _) = server.pull_all(&device, None, 500).await;
    let observation = changes
        .iter()
        .find_map(|c| match c {
            Change::Observation { observation } => Some(observation.clone()),
            _ => None,
        })
        .expect("the ward's observations");
    assert!(observation.synthetic);

    let mut synthetic = observation.clone();
    synthetic.id = uuid::Uuid::now_v7();
    synthetic.version = 0;
    let mut real = synthetic.clone();
    real.id = uuid::Uuid::now_v7();
    real.synthetic = false;
    let (synthetic_mutation, real_mutation) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let now = chrono::Utc::now();
    let push = json!({ "mutations": [
        { "id": synthetic_mutation, "base_version": null, "author": "nurse.synthetic", "authored_at": now,
          "record": { "type": "observation", "observation": synthetic } },
        { "id": real_mutation, "base_version": null, "author": "nurse.synthetic", "authored_at": now,
          "record": { "type": "observation", "observation": real } },
    ]});
    let (status, body) = server.call(Method::POST, "/v1/sync/push", Some(&device.credential), Some(push)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pushed: PushResponse = serde_json::from_value(body).unwrap();
    match &pushed.results[0].outcome {
        MutationOutcome::Rejected { reason: RejectReason::Validation, message } => {
            assert!(message.contains("Synthetic"), "{message}")
        }
        other => panic!("a synthetic row must be rejected in production, got {other:?}"),
    }
    assert!(matches!(pushed.results[1].outcome, MutationOutcome::Applied { version: 1 }), "{pushed:?}");

    let owner = server.owner().await;
    let stored = |id: uuid::Uuid| {
        let owner = &owner;
        async move {
            owner.query_one("SELECT count(*) FROM observations WHERE id = $1", &[&id]).await.unwrap().get::<_, i64>(0)
        }
    };
    assert_eq!(stored(synthetic.id).await, 0, "the rejected row is not stored");
    assert_eq!(stored(real.id).await, 1);
    let recorded: i64 = owner
        .query_one("SELECT count(*) FROM applied_mutations WHERE mutation_id = $1", &[&synthetic_mutation])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 0, "a rejection is not recorded as applied");

    // An edit marking an existing row synthetic is refused the same way.
    let mut edit = observation.clone();
    edit.status = wardbook_protocol::ObservationStatus::Amended;
    let push = json!({ "mutations": [
        { "id": uuid::Uuid::now_v7(), "base_version": observation.version, "author": "nurse.synthetic", "authored_at": now,
          "record": { "type": "observation", "observation": edit } },
    ]});
    let (_, body) = server.call(Method::POST, "/v1/sync/push", Some(&device.credential), Some(push)).await;
    assert_eq!(body["results"][0]["outcome"]["outcome"], "rejected", "{body}");
    assert_eq!(body["results"][0]["outcome"]["reason"], "validation", "{body}");
}

/// A write transaction left open holds back every workstation's feed:
/// health names it (process, application, state; never its query) with a
/// warning past `feed_horizon_warn_minutes`, and stops naming it once it
/// ends. The cluster is shared with other tests, whose transactions are
/// short: the test polls until this one is the oldest.
#[tokio::test]
async fn health_names_the_transaction_holding_the_feed_horizon_back() {
    let server = TestServer::start_with(Environment::Test, |s| s.policy.feed_horizon_warn_minutes = 0).await;
    let mut holder = server.owner().await;
    holder.execute("SET application_name = 'synthetic-long-writer'", &[]).await.unwrap();
    let pid: i32 = holder.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    let tx = holder.transaction().await.unwrap();
    tx.execute("INSERT INTO locations (id, code, name) VALUES (gen_random_uuid(), 'HZ', 'Horizon')", &[])
        .await
        .unwrap();

    let health = common::eventually(DEADLINE, "health to name the open transaction", || async {
        let (_, health) = health_of(&server.router).await;
        (health["database"]["feed_horizon"]["pid"] == json!(pid)).then_some(health)
    })
    .await;
    let horizon = &health["database"]["feed_horizon"];
    assert_eq!(horizon["application_name"], "synthetic-long-writer");
    assert_eq!(horizon["state"], "idle in transaction");
    assert!(horizon["held_back_seconds"].as_f64().unwrap() >= 0.0);
    let finding = health["findings"].as_array().unwrap().iter().find(|f| f["code"] == "feed_horizon_held").unwrap();
    assert!(finding["message"].as_str().unwrap().contains(&format!("process {pid}")), "{finding}");
    assert!(!finding["message"].as_str().unwrap().contains("INSERT"), "never the query text");

    tx.commit().await.unwrap();
    common::eventually(DEADLINE, "health to stop naming the ended transaction", || async {
        let (_, health) = health_of(&server.router).await;
        (health["database"]["feed_horizon"]["pid"] != json!(pid)).then_some(())
    })
    .await;
}
