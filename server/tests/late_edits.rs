//! Late edits (issue 13): a push for a patient no longer in the device's
//! scope counts only when the server's own history shows the device and the
//! patient at one location at the claimed `authored_at`, and the device lost
//! the patient within the late-edit window. One test per bound, each side of
//! it against the real service; the stored rows are checked, not just the
//! answers. Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{Device, TestServer};
use uuid::Uuid;
use wardbook_protocol::Observation;
use wardbook_protocol::api::{Change, Mutation, MutationOutcome, Record, RejectReason};
use wardbook_server::{admin, enrolment};

/// A synthetic ward, a device on Ward 7A, and one observation of a patient there.
async fn ward() -> (TestServer, Device, Observation) {
    let server = TestServer::start().await;
    server.synth(10, 17).await;
    let device = server.enrol("Ward 7A").await;
    let observation = first_observation(&server, &device).await;
    (server, device, observation)
}

async fn first_observation(server: &TestServer, device: &Device) -> Observation {
    let (changes, _) = server.pull_all(device, None, 500).await;
    changes
        .into_iter()
        .find_map(|c| match c {
            Change::Observation { observation } => Some(observation),
            _ => None,
        })
        .expect("an observation in scope")
}

/// A new observation of `patient`, shaped like `template`.
fn new_observation(template: &Observation, patient: Uuid) -> Record {
    let mut o = template.clone();
    o.id = Uuid::now_v7();
    o.patient_id = patient;
    Record::Observation { observation: o }
}

fn authored(record: Record, at: DateTime<Utc>) -> Mutation {
    Mutation { authored_at: at, ..common::new_mutation(None, record) }
}

async fn push_one(server: &TestServer, device: &Device, mutation: Mutation) -> MutationOutcome {
    let mut answer = server.push_ok(device, vec![mutation]).await;
    answer.results.remove(0).outcome
}

fn assert_out_of_scope(outcome: &MutationOutcome, what: &str) {
    assert!(
        matches!(outcome, MutationOutcome::Rejected { reason: RejectReason::OutOfScope, .. }),
        "{what}: {outcome:?}"
    );
}

/// Is the row stored, and is its mutation recorded as applied?
async fn stored(server: &TestServer, mutation: &Mutation) -> (bool, bool) {
    let Record::Observation { observation } = &mutation.record else { unreachable!() };
    let owner = server.owner().await;
    let row: i64 =
        owner.query_one("SELECT count(*) FROM observations WHERE id = $1", &[&observation.id]).await.unwrap().get(0);
    let applied: i64 = owner
        .query_one("SELECT count(*) FROM applied_mutations WHERE mutation_id = $1", &[&mutation.id])
        .await
        .unwrap()
        .get(0);
    (row == 1, applied == 1)
}

/// The start of the latest stay at a location of a device (`device_location_history`,
/// `device_id`) or a patient (`patient_location_history`, `patient_id`).
async fn stay_start(server: &TestServer, table: &str, column: &str, id: Uuid, location: Uuid) -> DateTime<Utc> {
    let sql = format!(
        "SELECT started_at FROM {table} WHERE {column} = $1 AND location_id = $2 ORDER BY started_at DESC LIMIT 1"
    );
    server.owner().await.query_one(&sql, &[&id, &location]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_before_a_recent_transfer_is_applied_and_one_made_after_is_not() {
    let (server, device, observation) = ward().await;
    let (ward_a, ward_b) = (server.location_id("Ward 7A").await, server.location_id("Ward 7B").await);
    let patient = observation.patient_id;
    let mut amended = observation.clone();
    amended.status = wardbook_protocol::ObservationStatus::Amended;
    let before = common::new_mutation(Some(observation.version), Record::Observation { observation: amended });
    let new_before = authored(new_observation(&observation, patient), Utc::now());

    let service = server.service().await;
    admin::assign(&service, patient, ward_a, false).await.unwrap();
    admin::assign(&service, patient, ward_b, true).await.unwrap();
    let new_after = authored(new_observation(&observation, patient), Utc::now());

    let outcome = push_one(&server, &device, before).await;
    assert_eq!(outcome, MutationOutcome::Applied { version: observation.version + 1 });
    let status: String = server
        .owner()
        .await
        .query_one("SELECT status FROM observations WHERE id = $1", &[&observation.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "amended", "the edit made on the ward reached the central record");
    assert!(matches!(push_one(&server, &device, new_before.clone()).await, MutationOutcome::Applied { version: 1 }));
    assert_eq!(stored(&server, &new_before).await, (true, true));

    assert_out_of_scope(&push_one(&server, &device, new_after.clone()).await, "authored after the transfer");
    assert_eq!(stored(&server, &new_after).await, (false, false), "nothing of a refused edit is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_claiming_a_time_before_the_patient_arrived_is_refused() {
    let (server, device, template) = ward().await;
    let (ward_a, ward_b) = (server.location_id("Ward 7A").await, server.location_id("Ward 7B").await);
    // The device has been on 7A for a day; a patient from 7B comes, then leaves.
    server
        .owner()
        .await
        .execute(
            "UPDATE device_location_history SET started_at = started_at - interval '1 day' WHERE device_id = $1",
            &[&device.id],
        )
        .await
        .unwrap();
    let owner = server.owner().await;
    let visitor: Uuid = owner
        .query_one(
            "SELECT patient_id FROM patient_locations WHERE location_id = $1 AND active ORDER BY patient_id LIMIT 1",
            &[&ward_b],
        )
        .await
        .unwrap()
        .get(0);
    let service = server.service().await;
    admin::assign(&service, visitor, ward_a, true).await.unwrap();
    admin::assign(&service, visitor, ward_a, false).await.unwrap();
    let arrived = stay_start(&server, "patient_location_history", "patient_id", visitor, ward_a).await;

    let too_early = authored(new_observation(&template, visitor), arrived - Duration::microseconds(1));
    assert_out_of_scope(&push_one(&server, &device, too_early.clone()).await, "before the patient arrived");
    assert_eq!(stored(&server, &too_early).await, (false, false));

    let on_arrival = authored(new_observation(&template, visitor), arrived);
    assert!(matches!(push_one(&server, &device, on_arrival.clone()).await, MutationOutcome::Applied { version: 1 }));
    assert_eq!(stored(&server, &on_arrival).await, (true, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_claiming_a_time_before_the_device_came_to_the_ward_is_refused() {
    let server = TestServer::start().await;
    server.synth(10, 17).await;
    let (ward_a, ward_b) = (server.location_id("Ward 7A").await, server.location_id("Ward 7B").await);
    let witness = server.enrol("Ward 7A").await;
    let template = first_observation(&server, &witness).await;
    let patient = template.patient_id;
    // A workstation from 7B is carried to 7A (re-enrolled), after the
    // patient arrived there; then the patient leaves 7A.
    let device = server.enrol("Ward 7B").await;
    let mut service = server.service().await;
    let (code, _) = enrolment::create_code(&service, "Ward 7A", chrono::Duration::hours(1)).await.unwrap();
    let (_, credential) = enrolment::reenrol(&mut service, device.id, code.expose()).await.unwrap();
    let device = Device { id: device.id, credential: credential.expose().to_owned() };
    let came = stay_start(&server, "device_location_history", "device_id", device.id, ward_a).await;
    admin::assign(&service, patient, ward_a, false).await.unwrap();
    admin::assign(&service, patient, ward_b, true).await.unwrap();

    let too_early = authored(new_observation(&template, patient), came - Duration::microseconds(1));
    assert_out_of_scope(&push_one(&server, &device, too_early.clone()).await, "before the device came");
    assert_eq!(stored(&server, &too_early).await, (false, false));

    let on_arrival = authored(new_observation(&template, patient), came);
    assert!(matches!(push_one(&server, &device, on_arrival.clone()).await, MutationOutcome::Applied { version: 1 }));
    assert_eq!(stored(&server, &on_arrival).await, (true, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_before_the_workstation_moved_is_applied_within_the_window() {
    let (server, device, template) = ward().await;
    let patient = template.patient_id;
    let made_on_7a = authored(new_observation(&template, patient), Utc::now());
    // The workstation is carried to 7B; the patient stays on 7A.
    let mut service = server.service().await;
    let (code, _) = enrolment::create_code(&service, "Ward 7B", chrono::Duration::hours(1)).await.unwrap();
    let (_, credential) = enrolment::reenrol(&mut service, device.id, code.expose()).await.unwrap();
    let device = Device { id: device.id, credential: credential.expose().to_owned() };
    let made_on_7b = authored(new_observation(&template, patient), Utc::now());

    assert!(matches!(push_one(&server, &device, made_on_7a.clone()).await, MutationOutcome::Applied { version: 1 }));
    assert_eq!(stored(&server, &made_on_7a).await, (true, true));
    assert_out_of_scope(&push_one(&server, &device, made_on_7b.clone()).await, "made after the move");
    assert_eq!(stored(&server, &made_on_7b).await, (false, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_older_than_the_window_is_refused() {
    let (server, device, template) = ward().await;
    let ward_a = server.location_id("Ward 7A").await;
    let patient = template.patient_id;
    admin::assign(&server.service().await, patient, ward_a, false).await.unwrap();
    let window = Duration::hours(i64::from(server.settings.policy.offline_unlock_hours));
    assert_eq!(window, wardbook_server::push::late_edit_window(&server.settings.policy));
    // Move the recorded history back: the device and the patient on 7A from
    // 100 h ago, the patient leaving just over (then just under) the window ago.
    let now = Utc::now();
    let owner = server.owner().await;
    owner
        .execute(
            "UPDATE device_location_history SET started_at = $2 WHERE device_id = $1",
            &[&device.id, &(now - Duration::hours(100))],
        )
        .await
        .unwrap();
    let left = |ago: Duration| {
        let owner = &owner;
        async move {
            let n = owner
                .execute(
                    "UPDATE patient_location_history SET started_at = $3, ended_at = $4
                      WHERE patient_id = $1 AND location_id = $2",
                    &[&patient, &ward_a, &(now - Duration::hours(100)), &(now - ago)],
                )
                .await
                .unwrap();
            assert_eq!(n, 1);
        }
    };
    let made_then = || authored(new_observation(&template, patient), now - Duration::hours(80));

    left(window + Duration::minutes(1)).await;
    let late = made_then();
    assert_out_of_scope(&push_one(&server, &device, late.clone()).await, "a transfer older than the window");
    assert_eq!(stored(&server, &late).await, (false, false));

    left(window - Duration::minutes(1)).await;
    let in_time = made_then();
    assert!(matches!(push_one(&server, &device, in_time.clone()).await, MutationOutcome::Applied { version: 1 }));
    assert_eq!(stored(&server, &in_time).await, (true, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_records_every_stay_whoever_changes_the_assignments() {
    let (server, device, template) = ward().await;
    let (ward_a, ward_b) = (server.location_id("Ward 7A").await, server.location_id("Ward 7B").await);
    let patient = template.patient_id;
    let service = server.service().await;
    admin::assign(&service, patient, ward_a, false).await.unwrap();
    admin::assign(&service, patient, ward_a, false).await.unwrap(); // no change, no new stay
    admin::assign(&service, patient, ward_b, true).await.unwrap();
    admin::assign(&service, patient, ward_a, true).await.unwrap();
    let owner = server.owner().await;
    let stays: Vec<(Uuid, bool)> = owner
        .query(
            "SELECT location_id, ended_at IS NULL FROM patient_location_history WHERE patient_id = $1 ORDER BY id",
            &[&patient],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(stays, vec![(ward_a, false), (ward_b, true), (ward_a, true)]);
    let device_stays: i64 = owner
        .query_one(
            "SELECT count(*) FROM device_location_history WHERE device_id = $1 AND ended_at IS NULL",
            &[&device.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(device_stays, 1);
    // The service reads the history but cannot write it.
    let forged = service.execute("UPDATE patient_location_history SET ended_at = NULL", &[]).await;
    assert!(forged.is_err(), "the service role cannot rewrite the history");
}

/// The migration's backfill, run again on emptied history tables: what the
/// tables of V1 to V3 knew (current assignments, used enrolment codes)
/// becomes stays; an ended assignment, whose start is unknown, does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_rebuilds_what_the_older_tables_knew() {
    const MIGRATION: &str = include_str!("../../migrations/central/V4__location_history.sql");
    let backfill = &MIGRATION[MIGRATION.find("-- What is known from before this migration").unwrap()..];
    let (server, device, template) = ward().await;
    let (ward_a, ward_b) = (server.location_id("Ward 7A").await, server.location_id("Ward 7B").await);
    let mut service = server.service().await;
    let (code, _) = enrolment::create_code(&service, "Ward 7B", chrono::Duration::hours(1)).await.unwrap();
    enrolment::reenrol(&mut service, device.id, code.expose()).await.unwrap();
    admin::assign(&service, template.patient_id, ward_a, false).await.unwrap();

    let owner = server.owner().await;
    owner.batch_execute("DELETE FROM patient_location_history; DELETE FROM device_location_history").await.unwrap();
    owner.batch_execute(backfill).await.unwrap();

    let codes: Vec<(Uuid, DateTime<Utc>)> = owner
        .query("SELECT location_id, used_at FROM enrolment_codes WHERE used_by = $1 ORDER BY used_at", &[&device.id])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(codes.iter().map(|c| c.0).collect::<Vec<_>>(), vec![ward_a, ward_b]);
    let stays: Vec<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>)> = owner
        .query(
            "SELECT location_id, started_at, ended_at FROM device_location_history
              WHERE device_id = $1 ORDER BY started_at",
            &[&device.id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(stays, vec![(ward_a, codes[0].1, Some(codes[1].1)), (ward_b, codes[1].1, None)]);

    let active: i64 = owner.query_one("SELECT count(*) FROM patient_locations WHERE active", &[]).await.unwrap().get(0);
    let matching: i64 = owner
        .query_one(
            "SELECT count(*) FROM patient_location_history h JOIN patient_locations l
                 ON l.patient_id = h.patient_id AND l.location_id = h.location_id
              WHERE l.active AND h.ended_at IS NULL AND h.started_at = l.updated_at",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let all: i64 = owner.query_one("SELECT count(*) FROM patient_location_history", &[]).await.unwrap().get(0);
    assert_eq!((matching, all), (active, active), "one open stay per current assignment, nothing else");
    let left: i64 = owner
        .query_one("SELECT count(*) FROM patient_location_history WHERE patient_id = $1", &[&template.patient_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "an ended assignment's start is unknown: no stay is made up");
}
