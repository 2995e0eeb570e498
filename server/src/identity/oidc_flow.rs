//! The service's half of an OpenID Connect sign-in from a workstation (a
//! native app, RFC 8252): `start` records a single-use attempt (the state
//! the browser brings back, the nonce the ID token must carry, the PKCE
//! challenge) and returns the provider's authorization URL; `complete`
//! consumes the attempt, checks the PKCE verifier, redeems the code at the
//! provider, verifies the ID token and opens a session for the directory
//! user. A replayed state, a second use, another device's state or an
//! expired attempt are refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use wardbook_protocol::api::{
    LoginProvider, LoginProviders, LoginResponse, OidcCompleteRequest, OidcStartRequest, OidcStartResponse,
    ProviderKind,
};

use super::{Provider, users};
use crate::AppState;
use crate::auth::{DeviceAuth, digest};
use crate::error::{Error, Result};
use crate::sessions;

/// How long the person has to sign in at the provider.
const ATTEMPT_MINUTES: i64 = 10;

const NOT_OIDC: &str =
    "This service has no OpenID Connect provider of that id. Choose one from the sign-in screen's list.";
const BAD_REDIRECT: &str = "The redirect URI must be a loopback address with a port: http://127.0.0.1:<port>/<path> or http://[::1]:<port>/<path> (RFC 8252).";
const BAD_CHALLENGE: &str = "The PKCE code challenge must be BASE64URL(SHA-256(code_verifier)): 43 characters.";
const NO_ATTEMPT: &str =
    "This sign-in is unknown, already used, expired or from another workstation. Start the sign-in again.";
const BAD_VERIFIER: &str = "The PKCE code verifier does not match this sign-in's challenge. Start the sign-in again.";

/// `GET /v1/login/providers`.
pub fn providers(state: &AppState) -> LoginProviders {
    LoginProviders {
        providers: state
            .providers
            .iter()
            .map(|(config, provider)| LoginProvider {
                id: config.id().to_owned(),
                name: config.name().to_owned(),
                kind: match provider {
                    Provider::Oidc(_) => ProviderKind::Oidc,
                    Provider::Ldap(_) => ProviderKind::Ldap,
                },
            })
            .collect(),
        local_accounts_for_clinicians: state.settings.local_accounts_for_clinicians,
    }
}

fn random_token() -> String {
    let mut buf = [0u8; 32];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// RFC 8252 section 7.3: `http`, a loopback IP literal (not `localhost`,
/// section 8.3), a port, no query or fragment.
fn loopback_redirect(uri: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(uri) else { return false };
    let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
    let loopback = host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    url.scheme() == "http"
        && loopback
        && url.port().is_some()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && uri.len() <= 200
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Records a single-use attempt and returns where to send the browser.
pub async fn start(state: &AppState, device: &DeviceAuth, req: &OidcStartRequest) -> Result<OidcStartResponse> {
    let Some((_, Provider::Oidc(oidc))) = state.providers.get(&req.provider) else {
        return Err(Error::NotFound(NOT_OIDC));
    };
    if !loopback_redirect(&req.redirect_uri) {
        return Err(Error::bad_request("invalid_redirect_uri", BAD_REDIRECT));
    }
    let challenge_ok = req.code_challenge.len() == 43
        && req.code_challenge.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !challenge_ok {
        return Err(Error::bad_request("invalid_code_challenge", BAD_CHALLENGE));
    }
    let (state_token, nonce) = (random_token(), random_token());
    let authorization_url = oidc
        .authorization_url(&state_token, &nonce, &req.code_challenge, &req.redirect_uri)
        .await
        .map_err(|e| sessions::provider_error(e, Some(device)))?;
    let expires_at = Utc::now() + Duration::minutes(ATTEMPT_MINUTES);
    let db = state.db().await?;
    db.execute("DELETE FROM oidc_attempts WHERE expires_at < now()", &[]).await?;
    db.execute(
        "INSERT INTO oidc_attempts (state_hash, device_id, provider, nonce, code_challenge, redirect_uri, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &digest(&state_token),
            &device.device_id,
            &req.provider,
            &nonce,
            &req.code_challenge,
            &req.redirect_uri,
            &expires_at,
        ],
    )
    .await?;
    tracing::info!(device = %device.device_id, provider = %req.provider, "OpenID Connect sign-in started");
    Ok(OidcStartResponse { authorization_url, state: state_token, expires_at })
}

/// Consumes the attempt, redeems the code and opens the session.
pub async fn complete(state: &AppState, device: &DeviceAuth, req: &OidcCompleteRequest) -> Result<LoginResponse> {
    let db = state.db().await?;
    // Consumed whatever happens next: a state is good for one try.
    let row = db
        .query_opt(
            "DELETE FROM oidc_attempts WHERE state_hash = $1 AND device_id = $2
             RETURNING provider, nonce, code_challenge, redirect_uri, expires_at > now()",
            &[&digest(&req.state), &device.device_id],
        )
        .await?;
    let Some(row) = row.filter(|r| r.get::<_, bool>(4)) else {
        tracing::info!(device = %device.device_id, "OpenID Connect sign-in refused: no such attempt");
        return Err(Error::Unauthorized(NO_ATTEMPT));
    };
    let (provider, nonce, challenge, redirect_uri): (String, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if s256(&req.code_verifier) != challenge {
        tracing::info!(device = %device.device_id, "OpenID Connect sign-in refused: PKCE verifier mismatch");
        return Err(Error::Unauthorized(BAD_VERIFIER));
    }
    let Some((config, Provider::Oidc(oidc))) = state.providers.get(&provider) else {
        return Err(Error::NotFound(NOT_OIDC));
    };
    let who = oidc
        .exchange(&req.code, &req.code_verifier, &redirect_uri, &nonce)
        .await
        .map_err(|e| sessions::provider_error(e, Some(device)))?;
    let account = users::provision(&db, config, &who).await?;
    drop(db);
    sessions::open_session(state, Some(device), account).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_ip_redirects_with_a_port_are_accepted() {
        for good in ["http://127.0.0.1:53211/callback", "http://[::1]:4000/cb", "http://127.0.0.1:1/"] {
            assert!(loopback_redirect(good), "{good}");
        }
        for bad in [
            "http://localhost:5000/callback",
            "https://127.0.0.1:5000/callback",
            "http://127.0.0.1/callback",
            "http://10.0.0.1:5000/callback",
            "http://127.0.0.1:5000/callback?x=1",
            "http://127.0.0.1:5000/callback#f",
            "http://user@127.0.0.1:5000/",
            "com.example.app:/callback",
            "not a url",
        ] {
            assert!(!loopback_redirect(bad), "{bad}");
        }
    }

    #[test]
    fn the_s256_challenge_is_rfc_7636s() {
        // RFC 7636 appendix B.
        assert_eq!(s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }
}
