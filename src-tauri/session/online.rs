//! The sync service, as sessions use it: an online sign-in (a password, or
//! the two halves of a browser sign-in), the sign-in screen's providers and a
//! break-the-glass request. A client is built under the workstation lock from
//! its settings and the device credential; the calls run after the lock is
//! released. What comes back is sorted into "unreachable" (sign in offline
//! instead) and a refusal the clinician must act on.

use wardbook_protocol::api::{
    LoginProviders, LoginRequest, LoginResponse, OidcCompleteRequest, OidcStartRequest, OidcStartResponse,
};
use wardbook_protocol::workstation::{BreakGlassRequest, BreakGlassResponse};

use super::SessionError;
use super::offline::{Password, Token};
use crate::sync::SyncError;
use crate::sync::client::Client;
use crate::workstation::Workstation;

/// Why a call to the service did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No answer (network, timeout, the service or its database down).
    Unreachable,
    /// An answer that refuses.
    Refused(SessionError),
}

/// A client for this workstation's service, with its device credential.
#[derive(Debug)]
pub(crate) struct Remote {
    client: Client,
}

impl Remote {
    /// Builds the client. Call with the workstation locked; it only reads
    /// settings, the store and the keyring.
    pub(crate) fn for_workstation(ws: &Workstation) -> Result<Remote, SessionError> {
        let server = crate::sync::server_url(&ws.config, &ws.store)
            .map_err(SessionError::from_sync)?
            .ok_or(SessionError::NotEnrolled)?;
        let keys = crate::keys::key_store_for(&ws.config);
        let credential =
            keys.load_credential().map_err(|e| SessionError::Sync(e.into()))?.ok_or(SessionError::NotEnrolled)?;
        let client = Client::new(&server, ws.config.ca_file.as_deref(), ws.config.environment, Some(credential))
            .map_err(SessionError::from_sync)?;
        Ok(Remote { client })
    }

    /// A password sign-in: a local account, or through the LDAP `provider`.
    pub(crate) async fn login(
        &self,
        username: &str,
        password: &Password,
        provider: Option<&str>,
    ) -> Result<LoginResponse, Failure> {
        let request = LoginRequest {
            username: username.to_owned(),
            password: password.expose().to_owned(),
            provider: provider.map(str::to_owned),
        };
        let result = self.client.login(&request).await;
        drop(zeroize::Zeroizing::new(request.password));
        result.map_err(refusal)
    }

    pub(crate) async fn providers(&self) -> Result<LoginProviders, Failure> {
        self.client.login_providers().await.map_err(classify)
    }

    /// Whether the service can reach the identity provider `id` now, as its
    /// health reports it (checked there at most a minute ago). `Unreachable`
    /// when the service itself cannot be reached or its database is down.
    pub(crate) async fn provider_reachable(&self, id: &str) -> Result<bool, Failure> {
        let health = self.client.health().await.map_err(classify)?;
        Ok(health.identity_providers.iter().any(|p| p.id == id && p.reachable))
    }

    pub(crate) async fn oidc_start(&self, request: &OidcStartRequest) -> Result<OidcStartResponse, Failure> {
        self.client.oidc_start(request).await.map_err(refusal)
    }

    pub(crate) async fn oidc_complete(&self, request: &OidcCompleteRequest) -> Result<LoginResponse, Failure> {
        self.client.oidc_complete(request).await.map_err(|e| match e {
            // The attempt is unknown, used, expired, or the provider refused the code.
            SyncError::Server { status: 401, message, .. } => {
                Failure::Refused(SessionError::BrowserSignInRefused(message))
            }
            other => refusal(other),
        })
    }

    pub(crate) async fn break_glass(
        &self,
        token: &Token,
        request: &BreakGlassRequest,
    ) -> Result<BreakGlassResponse, Failure> {
        self.client.break_glass(token.expose(), request).await.map_err(|e| match e {
            SyncError::Server { status: 401, .. } => Failure::Refused(SessionError::OnlineSessionExpired),
            SyncError::Server { status: 403, .. } => Failure::Refused(SessionError::Forbidden),
            SyncError::Server { status: 404, .. } => Failure::Refused(SessionError::NotFound),
            SyncError::Server { status: 400, code, .. } if code == "reason_required" => {
                Failure::Refused(SessionError::ReasonRequired)
            }
            other => classify(other),
        })
    }
}

/// The answers to a sign-in: 401 is a refusal of the credentials, 403 the
/// service's refusal of this kind of sign-in and 404 a provider it does not
/// have (their messages say why).
fn refusal(e: SyncError) -> Failure {
    match e {
        SyncError::Server { status: 401, .. } => Failure::Refused(SessionError::BadCredentials),
        SyncError::Server { status: 403, message, .. } => Failure::Refused(SessionError::NotAllowed(message)),
        // A provider the service no longer has (removed from its configuration).
        SyncError::Server { status: 404, message, .. } => Failure::Refused(SessionError::NotAllowed(message)),
        other => classify(other),
    }
}

/// The answers common to every call. A hospital identity provider that is
/// down (`identity_provider_unavailable`, a 503 the client already takes
/// for "unreachable") is the service being unreachable for a sign-in: the
/// clinician may sign in offline meanwhile.
fn classify(e: SyncError) -> Failure {
    match e {
        SyncError::Offline { .. } => Failure::Unreachable,
        SyncError::Server { code, .. } if code == "identity_provider_unavailable" => Failure::Unreachable,
        SyncError::Server { status: 429, .. } => Failure::Refused(SessionError::TooManyAttempts),
        SyncError::Server { status, code, .. } => Failure::Refused(SessionError::Service { status, code }),
        other => Failure::Refused(SessionError::from_sync(other)),
    }
}
