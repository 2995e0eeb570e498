//! The HTTP API `/v1`: thin adapters from requests to the domain modules,
//! and the OpenAPI document generated from them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};
use uuid::Uuid;
use wardbook_protocol::Patient;
use wardbook_protocol::api::{
    ApiError, AuditReportPage, AuditUploadRequest, AuditUploadResponse, ComplianceReport, DeviceInfo, EnrolRequest,
    EnrolResponse, EnrolmentCodeRequest, EnrolmentCodeResponse, Health, HealthStatus, LoginProviders, LoginRequest,
    LoginResponse, OidcCompleteRequest, OidcStartRequest, OidcStartResponse, PullResponse, PushRequest, PushResponse,
    ReenrolRequest, Role,
};
use wardbook_protocol::workstation::{BreakGlassRequest, BreakGlassResponse};

use crate::AppState;
use crate::audit::{self, ReportQuery};
use crate::auth::{self, DeviceAuth, UserAuth, UserOnDevice};
use crate::break_glass as emergency;
use crate::compliance;
use crate::enrolment;
use crate::error::{Error, Result};
use crate::extract::{ApiJson, ApiQuery};
use crate::feed::{self, Cursor};
use crate::health;
use crate::identity::oidc_flow;
use crate::push;
use crate::records;
use crate::sessions;

/// The service's router. Tests drive it in-process; `serve` puts it on a socket.
pub fn app(state: Arc<AppState>) -> Router {
    let limit = state.settings.policy.max_body_bytes;
    Router::new()
        .route("/v1/enrol", post(enrol))
        .route("/v1/reenrol", post(reenrol))
        .route("/v1/device", get(device_info))
        .route("/v1/login", post(login))
        .route("/v1/login/providers", get(login_providers))
        .route("/v1/login/oidc/start", post(oidc_start))
        .route("/v1/login/oidc/complete", post(oidc_complete))
        .route("/v1/sync/pull", get(pull))
        .route("/v1/sync/push", post(push_mutations))
        .route("/v1/patients/{id}", get(read_patient))
        .route("/v1/break-glass", post(break_glass))
        .route("/v1/audit/events", post(upload_audit))
        .route("/v1/audit/reports", get(audit_report))
        .route("/v1/admin/enrolment-codes", post(create_enrolment_code))
        .route("/v1/admin/devices/{id}/revoke", post(revoke_device))
        .route("/v1/admin/reports/compliance", get(compliance_report))
        .route("/v1/health", get(health_check))
        .route("/v1/openapi.json", get(openapi))
        // FHIR R4 for integration clients: outside the OpenAPI document, with
        // its own fallbacks (OperationOutcome, not ApiError).
        .merge(crate::privacy::routes::router())
        .nest(crate::fhir::routes::BASE_PATH, crate::fhir::routes::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The caller's address, when served over a socket (not in-process tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> std::result::Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)))
    }
}

impl ClientAddr {
    fn key(&self, kind: &str) -> String {
        format!("{kind}-addr:{}", self.0.map(|a| a.ip().to_string()).unwrap_or_else(|| "local".into()))
    }
}

#[utoipa::path(post, path = "/v1/enrol", tag = "devices", request_body = EnrolRequest,
    responses((status = 201, body = EnrolResponse),
              (status = 401, body = ApiError, description = "The code is unknown, expired or used"),
              (status = 403, body = ApiError, description = "The device id given is enrolled already"),
              (status = 429, body = ApiError)))]
async fn enrol(
    State(state): State<Arc<AppState>>,
    addr: ClientAddr,
    ApiJson(req): ApiJson<EnrolRequest>,
) -> Result<Response> {
    auth::check_attempts(&state, &[addr.key("enrol")]).await?;
    let mut db = state.db().await?;
    let (response, _credential) = enrolment::enrol(&mut db, &req.code, &req.device_name, req.device_id).await?;
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

#[utoipa::path(post, path = "/v1/reenrol", tag = "devices", request_body = ReenrolRequest, security(("device" = [])),
    responses((status = 200, body = EnrolResponse), (status = 401, body = ApiError), (status = 429, body = ApiError)))]
async fn reenrol(
    State(state): State<Arc<AppState>>,
    addr: ClientAddr,
    device: DeviceAuth,
    ApiJson(req): ApiJson<ReenrolRequest>,
) -> Result<Json<EnrolResponse>> {
    auth::check_attempts(&state, &[addr.key("enrol")]).await?;
    let mut db = state.db().await?;
    let (response, _credential) = enrolment::reenrol(&mut db, device.device_id, &req.code).await?;
    Ok(Json(response))
}

#[utoipa::path(get, path = "/v1/device", tag = "devices", security(("device" = [])),
    responses((status = 200, body = DeviceInfo), (status = 401, body = ApiError)))]
async fn device_info(State(state): State<Arc<AppState>>, device: DeviceAuth) -> Result<Json<DeviceInfo>> {
    let db = state.db().await?;
    Ok(Json(enrolment::describe(&db, &device).await?))
}

#[utoipa::path(post, path = "/v1/login", tag = "users", request_body = LoginRequest, security(("device" = []), ()),
    responses((status = 200, body = LoginResponse), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 429, body = ApiError)))]
async fn login(
    State(state): State<Arc<AppState>>,
    addr: ClientAddr,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>> {
    let user_key = format!("login-user:{}", req.username.trim().to_lowercase());
    auth::check_attempts(&state, &[addr.key("login"), user_key]).await?;
    // With a device credential: a user at a workstation. Without one: an
    // integration client (sessions::login refuses anyone else).
    let device = match headers.get(axum::http::header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let credential = value
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, c)| c.trim())
                .ok_or(Error::Unauthorized("The Authorization header is not `Bearer <device credential>`."))?;
            Some(auth::device_auth(&state, credential).await?)
        }
    };
    Ok(Json(sessions::login(&state, device.as_ref(), &req.username, &req.password, req.provider.as_deref()).await?))
}

#[utoipa::path(get, path = "/v1/login/providers", tag = "users", security(()),
    responses((status = 200, body = LoginProviders)))]
async fn login_providers(State(state): State<Arc<AppState>>) -> Json<LoginProviders> {
    Json(oidc_flow::providers(&state))
}

#[utoipa::path(post, path = "/v1/login/oidc/start", tag = "users", request_body = OidcStartRequest, security(("device" = [])),
    responses((status = 200, body = OidcStartResponse), (status = 401, body = ApiError), (status = 404, body = ApiError), (status = 429, body = ApiError)))]
async fn oidc_start(
    State(state): State<Arc<AppState>>,
    addr: ClientAddr,
    device: DeviceAuth,
    ApiJson(req): ApiJson<OidcStartRequest>,
) -> Result<Json<OidcStartResponse>> {
    auth::check_attempts(&state, &[addr.key("login"), format!("login-device:{}", device.device_id)]).await?;
    Ok(Json(oidc_flow::start(&state, &device, &req).await?))
}

#[utoipa::path(post, path = "/v1/login/oidc/complete", tag = "users", request_body = OidcCompleteRequest, security(("device" = [])),
    responses((status = 200, body = LoginResponse), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 429, body = ApiError)))]
async fn oidc_complete(
    State(state): State<Arc<AppState>>,
    addr: ClientAddr,
    device: DeviceAuth,
    ApiJson(req): ApiJson<OidcCompleteRequest>,
) -> Result<Json<LoginResponse>> {
    auth::check_attempts(&state, &[addr.key("login"), format!("login-device:{}", device.device_id)]).await?;
    Ok(Json(oidc_flow::complete(&state, &device, &req).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// The cursor of the previous page, as the service returned it; omit
    /// (or send empty) for an initial sync.
    #[param(
        pattern = r"^(?:2\.(?:0|[1-9][0-9]{0,17})\.(?:\.[0-6]\.\.|(?:0|[1-9][0-9]{0,17})\.[0-6]\.(?:[0-9a-f]{32}\.[0-9a-f]{32}|\.)))?$"
    )]
    pub cursor: Option<String>,
    /// Changes per page, at least 1. A larger number than the service's
    /// page size (its policy `max_pull_page`) is clamped to it, not refused.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295_i64)]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/sync/pull", tag = "sync", params(PullQuery), security(("device" = [])),
    responses((status = 200, body = PullResponse), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn pull(
    State(state): State<Arc<AppState>>,
    device: DeviceAuth,
    ApiQuery(q): ApiQuery<PullQuery>,
) -> Result<axum::response::Response> {
    let cursor = match q.cursor.as_deref() {
        None | Some("") => Cursor::START,
        Some(text) => Cursor::parse(text)?,
    };
    let max = state.settings.policy.max_pull_page;
    let limit = match q.limit {
        Some(0) => return Err(Error::bad_request("invalid_query", "The query parameter `limit` must be at least 1.")),
        Some(n) => n.min(max),
        None => max,
    };
    let keys = state.keys.get().await?;
    let window = state.settings.policy.revocation_window();
    // A replica in use first (`crate::replicas`); the primary when there is
    // none, when it is behind the cursor, or when it fails mid-request.
    if let Some(replica) = state.replicas.pick() {
        let attempt = match replica.pool().get().await {
            Ok(mut db) => feed::pull_from(&mut db, feed::Source::Replica, &keys, &device, cursor, limit, window)
                .await
                .map_err(|e| match e {
                    Error::Unavailable { .. } => Some(format!("a read failed: {e}")),
                    _ => None,
                }),
            Err(e) => Err(Some(format!("no connection ({e})"))),
        };
        match attempt {
            Ok(Some(page)) => {
                replica.served();
                return pull_answer(&page);
            }
            Ok(None) => replica.fell_back(None),
            Err(lost) => replica.fell_back(lost),
        }
    }
    let mut db = state.db().await?;
    pull_answer(&feed::pull(&mut db, &keys, &device, cursor, limit, window).await?)
}

/// A pull page's JSON as built by [`feed::PullPage::to_json`]: the stored
/// rows' JSON as is, never decoded and encoded again.
fn pull_answer(page: &feed::PullPage) -> Result<axum::response::Response> {
    use axum::response::IntoResponse;
    let body = page.to_json()?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[utoipa::path(post, path = "/v1/sync/push", tag = "sync", request_body = PushRequest, security(("device" = [])),
    responses((status = 200, body = PushResponse), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
async fn push_mutations(
    State(state): State<Arc<AppState>>,
    device: DeviceAuth,
    ApiJson(req): ApiJson<PushRequest>,
) -> Result<Json<PushResponse>> {
    let mut db = state.db().await?;
    let keys = state.keys.get().await?;
    Ok(Json(push::push(&mut db, &keys, &device, &state.settings, &req.mutations).await?))
}

#[utoipa::path(get, path = "/v1/patients/{id}", tag = "sync", security(("device" = [])),
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, body = Patient), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn read_patient(
    State(state): State<Arc<AppState>>,
    device: DeviceAuth,
    Path(id): Path<String>,
) -> Result<Json<Patient>> {
    let id = Uuid::try_parse(&id).map_err(|_| Error::bad_request("invalid_id", "The patient id is not a UUID."))?;
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    if !records::in_scope(&tx, &device, id).await? {
        return Err(Error::Forbidden("This patient is not assigned to this workstation's locations."));
    }
    let keys = state.keys.get().await?;
    Ok(Json(records::patients::read(&tx, &keys, id).await?))
}

/// Break-the-glass: a clinician's time-limited access to a patient outside
/// the workstation's scope, found by MRN. The reason is required (10 to 500
/// characters) and the access is flagged for the privacy office's review.
#[utoipa::path(post, path = "/v1/break-glass", tag = "users", request_body = BreakGlassRequest,
    security(("user" = [], "device_header" = [])),
    responses((status = 200, body = BreakGlassResponse), (status = 400, body = ApiError, description = "No reason (code reason_required)"),
              (status = 401, body = ApiError), (status = 403, body = ApiError, description = "Not a clinician"),
              (status = 404, body = ApiError, description = "No patient with that MRN, or that family name and date of birth")))]
async fn break_glass(
    State(state): State<Arc<AppState>>,
    caller: UserOnDevice,
    ApiJson(req): ApiJson<BreakGlassRequest>,
) -> Result<Json<BreakGlassResponse>> {
    let keys = state.keys.get().await?;
    let mut db = state.db().await?;
    Ok(Json(emergency::grant(&mut db, &keys, &caller, &req, state.settings.policy.break_glass_minutes).await?))
}

#[utoipa::path(post, path = "/v1/audit/events", tag = "audit", request_body = AuditUploadRequest, security(("device" = [])),
    responses((status = 200, body = AuditUploadResponse), (status = 409, body = ApiError, description = "Gap or broken chain, with its position"),
              (status = 401, body = ApiError)))]
async fn upload_audit(
    State(state): State<Arc<AppState>>,
    device: DeviceAuth,
    ApiJson(req): ApiJson<AuditUploadRequest>,
) -> Result<Json<AuditUploadResponse>> {
    let mut db = state.db().await?;
    Ok(Json(audit::upload(&mut db, device.device_id, &req.events).await?))
}

#[utoipa::path(get, path = "/v1/audit/reports", tag = "audit", params(ReportQuery), security(("user" = [])),
    responses((status = 200, body = AuditReportPage), (status = 403, body = ApiError), (status = 401, body = ApiError)))]
async fn audit_report(
    State(state): State<Arc<AppState>>,
    user: UserAuth,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<AuditReportPage>> {
    user.require(Role::PrivacyOfficer)?;
    let db = state.db().await?;
    Ok(Json(audit::report(&db, &q).await?))
}

#[utoipa::path(post, path = "/v1/admin/enrolment-codes", tag = "admin", request_body = EnrolmentCodeRequest, security(("user" = [])),
    responses((status = 201, body = EnrolmentCodeResponse), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn create_enrolment_code(
    State(state): State<Arc<AppState>>,
    user: UserAuth,
    ApiJson(req): ApiJson<EnrolmentCodeRequest>,
) -> Result<Response> {
    user.require(Role::Admin)?;
    let db = state.db().await?;
    let lifetime = chrono::Duration::hours(i64::from(state.settings.policy.enrolment_code_hours));
    let (code, expires_at) = enrolment::create_code(&db, &req.location, lifetime).await?;
    let body = EnrolmentCodeResponse { code: code.expose().to_owned(), expires_at };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(post, path = "/v1/admin/devices/{id}/revoke", tag = "admin", security(("user" = [])),
    params(("id" = Uuid, Path, description = "Device id")),
    responses((status = 204), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn revoke_device(
    State(state): State<Arc<AppState>>,
    user: UserAuth,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    user.require(Role::Admin)?;
    let id = Uuid::try_parse(&id).map_err(|_| Error::bad_request("invalid_id", "The device id is not a UUID."))?;
    let db = state.db().await?;
    if enrolment::revoke(&db, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound("There is no such device."))
    }
}

/// The compliance report: encryption of identifiers, synthetic rows in
/// production, audit coverage, break-the-glass reviews, interfaces, the
/// database connection and replicas; each check with a stable code and a
/// status (ok, warning, critical, unknown), the report's status the worst.
#[utoipa::path(get, path = "/v1/admin/reports/compliance", tag = "admin", security(("user" = [])),
    responses((status = 200, body = ComplianceReport), (status = 403, body = ApiError, description = "Not an admin")))]
async fn compliance_report(State(state): State<Arc<AppState>>, user: UserAuth) -> Result<Json<ComplianceReport>> {
    user.require(Role::Admin)?;
    Ok(Json(compliance::report(&state).await))
}

#[utoipa::path(get, path = "/v1/health", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health, description = "Database unreachable, with a hint")))]
async fn health_check(State(state): State<Arc<AppState>>) -> Response {
    let report = health::check(&state).await;
    let status =
        if report.status == HealthStatus::Unavailable { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (status, Json(report)).into_response()
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of `/v1`", content_type = "application/json", body = Object)))]
async fn openapi() -> Response {
    (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

async fn not_found() -> Error {
    Error::NotFound("There is no such endpoint. The API is described at /v1/openapi.json.")
}

/// A known path with another method: a JSON error like every other refusal.
async fn method_not_allowed() -> Response {
    let body = ApiError {
        code: "method_not_allowed".to_owned(),
        message: "This endpoint does not take this HTTP method. The API is described at /v1/openapi.json.".to_owned(),
        position: None,
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |desc: &str| {
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(desc)).build())
        };
        components.add_security_scheme("device", bearer("The device credential from enrolment (wbd1_...)."));
        components.add_security_scheme("user", bearer("A login token (wbu1_...)."));
        components.add_security_scheme(
            "device_header",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::auth::DEVICE_HEADER,
                "The device credential (wbd1_...) beside a login token in Authorization.",
            ))),
        );
    }
}

/// The OpenAPI document of `/v1`, generated from the handlers and the
/// protocol types.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Wardbook sync service", description = "The API between Wardbook workstations and the central service."),
    paths(enrol, reenrol, device_info, login, login_providers, oidc_start, oidc_complete, break_glass, pull, push_mutations, read_patient, upload_audit, audit_report, create_enrolment_code, revoke_device, compliance_report, health_check, openapi),
    modifiers(&SecuritySchemes),
    tags(
        (name = "devices", description = "Enrolment of workstations"),
        (name = "users", description = "Online login and break-the-glass"),
        (name = "sync", description = "The change feed and client mutations"),
        (name = "audit", description = "Audit upload and privacy officer reports"),
        (name = "admin", description = "IT administration"),
        (name = "operations", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

/// The document as the repository keeps it (`server/openapi.json`):
/// utoipa's, completed by [`crate::openapi::complete`].
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::privacy::routes::PrivacyApi::openapi());
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut value = serde_json::to_value(&doc).unwrap_or_default();
    crate::openapi::complete(&mut value);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}
