//! Integration clients (issue 14): a user with the integration role logs in
//! without a workstation and gets a session that belongs to no device; no
//! one else logs in that way, and an integration account cannot sign in at
//! a workstation, nor use a workstation's endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{PASSWORD, TestServer, assert_api_error};
use wardbook_protocol::api::Role;

#[tokio::test]
async fn only_integration_accounts_log_in_without_a_device_and_only_they_do() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    wardbook_server::admin::location_add(&owner, "7A", "7A").await.unwrap();
    server.add_user("engine.synthetic", &[Role::Integration]).await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    let body = |user: &str| Some(serde_json::json!({ "username": user, "password": PASSWORD }));

    let (status, answer) = server.call(Method::POST, "/v1/login", None, body("engine.synthetic")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let token = answer["token"].as_str().unwrap().to_owned();
    assert_eq!(answer["user"]["roles"], serde_json::json!(["integration"]));
    let device: Option<uuid::Uuid> = owner.query_one("SELECT device_id FROM sessions", &[]).await.unwrap().get(0);
    assert_eq!(device, None, "an integration session belongs to no workstation");

    // A clinician needs a workstation; an integration account may not use one.
    let (status, answer) = server.call(Method::POST, "/v1/login", None, body("nurse.synthetic")).await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let workstation = server.enrol("7A").await;
    let (status, answer) =
        server.call(Method::POST, "/v1/login", Some(&workstation.credential), body("engine.synthetic")).await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let nurse = server.login(&workstation, "nurse.synthetic").await;
    assert!(nurse.starts_with("wbu1_"));

    // The integration token opens no workstation endpoint.
    let (status, answer) = server.call(Method::GET, "/v1/audit/reports", Some(&token), None).await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
}
