//! Shared by the privacy workspace's tests (`privacy_workspace.rs`): a
//! synthetic ward with a nurse on Ward 7A, a privacy officer on their own
//! workstation and a Ward 7B patient to reach by break-the-glass; requests
//! with a login token and the device credential; audit chains built as the
//! app builds them. Synthetic data only.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;
use wardbook_protocol::api::{BreakGlassQueue, Role};
use wardbook_protocol::workstation::BreakGlassResponse;
use wardbook_protocol::{AuditAction, AuditEvent, AuditOutcome, AuditSubtype, GENESIS_HASH, PurposeOfUse};

use crate::common::{Device, TestServer};

pub const REASON: &str = "Collapsed in the corridor outside 7A; need allergies before treating";
pub const NURSE: &str = "nurse.privacy.synthetic";
pub const OFFICER: &str = "officer.privacy.synthetic";

/// One workstation's chain, built as the app builds it.
pub struct Chain {
    pub device: Uuid,
    pub next: i64,
    pub prev: String,
}

impl Chain {
    pub fn new(device: Uuid) -> Chain {
        Chain { device, next: 1, prev: GENESIS_HASH.to_owned() }
    }

    pub fn event(
        &mut self,
        user: Uuid,
        session: Uuid,
        (subtype, patient): (AuditSubtype, Option<Uuid>),
        purpose: PurposeOfUse,
        at: DateTime<Utc>,
    ) -> AuditEvent {
        let event = AuditEvent {
            id: Uuid::now_v7(),
            device_id: self.device,
            sequence: self.next,
            recorded_at: at.trunc_subsecs(6),
            user_id: user.to_string(),
            session_id: session,
            action: AuditAction::Read,
            subtype,
            patient_id: patient,
            purpose_of_use: purpose,
            outcome: AuditOutcome::Success,
            prev_hash: self.prev.clone(),
            hash: String::new(),
        }
        .seal();
        self.next += 1;
        self.prev = event.hash.clone();
        event
    }
}

pub struct Office {
    pub server: TestServer,
    pub ward: Device,
    pub nurse: Uuid,
    pub nurse_token: String,
    pub officer_desk: Device,
    pub officer: Uuid,
    pub officer_token: String,
    pub patient: Uuid,
    pub mrn: String,
}

pub async fn office() -> Office {
    let server = TestServer::start().await;
    server.synth(6, 5).await;
    let ward = server.enrol("Ward 7A").await;
    let nurse = server.add_user(NURSE, &[Role::Clinician]).await;
    let nurse_token = server.login(&ward, NURSE).await;
    let officer_desk = server.enrol("Ward 7A").await;
    let officer = server.add_user(OFFICER, &[Role::PrivacyOfficer]).await;
    let officer_token = server.login(&officer_desk, OFFICER).await;
    let keys = server.state.keys.get().await.unwrap();
    let on_7b: Vec<Uuid> = server
        .owner()
        .await
        .query(
            "SELECT pl.patient_id FROM patient_locations pl JOIN locations l ON l.id = pl.location_id
              WHERE pl.active AND l.code = 'Ward 7B'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let patients = wardbook_server::admin::patients(&mut server.owner().await, &keys).await.unwrap();
    let p = patients.into_iter().find(|p| on_7b.contains(&p.id)).expect("a patient on Ward 7B");
    Office { server, ward, nurse, nurse_token, officer_desk, officer, officer_token, patient: p.id, mrn: p.mrn }
}

/// A request with a login token and the device credential header; the
/// answer checked against the API document.
pub async fn call(
    server: &TestServer,
    token: &str,
    device: Option<&Device>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(device) = device {
        req = req.header(wardbook_server::auth::DEVICE_HEADER, &device.credential);
    }
    let req = match body {
        Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    };
    server.send(req.unwrap()).await
}

impl Office {
    pub async fn officer(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        call(&self.server, &self.officer_token, Some(&self.officer_desk), method, path, body).await
    }

    pub async fn upload(&self, device: &Device, events: &[AuditEvent]) {
        let (status, body) = self.server.upload_audit(device, events).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// The nurse's break-the-glass access to the Ward 7B patient.
    pub async fn break_glass(&self) -> BreakGlassResponse {
        let (status, body) = call(
            &self.server,
            &self.nurse_token,
            Some(&self.ward),
            Method::POST,
            "/v1/break-glass",
            Some(json!({ "mrn": self.mrn, "reason": REASON })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }

    pub async fn queue(&self, status: &str) -> BreakGlassQueue {
        let (code, body) = self.officer(Method::GET, &format!("/v1/privacy/break-glass?status={status}"), None).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }

    /// The export's status, headers and body, outside the API document's
    /// check (its bodies are CSV or FHIR, not the document's JSON).
    pub async fn export(&self, query: Value, format: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/v1/privacy/access-report/export")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.officer_token))
            .header(wardbook_server::auth::DEVICE_HEADER, &self.officer_desk.credential)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "query": query, "format": format }).to_string()))
            .unwrap();
        let response = self.server.router.clone().oneshot(req).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }
}
