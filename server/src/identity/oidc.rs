//! OpenID Connect sign-in: the authorization code flow with PKCE for a
//! native app (RFC 8252), through the hospital's OpenID provider (Entra ID,
//! Okta, Keycloak, ...).
//!
//! The workstation keeps the PKCE verifier and listens on a loopback
//! redirect URI; the service keeps the state and the nonce. So the service
//! builds the authorization URL from a challenge it is given
//! ([`Oidc::authorization_url`]) and later redeems the code with the
//! verifier the workstation sends ([`Oidc::exchange`]), then verifies the ID
//! token: its signature against the keys the provider publishes, issuer,
//! audience (and `azp`), expiry and the nonce of this very attempt.
//!
//! The protocol is the `openidconnect` crate's (discovery, the token
//! request, the JOSE checks); what is ours is the policy around it: which
//! URLs are acceptable, when the provider's keys are fetched again
//! (`oidc/discovery.rs`), how its errors become [`ProviderError`]s that never
//! carry a token, a code, the secret or a claim's value (`oidc/http.rs`), and
//! how claims become a [`DirectoryUser`] (`oidc/claims.rs`).

mod claims;
mod discovery;
mod http;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim,
    CoreIdTokenVerifier, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessToken, AdditionalClaims, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope, SignatureVerificationError, SubjectIdentifier, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{DirectoryUser, ProviderError};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    pub id: String,
    pub name: String,
    /// The issuer URL (discovery at `<issuer>/.well-known/openid-configuration`),
    /// exactly as the provider writes it in its tokens. `https://`, or
    /// `http://` on a loopback host only (tests).
    pub issuer: String,
    pub client_id: String,
    /// A file holding the client secret, for providers that need one (never
    /// the secret itself in the TOML). Without it Wardbook is a public client.
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for; `openid` is always asked for.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim holding the Wardbook user name (trimmed, lower-cased).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim holding the name shown in Wardbook (the user name without it).
    #[serde(default = "default_display_name_claim")]
    pub display_name_claim: String,
    /// The claim holding the person's groups: a list of names, read from the
    /// ID token or, when it is not there, from the userinfo endpoint.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    /// CA certificates (PEM) to trust for this provider besides the system's.
    pub ca_file: Option<PathBuf>,
    /// How long one request to the provider may take.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".to_owned(), "profile".to_owned()]
}
fn default_username_claim() -> String {
    "preferred_username".to_owned()
}
fn default_display_name_claim() -> String {
    "name".to_owned()
}
fn default_groups_claim() -> String {
    "groups".to_owned()
}
fn default_timeout_seconds() -> u64 {
    10
}

/// Every claim of a token or a userinfo answer that the standard ones do
/// not cover (the groups claim, a custom user name claim). Never logged.
#[derive(Deserialize, Serialize)]
struct OtherClaims(HashMap<String, Value>);

impl AdditionalClaims for OtherClaims {}

impl std::fmt::Debug for OtherClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtherClaims(..)")
    }
}

type IdToken =
    openidconnect::IdToken<OtherClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// The client `from_provider_metadata` makes: authorization endpoint set,
/// token and userinfo endpoints as discovery found them.
type DiscoveredClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// Where an ID token comes from. One the token endpoint has just sent is
/// the provider's (over the TLS connection the service opened), so an
/// unknown `kid` in it is a rotation for sure: its keys are fetched again
/// even while refetches for other tokens are held back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    TokenEndpoint,
    Elsewhere,
}

type HttpError = openidconnect::HttpClientError<reqwest::Error>;

/// Signature algorithms accepted on ID tokens: the asymmetric ones. Not the
/// HMAC ones (the client secret as a key: anyone holding the secret could
/// mint tokens), never `none`.
const ACCEPTED_ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Clock difference tolerated between the provider and this service when
/// checking a token's expiry.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// A configured OpenID provider, with its discovery document and keys cached.
pub struct Oidc {
    pub config: OidcConfig,
    issuer: IssuerUrl,
    /// Wiped on drop. (The copy handed to `openidconnect` for one token
    /// request is not: that crate's secret type does not zeroize.)
    client_secret: Option<Zeroizing<String>>,
    http: reqwest::Client,
    discovered: discovery::Cache,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("id", &self.config.id)
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "*******"))
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// Checks the configuration and reads the secret and CA files; contacts
    /// nothing (discovery happens at first use, or in [`Oidc::check`]).
    pub fn new(config: OidcConfig) -> Result<Oidc, ProviderError> {
        let misconfigured = |reason: String| ProviderError::Misconfigured { provider: config.name.clone(), reason };
        let issuer = http::issuer_url(&config.issuer).map_err(misconfigured)?;
        if config.client_id.trim().is_empty() {
            return Err(misconfigured("client_id is empty".into()));
        }
        if let Some(bad) = config.scopes.iter().find(|s| s.is_empty() || s.contains(char::is_whitespace)) {
            return Err(misconfigured(format!("the scope {bad:?} is not a single word")));
        }
        for (key, claim) in [
            ("username_claim", &config.username_claim),
            ("display_name_claim", &config.display_name_claim),
            ("groups_claim", &config.groups_claim),
        ] {
            if claim.trim().is_empty() {
                return Err(misconfigured(format!("{key} is empty")));
            }
        }
        if !(1..=120).contains(&config.timeout_seconds) {
            return Err(misconfigured("timeout_seconds must be between 1 and 120".into()));
        }
        let client_secret = config.client_secret_file.as_deref().map(read_secret).transpose().map_err(misconfigured)?;
        let http = http::client(&issuer, config.ca_file.as_deref(), Duration::from_secs(config.timeout_seconds))
            .map_err(misconfigured)?;
        Ok(Oidc { config, issuer, client_secret, http, discovered: discovery::Cache::default() })
    }

    /// The URL to send the browser to: code flow, PKCE S256 with
    /// `code_challenge`, `state`, `nonce`, the loopback `redirect_uri`, the
    /// configured scopes. The caller has checked `redirect_uri` (a loopback
    /// URI of the workstation) and keeps `state` and `nonce`.
    pub async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        code_challenge: &str,
        redirect_uri: &str,
    ) -> Result<String, ProviderError> {
        // An S256 challenge is the unpadded base64url of a SHA-256 digest.
        let is_s256 = code_challenge.len() == 43
            && code_challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !is_s256 {
            return Err(self.refused("the code challenge is not an S256 challenge"));
        }
        if state.is_empty() || nonce.is_empty() {
            return Err(self.refused("a sign-in needs a state and a nonce"));
        }
        let redirect = self.redirect_url(redirect_uri)?;
        let metadata = self.discovered.metadata(self).await?;
        let client = self.client(&metadata, false).set_redirect_uri(redirect);
        let (state, nonce) = (state.to_owned(), nonce.to_owned());
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        );
        // openidconnect always asks for `openid`.
        for scope in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request
            .add_extra_param("code_challenge", code_challenge.to_owned())
            .add_extra_param("code_challenge_method", "S256")
            .url();
        Ok(url.into())
    }

    /// Redeems the code (with the PKCE verifier and, if configured, the
    /// client secret: `client_secret_basic`, or `client_secret_post` when the
    /// provider supports only that) and verifies the ID token, nonce
    /// included. Claims missing from the ID token are read from the
    /// userinfo endpoint.
    pub async fn exchange(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
        nonce: &str,
    ) -> Result<DirectoryUser, ProviderError> {
        let redirect = self.redirect_url(redirect_uri)?;
        let metadata = self.discovered.metadata(self).await?;
        let client = self.client(&metadata, true);
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| self.unreachable("its discovery document names no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(code_verifier.to_owned()))
            .set_redirect_uri(Cow::Owned(redirect));
        let response = request.request_async(&self.http).await.map_err(|e| self.token_error(e))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| self.unreachable("its token endpoint answered without an ID token".into()))?
            .to_string();
        let id_claims = self.verified_claims(&id_token, nonce, Source::TokenEndpoint).await?;
        let userinfo = if claims::needs_userinfo(&self.config, &id_claims) && metadata.userinfo_endpoint().is_some() {
            let subject = claims::subject(&id_claims).map_err(|why| self.refused(why))?;
            Some(self.userinfo(&client, response.access_token(), subject).await?)
        } else {
            None
        };
        claims::directory_user(&self.config, &id_claims, userinfo.as_ref()).map_err(|why| self.refused(why))
    }

    /// Verifies an ID token: signature against the provider's keys
    /// (refetched once on an unknown `kid`), issuer, audience and `azp`,
    /// expiry, nonce; then maps its claims.
    pub async fn verify_id_token(&self, id_token: &str, nonce: &str) -> Result<DirectoryUser, ProviderError> {
        let id_claims = self.verified_claims(id_token, nonce, Source::Elsewhere).await?;
        claims::directory_user(&self.config, &id_claims, None).map_err(|why| self.refused(why))
    }

    /// Reachability for health and doctor: fetches the discovery document
    /// and the keys afresh (and keeps them).
    pub async fn check(&self) -> Result<(), ProviderError> {
        self.discovered.refresh(self).await.map(|_| ())
    }

    /// The claims of a valid ID token for this sign-in, as JSON.
    async fn verified_claims(
        &self,
        id_token: &str,
        nonce: &str,
        source: Source,
    ) -> Result<Map<String, Value>, ProviderError> {
        if nonce.is_empty() {
            return Err(self.refused("there is no nonce to compare the ID token's with"));
        }
        let token = IdToken::from_str(id_token).map_err(|_| self.refused("the ID token is not a signed JWT"))?;
        let metadata = self.discovered.metadata(self).await?;
        let result = match self.check_token(&token, nonce, &metadata) {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                match self.discovered.refetch_keys(self, &metadata, source == Source::TokenEndpoint).await? {
                    Some(refreshed) => {
                        let result = self.check_token(&token, nonce, &refreshed);
                        if matches!(&result, Err(e) if is_unknown_key(e)) {
                            self.discovered.note_useless_refetch();
                        }
                        result
                    }
                    None => {
                        return Err(self.refused(refusal(&ClaimsVerificationError::SignatureVerification(
                            SignatureVerificationError::NoMatchingKey,
                        ))));
                    }
                }
            }
            other => other,
        };
        result.map_err(|e| self.refused(refusal(&e)))
    }

    fn check_token(
        &self,
        token: &IdToken,
        nonce: &str,
        metadata: &CoreProviderMetadata,
    ) -> Result<Map<String, Value>, ClaimsVerificationError> {
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.config.client_id.clone()),
            self.issuer.clone(),
            metadata.jwks().clone(),
        )
        .set_allowed_algs(ACCEPTED_ALGORITHMS)
        .set_time_fn(|| chrono::Utc::now() - CLOCK_SKEW);
        let claims = token.claims(&verifier, &Nonce::new(nonce.to_owned()))?;
        // openidconnect leaves `azp` unchecked (its check is commented out);
        // another audience besides ours is refused by it already.
        if claims.authorized_party().is_some_and(|azp| **azp != self.config.client_id) {
            return Err(ClaimsVerificationError::InvalidAudience("azp".into()));
        }
        match serde_json::to_value(claims) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(ClaimsVerificationError::Other("the claims do not serialize to an object".into())),
        }
    }

    async fn userinfo(
        &self,
        client: &DiscoveredClient,
        access_token: &AccessToken,
        subject: SubjectIdentifier,
    ) -> Result<Map<String, Value>, ProviderError> {
        let request = client
            .user_info(access_token.clone(), Some(subject))
            .map_err(|_| self.unreachable("its discovery document names no userinfo endpoint".into()))?;
        let answer = request
            .request_async::<OtherClaims, _, CoreGenderClaim>(&self.http)
            .await
            .map_err(|e| self.userinfo_error(e))?;
        match serde_json::to_value(answer) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(self.unreachable("its userinfo endpoint answered something that is not a set of claims".into())),
        }
    }

    fn client(&self, metadata: &CoreProviderMetadata, with_secret: bool) -> DiscoveredClient {
        let secret = if with_secret { self.client_secret.as_ref() } else { None };
        let auth_type = auth_type(metadata.token_endpoint_auth_methods_supported(), secret.is_some());
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            secret.map(|s| ClientSecret::new(s.to_string())),
        )
        .set_auth_type(auth_type)
    }

    fn redirect_url(&self, redirect_uri: &str) -> Result<RedirectUrl, ProviderError> {
        RedirectUrl::new(redirect_uri.to_owned()).map_err(|_| self.refused("the redirect URI is not a URL"))
    }

    fn token_error(
        &self,
        error: RequestTokenError<HttpError, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
    ) -> ProviderError {
        match error {
            RequestTokenError::ServerResponse(answer) => match answer.error() {
                CoreErrorResponseType::InvalidClient | CoreErrorResponseType::UnauthorizedClient => {
                    ProviderError::Misconfigured {
                        provider: self.config.name.clone(),
                        reason: "it refused Wardbook's client id or secret (check client_id and client_secret_file)"
                            .into(),
                    }
                }
                CoreErrorResponseType::InvalidGrant => {
                    self.refused("the provider refused the code or the code verifier")
                }
                _ => self.refused("the provider refused the token request"),
            },
            RequestTokenError::Request(e) => self.unreachable(format!("its token endpoint: {}", http::describe(&e))),
            RequestTokenError::Parse(..) | RequestTokenError::Other(_) => {
                self.unreachable("its token endpoint answered something that is not a token response".into())
            }
        }
    }

    fn userinfo_error(&self, error: openidconnect::UserInfoError<HttpError>) -> ProviderError {
        use openidconnect::UserInfoError;
        match error {
            UserInfoError::ClaimsVerification(e) => self.refused(refusal(&e)),
            UserInfoError::Request(e) => self.unreachable(format!("its userinfo endpoint: {}", http::describe(&e))),
            UserInfoError::Response(status, ..) => self.unreachable(format!("its userinfo endpoint answered {status}")),
            _ => self.unreachable("its userinfo endpoint answered something that is not a set of claims".into()),
        }
    }

    fn refused(&self, why: &'static str) -> ProviderError {
        tracing::info!(provider = %self.config.id, why, "OpenID Connect sign-in refused");
        ProviderError::Refused { provider: self.config.name.clone(), why }
    }

    fn unreachable(&self, reason: String) -> ProviderError {
        ProviderError::Unreachable { provider: self.config.name.clone(), reason }
    }
}

/// `client_secret_basic` unless the provider supports only
/// `client_secret_post` (a public client sends its id in the body either way).
fn auth_type(supported: Option<&Vec<CoreClientAuthMethod>>, has_secret: bool) -> AuthType {
    match supported {
        Some(methods)
            if has_secret
                && !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
        {
            AuthType::RequestBody
        }
        _ => AuthType::BasicAuth,
    }
}

fn is_unknown_key(e: &ClaimsVerificationError) -> bool {
    matches!(e, ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey))
}

/// Why a token was refused, for the log: the check that failed, never the
/// values (openidconnect's own messages quote them).
fn refusal(e: &ClaimsVerificationError) -> &'static str {
    match e {
        ClaimsVerificationError::Expired(_) => "the ID token has expired",
        ClaimsVerificationError::InvalidAudience(_) => "the ID token is for another client",
        ClaimsVerificationError::InvalidIssuer(_) => "the ID token is from another issuer",
        ClaimsVerificationError::InvalidNonce(_) => "the ID token's nonce is not this sign-in's",
        ClaimsVerificationError::InvalidSubject(_) => "the userinfo answer is about another subject",
        e if is_unknown_key(e) => "the ID token is signed with a key the provider does not publish",
        ClaimsVerificationError::SignatureVerification(_) => "the ID token's signature is not valid",
        _ => "the ID token failed its checks",
    }
}

/// The client secret: the file's first line, which must not be empty.
fn read_secret(path: &Path) -> Result<Zeroizing<String>, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("the client secret file {} cannot be read: {e}", path.display()))?,
    );
    let secret = Zeroizing::new(text.lines().next().unwrap_or_default().trim().to_owned());
    if secret.is_empty() {
        return Err(format!("the client secret file {} is empty", path.display()));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests;
