//! The HTTP client of the sync service: rustls through reqwest, the system's
//! roots plus an optional hospital CA file, the device credential as a bearer
//! token. Plain HTTP is refused in production unless the host is loopback.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wardbook_protocol::api::{
    ApiError, AuditUploadRequest, AuditUploadResponse, DeviceInfo, EnrolRequest, EnrolResponse, LoginProviders,
    LoginRequest, LoginResponse, OidcCompleteRequest, OidcStartRequest, OidcStartResponse, PullResponse, PushRequest,
    PushResponse, ReenrolRequest,
};
use wardbook_protocol::workstation::{BreakGlassRequest, BreakGlassResponse};
use zeroize::Zeroizing;

use super::SyncError;
use crate::config::Environment;

/// The header that carries the device credential on requests whose
/// `Authorization` is a user's login token (break-the-glass needs both).
pub const DEVICE_HEADER: &str = "x-wardbook-device";

/// How a request authenticates, and what a 401 then means.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// Nobody (enrolment).
    None,
    /// The device credential: a 401 means the credential was refused.
    Device,
    /// The device credential on a login: a 401 is the service's answer
    /// (wrong password, disabled account, or a refused device) for the caller.
    Login,
    /// A user's login token, and the device credential in [`DEVICE_HEADER`]:
    /// a 401 (token expired) is for the caller.
    User(&'a str),
}

/// Requests that take longer than this are abandoned and retried later.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to one sync service (cheap to clone: the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    credential: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base.as_str()).field("credential", &"***").finish()
    }
}

impl Client {
    /// Checks the URL against the environment and builds the TLS client.
    pub fn new(
        server_url: &str,
        ca_file: Option<&Path>,
        environment: Environment,
        credential: Option<Zeroizing<String>>,
    ) -> Result<Client, SyncError> {
        let base = check_url(server_url, environment)?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(base.scheme() == "https")
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("wardbook/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            let ca_error = |cause: String| SyncError::CaFile { path: path.display().to_string(), cause };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.kind().to_string()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| ca_error("not a PEM file".into()))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http =
            builder.build().map_err(|e| SyncError::Offline { server: base.to_string(), cause: e.to_string() })?;
        Ok(Client { http, base, credential })
    }

    pub fn server(&self) -> &str {
        self.base.as_str()
    }

    pub async fn enrol(&self, request: &EnrolRequest) -> Result<EnrolResponse, SyncError> {
        self.send(Method::POST, "v1/enrol", &[], Some(request), Auth::None).await
    }

    /// Whether the service answers over a trusted connection
    /// (`GET /v1/health`, no credential), for `wardbook doctor`.
    pub async fn probe(&self) -> Probe {
        let Ok(url) = self.base.join("v1/health") else { return Probe::Unreachable("bad address".into()) };
        match self.http.get(url).send().await {
            Ok(response) => Probe::Reachable { status: response.status().as_u16() },
            Err(e) => match tls_failure(&e) {
                Some(cause) => Probe::TlsUntrusted(cause),
                None => Probe::Unreachable(describe(&e)),
            },
        }
    }

    /// The service's health (`GET /v1/health`), for `doctor`: among it, the
    /// reachability of its identity providers.
    pub async fn health(&self) -> Result<wardbook_protocol::api::Health, SyncError> {
        self.send::<(), _>(Method::GET, "v1/health", &[], None, Auth::None).await
    }

    /// The service's view of this device (`GET /v1/device`): a revoked or
    /// unknown credential is [`SyncError::Unauthorized`].
    pub async fn device(&self) -> Result<DeviceInfo, SyncError> {
        self.send::<(), _>(Method::GET, "v1/device", &[], None, Auth::Device).await
    }

    /// Moves this enrolled device to the location of a new code
    /// (`POST /v1/reenrol`, as this device): the answer carries the new credential.
    pub async fn reenrol(&self, request: &ReenrolRequest) -> Result<EnrolResponse, SyncError> {
        self.send(Method::POST, "v1/reenrol", &[], Some(request), Auth::Device).await
    }

    /// A clinician's online sign-in (`POST /v1/login`, as this device). A
    /// refusal comes back as [`SyncError::Server`] with status 401.
    pub async fn login(&self, request: &LoginRequest) -> Result<LoginResponse, SyncError> {
        self.send(Method::POST, "v1/login", &[], Some(request), Auth::Login).await
    }

    /// The ways to sign in to this service (`GET /v1/login/providers`, no credential).
    pub async fn login_providers(&self) -> Result<LoginProviders, SyncError> {
        self.send::<(), _>(Method::GET, "v1/login/providers", &[], None, Auth::None).await
    }

    /// Begins a clinician's OpenID Connect sign-in (`POST /v1/login/oidc/start`, as this device).
    pub async fn oidc_start(&self, request: &OidcStartRequest) -> Result<OidcStartResponse, SyncError> {
        self.send(Method::POST, "v1/login/oidc/start", &[], Some(request), Auth::Device).await
    }

    /// Completes it with the code the browser brought back
    /// (`POST /v1/login/oidc/complete`, as this device). A refusal comes back
    /// as [`SyncError::Server`] with status 401.
    pub async fn oidc_complete(&self, request: &OidcCompleteRequest) -> Result<LoginResponse, SyncError> {
        self.send(Method::POST, "v1/login/oidc/complete", &[], Some(request), Auth::Login).await
    }

    /// Break-the-glass (`POST /v1/break-glass`) with the clinician's login
    /// token and this device's credential. An expired token comes back as
    /// [`SyncError::Server`] with status 401.
    pub async fn break_glass(&self, token: &str, request: &BreakGlassRequest) -> Result<BreakGlassResponse, SyncError> {
        self.send(Method::POST, "v1/break-glass", &[], Some(request), Auth::User(token)).await
    }

    pub async fn pull(&self, cursor: Option<&str>, limit: u32) -> Result<PullResponse, SyncError> {
        let limit = limit.to_string();
        let mut query = vec![("limit", limit.as_str())];
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor));
        }
        self.send::<(), _>(Method::GET, "v1/sync/pull", &query, None, Auth::Device).await
    }

    pub async fn push(&self, request: &PushRequest) -> Result<PushResponse, SyncError> {
        self.send(Method::POST, "v1/sync/push", &[], Some(request), Auth::Device).await
    }

    pub async fn upload_audit(&self, request: &AuditUploadRequest) -> Result<AuditUploadResponse, SyncError> {
        self.send(Method::POST, "v1/audit/events", &[], Some(request), Auth::Device).await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
        auth: Auth<'_>,
    ) -> Result<T, SyncError> {
        let url = self.base.join(path).map_err(|_| SyncError::Protocol)?;
        let mut request = self.http.request(method, url).query(query);
        let credential = || self.credential.as_ref().ok_or(SyncError::NotEnrolled);
        request = match auth {
            Auth::None => request,
            Auth::Device | Auth::Login => request.bearer_auth(credential()?.as_str()),
            Auth::User(token) => request.bearer_auth(token).header(DEVICE_HEADER, credential()?.as_str()),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let offline = |e: reqwest::Error| SyncError::Offline { server: self.base.to_string(), cause: describe(&e) };
        let response = request.send().await.map_err(offline)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(offline)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| SyncError::Protocol);
        }
        Err(self.refusal(status, &bytes, matches!(auth, Auth::Device)))
    }

    /// A signed-in user's request beyond sign-in (the privacy workspace's):
    /// the login token and this device's credential, a JSON answer. An
    /// expired token comes back as [`SyncError::Server`] with status 401.
    pub async fn as_user<B: Serialize, T: DeserializeOwned>(
        &self,
        token: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, SyncError> {
        self.send(method, path, query, body, Auth::User(token)).await
    }

    /// As [`Client::as_user`], a POST whose answer is a file (an export):
    /// its bytes, and the number `count_header` carries.
    pub async fn download_as_user<B: Serialize>(
        &self,
        token: &str,
        path: &str,
        body: &B,
        count_header: &str,
    ) -> Result<(Vec<u8>, Option<u32>), SyncError> {
        let url = self.base.join(path).map_err(|_| SyncError::Protocol)?;
        let credential = self.credential.as_ref().ok_or(SyncError::NotEnrolled)?;
        let request = self.http.post(url).bearer_auth(token).header(DEVICE_HEADER, credential.as_str()).json(body);
        let offline = |e: reqwest::Error| SyncError::Offline { server: self.base.to_string(), cause: describe(&e) };
        let response = request.send().await.map_err(offline)?;
        let status = response.status();
        let count = response.headers().get(count_header).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let bytes = response.bytes().await.map_err(offline)?;
        if status.is_success() { Ok((bytes.to_vec(), count)) } else { Err(self.refusal(status, &bytes, false)) }
    }

    /// What a refusal means. Only on device requests (`device_request`) is
    /// a 401 about the credential; otherwise it says what the service said.
    fn refusal(&self, status: StatusCode, bytes: &[u8], device_request: bool) -> SyncError {
        let error: Option<ApiError> = serde_json::from_slice(bytes).ok();
        match (status, error) {
            (StatusCode::UNAUTHORIZED, _) if device_request => SyncError::Unauthorized,
            (StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT, _) => {
                SyncError::Offline { server: self.base.to_string(), cause: format!("the service answered {status}") }
            }
            (_, Some(e)) => SyncError::Server { status: status.as_u16(), code: e.code, message: e.message },
            (_, None) => SyncError::Server {
                status: status.as_u16(),
                code: "http".into(),
                message: format!("the service answered {status}"),
            },
        }
    }
}

/// What `probe` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The service answered (200: healthy; 503: up but its database is not).
    Reachable { status: u16 },
    /// The TLS handshake failed: the certificate is not trusted (or not valid).
    TlsUntrusted(String),
    /// No connection: refused, unreachable, timed out, or the name does not resolve.
    Unreachable(String),
}

/// The innermost cause when `e` is a failed TLS handshake (an untrusted or
/// invalid certificate), from its chain of sources.
fn tls_failure(e: &reqwest::Error) -> Option<String> {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let chain = causes.join(": ");
    let tls = ["certificate", "UnknownIssuer", "CaUsedAsEndEntity", "tls"].iter().any(|m| chain.contains(m));
    tls.then(|| causes.last().cloned().unwrap_or_default())
}

/// A transport error in words, without the URL's query (it may hold a cursor).
fn describe(e: &reqwest::Error) -> String {
    if let Some(cause) = tls_failure(e) {
        return format!("its TLS certificate is not trusted: {cause}; set ca_file to the hospital CA, or ask IT");
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else if e.is_body() || e.is_decode() {
        "the connection broke during the answer"
    } else {
        "the connection broke"
    };
    kind.to_owned()
}

/// HTTPS always; plain HTTP only outside production, or to this machine.
pub fn check_url(server_url: &str, environment: Environment) -> Result<Url, SyncError> {
    let mut url = Url::parse(server_url.trim()).map_err(|_| SyncError::BadUrl { url: server_url.to_owned() })?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if environment != Environment::Production || is_loopback(&url) => Ok(url),
        "http" => Err(SyncError::InsecureUrl { url: url.to_string() }),
        _ => Err(SyncError::BadUrl { url: server_url.to_owned() }),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_outside_production_or_to_loopback() {
        assert!(check_url("https://sync.hospital.invalid", Environment::Production).is_ok());
        assert!(check_url("http://127.0.0.1:8443", Environment::Production).is_ok());
        assert!(check_url("http://[::1]:8443", Environment::Production).is_ok());
        assert!(check_url("http://localhost:8443", Environment::Production).is_ok());
        assert!(matches!(
            check_url("http://sync.hospital.invalid", Environment::Production),
            Err(SyncError::InsecureUrl { .. })
        ));
        assert!(check_url("http://sync.hospital.invalid", Environment::Development).is_ok());
        assert!(matches!(check_url("ftp://x", Environment::Test), Err(SyncError::BadUrl { .. })));
        assert_eq!(
            check_url("https://h.invalid/base", Environment::Production)
                .expect("url")
                .join("v1/enrol")
                .expect("join")
                .as_str(),
            "https://h.invalid/base/v1/enrol"
        );
    }
}
