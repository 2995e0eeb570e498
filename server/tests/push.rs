//! Pushes are applied exactly once; a conflict is answered with the server's
//! row and never blocks the other mutations of the batch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::TestServer;
use serde_json::json;
use uuid::Uuid;
use wardbook_protocol::api::{Change, MutationOutcome, PushResponse, Record};
use wardbook_protocol::{Allergy, Observation, ObservationStatus};

async fn first_rows(server: &TestServer, device: &common::Device) -> (Observation, Allergy) {
    let (changes, _) = server.pull_all(device, None, 1000).await;
    let obs = changes.iter().find_map(|c| match c {
        Change::Observation { observation } => Some(observation.clone()),
        _ => None,
    });
    let allergy = changes.iter().find_map(|c| match c {
        Change::Allergy { allergy } => Some(allergy.clone()),
        _ => None,
    });
    (obs.expect("an observation in scope"), allergy.expect("an allergy in scope"))
}

async fn push(server: &TestServer, device: &common::Device, body: &serde_json::Value) -> PushResponse {
    let (status, body) = server.call(Method::POST, "/v1/sync/push", Some(&device.credential), Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

async fn count(server: &TestServer, sql: &str) -> i64 {
    server.owner().await.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_batch_three_times_leaves_one_row_each() {
    let server = TestServer::start().await;
    server.synth(8, 3).await;
    let device = server.enrol("Ward 7A").await;
    let (template, _) = first_rows(&server, &device).await;
    let before = count(&server, "SELECT count(*) FROM observations").await;

    let news: Vec<Observation> = (0..3)
        .map(|_| {
            let mut o = template.clone();
            o.id = Uuid::now_v7();
            o
        })
        .collect();
    let mut amended = template.clone();
    amended.status = ObservationStatus::Amended;
    let mut mutations: Vec<serde_json::Value> = news
        .iter()
        .map(|o| {
            json!({ "id": Uuid::now_v7(), "base_version": null, "author": "nurse.synthetic",
                    "authored_at": chrono::Utc::now(), "record": { "type": "observation", "observation": o } })
        })
        .collect();
    mutations.push(json!({ "id": Uuid::now_v7(), "base_version": template.version, "author": "nurse.synthetic",
        "authored_at": chrono::Utc::now(), "record": { "type": "observation", "observation": amended } }));
    let batch = json!({ "mutations": mutations });

    let first = push(&server, &device, &batch).await;
    assert!(first.results.iter().all(|r| matches!(r.outcome, MutationOutcome::Applied { .. })), "{first:?}");
    // The responses were "lost": the client sends the batch again, twice.
    for _ in 0..2 {
        let again = push(&server, &device, &batch).await;
        // Each answer carries the version the first application produced.
        for (then, now) in first.results.iter().zip(&again.results) {
            let MutationOutcome::Applied { version } = then.outcome else { unreachable!() };
            assert_eq!(now.outcome, MutationOutcome::AlreadyApplied { version }, "{again:?}");
        }
    }
    assert_eq!(count(&server, "SELECT count(*) FROM observations").await, before + 3);
    let version: i64 = server
        .owner()
        .await
        .query_one("SELECT version FROM observations WHERE id = $1", &[&template.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, template.version + 1, "the edit was applied once");
    assert_eq!(count(&server, "SELECT count(*) FROM applied_mutations").await, 4);

    // The same batch sent concurrently (a retry racing the original) also applies once.
    let fresh: Vec<serde_json::Value> = (0..5)
        .map(|_| {
            let mut o = template.clone();
            o.id = Uuid::now_v7();
            json!({ "id": Uuid::now_v7(), "base_version": null, "author": "nurse.synthetic",
                    "authored_at": chrono::Utc::now(), "record": { "type": "observation", "observation": o } })
        })
        .collect();
    let batch = json!({ "mutations": fresh });
    let (a, b) = tokio::join!(push(&server, &device, &batch), push(&server, &device, &batch));
    for i in 0..5 {
        let applied =
            [&a, &b].iter().filter(|r| matches!(r.results[i].outcome, MutationOutcome::Applied { .. })).count();
        assert_eq!(applied, 1, "mutation {i} applied exactly once: {a:?} {b:?}");
    }
    assert_eq!(count(&server, "SELECT count(*) FROM observations").await, before + 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_returns_the_server_row_and_the_rest_of_the_batch_applies() {
    let server = TestServer::start().await;
    server.synth(8, 4).await;
    let device = server.enrol("Ward 7A").await;
    let (obs, allergy) = first_rows(&server, &device).await;

    // Someone else changed the allergy on the server meanwhile.
    server
        .owner()
        .await
        .execute("UPDATE allergies SET clinical_status = clinical_status WHERE id = $1", &[&allergy.id])
        .await
        .unwrap();

    let mut stale_edit = allergy.clone();
    stale_edit.criticality = wardbook_protocol::Criticality::Low;
    let mut new_obs = obs.clone();
    new_obs.id = Uuid::now_v7();
    let mut amended = obs.clone();
    amended.status = ObservationStatus::Amended;
    let batch = json!({ "mutations": [
        { "id": Uuid::now_v7(), "base_version": obs.version, "author": "nurse.synthetic", "authored_at": chrono::Utc::now(),
          "record": { "type": "observation", "observation": amended } },
        { "id": Uuid::now_v7(), "base_version": allergy.version, "author": "nurse.synthetic", "authored_at": chrono::Utc::now(),
          "record": { "type": "allergy", "allergy": stale_edit } },
        { "id": Uuid::now_v7(), "base_version": null, "author": "nurse.synthetic", "authored_at": chrono::Utc::now(),
          "record": { "type": "observation", "observation": new_obs } },
    ]});
    let response = push(&server, &device, &batch).await;
    assert!(matches!(response.results[0].outcome, MutationOutcome::Applied { .. }), "{response:?}");
    assert!(matches!(response.results[2].outcome, MutationOutcome::Applied { version: 1 }), "{response:?}");
    match &response.results[1].outcome {
        MutationOutcome::Conflict { current } if matches!(**current, Record::Allergy { .. }) => {
            let Record::Allergy { allergy: current } = current.as_ref() else { unreachable!() };
            assert_eq!(current.id, allergy.id);
            assert_eq!(current.version, allergy.version + 1, "the server's current row comes back");
            assert_eq!(current.criticality, allergy.criticality, "the server kept its row");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let stored: String = server
        .owner()
        .await
        .query_one("SELECT criticality FROM allergies WHERE id = $1", &[&allergy.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, allergy.criticality.as_str(), "the conflicting edit changed nothing");
    // The conflicting mutation was not recorded as applied: resolving it later is possible.
    let recorded = count(&server, "SELECT count(*) FROM applied_mutations").await;
    assert_eq!(recorded, 2);
}
