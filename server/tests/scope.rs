//! Scope changes reach the device: a patient who leaves the device's
//! locations arrives as a `remove` entry; one who joins arrives in full
//! (patient, allergies, every observation), however old the rows are.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::TestServer;
use uuid::Uuid;
use wardbook_protocol::api::Change;
use wardbook_server::admin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_and_joining_the_scope_are_sent() {
    let server = TestServer::start().await;
    server.synth(10, 17).await;
    let device = server.enrol("Ward 7A").await;
    let ward_a = server.location_id("Ward 7A").await;
    let ward_b = server.location_id("Ward 7B").await;
    let (initial, cursor) = server.pull_all(&device, None, 50).await;
    assert!(initial.iter().all(|c| !matches!(c, Change::Remove { .. })), "a first sync has nothing to remove");
    let in_a = common::patient_ids(&initial);
    let leaving = in_a[0];

    let owner = server.owner().await;
    let joining: Uuid = owner
        .query_one(
            "SELECT patient_id FROM patient_locations WHERE location_id = $1 AND active ORDER BY patient_id LIMIT 1",
            &[&ward_b],
        )
        .await
        .unwrap()
        .get(0);
    let joining_observations: i64 =
        owner.query_one("SELECT count(*) FROM observations WHERE patient_id = $1", &[&joining]).await.unwrap().get(0);
    assert!(joining_observations > 0);

    // Transfer: one patient leaves 7A for 7B, one from 7B joins 7A.
    let service = server.service().await;
    admin::assign(&service, leaving, ward_a, false).await.unwrap();
    admin::assign(&service, leaving, ward_b, true).await.unwrap();
    admin::assign(&service, joining, ward_a, true).await.unwrap();

    let changes = common::eventually(Duration::from_secs(30), "the transfer in the feed", || {
        let cursor = cursor.clone();
        let (server, device) = (&server, &device);
        async move {
            let (changes, _) = server.pull_all(device, Some(&cursor), 50).await;
            let removed = changes.iter().any(|c| matches!(c, Change::Remove { patient_id } if *patient_id == leaving));
            (removed && common::patient_ids(&changes).contains(&joining)).then_some(changes)
        }
    })
    .await;
    let observations = changes
        .iter()
        .filter(|c| matches!(c, Change::Observation { observation } if observation.patient_id == joining))
        .count();
    assert_eq!(
        observations as i64, joining_observations,
        "every observation of the joining patient, old ones included"
    );
    assert!(
        !changes.iter().any(|c| match c {
            Change::Observation { observation } => observation.patient_id == leaving,
            Change::Patient { patient } => patient.id == leaving,
            _ => false,
        }),
        "nothing more of the patient who left"
    );
    let position = |pred: &dyn Fn(&Change) -> bool| changes.iter().position(pred).unwrap();
    assert!(
        position(&|c| matches!(c, Change::Patient { patient } if patient.id == joining))
            < position(&|c| matches!(c, Change::Observation { observation } if observation.patient_id == joining)),
        "the patient row comes before its observations"
    );

    // Reads are scoped too.
    let (status, _) =
        server.call(axum::http::Method::GET, &format!("/v1/patients/{leaving}"), Some(&device.credential), None).await;
    assert_eq!(status, axum::http::StatusCode::FORBIDDEN);
}

/// An edit authored while the patient was on the device's ward is accepted
/// after a transfer; one authored after the transfer is out of scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_authored_before_a_transfer_are_accepted_after_it() {
    use wardbook_protocol::api::{MutationOutcome, Record, RejectReason};
    let server = TestServer::start().await;
    server.synth(6, 17).await;
    let device = server.enrol("Ward 7A").await;
    let ward_a = server.location_id("Ward 7A").await;
    let (initial, _) = server.pull_all(&device, None, 500).await;
    let template = initial
        .iter()
        .find_map(|c| match c {
            Change::Observation { observation } => Some(observation.clone()),
            _ => None,
        })
        .expect("an observation in scope");
    let new_row = || {
        let mut o = template.clone();
        o.id = Uuid::now_v7();
        Record::Observation { observation: o }
    };
    let before_transfer = common::new_mutation(None, new_row());
    admin::assign(&server.service().await, template.patient_id, ward_a, false).await.unwrap();
    let after_transfer = common::new_mutation(None, new_row());

    let answer = server.push_ok(&device, vec![before_transfer, after_transfer]).await;
    assert!(matches!(answer.results[0].outcome, MutationOutcome::Applied { .. }), "{answer:?}");
    assert!(
        matches!(answer.results[1].outcome, MutationOutcome::Rejected { reason: RejectReason::OutOfScope, .. }),
        "{answer:?}"
    );
}
