//! Why a step of the privacy workspace did not happen.

use crate::session::SessionError;
use crate::store::StoreError;
use crate::sync::SyncError;

/// What happened and what to do. Never patient data, a reason, a note, a
/// token or SQL: the service's own messages (which hold none) are passed on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivacyError {
    #[error(
        "The privacy workspace needs the sync service, which cannot be reached (or this session started offline). Reconnect, then sign in online and try again."
    )]
    NeedsService,
    #[error(
        "Your account does not hold the privacy officer role, so the privacy workspace is not available. Ask IT if this is wrong."
    )]
    NotPrivacyOfficer,
    #[error(
        "The online session has expired. Lock the screen and unlock it while online (or sign in again), then try again."
    )]
    SessionExpired,
    /// The service found nothing (its message names nothing it was asked).
    #[error("{0}")]
    NotFound(String),
    #[error(
        "This break-the-glass access was already reviewed, and a review is final. Refresh the queue to see who reviewed it and why."
    )]
    AlreadyReviewed,
    /// The request cannot be answered as asked (the service's message, or ours).
    #[error("{0}")]
    Invalid(String),
    #[error("The sync service refused the request ({code}, status {status}). Try again; if it persists, ask IT.")]
    Service { status: u16, code: String },
    #[error(
        "The export could not be saved in {dir} ({cause}). Check that the folder exists and can be written, or ask IT."
    )]
    Save { dir: String, cause: String },
    #[error(transparent)]
    Session(SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Sync(SyncError),
}

impl PrivacyError {
    /// A stable code for the UI.
    pub fn code(&self) -> &'static str {
        match self {
            PrivacyError::NeedsService => "needs_service",
            PrivacyError::NotPrivacyOfficer => "not_privacy_officer",
            PrivacyError::SessionExpired => "online_session_expired",
            PrivacyError::NotFound(_) => "not_found",
            PrivacyError::AlreadyReviewed => "already_reviewed",
            PrivacyError::Invalid(_) => "invalid",
            PrivacyError::Service { .. } => "service",
            PrivacyError::Save { .. } => "export_not_saved",
            PrivacyError::Session(e) => e.code(),
            PrivacyError::Store(e) => e.code(),
            PrivacyError::Sync(_) => "sync",
        }
    }

    /// The service's answer, or no answer, in the workspace's words.
    pub(crate) fn from_sync(e: SyncError) -> PrivacyError {
        match e {
            SyncError::Offline { .. } => PrivacyError::NeedsService,
            SyncError::NotEnrolled | SyncError::NoServer => PrivacyError::Session(SessionError::NotEnrolled),
            SyncError::Server { status: 401, .. } => PrivacyError::SessionExpired,
            SyncError::Server { status: 403, .. } => PrivacyError::NotPrivacyOfficer,
            SyncError::Server { status: 404, message, .. } => PrivacyError::NotFound(message),
            SyncError::Server { status: 409, code, .. } if code == "already_reviewed" => PrivacyError::AlreadyReviewed,
            SyncError::Server { status: 400, message, .. } => PrivacyError::Invalid(message),
            SyncError::Server { status, code, .. } => PrivacyError::Service { status, code },
            SyncError::Store(e) => PrivacyError::Store(e),
            other => PrivacyError::Sync(other),
        }
    }
}

impl From<SessionError> for PrivacyError {
    /// An offline session cannot reach the service: the workspace's own words.
    fn from(e: SessionError) -> PrivacyError {
        match e {
            SessionError::Offline => PrivacyError::NeedsService,
            other => PrivacyError::Session(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offline_session_or_an_unreachable_service_says_the_service_is_needed() {
        for e in [
            PrivacyError::from(SessionError::Offline),
            PrivacyError::from_sync(SyncError::Offline {
                server: "https://x.invalid/".into(),
                cause: "timed out".into(),
            }),
        ] {
            assert_eq!(e.code(), "needs_service");
            assert!(e.to_string().contains("needs the sync service"), "{e}");
        }
    }

    #[test]
    fn the_services_refusals_keep_their_meaning() {
        let server = |status, code: &str| SyncError::Server { status, code: code.into(), message: "m".into() };
        assert_eq!(PrivacyError::from_sync(server(401, "unauthorized")).code(), "online_session_expired");
        assert_eq!(PrivacyError::from_sync(server(403, "forbidden")).code(), "not_privacy_officer");
        assert_eq!(PrivacyError::from_sync(server(404, "not_found")).code(), "not_found");
        assert_eq!(PrivacyError::from_sync(server(409, "already_reviewed")).code(), "already_reviewed");
        assert_eq!(PrivacyError::from_sync(server(400, "note_required")).code(), "invalid");
        assert_eq!(PrivacyError::from_sync(server(500, "internal")).code(), "service");
    }
}
