//! Break-the-glass over the real PostgreSQL harness: a clinician on a Ward
//! 7A workstation reaches a Ward 7B patient by MRN with a reason; the access
//! is recorded and flagged for review; refusals without a reason, without a
//! login token, from another workstation, for another role, for an unknown
//! MRN. Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Device, TestServer, assert_api_error};
use serde_json::{Value, json};
use uuid::Uuid;
use wardbook_protocol::api::Role;
use wardbook_protocol::workstation::BreakGlassResponse;

const REASON: &str = "Collapsed in the corridor outside 7A; need allergies before treating";

/// `POST /v1/break-glass` with an optional login token and device credential header.
async fn break_glass(
    server: &TestServer,
    token: Option<&str>,
    device: Option<&Device>,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(Method::POST).uri("/v1/break-glass");
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(device) = device {
        req = req.header(wardbook_server::auth::DEVICE_HEADER, &device.credential);
    }
    let req = req.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())).unwrap();
    server.send(req).await
}

/// (patient id, MRN) of a patient assigned to `location` only.
/// The first by MRN (the MRNs are sealed: opened with the data keys).
async fn patient_on(server: &TestServer, location: &str) -> (Uuid, String) {
    let mut owner = server.owner().await;
    let on: Vec<Uuid> = owner
        .query(
            "SELECT pl.patient_id FROM patient_locations pl JOIN locations l ON l.id = pl.location_id
              WHERE pl.active AND l.code = $1",
            &[&location],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let keys = server.state.keys.get().await.expect("the data keys");
    let patients = wardbook_server::admin::patients(&mut owner, &keys).await.unwrap();
    let first = patients.into_iter().find(|p| on.contains(&p.id)).unwrap_or_else(|| panic!("a patient on {location}"));
    (first.id, first.mrn)
}

struct Ward {
    server: TestServer,
    device: Device,
    clinician: Uuid,
    token: String,
    patient: Uuid,
    mrn: String,
}

async fn ward() -> Ward {
    let server = TestServer::start().await;
    server.synth(6, 5).await;
    let device = server.enrol("Ward 7A").await;
    let clinician = server.add_user("nurse.glass.synthetic", &[Role::Clinician]).await;
    let token = server.login(&device, "nurse.glass.synthetic").await;
    let (patient, mrn) = patient_on(&server, "Ward 7B").await;
    Ward { server, device, clinician, token, patient, mrn }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_with_a_reason_gets_the_records_and_the_access_is_flagged_for_review() {
    let w = ward().await;
    let before = chrono::Utc::now();
    let (status, body) = break_glass(
        &w.server,
        Some(&w.token),
        Some(&w.device),
        json!({ "mrn": format!(" {} ", w.mrn), "reason": REASON }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let granted: BreakGlassResponse = serde_json::from_value(body).unwrap();
    assert_eq!(granted.patient.id, w.patient);
    assert_eq!(granted.patient.mrn, w.mrn);
    assert!(granted.observations.iter().all(|o| o.patient_id == w.patient && !o.deleted));
    assert!(!granted.observations.is_empty(), "the synthetic patient has observations");
    assert!(granted.allergies.iter().all(|a| a.patient_id == w.patient));
    let minutes = (granted.expires_at - before).num_minutes();
    assert!((59..=60).contains(&minutes), "expires after the policy's 60 minutes, not {minutes}");

    let row = w
        .server
        .owner()
        .await
        .query_one(
            "SELECT user_id, device_id, patient_id, reason, review_status, reviewed_by, reviewed_at, expires_at
               FROM break_glass_accesses WHERE id = $1",
            &[&granted.access_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Uuid>(0), w.clinician);
    assert_eq!(row.get::<_, Uuid>(1), w.device.id);
    assert_eq!(row.get::<_, Uuid>(2), w.patient);
    assert_eq!(row.get::<_, String>(3), REASON);
    assert_eq!(row.get::<_, String>(4), "pending", "flagged for review");
    assert_eq!(row.get::<_, Option<Uuid>>(5), None);
    assert_eq!(row.get::<_, Option<chrono::DateTime<chrono::Utc>>>(6), None);
    assert_eq!(row.get::<_, chrono::DateTime<chrono::Utc>>(7), granted.expires_at);

    // The privacy office's list of pending reviews (the admin CLI's query).
    let pending = wardbook_server::break_glass::pending(&w.server.service().await).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].access_id, pending[0].patient_id, pending[0].user_id),
        (granted.access_id, w.patient, w.clinician)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_access_without_a_reason() {
    let w = ward().await;
    for reason in ["", "          ", "too short", "a b c d e f g h i", &"x".repeat(501)] {
        let (status, body) =
            break_glass(&w.server, Some(&w.token), Some(&w.device), json!({ "mrn": w.mrn, "reason": reason })).await;
        let message = assert_api_error(status, &body, StatusCode::BAD_REQUEST, "reason_required");
        assert!(message.contains("reason"), "{message}");
    }
    let (status, body) = break_glass(&w.server, Some(&w.token), Some(&w.device), json!({ "mrn": w.mrn })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a missing reason is refused: {body}");
    assert_eq!(w.server.row_count("break_glass_accesses").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_access_without_a_login_token_from_this_workstation() {
    let w = ward().await;
    let body = json!({ "mrn": w.mrn, "reason": REASON });
    // No login token: the device credential alone, or nothing.
    let (status, answer) = break_glass(&w.server, Some(&w.device.credential), Some(&w.device), body.clone()).await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, answer) = break_glass(&w.server, None, Some(&w.device), body.clone()).await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    // A login token without the device credential.
    let (status, answer) = break_glass(&w.server, Some(&w.token), None, body.clone()).await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    // A login token of this workstation with another workstation's credential.
    let other = w.server.enrol("Ward 7B").await;
    let (status, answer) = break_glass(&w.server, Some(&w.token), Some(&other), body.clone()).await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    // A user without the clinician role.
    w.server.add_user("officer.glass.synthetic", &[Role::PrivacyOfficer]).await;
    let officer = w.server.login(&w.device, "officer.glass.synthetic").await;
    let (status, answer) = break_glass(&w.server, Some(&officer), Some(&w.device), body).await;
    assert_api_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(w.server.row_count("break_glass_accesses").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_mrn_is_404_without_echoing_it() {
    let w = ward().await;
    let (status, body) =
        break_glass(&w.server, Some(&w.token), Some(&w.device), json!({ "mrn": "SYN-NOPE-000", "reason": REASON }))
            .await;
    let message = assert_api_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert!(!message.contains("SYN-NOPE-000"), "{message}");
    assert_eq!(w.server.row_count("break_glass_accesses").await, 0);
}
