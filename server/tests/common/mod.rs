//! Shared by the service's integration tests: a real PostgreSQL database per
//! test (wardbook-test-support), migrated as its owner, and the service
//! connected as a login role that holds only `wardbook_service`'s grants, as
//! in production. Synthetic data only.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

pub mod contract;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;
use wardbook_protocol::Environment;
use wardbook_protocol::api::{Change, PullResponse, Role};
use wardbook_server::admin::{self, SynthReport};
use wardbook_server::config::Settings;
use wardbook_server::{AppState, app, db};
use wardbook_test_support::TestDatabase;

/// The password of every test user (synthetic, never a real one).
pub const PASSWORD: &str = "synthetic-test-password";

pub struct TestServer {
    pub db: TestDatabase,
    /// The superuser URL of the test database (migrations, tampering).
    pub owner_url: String,
    /// The service's own login role (member of `wardbook_service`).
    pub service_url: String,
    pub settings: Settings,
    pub state: Arc<AppState>,
    pub router: Router,
}

/// An enrolled workstation.
#[derive(Clone, Debug)]
pub struct Device {
    pub id: Uuid,
    pub credential: String,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(Environment::Test, |_| {}).await
    }

    pub async fn start_with(environment: Environment, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        {
            // The service's own filter, PHI guard included, over the test writer.
            use tracing_subscriber::layer::SubscriberExt;
            use tracing_subscriber::util::SubscriberInitExt;
            let spec = std::env::var(wardbook_server::logging::LOG_VARIABLE).unwrap_or_default();
            let layer = tracing_subscriber::fmt::layer().with_test_writer();
            let _ = tracing_subscriber::registry().with(wardbook_server::logging::guarded(layer, &spec)).try_init();
        }
        let db = tokio::task::spawn_blocking(TestDatabase::new).await.unwrap().expect("a test database");
        let owner_url = db.url().to_owned();
        db::migrate(&owner_url, None).await.expect("migrations apply");
        let role = format!("wb_app_{}", db.name());
        db.psql(&format!("CREATE ROLE \"{role}\" LOGIN PASSWORD 'synthetic-test-only' IN ROLE wardbook_service"))
            .expect("service role");
        let config: tokio_postgres::Config = owner_url.parse().unwrap();
        let service_url = format!(
            "postgres://{role}:synthetic-test-only@{}/{}",
            db::describe_target(&config),
            config.get_dbname().unwrap()
        );
        let mut settings = Settings::for_tests(service_url.clone());
        settings.environment = environment;
        tweak(&mut settings);
        let own_kek = environment == Environment::Production && settings.kek_file.is_none();
        if own_kek {
            // Production never runs on a throwaway key: one of its own, and
            // `keys init`, as IT does after `migrate`.
            let kek = std::env::temp_dir().join(format!("wardbook-test-kek-{}", db.name()));
            wardbook_server::keys::write_new_kek(&kek).expect("a key-encryption key");
            settings.kek_file = Some(kek);
        }
        let state = AppState::new(settings.clone()).expect("app state");
        if own_kek {
            let mut client = connect(&service_url).await;
            match wardbook_server::keys::store::init(&mut client, state.keys.kek().expect("the key-encryption key"))
                .await
            {
                Ok(()) | Err(wardbook_server::Error::Keys(wardbook_server::keys::KeyError::AlreadyInitialised)) => {}
                Err(e) => panic!("keys init: {e}"),
            }
        }
        let router = app(state.clone());
        TestServer { db, owner_url, service_url, settings, state, router }
    }

    /// A superuser connection to the test database.
    pub async fn owner(&self) -> tokio_postgres::Client {
        connect(&self.owner_url).await
    }

    /// A connection as the service's own role.
    pub async fn service(&self) -> tokio_postgres::Client {
        connect(&self.service_url).await
    }

    /// One request through the router in-process; the body parsed as JSON
    /// (`Value::Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(token) = auth {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.unwrap()).await
    }

    /// Every answer is checked against the API document ([`contract`]).
    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("a JSON body") };
        contract::check(&method, &path, status, &value);
        (status, value)
    }

    /// Loads a synthetic ward (patients on "Ward 7A" and "Ward 7B").
    pub async fn synth(&self, patients: usize, seed: u64) -> SynthReport {
        let mut client = self.service().await;
        let keys = self.state.keys.get().await.expect("the data keys");
        admin::synth(&mut client, &keys, Environment::Test, patients, seed, chrono::Utc::now()).await.expect("synth")
    }

    /// Enrols a workstation for a location, through the API.
    pub async fn enrol(&self, location: &str) -> Device {
        let client = self.service().await;
        let (code, _) = wardbook_server::enrolment::create_code(&client, location, chrono::Duration::hours(1))
            .await
            .expect("enrolment code");
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/enrol",
                None,
                Some(serde_json::json!({ "code": code.expose(), "device_name": "synthetic-test-workstation" })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Device {
            id: body["device_id"].as_str().unwrap().parse().unwrap(),
            credential: body["credential"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn add_user(&self, username: &str, roles: &[Role]) -> Uuid {
        let client = self.service().await;
        admin::user_add(&client, username, "Synthetic Test User", roles, PASSWORD).await.expect("user")
    }

    /// Logs in through the API and returns the token.
    pub async fn login(&self, device: &Device, username: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/login",
                Some(&device.credential),
                Some(serde_json::json!({ "username": username, "password": PASSWORD })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// One pull page.
    pub async fn pull(&self, device: &Device, cursor: Option<&str>, limit: u32) -> PullResponse {
        let mut path = format!("/v1/sync/pull?limit={limit}");
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = self.call(Method::GET, &path, Some(&device.credential), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).expect("a pull response")
    }

    /// Pulls until `has_more` is false; returns every change and the last cursor.
    pub async fn pull_all(&self, device: &Device, cursor: Option<&str>, limit: u32) -> (Vec<Change>, String) {
        let mut changes = Vec::new();
        let mut cursor = cursor.map(str::to_owned);
        loop {
            let page = self.pull(device, cursor.as_deref(), limit).await;
            changes.extend(page.changes);
            cursor = Some(page.cursor);
            if !page.has_more {
                return (changes, cursor.unwrap());
            }
        }
    }

    pub async fn location_id(&self, code: &str) -> Uuid {
        admin::location_id(&self.service().await, code).await.unwrap()
    }
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// Polls an async condition until it holds or the deadline passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = attempt().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// What a change is about: its kind and its row's id.
pub fn change_key(change: &Change) -> (&'static str, Uuid) {
    match change {
        Change::Patient { patient } => ("patient", patient.id),
        Change::Observation { observation } => ("observation", observation.id),
        Change::Allergy { allergy } => ("allergy", allergy.id),
        Change::MedicationRequest { medication_request } => ("medication_request", medication_request.id),
        Change::MedicationAdministration { medication_administration } => {
            ("medication_administration", medication_administration.id)
        }
        Change::DoseReview { dose_review } => ("dose_review", dose_review.id),
        Change::Remove { patient_id } => ("remove", *patient_id),
    }
}

/// The patient ids a list of changes carries, by kind.
pub fn patient_ids(changes: &[Change]) -> Vec<Uuid> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Patient { patient } => Some(patient.id),
            _ => None,
        })
        .collect()
}

/// A fixed whole-second instant (2026-03-01 08:00 UTC) plus `minutes`:
/// exact in PostgreSQL's microsecond timestamps, so events read back equal.
pub fn at(minutes: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_772_352_000, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// Builds one device's audit chain in order, as the app does: sequence 1..,
/// each event's `prev_hash` the hash of the one before (from the genesis
/// hash), each sealed. Synthetic identifiers only.
#[derive(Clone, Debug)]
pub struct AuditChain {
    pub device_id: Uuid,
    pub session_id: Uuid,
    pub next_sequence: i64,
    pub prev_hash: String,
}

impl AuditChain {
    pub fn new(device_id: Uuid) -> AuditChain {
        AuditChain {
            device_id,
            session_id: Uuid::new_v4(),
            next_sequence: 1,
            prev_hash: wardbook_protocol::GENESIS_HASH.to_owned(),
        }
    }

    /// The next event: a chart opened (with a patient) or the census list (without).
    pub fn next(
        &mut self,
        user_id: &str,
        patient_id: Option<Uuid>,
        recorded_at: chrono::DateTime<chrono::Utc>,
    ) -> wardbook_protocol::AuditEvent {
        use wardbook_protocol::{AuditAction, AuditEvent, AuditOutcome, AuditSubtype, PurposeOfUse};
        let event = AuditEvent {
            id: Uuid::now_v7(),
            device_id: self.device_id,
            sequence: self.next_sequence,
            recorded_at,
            user_id: user_id.to_owned(),
            session_id: self.session_id,
            action: AuditAction::Read,
            subtype: if patient_id.is_some() { AuditSubtype::ChartOpen } else { AuditSubtype::CensusList },
            patient_id,
            purpose_of_use: PurposeOfUse::Treatment,
            outcome: AuditOutcome::Success,
            prev_hash: self.prev_hash.clone(),
            hash: String::new(),
        }
        .seal();
        self.next_sequence += 1;
        self.prev_hash = event.hash.clone();
        event
    }

    /// `count` events by `user_id` about `patient_id`, a minute apart from `first_minute`.
    pub fn take(
        &mut self,
        count: usize,
        user_id: &str,
        patient_id: Option<Uuid>,
        first_minute: i64,
    ) -> Vec<wardbook_protocol::AuditEvent> {
        (0..count).map(|i| self.next(user_id, patient_id, at(first_minute + i as i64))).collect()
    }
}

impl TestServer {
    /// `POST /v1/audit/events` as `device`.
    pub async fn upload_audit(&self, device: &Device, events: &[wardbook_protocol::AuditEvent]) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/v1/audit/events",
            Some(&device.credential),
            Some(serde_json::json!({ "events": events })),
        )
        .await
    }

    /// Rows of `audit_events` for one device, as (sequence, id, hash), in order.
    pub async fn stored_audit(&self, device_id: Uuid) -> Vec<(i64, Uuid, String)> {
        self.owner()
            .await
            .query("SELECT sequence, id, hash FROM audit_events WHERE device_id = $1 ORDER BY sequence", &[&device_id])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }
}

// Helpers of the authorization and bad-input tests (authz.rs, bad_input.rs).

impl TestServer {
    /// One request with a raw body and the given Content-Type (none when
    /// `None`); the answer parsed as in [`TestServer::send`].
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(token) = auth {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        self.send(req.body(body.into()).unwrap()).await
    }

    /// Pushes mutations with a device's credential; the push must answer 200.
    pub async fn push_ok(
        &self,
        device: &Device,
        mutations: Vec<wardbook_protocol::api::Mutation>,
    ) -> wardbook_protocol::api::PushResponse {
        let body = serde_json::to_value(wardbook_protocol::api::PushRequest { mutations }).unwrap();
        let (status, answer) = self.call(Method::POST, "/v1/sync/push", Some(&device.credential), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        serde_json::from_value(answer).expect("a push response")
    }

    /// The number of rows in a table (owner connection).
    pub async fn row_count(&self, table: &str) -> i64 {
        self.owner().await.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0)
    }
}

/// A mutation with a fresh id, authored now.
pub fn new_mutation(
    base_version: Option<i64>,
    record: wardbook_protocol::api::Record,
) -> wardbook_protocol::api::Mutation {
    wardbook_protocol::api::Mutation {
        id: Uuid::now_v7(),
        base_version,
        author: "nurse.synthetic".to_owned(),
        authored_at: chrono::Utc::now(),
        record,
    }
}

/// Asserts an error answer: its status, its stable `code` and a non-empty
/// message, which it returns.
pub fn assert_api_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) -> String {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["code"], code, "{body}");
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    assert!(!message.trim().is_empty(), "an error carries a message: {body}");
    message
}
