//! Hospital sign-in: the identity providers a service offers on the sign-in
//! screen, and the OpenID Connect flow of a native app (RFC 8252: the system
//! browser, authorization code with PKCE, a loopback redirect).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// How a provider signs people in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ProviderKind {
    /// OpenID Connect: the system browser signs the person in; the app never sees the password.
    Oidc,
    /// LDAP (Active Directory, OpenLDAP): the password form, checked by the service against the directory.
    Ldap,
}

/// One way to sign in, as the sign-in screen lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct LoginProvider {
    /// What requests name it by (`provider`).
    pub id: String,
    /// What the sign-in screen shows.
    pub name: String,
    pub kind: ProviderKind,
}

/// `GET /v1/login/providers`: the ways to sign in to this service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct LoginProviders {
    pub providers: Vec<LoginProvider>,
    /// Whether clinicians may sign in with a local Wardbook account (admins
    /// always may: the emergency account).
    pub local_accounts_for_clinicians: bool,
}

/// `POST /v1/login/oidc/start` (with the device credential): begin an
/// OpenID Connect sign-in. The workstation made the PKCE verifier and
/// listens on `redirect_uri`.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct OidcStartRequest {
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[a-z0-9][a-z0-9-]{0,31}$"))]
    pub provider: String,
    /// A loopback redirect: `http://127.0.0.1:<port>/<path>` or `http://[::1]:<port>/<path>` (RFC 8252 section 7.3).
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 200,
            pattern = r"^http://(127\.0\.0\.1|\[::1\]):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])/[A-Za-z0-9._~/-]{0,100}$"
        )
    )]
    pub redirect_uri: String,
    /// BASE64URL(SHA-256(code_verifier)), 43 characters (RFC 7636, method S256).
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9_-]{43}$"))]
    pub code_challenge: String,
}

/// Where to send the system browser, and the state it must bring back.
#[derive(Clone, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct OidcStartResponse {
    pub authorization_url: String,
    /// The `state` the redirect must carry; the workstation refuses any other.
    pub state: String,
    /// Sign in before this time, or start again.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for OidcStartResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcStartResponse").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// `POST /v1/login/oidc/complete` (with the device credential): the code the
/// browser brought back to the loopback redirect, and the PKCE verifier.
#[derive(Clone, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct OidcCompleteRequest {
    pub state: String,
    pub code: String,
    pub code_verifier: String,
}

impl std::fmt::Debug for OidcCompleteRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OidcCompleteRequest(***)")
    }
}
