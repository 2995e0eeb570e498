//! The OpenAPI document is generated from the code, served at
//! `/v1/openapi.json`, and the copy checked into the repository is current.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;
use wardbook_server::config::Settings;
use wardbook_server::routes::openapi_json;
use wardbook_server::{AppState, app};

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[test]
fn the_checked_in_document_is_current() {
    let current = openapi_json();
    let on_disk = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        on_disk == current,
        "server/openapi.json is stale: regenerate it with `cargo run -p wardbook-server -- openapi > server/openapi.json` and commit it"
    );
    let doc: serde_json::Value = serde_json::from_str(&current).expect("valid JSON");
    for path in [
        "/v1/enrol",
        "/v1/login",
        "/v1/sync/pull",
        "/v1/sync/push",
        "/v1/audit/events",
        "/v1/audit/reports",
        "/v1/health",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    for schema in
        ["PullResponse", "PushRequest", "Mutation", "AuditEvent", "Patient", "Observation", "Health", "ApiError"]
    {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema} is documented");
    }
}

#[tokio::test]
async fn the_service_serves_the_same_document() {
    // No request here touches the database: the pool connects lazily.
    let state = AppState::new(Settings::for_tests("postgres://wardbook@127.0.0.1:1/none".into())).expect("state");
    let response = app(state)
        .oneshot(Request::get("/v1/openapi.json").body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    assert_eq!(String::from_utf8_lossy(&body), openapi_json());
}
