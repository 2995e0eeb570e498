//! `/v1/privacy/...`: thin HTTP adapters over the privacy office's
//! workspace, each for the privacy officer role only, with the login token
//! and the workstation's device credential (as break-the-glass: these
//! answers name patients, and a stolen token alone is not enough). The
//! document of these operations ([`PrivacyApi`]) is merged into the
//! service's (`crate::routes::openapi_json`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use uuid::Uuid;
use wardbook_protocol::api::{
    AccessReport, AccessReportExport, AccessReportQuery, ApiError, AuditChainStatus, BreakGlassAccess, BreakGlassQueue,
    BreakGlassReviewRequest, ExportFormat, PrivacySummary, QueueFilter, Role,
};

use crate::AppState;
use crate::auth::UserOnDevice;
use crate::error::{Error, Result};
use crate::extract::{ApiJson, ApiQuery};
use crate::fhir::FHIR_JSON;

/// The header of an export that says how many events it holds.
pub const EVENTS_HEADER: &str = "x-wardbook-events";

/// The privacy office's routes (merged into [`crate::routes::app`]).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/privacy/summary", get(summary))
        .route("/v1/privacy/access-report", post(access_report))
        .route("/v1/privacy/access-report/export", post(export_report))
        .route("/v1/privacy/break-glass", get(queue))
        .route("/v1/privacy/break-glass/{id}/review", post(review))
        .route("/v1/privacy/audit-chains", get(audit_chains))
}

/// The privacy office's operations, merged into the service's document.
#[derive(Debug, OpenApi)]
#[openapi(
    paths(summary, access_report, export_report, queue, review, audit_chains),
    tags((name = "privacy", description = "The privacy officer's workspace: access reports and exports, break-the-glass reviews, audit chains")),
)]
pub struct PrivacyApi;

/// The caller, who must be a privacy officer.
fn officer(caller: &UserOnDevice) -> Result<()> {
    caller.user.require(Role::PrivacyOfficer)
}

/// The caller's roles, the accesses awaiting review and the workstations
/// with security findings (counts only).
#[utoipa::path(get, path = "/v1/privacy/summary", tag = "privacy", security(("user" = [], "device_header" = [])),
    responses((status = 200, body = PrivacySummary),
              (status = 403, body = ApiError, description = "Not a privacy officer")))]
pub(crate) async fn summary(State(state): State<Arc<AppState>>, caller: UserOnDevice) -> Result<Json<PrivacySummary>> {
    officer(&caller)?;
    let db = state.db().await?;
    Ok(Json(super::summary(&db, &caller.user).await?))
}

/// Who viewed a patient (by MRN), what a user viewed (by user name), or
/// both, over a period: one page, newest first, with the names of users,
/// workstations and patients, the purpose of use and whether the session
/// began offline. A POST so that the MRN stays out of URLs.
#[utoipa::path(post, path = "/v1/privacy/access-report", tag = "privacy", request_body = AccessReportQuery,
    security(("user" = [], "device_header" = [])),
    responses((status = 200, body = AccessReport),
              (status = 403, body = ApiError, description = "Not a privacy officer"),
              (status = 404, body = ApiError, description = "No patient with that MRN, or no user with that user name (neither echoed)")))]
pub(crate) async fn access_report(
    State(state): State<Arc<AppState>>,
    caller: UserOnDevice,
    ApiJson(query): ApiJson<AccessReportQuery>,
) -> Result<Json<AccessReport>> {
    officer(&caller)?;
    let keys = state.keys.get().await?;
    let mut db = state.db().await?;
    Ok(Json(super::report::access_report(&mut db, &keys, &query).await?))
}

/// The whole report (at most 10000 events), oldest first, as a file: CSV
/// with the report's columns (MRNs and names included), or a FHIR R4
/// Bundle of AuditEvents (patients by id). `X-Wardbook-Events` gives the
/// number of events.
#[utoipa::path(post, path = "/v1/privacy/access-report/export", tag = "privacy", request_body = AccessReportExport,
    security(("user" = [], "device_header" = [])),
    responses((status = 200, description = "The file (Content-Disposition: attachment)",
                content((String = "text/csv"), (Object = "application/fhir+json")),
                headers(("x-wardbook-events" = u32, description = "Events in the file"))),
              (status = 400, body = ApiError, description = "More events than one export takes (too_many_events), or an empty period"),
              (status = 403, body = ApiError, description = "Not a privacy officer"),
              (status = 404, body = ApiError, description = "No patient with that MRN, or no user with that user name")))]
pub(crate) async fn export_report(
    State(state): State<Arc<AppState>>,
    caller: UserOnDevice,
    ApiJson(request): ApiJson<AccessReportExport>,
) -> Result<Response> {
    officer(&caller)?;
    let keys = state.keys.get().await?;
    let mut db = state.db().await?;
    let (events, labels) = super::report::all_events(&mut db, &keys, &request.query).await?;
    let (media_type, extension, body) = match request.format {
        ExportFormat::Csv => (super::export::CSV_MEDIA_TYPE, "csv", super::export::csv(&events, &labels)),
        ExportFormat::Fhir => {
            let bundle = super::export::fhir_bundle(&events);
            let text = serde_json::to_string(&bundle).map_err(|e| Error::Internal(format!("FHIR export: {e}")))?;
            (FHIR_JSON, "json", text)
        }
    };
    tracing::info!(user = %caller.user.user_id, events = events.len(), format = extension, "access report exported");
    let name = format!("wardbook-access-report-{}.{extension}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(EVENTS_HEADER, HeaderValue::from(events.len()));
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// `pending` (the default, oldest first), `reviewed` (most recently
    /// reviewed first) or `all` (newest first).
    #[param(inline)]
    pub status: Option<QueueFilter>,
}

/// The break-the-glass review queue: each access with the clinician's
/// reason, how long it ran and what they viewed meanwhile (at most 200
/// accesses).
#[utoipa::path(get, path = "/v1/privacy/break-glass", tag = "privacy", params(QueueQuery),
    security(("user" = [], "device_header" = [])),
    responses((status = 200, body = BreakGlassQueue),
              (status = 403, body = ApiError, description = "Not a privacy officer")))]
pub(crate) async fn queue(
    State(state): State<Arc<AppState>>,
    caller: UserOnDevice,
    ApiQuery(q): ApiQuery<QueueQuery>,
) -> Result<Json<BreakGlassQueue>> {
    officer(&caller)?;
    let keys = state.keys.get().await?;
    let mut db = state.db().await?;
    Ok(Json(super::reviews::queue(&mut db, &keys, q.status.unwrap_or_default()).await?))
}

/// Records the caller's review of one access (justified or not, with a
/// note): stored with the reviewer and the time, and final.
#[utoipa::path(post, path = "/v1/privacy/break-glass/{id}/review", tag = "privacy", request_body = BreakGlassReviewRequest,
    security(("user" = [], "device_header" = [])),
    params(("id" = Uuid, Path, description = "The access id")),
    responses((status = 200, body = BreakGlassAccess),
              (status = 400, body = ApiError, description = "No note, or one over 2000 characters (note_required)"),
              (status = 403, body = ApiError, description = "Not a privacy officer"),
              (status = 404, body = ApiError, description = "No such access"),
              (status = 409, body = ApiError, description = "Already reviewed (already_reviewed): a review is final")))]
pub(crate) async fn review(
    State(state): State<Arc<AppState>>,
    caller: UserOnDevice,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<BreakGlassReviewRequest>,
) -> Result<Json<BreakGlassAccess>> {
    officer(&caller)?;
    let id = Uuid::try_parse(&id).map_err(|_| Error::bad_request("invalid_id", "The access id is not a UUID."))?;
    let keys = state.keys.get().await?;
    let mut db = state.db().await?;
    Ok(Json(super::reviews::review(&mut db, &keys, &caller.user, id, &request).await?))
}

/// Every workstation's stored audit chain, re-verified now (continuous,
/// broken with its first wrong position, or empty), with the security
/// findings recorded about it.
#[utoipa::path(get, path = "/v1/privacy/audit-chains", tag = "privacy", security(("user" = [], "device_header" = [])),
    responses((status = 200, body = AuditChainStatus),
              (status = 403, body = ApiError, description = "Not a privacy officer")))]
pub(crate) async fn audit_chains(
    State(state): State<Arc<AppState>>,
    caller: UserOnDevice,
) -> Result<Json<AuditChainStatus>> {
    officer(&caller)?;
    let db = state.db().await?;
    Ok(Json(super::chains::status(&db).await?))
}
