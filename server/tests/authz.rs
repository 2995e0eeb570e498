//! The authorization matrix: who may do what, and how every refusal looks
//! (status and stable `code`). Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use common::{AuditChain, Device, PASSWORD, TestServer, assert_api_error, new_mutation};
use serde_json::{Value, json};
use uuid::Uuid;
use wardbook_protocol::api::{Change, MutationOutcome, Record, RejectReason, Role};
use wardbook_protocol::{Environment, Observation, ObservationStatus, Patient};

/// The patients actively assigned to a location.
async fn scope(server: &TestServer, location: &str) -> HashSet<Uuid> {
    let id = server.location_id(location).await;
    server
        .owner()
        .await
        .query("SELECT patient_id FROM patient_locations WHERE location_id = $1 AND active", &[&id])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The patient a change is about.
fn change_patient(c: &Change) -> Uuid {
    c.patient_id()
}

fn first_patient(changes: &[Change]) -> Patient {
    changes
        .iter()
        .find_map(|c| match c {
            Change::Patient { patient } => Some(patient.clone()),
            _ => None,
        })
        .expect("a patient in the feed")
}

fn first_observation(changes: &[Change]) -> Observation {
    changes
        .iter()
        .find_map(|c| match c {
            Change::Observation { observation } => Some(observation.clone()),
            _ => None,
        })
        .expect("an observation in the feed")
}

/// `GET /v1/audit/reports?patient_id=...` with a user token.
async fn report(server: &TestServer, token: &str) -> (StatusCode, Value) {
    let path = format!("/v1/audit/reports?patient_id={}", Uuid::now_v7());
    server.call(Method::GET, &path, Some(token), None).await
}

async fn pull_status(server: &TestServer, credential: &str) -> (StatusCode, Value) {
    server.call(Method::GET, "/v1/sync/pull?limit=10", Some(credential), None).await
}

async fn login_raw(
    server: &TestServer,
    credential: Option<&str>,
    username: &str,
    password: &str,
) -> (StatusCode, Value) {
    let body = json!({ "username": username, "password": password });
    server.call(Method::POST, "/v1/login", credential, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ward_7b_device_neither_sees_nor_writes_ward_7a_patients() {
    let server = TestServer::start().await;
    server.synth(12, 41).await;
    let device_a = server.enrol("Ward 7A").await;
    let device_b = server.enrol("Ward 7B").await;
    let scope_a = scope(&server, "Ward 7A").await;
    let scope_b = scope(&server, "Ward 7B").await;
    assert!(!scope_a.is_empty() && !scope_b.is_empty() && scope_a.is_disjoint(&scope_b));

    // The 7B feed: exactly the 7B patients, and nothing about any 7A patient.
    let (changes_b, _) = server.pull_all(&device_b, None, 7).await;
    let got: HashSet<Uuid> = common::patient_ids(&changes_b).into_iter().collect();
    assert_eq!(got, scope_b, "the 7B device receives exactly the 7B patients");
    for c in &changes_b {
        let patient = change_patient(c);
        assert!(scope_b.contains(&patient) && !scope_a.contains(&patient), "a change outside 7B reached 7B: {c:?}");
    }
    assert!(changes_b.iter().any(|c| matches!(c, Change::Observation { .. })), "the 7B feed carries observations");

    // Reading one patient: its own is 200, a 7A one (or an unknown id) 403.
    let own = first_patient(&changes_b);
    let (status, body) =
        server.call(Method::GET, &format!("/v1/patients/{}", own.id), Some(&device_b.credential), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let read: Patient = serde_json::from_value(body).unwrap();
    assert_eq!(read, own);
    let (changes_a, _) = server.pull_all(&device_a, None, 1000).await;
    let patient_a = changes_a
        .iter()
        .find_map(|c| match c {
            // Patient 0 of the synthetic ward: on 7A, with an allergy.
            Change::Allergy { allergy } => changes_a.iter().find_map(|p| match p {
                Change::Patient { patient } if patient.id == allergy.patient_id => Some(patient.clone()),
                _ => None,
            }),
            _ => None,
        })
        .expect("a 7A patient with an allergy");
    assert!(scope_a.contains(&patient_a.id));
    for id in [patient_a.id, Uuid::now_v7()] {
        let (status, body) =
            server.call(Method::GET, &format!("/v1/patients/{id}"), Some(&device_b.credential), None).await;
        let message = assert_api_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
        assert!(!message.contains(&patient_a.family_name), "{message}");
    }
    let (status, _) =
        server.call(Method::GET, &format!("/v1/patients/{}", patient_a.id), Some(&device_a.credential), None).await;
    assert_eq!(status, StatusCode::OK, "the 7A device reads its own patient");

    // Writes about a 7A patient from the 7B device: every kind, new rows and edits.
    let observation_a = changes_a
        .iter()
        .find_map(|c| match c {
            Change::Observation { observation } if observation.patient_id == patient_a.id => Some(observation.clone()),
            _ => None,
        })
        .expect("an observation of the 7A patient");
    let allergy_a = changes_a
        .iter()
        .find_map(|c| match c {
            Change::Allergy { allergy } if allergy.patient_id == patient_a.id => Some(allergy.clone()),
            _ => None,
        })
        .expect("an allergy of the 7A patient");
    let mut new_observation = observation_a.clone();
    new_observation.id = Uuid::now_v7();
    let mut amended_observation = observation_a.clone();
    amended_observation.status = ObservationStatus::Amended;
    let mut new_allergy = allergy_a.clone();
    new_allergy.id = Uuid::now_v7();
    let mut edited_allergy = allergy_a.clone();
    edited_allergy.recorded_by = "synthetic-intruder".into();
    let mut edited_patient = patient_a.clone();
    edited_patient.given_name = "Intruder".into();
    // A control in the device's own scope, in the same batch: it is applied.
    let mut own_observation = first_observation(&changes_b);
    own_observation.id = Uuid::now_v7();

    let before_observations = server.row_count("observations").await;
    let before_allergies = server.row_count("allergies").await;
    let before_applied = server.row_count("applied_mutations").await;
    let mutations = vec![
        new_mutation(None, Record::Observation { observation: new_observation.clone() }),
        new_mutation(Some(observation_a.version), Record::Observation { observation: amended_observation }),
        new_mutation(None, Record::Allergy { allergy: new_allergy.clone() }),
        new_mutation(Some(allergy_a.version), Record::Allergy { allergy: edited_allergy }),
        new_mutation(Some(patient_a.version), Record::Patient { patient: edited_patient }),
        new_mutation(None, Record::Observation { observation: own_observation.clone() }),
    ];
    let pushed = server.push_ok(&device_b, mutations.clone()).await;
    assert_eq!(pushed.results.len(), 6);
    for (m, r) in mutations.iter().zip(&pushed.results).take(5) {
        assert_eq!(r.id, m.id);
        assert!(
            matches!(&r.outcome, MutationOutcome::Rejected { reason: RejectReason::OutOfScope, message } if !message.is_empty()),
            "{:?}",
            r.outcome
        );
    }
    assert!(matches!(pushed.results[5].outcome, MutationOutcome::Applied { version: 1 }), "{:?}", pushed.results[5]);

    // Nothing of the refused five was stored, not even their mutation ids.
    assert_eq!(server.row_count("observations").await, before_observations + 1);
    assert_eq!(server.row_count("allergies").await, before_allergies);
    assert_eq!(server.row_count("applied_mutations").await, before_applied + 1);
    let owner = server.owner().await;
    let refused: Vec<Uuid> = mutations.iter().take(5).map(|m| m.id).collect();
    let n: i64 = owner
        .query_one("SELECT count(*) FROM applied_mutations WHERE mutation_id = ANY($1)", &[&refused])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    for (table, id) in [("observations", new_observation.id), ("allergies", new_allergy.id)] {
        let n: i64 =
            owner.query_one(&format!("SELECT count(*) FROM {table} WHERE id = $1"), &[&id]).await.unwrap().get(0);
        assert_eq!(n, 0, "no new {table} row for a 7A patient");
    }
    let row = owner
        .query_one(
            "SELECT p.version, o.version, o.status, a.version, a.body->>'recorded_by'
               FROM patients p, observations o, allergies a
              WHERE p.id = $1 AND o.id = $2 AND a.id = $3",
            &[&patient_a.id, &observation_a.id, &allergy_a.id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), patient_a.version);
    assert_eq!(row.get::<_, i64>(1), observation_a.version);
    assert_eq!(row.get::<_, String>(2), observation_a.status.as_str());
    assert_eq!(row.get::<_, i64>(3), allergy_a.version);
    assert_eq!(row.get::<_, String>(4), allergy_a.recorded_by);
    // The identifiers are sealed: read through the data keys.
    let keys = server.state.keys.get().await.expect("the data keys");
    let stored = wardbook_server::admin::patient(&mut server.owner().await, &keys, patient_a.id)
        .await
        .unwrap()
        .expect("patient A");
    assert_eq!(stored.given_name, patient_a.given_name);

    // Refusals are not remembered as applied: the same batch is refused again.
    let again = server.push_ok(&device_b, mutations[..5].to_vec()).await;
    assert!(
        again
            .results
            .iter()
            .all(|r| matches!(r.outcome, MutationOutcome::Rejected { reason: RejectReason::OutOfScope, .. }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_cannot_upload_another_devices_audit_chain() {
    let server = TestServer::start().await;
    server.synth(4, 42).await;
    let device_a = server.enrol("Ward 7A").await;
    let device_b = server.enrol("Ward 7B").await;

    // B's chain, sent by A.
    let mut chain_b = AuditChain::new(device_b.id);
    let events_b = chain_b.take(3, "nurse.synthetic", None, 0);
    let (status, body) = server.upload_audit(&device_a, &events_b).await;
    assert_api_error(status, &body, StatusCode::CONFLICT, "audit_foreign_device");
    assert_eq!(body["position"], 1, "{body}");

    // A chain that starts as A's own and then slips in one of B's: all or nothing.
    let mut chain_a = AuditChain::new(device_a.id);
    let mut mixed = chain_a.take(2, "nurse.synthetic", None, 10);
    let mut slipped = mixed[1].clone();
    slipped.device_id = device_b.id;
    mixed[1] = slipped.seal();
    let (status, body) = server.upload_audit(&device_a, &mixed).await;
    assert_api_error(status, &body, StatusCode::CONFLICT, "audit_foreign_device");
    assert_eq!(body["position"], 2, "{body}");
    assert_eq!(server.row_count("audit_events").await, 0, "nothing of a refused upload is stored");

    // Each refusal is a security finding against the uploading device.
    let findings: i64 = server
        .owner()
        .await
        .query_one(
            "SELECT count(*) FROM security_findings WHERE device_id = $1 AND kind = 'audit_foreign_device'",
            &[&device_a.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(findings, 2);

    // B uploads its own chain; A cannot continue it either.
    let (status, body) = server.upload_audit(&device_b, &events_b).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stored"], 3);
    let next_b = chain_b.take(1, "nurse.synthetic", None, 5);
    let (status, body) = server.upload_audit(&device_a, &next_b).await;
    assert_api_error(status, &body, StatusCode::CONFLICT, "audit_foreign_device");
    assert_eq!(server.stored_audit(device_b.id).await.len(), 3);
    assert!(server.stored_audit(device_a.id).await.is_empty());

    // A's own chain is accepted.
    let own = AuditChain::new(device_a.id).take(2, "nurse.synthetic", None, 20);
    let (status, body) = server.upload_audit(&device_a, &own).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.stored_audit(device_a.id).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_garbage_credentials_are_refused() {
    let server = TestServer::start().await;
    server.synth(4, 43).await;
    let device = server.enrol("Ward 7A").await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    let patient = scope(&server, "Ward 7A").await.into_iter().next().unwrap();
    let events = AuditChain::new(device.id).take(1, "nurse.synthetic", None, 0);

    let wrong_secret = format!("wbd1_{}_{}", device.id.simple(), "0".repeat(64));
    let unknown_device = format!("wbd1_{}_{}", Uuid::now_v7().simple(), "a".repeat(64));
    let truncated = device.credential[..device.credential.len() - 1].to_owned();
    let garbage: [Option<&str>; 7] = [
        None,
        Some("garbage"),
        Some(""),
        Some("wbd1_garbage"),
        Some(&wrong_secret),
        Some(&unknown_device),
        Some(&truncated),
    ];
    let patient_path = format!("/v1/patients/{patient}");
    for credential in garbage {
        let requests: [(Method, &str, Option<Value>); 5] = [
            (Method::GET, "/v1/sync/pull", None),
            (Method::POST, "/v1/sync/push", Some(json!({ "mutations": [] }))),
            (Method::POST, "/v1/audit/events", Some(json!({ "events": events }))),
            (Method::POST, "/v1/login", Some(json!({ "username": "nurse.synthetic", "password": PASSWORD }))),
            (Method::GET, &patient_path, None),
        ];
        for (method, path, body) in requests {
            let (status, answer) = server.call(method.clone(), path, credential, body).await;
            let message = assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
            assert!(!message.contains(&device.credential[10..]), "{message}");
        }
    }
    // Another scheme than Bearer is no credential either.
    let basic = axum::http::Request::builder()
        .uri("/v1/sync/pull")
        .header("authorization", format!("Basic {}", device.credential))
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body) = server.send(basic).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    // User endpoints without a token, or with garbage.
    for token in [None, Some("garbage"), Some("wbu1_0000"), Some(wrong_secret.as_str())] {
        let path = format!("/v1/audit/reports?patient_id={patient}");
        let (status, body) = server.call(Method::GET, &path, token, None).await;
        assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let (status, body) =
            server.call(Method::POST, "/v1/admin/enrolment-codes", token, Some(json!({ "location": "Ward 7A" }))).await;
        assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (status, body) = server.call(Method::GET, "/v1/audit/reports?user_id=x", None, None).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

    // Nothing was stored, and the real credential still works.
    assert_eq!(server.row_count("audit_events").await, 0);
    assert_eq!(server.row_count("sessions").await, 0);
    let (status, body) = pull_status(&server, &device.credential).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server.upload_audit(&device, &events).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_and_its_sessions_stop_working() {
    let server = TestServer::start().await;
    server.synth(4, 44).await;
    server.add_user("officer.synthetic", &[Role::PrivacyOfficer]).await;
    server.add_user("admin.synthetic", &[Role::Admin]).await;
    let revoked = server.enrol("Ward 7A").await;
    let other = server.enrol("Ward 7A").await;
    let officer = server.login(&revoked, "officer.synthetic").await;
    assert_eq!(report(&server, &officer).await.0, StatusCode::OK);

    // Revoked by the admin CLI's function.
    let client = server.service().await;
    assert!(wardbook_server::enrolment::revoke(&client, revoked.id).await.unwrap());
    let (status, body) = pull_status(&server, &revoked.credential).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = report(&server, &officer).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = login_raw(&server, Some(&revoked.credential), "officer.synthetic", PASSWORD).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = server.upload_audit(&revoked, &AuditChain::new(revoked.id).take(1, "x", None, 0)).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    // Another device is untouched.
    assert_eq!(pull_status(&server, &other.credential).await.0, StatusCode::OK);

    // Revoked through the API by an admin.
    let target = server.enrol("Ward 7B").await;
    let officer_on_target = server.login(&target, "officer.synthetic").await;
    assert_eq!(report(&server, &officer_on_target).await.0, StatusCode::OK);
    let admin = server.login(&other, "admin.synthetic").await;
    let officer_on_other = server.login(&other, "officer.synthetic").await;
    let path = format!("/v1/admin/devices/{}/revoke", target.id);
    // Not by a privacy officer.
    let (status, body) = server.call(Method::POST, &path, Some(&officer_on_other), None).await;
    assert_api_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(pull_status(&server, &target.credential).await.0, StatusCode::OK);
    let (status, body) = server.call(Method::POST, &path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = pull_status(&server, &target.credential).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = report(&server, &officer_on_target).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let remaining: i64 = server
        .owner()
        .await
        .query_one("SELECT count(*) FROM sessions WHERE device_id = ANY($1)", &[&vec![revoked.id, target.id]])
        .await
        .unwrap()
        .get(0);
    assert_eq!(remaining, 0, "a revoked device's sessions are gone");
    // The admin's own device and sessions are untouched.
    assert_eq!(report(&server, &officer_on_other).await.0, StatusCode::OK);

    let (status, body) =
        server.call(Method::POST, &format!("/v1/admin/devices/{}/revoke", Uuid::now_v7()), Some(&admin), None).await;
    assert_api_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = server.call(Method::POST, "/v1/admin/devices/not-a-uuid/revoke", Some(&admin), None).await;
    assert_api_error(status, &body, StatusCode::BAD_REQUEST, "invalid_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused() {
    let server = TestServer::start().await;
    server.synth(4, 45).await;
    server.add_user("officer.synthetic", &[Role::PrivacyOfficer]).await;
    let device = server.enrol("Ward 7A").await;
    let token = server.login(&device, "officer.synthetic").await;
    let (status, body) = report(&server, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let n = server
        .owner()
        .await
        .execute("UPDATE sessions SET expires_at = now() - interval '1 second'", &[])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (status, body) = report(&server, &token).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = server
        .call(Method::POST, "/v1/admin/enrolment-codes", Some(&token), Some(json!({ "location": "Ward 7A" })))
        .await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    // A new login works again.
    let fresh = server.login(&device, "officer.synthetic").await;
    assert_eq!(report(&server, &fresh).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_minute_session_policy_gives_tokens_that_never_work() {
    let server = TestServer::start_with(Environment::Test, |s| s.policy.session_minutes = 0).await;
    server.synth(4, 46).await;
    server.add_user("officer.synthetic", &[Role::PrivacyOfficer]).await;
    let device = server.enrol("Ward 7A").await;
    let (status, body) = login_raw(&server, Some(&device.credential), "officer.synthetic", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expires: chrono::DateTime<chrono::Utc> = serde_json::from_value(body["expires_at"].clone()).unwrap();
    assert!(expires <= chrono::Utc::now());
    let token = body["token"].as_str().unwrap();
    let (status, body) = report(&server, token).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_reports_and_administration() {
    let server = TestServer::start().await;
    server.synth(8, 47).await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    server.add_user("officer.synthetic", &[Role::PrivacyOfficer]).await;
    server.add_user("admin.synthetic", &[Role::Admin]).await;
    let device = server.enrol("Ward 7A").await;
    let clinician = server.login(&device, "nurse.synthetic").await;
    let officer = server.login(&device, "officer.synthetic").await;
    let admin = server.login(&device, "admin.synthetic").await;
    let code_request = json!({ "location": "Ward 7B" });
    let codes_before = server.row_count("enrolment_codes").await;

    // Clinician: neither reports nor administration.
    let (status, body) = report(&server, &clinician).await;
    assert_api_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) =
        server.call(Method::POST, "/v1/admin/enrolment-codes", Some(&clinician), Some(code_request.clone())).await;
    assert_api_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    // Privacy officer: reports only.
    let (status, body) = report(&server, &officer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 0);
    let (status, body) =
        server.call(Method::POST, "/v1/admin/enrolment-codes", Some(&officer), Some(code_request.clone())).await;
    assert_api_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(server.row_count("enrolment_codes").await, codes_before, "a refused request creates no code");

    // Admin: administration only, and its code enrols a 7B workstation.
    let (status, body) = report(&server, &admin).await;
    assert_api_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = server.call(Method::POST, "/v1/admin/enrolment-codes", Some(&admin), Some(code_request)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let code = body["code"].as_str().unwrap().to_owned();
    let (status, body) =
        server.call(Method::POST, "/v1/enrol", None, Some(json!({ "code": code, "device_name": "ward-7b-ws2" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["locations"], json!(["Ward 7B"]));
    let enrolled = Device {
        id: body["device_id"].as_str().unwrap().parse().unwrap(),
        credential: body["credential"].as_str().unwrap().to_owned(),
    };
    let (changes, _) = server.pull_all(&enrolled, None, 1000).await;
    let got: HashSet<Uuid> = common::patient_ids(&changes).into_iter().collect();
    assert_eq!(got, scope(&server, "Ward 7B").await);
    // The code was single-use.
    let (status, body) =
        server.call(Method::POST, "/v1/enrol", None, Some(json!({ "code": code, "device_name": "ward-7b-ws3" }))).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = server
        .call(Method::POST, "/v1/admin/enrolment-codes", Some(&admin), Some(json!({ "location": "Ward 99Z" })))
        .await;
    assert_api_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_credentials_and_user_tokens_are_not_interchangeable() {
    let server = TestServer::start().await;
    server.synth(4, 48).await;
    server.add_user("officer.synthetic", &[Role::PrivacyOfficer, Role::Admin]).await;
    let device = server.enrol("Ward 7A").await;
    let token = server.login(&device, "officer.synthetic").await;

    // The device credential where a user token is needed.
    let (status, body) = report(&server, &device.credential).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = server
        .call(
            Method::POST,
            "/v1/admin/enrolment-codes",
            Some(&device.credential),
            Some(json!({ "location": "Ward 7A" })),
        )
        .await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    // The user token where a device credential is needed.
    let (status, body) = pull_status(&server, &token).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) =
        server.call(Method::POST, "/v1/sync/push", Some(&token), Some(json!({ "mutations": [] }))).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = login_raw(&server, Some(&token), "officer.synthetic", PASSWORD).await;
    assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    // Each in its own place works.
    assert_eq!(report(&server, &token).await.0, StatusCode::OK);
    assert_eq!(pull_status(&server, &device.credential).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_limited_per_minute() {
    let server = TestServer::start_with(Environment::Test, |s| s.policy.auth_attempts_per_minute = 3).await;
    server.synth(4, 49).await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    let device = server.enrol("Ward 7A").await;
    for _ in 0..3 {
        let (status, body) = login_raw(&server, Some(&device.credential), "nurse.synthetic", "not-the-password").await;
        assert_api_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let (status, body) = login_raw(&server, Some(&device.credential), "nurse.synthetic", "not-the-password").await;
    assert_api_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    // The right password does not get through the limit either (nor a
    // spelling of the name in other case).
    let (status, body) = login_raw(&server, Some(&device.credential), "nurse.synthetic", PASSWORD).await;
    assert_api_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    let (status, body) = login_raw(&server, Some(&device.credential), " NURSE.Synthetic ", PASSWORD).await;
    assert_api_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    assert_eq!(server.row_count("sessions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_enrolment_codes_are_limited_per_minute() {
    let server = TestServer::start_with(Environment::Test, |s| s.policy.auth_attempts_per_minute = 3).await;
    server.synth(4, 50).await;
    for i in 0..3 {
        let body = json!({ "code": format!("AAAA-BBBB-CCCC-DDDD-EEE{i}"), "device_name": "synthetic-ws" });
        let (status, answer) = server.call(Method::POST, "/v1/enrol", None, Some(body)).await;
        assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let body = json!({ "code": "AAAA-BBBB-CCCC-DDDD-EEE9", "device_name": "synthetic-ws" });
    let (status, answer) = server.call(Method::POST, "/v1/enrol", None, Some(body)).await;
    assert_api_error(status, &answer, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    // A good code is held back too, and stays unused.
    let client = server.service().await;
    let (code, _) =
        wardbook_server::enrolment::create_code(&client, "Ward 7A", chrono::Duration::hours(1)).await.unwrap();
    let body = json!({ "code": code.expose(), "device_name": "synthetic-ws" });
    let (status, answer) = server.call(Method::POST, "/v1/enrol", None, Some(body)).await;
    assert_api_error(status, &answer, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    assert_eq!(server.row_count("devices").await, 0);
    let unused: i64 =
        client.query_one("SELECT count(*) FROM enrolment_codes WHERE used_at IS NULL", &[]).await.unwrap().get(0);
    assert_eq!(unused, 1);
}
