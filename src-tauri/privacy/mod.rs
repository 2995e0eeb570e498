//! The privacy officer's workspace (issue 17): the access report (who
//! viewed a patient, what a user viewed), its printout and its exports
//! (CSV, FHIR AuditEvents), the break-the-glass review queue and reviews,
//! and every workstation's audit chain. Online only: the data is the
//! service's (`/v1/privacy/...`, privacy officer role), fetched with the
//! signed-in user's login token and this device's credential; an offline
//! session or an unreachable service gets [`PrivacyError::NeedsService`].
//!
//! Every view is audited like any other view of patient data: one event in
//! this workstation's hash chain (purpose of use `HCOMPL`, health
//! compliance), written after the service answers and before the answer is
//! returned, so nothing reaches the screen unaudited. A locked or ended
//! session gets no data. Nothing fetched here is written to the cache.
//!
//! | call | audit subtype | action | patient |
//! |---|---|---|---|
//! | [`access_report`] | `access-report-view` | read | the report's patient, if one |
//! | [`print_access_report`] | `print` | read | the report's patient, if one |
//! | [`export_access_report`] | `export` | read | the report's patient, if one |
//! | [`break_glass_queue`] | `break-glass-queue-view` | read | none (a list) |
//! | [`review_break_glass`] | `break-glass-review` | create | the access's patient |
//! | [`audit_chains`] | `audit-chain-view` | read | none |
//!
//! Network calls run without the workstation lock (as the session's do).

mod error;
mod files;

use std::path::Path;
use std::sync::Mutex;

use reqwest::Method;
use uuid::Uuid;
use wardbook_protocol::api::{
    AccessReport, AccessReportExport, AccessReportQuery, AuditChainStatus, BreakGlassAccess, BreakGlassQueue,
    BreakGlassReviewRequest, ExportFormat, ExportedFile, PrivacyAccess, PrivacySummary, QueueFilter, Role,
    review_note_ok,
};
use wardbook_protocol::{AuditAction, AuditOutcome, AuditSubtype, PurposeOfUse};
use zeroize::Zeroizing;

pub use error::PrivacyError;
pub use files::export_dir;

use crate::audit::{self, AccessContext};
use crate::session::{SessionError, Sessions};
use crate::sync::client::Client;
use crate::workstation::Workstation;

/// The purpose of use of every event the workspace records.
pub const PURPOSE: PurposeOfUse = PurposeOfUse::Compliance;
/// The header of an export that gives its number of events (the service's).
const EVENTS_HEADER: &str = "x-wardbook-events";
/// The most rows a printout holds (one page of the service's report).
pub const PRINT_ROWS: u32 = 500;

/// The signed-in user's online session and a client for this workstation's service.
struct Caller {
    ctx: AccessContext,
    token: Zeroizing<String>,
    client: Client,
}

impl Caller {
    /// Under the workstation lock, briefly: the session's context and token
    /// (`NeedsService` after an offline sign-in) and a client.
    fn new(ws: &Mutex<Workstation>, sessions: &Sessions) -> Result<Caller, PrivacyError> {
        let mut guard = Workstation::lock(ws);
        let (ctx, token) = sessions.online_session(&mut guard.store, PURPOSE)?;
        let server = crate::sync::server_url(&guard.config, &guard.store)
            .map_err(PrivacyError::from_sync)?
            .ok_or(PrivacyError::Session(SessionError::NotEnrolled))?;
        let keys = crate::keys::key_store_for(&guard.config);
        let credential = keys
            .load_credential()
            .map_err(|e| PrivacyError::Sync(e.into()))?
            .ok_or(PrivacyError::Session(SessionError::NotEnrolled))?;
        let client = Client::new(&server, guard.config.ca_file.as_deref(), guard.config.environment, Some(credential))
            .map_err(PrivacyError::from_sync)?;
        Ok(Caller { ctx, token, client })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, PrivacyError> {
        self.client.as_user::<(), T>(&self.token, Method::GET, path, query, None).await.map_err(PrivacyError::from_sync)
    }

    async fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, PrivacyError> {
        self.client.as_user(&self.token, Method::POST, path, &[], Some(body)).await.map_err(PrivacyError::from_sync)
    }

    /// Records what was shown, in this workstation's chain, if the session
    /// that asked is still the one signed in and is not locked.
    fn record(
        &self,
        ws: &Mutex<Workstation>,
        sessions: &Sessions,
        (action, subtype, patient): (AuditAction, AuditSubtype, Option<Uuid>),
    ) -> Result<(), PrivacyError> {
        let mut guard = Workstation::lock(ws);
        let now = sessions.context(&mut guard.store)?;
        if now.session_id != self.ctx.session_id {
            return Err(PrivacyError::Session(SessionError::SignedOut));
        }
        let device_id = guard.store.device_id();
        let access = audit::Access { action, subtype, patient, outcome: AuditOutcome::Success };
        guard.store.transaction(|db| audit::record(db, device_id, &self.ctx, access))?;
        Ok(())
    }
}

/// Whether the signed-in user is a privacy officer (and a clinician), with
/// what awaits them. Counts only: not audited.
pub async fn access(ws: &Mutex<Workstation>, sessions: &Sessions) -> Result<PrivacyAccess, PrivacyError> {
    let caller = Caller::new(ws, sessions)?;
    match caller.get::<PrivacySummary>("v1/privacy/summary", &[]).await {
        Ok(summary) => Ok(PrivacyAccess {
            privacy_officer: true,
            clinician: summary.roles.contains(&Role::Clinician),
            pending_reviews: summary.pending_reviews,
            devices_with_findings: summary.devices_with_findings,
        }),
        // Not a privacy officer: the ward screens, as for everyone else.
        Err(PrivacyError::NotPrivacyOfficer) => {
            Ok(PrivacyAccess { privacy_officer: false, clinician: true, pending_reviews: 0, devices_with_findings: 0 })
        }
        Err(e) => Err(e),
    }
}

/// One page of the access report; audited as `access-report-view`.
pub async fn access_report(
    ws: &Mutex<Workstation>,
    sessions: &Sessions,
    query: &AccessReportQuery,
) -> Result<AccessReport, PrivacyError> {
    let caller = Caller::new(ws, sessions)?;
    let report: AccessReport = caller.post("v1/privacy/access-report", query).await?;
    let patient = report.patient.as_ref().map(|p| p.id);
    caller.record(ws, sessions, (AuditAction::Read, AuditSubtype::AccessReportView, patient))?;
    Ok(report)
}

/// The report to print (its first [`PRINT_ROWS`] rows); audited as `print`.
pub async fn print_access_report(
    ws: &Mutex<Workstation>,
    sessions: &Sessions,
    query: &AccessReportQuery,
) -> Result<AccessReport, PrivacyError> {
    let caller = Caller::new(ws, sessions)?;
    let query = AccessReportQuery { page: Some(1), page_size: Some(PRINT_ROWS), ..query.clone() };
    let report: AccessReport = caller.post("v1/privacy/access-report", &query).await?;
    let patient = report.patient.as_ref().map(|p| p.id);
    caller.record(ws, sessions, (AuditAction::Read, AuditSubtype::Print, patient))?;
    Ok(report)
}

/// The whole report as a file in `dir` (CSV, or FHIR AuditEvents as a
/// Bundle); audited as `export`. The file is readable by its owner only.
pub async fn export_access_report(
    ws: &Mutex<Workstation>,
    sessions: &Sessions,
    query: &AccessReportQuery,
    format: ExportFormat,
    dir: &Path,
) -> Result<ExportedFile, PrivacyError> {
    let caller = Caller::new(ws, sessions)?;
    // The patient the report is about, for the audit event (nothing is shown).
    let first = AccessReportQuery { page: Some(1), page_size: Some(1), ..query.clone() };
    let probe: AccessReport = caller.post("v1/privacy/access-report", &first).await?;
    let request = AccessReportExport { query: query.clone(), format };
    let (bytes, events) = caller
        .client
        .download_as_user(&caller.token, "v1/privacy/access-report/export", &request, EVENTS_HEADER)
        .await
        .map_err(PrivacyError::from_sync)?;
    let patient = probe.patient.as_ref().map(|p| p.id);
    // Recorded before the file exists: an export that was not audited is not written.
    caller.record(ws, sessions, (AuditAction::Read, AuditSubtype::Export, patient))?;
    let path = files::save(dir, format, &bytes, chrono::Utc::now())?;
    tracing::info!(format = ?format, events = events.unwrap_or_default(), "access report exported");
    Ok(ExportedFile { path: path.display().to_string(), format, events: events.unwrap_or_default() })
}

/// The break-the-glass review queue; audited as `break-glass-queue-view`.
pub async fn break_glass_queue(
    ws: &Mutex<Workstation>,
    sessions: &Sessions,
    filter: QueueFilter,
) -> Result<BreakGlassQueue, PrivacyError> {
    let caller = Caller::new(ws, sessions)?;
    let status = match filter {
        QueueFilter::Pending => "pending",
        QueueFilter::Reviewed => "reviewed",
        QueueFilter::All => "all",
    };
    let queue: BreakGlassQueue = caller.get("v1/privacy/break-glass", &[("status", status)]).await?;
    caller.record(ws, sessions, (AuditAction::Read, AuditSubtype::BreakGlassQueueView, None))?;
    Ok(queue)
}

/// Records a review of one access (final); audited as `break-glass-review`
/// (action create) about the access's patient.
pub async fn review_break_glass(
    ws: &Mutex<Workstation>,
    sessions: &Sessions,
    access_id: Uuid,
    review: &BreakGlassReviewRequest,
) -> Result<BreakGlassAccess, PrivacyError> {
    if !review_note_ok(&review.note) {
        return Err(PrivacyError::Invalid(
            "Write a note of 1 to 2000 characters saying why the access was or was not appropriate.".into(),
        ));
    }
    let caller = Caller::new(ws, sessions)?;
    let done: BreakGlassAccess = caller.post(&format!("v1/privacy/break-glass/{access_id}/review"), review).await?;
    caller.record(ws, sessions, (AuditAction::Create, AuditSubtype::BreakGlassReview, Some(done.patient.id)))?;
    tracing::info!(access = %access_id, "break-the-glass access reviewed");
    Ok(done)
}

/// Every workstation's audit chain as the service verifies it; audited as
/// `audit-chain-view`.
pub async fn audit_chains(ws: &Mutex<Workstation>, sessions: &Sessions) -> Result<AuditChainStatus, PrivacyError> {
    let caller = Caller::new(ws, sessions)?;
    let status: AuditChainStatus = caller.get("v1/privacy/audit-chains", &[]).await?;
    caller.record(ws, sessions, (AuditAction::Read, AuditSubtype::AuditChainView, None))?;
    Ok(status)
}
