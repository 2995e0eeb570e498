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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_answers_each_mutation_and_stores_only_the_good_ones() {
    use wardbook_protocol::api::RejectReason;
    let server = TestServer::start().await;
    server.synth(8, 5).await;
    let device = server.enrol("Ward 7A").await;
    let (obs, allergy) = first_rows(&server, &device).await;
    let fresh = |o: &Observation| {
        let mut o = o.clone();
        o.id = Uuid::now_v7();
        o
    };
    let mutation = |base: Option<i64>, record: serde_json::Value| {
        json!({ "id": Uuid::now_v7(), "base_version": base, "author": "nurse.synthetic",
                "authored_at": chrono::Utc::now(), "record": record })
    };

    // Applied once before: in the next batch it is a repeat.
    let earlier = mutation(None, json!({ "type": "observation", "observation": fresh(&obs) }));
    let first = push(&server, &device, &json!({ "mutations": [earlier] })).await;
    assert!(matches!(first.results[0].outcome, MutationOutcome::Applied { version: 1 }), "{first:?}");
    // Someone else changed the allergy on the server meanwhile.
    server
        .owner()
        .await
        .execute("UPDATE allergies SET clinical_status = clinical_status WHERE id = $1", &[&allergy.id])
        .await
        .unwrap();
    let before_observations = count(&server, "SELECT count(*) FROM observations").await;
    let before_applied = count(&server, "SELECT count(*) FROM applied_mutations").await;

    let good = fresh(&obs);
    let mut stale = allergy.clone();
    stale.criticality = wardbook_protocol::Criticality::Low;
    let mut ancient = fresh(&obs);
    ancient.effective_at =
        chrono::NaiveDate::from_ymd_opt(-5000, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let mut nul = fresh(&obs);
    nul.code.code = "8867-4\u{0}".into();
    let never_stored = fresh(&obs);
    let mut amended = obs.clone();
    amended.status = ObservationStatus::Amended;
    let created_then_edited = fresh(&obs);
    let mut its_edit = created_then_edited.clone();
    its_edit.status = ObservationStatus::Amended;
    let last = fresh(&obs);
    let batch = json!({ "mutations": [
        mutation(None, json!({ "type": "observation", "observation": good })),
        earlier,
        mutation(Some(allergy.version), json!({ "type": "allergy", "allergy": stale })),
        mutation(None, json!({ "type": "observation", "observation": ancient })),
        mutation(Some(3), json!({ "type": "observation", "observation": never_stored })),
        mutation(None, json!({ "type": "observation", "observation": nul })),
        mutation(Some(obs.version), json!({ "type": "observation", "observation": amended })),
        mutation(None, json!({ "type": "observation", "observation": created_then_edited })),
        mutation(Some(1), json!({ "type": "observation", "observation": its_edit })),
        mutation(None, json!({ "type": "observation", "observation": last })),
    ]});
    let response = push(&server, &device, &batch).await;
    let outcomes: Vec<&MutationOutcome> = response.results.iter().map(|r| &r.outcome).collect();
    assert_eq!(outcomes.len(), 10, "{response:?}");
    assert!(matches!(outcomes[0], MutationOutcome::Applied { version: 1 }), "{response:?}");
    assert_eq!(*outcomes[1], MutationOutcome::AlreadyApplied { version: 1 }, "{response:?}");
    assert!(
        matches!(outcomes[2], MutationOutcome::Conflict { current } if matches!(**current, Record::Allergy { .. })),
        "{response:?}"
    );
    for (i, what) in [(3, "a date PostgreSQL cannot hold"), (4, "an edit of a row the server lacks"), (5, "a NUL")] {
        assert!(
            matches!(outcomes[i], MutationOutcome::Rejected { reason: RejectReason::Validation, .. }),
            "{what}: {response:?}"
        );
    }
    // The date and the NUL pass the protocol's rules: PostgreSQL refused them.
    for i in [3, 5] {
        assert!(
            matches!(outcomes[i], MutationOutcome::Rejected { message, .. } if message.starts_with("A value cannot be stored")),
            "{response:?}"
        );
    }
    assert_eq!(*outcomes[6], MutationOutcome::Applied { version: obs.version + 1 }, "{response:?}");
    // A row created and edited in one batch: each its own version, as when pushed apart.
    assert_eq!(*outcomes[7], MutationOutcome::Applied { version: 1 }, "{response:?}");
    assert_eq!(*outcomes[8], MutationOutcome::Applied { version: 2 }, "{response:?}");
    assert!(matches!(outcomes[9], MutationOutcome::Applied { version: 1 }), "{response:?}");

    // The good ones are stored, the others are not, and only the applied are recorded.
    let owner = server.owner().await;
    assert_eq!(count(&server, "SELECT count(*) FROM observations").await, before_observations + 3);
    assert_eq!(count(&server, "SELECT count(*) FROM applied_mutations").await, before_applied + 5);
    let status = |id: Uuid| {
        let owner = &owner;
        async move {
            owner
                .query_opt("SELECT status, version FROM observations WHERE id = $1", &[&id])
                .await
                .unwrap()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        }
    };
    assert_eq!(status(good.id).await, Some((good.status.as_str().to_owned(), 1)));
    assert_eq!(status(obs.id).await, Some(("amended".to_owned(), obs.version + 1)));
    assert_eq!(status(created_then_edited.id).await, Some(("amended".to_owned(), 2)));
    assert_eq!(status(last.id).await.map(|(_, v)| v), Some(1));
    for id in [ancient.id, nul.id, never_stored.id] {
        assert_eq!(status(id).await, None, "a rejected row is not stored");
    }
    let criticality: String =
        owner.query_one("SELECT criticality FROM allergies WHERE id = $1", &[&allergy.id]).await.unwrap().get(0);
    assert_eq!(criticality, allergy.criticality.as_str(), "the conflicting edit changed nothing");

    // Sent again: the applied ones are repeats, the others get the same answers.
    let again = push(&server, &device, &batch).await;
    for (then, now) in response.results.iter().zip(&again.results) {
        match &then.outcome {
            MutationOutcome::Applied { version } | MutationOutcome::AlreadyApplied { version } => {
                assert_eq!(now.outcome, MutationOutcome::AlreadyApplied { version: *version }, "{again:?}")
            }
            MutationOutcome::Conflict { .. } => assert!(matches!(now.outcome, MutationOutcome::Conflict { .. })),
            MutationOutcome::Rejected { reason, .. } => {
                assert!(matches!(&now.outcome, MutationOutcome::Rejected { reason: r, .. } if r == reason))
            }
        }
    }
    assert_eq!(count(&server, "SELECT count(*) FROM observations").await, before_observations + 3);
    assert_eq!(count(&server, "SELECT count(*) FROM applied_mutations").await, before_applied + 5);
}
