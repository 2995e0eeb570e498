//! Sign-in through OpenID Connect, end to end in the service: a real
//! provider (panva's certified oidc-provider, `tests/oidc/`, on loopback)
//! behind `POST /v1/login/oidc/start` and `/complete`, driven as a
//! workstation and its system browser would (RFC 8252: PKCE, a loopback
//! redirect). The first sign-in creates the Wardbook user with the roles its
//! groups map to; the attempt is single use (a replayed state is refused);
//! a wrong PKCE verifier, another workstation's state and a person in no
//! mapped group are refused. The provider module is tested in
//! `oidc_provider.rs` (forged tokens, key rotation, discovery).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod oidc_support;

use axum::http::{Method, StatusCode};
use common::{Device, TestServer, assert_api_error};
use oidc_support::{Client, Pkce};
use serde_json::{Value, json};
use wardbook_protocol::Environment;
use wardbook_server::identity::ProviderConfig;
use wardbook_test_support::OidcProvider;
use wardbook_test_support::oidc::{CLIENT_SECRET, NOBODY, NURSE, SyntheticAccount};

const REDIRECT: &str = "http://127.0.0.1:48123/callback";

struct Setup {
    _provider: OidcProvider,
    _dir: tempfile::TempDir,
    server: TestServer,
    device: Device,
}

async fn start() -> Setup {
    let provider = tokio::task::spawn_blocking(OidcProvider::start).await.unwrap().expect("the OpenID provider starts");
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, CLIENT_SECRET).unwrap();
    let toml_text = oidc_support::provider_toml(
        &provider,
        "hospital-sso",
        Client::Confidential,
        Some(&secret),
        "[identity_providers.groups]\n\"wardbook-clinicians\" = [\"clinician\"]\n\"wardbook-privacy\" = [\"privacy_officer\"]\n",
    );
    #[derive(serde::Deserialize)]
    struct File {
        identity_providers: Vec<ProviderConfig>,
    }
    let configs = toml::from_str::<File>(&toml_text).unwrap().identity_providers;
    let server = TestServer::start_with(Environment::Test, move |s| s.identity_providers = configs).await;
    assert_eq!(server.state.providers.misconfigured(), None);
    let owner = server.owner().await;
    wardbook_server::admin::location_add(&owner, "7A", "7A").await.unwrap();
    let device = server.enrol("7A").await;
    Setup { _provider: provider, _dir: dir, server, device }
}

async fn begin(setup: &Setup, device: &Device, pkce: &Pkce) -> (String, String) {
    let (status, body) = setup
        .server
        .call(
            Method::POST,
            "/v1/login/oidc/start",
            Some(&device.credential),
            Some(json!({ "provider": "hospital-sso", "redirect_uri": REDIRECT, "code_challenge": pkce.challenge })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body["authorization_url"].as_str().unwrap().to_owned(), body["state"].as_str().unwrap().to_owned())
}

async fn complete(setup: &Setup, device: &Device, state: &str, code: &str, verifier: &str) -> (StatusCode, Value) {
    setup
        .server
        .call(
            Method::POST,
            "/v1/login/oidc/complete",
            Some(&device.credential),
            Some(json!({ "state": state, "code": code, "code_verifier": verifier })),
        )
        .await
}

/// The browser's part: signs `account` in and returns the code and state it brought back.
async fn browse(url: &str, account: &SyntheticAccount) -> (String, String) {
    let callback = oidc_support::sign_in(url, REDIRECT, account).await.expect("the browser comes back");
    (callback.code, callback.state)
}

#[tokio::test]
async fn a_workstation_signs_a_clinician_in_through_the_provider_and_the_attempt_is_single_use() {
    let setup = start().await;
    let (status, body) = setup.server.call(Method::GET, "/v1/login/providers", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["providers"][0]["kind"], "oidc");

    let pkce = Pkce::new();
    let (url, state) = begin(&setup, &setup.device, &pkce).await;
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let (code, returned_state) = browse(&url, &NURSE).await;
    assert_eq!(returned_state, state, "the provider brings the state back");
    let (status, body) = complete(&setup, &setup.device, &state, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["user"]["username"].as_str(), body["user"]["roles"].clone()),
        (Some(NURSE.username), json!(["clinician"]))
    );
    assert!(body["offline_unlock"]["pin_min_length"].as_u64().unwrap() >= 4);
    let row = setup
        .server
        .owner()
        .await
        .query_one("SELECT provider, subject, password_hash IS NULL FROM users WHERE username = $1", &[&NURSE.username])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, bool>(2)),
        ("hospital-sso".to_owned(), NURSE.subject.to_owned(), true)
    );
    // The session token works like any other.
    let token = body["token"].as_str().unwrap();
    let (status, _) = setup.server.call(Method::GET, "/v1/audit/reports", Some(token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a clinician's session, refused only for lack of the role");

    // Replayed: the attempt was consumed.
    let (status, answer) = complete(&setup, &setup.device, &state, &code, &pkce.verifier).await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn a_wrong_verifier_another_workstations_state_or_no_mapped_group_is_refused() {
    let setup = start().await;
    // Another workstation cannot complete this one's sign-in, and trying consumes nothing of it
    // except the attempt itself (a state is good for one try).
    let other = setup.server.enrol("7A").await;
    let pkce = Pkce::new();
    let (url, state) = begin(&setup, &setup.device, &pkce).await;
    let (code, _) = browse(&url, &NURSE).await;
    let (status, answer) = complete(&setup, &other, &state, &code, &pkce.verifier).await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");

    // A verifier that does not match the challenge.
    let pkce = Pkce::new();
    let (url, state) = begin(&setup, &setup.device, &pkce).await;
    let (code, _) = browse(&url, &NURSE).await;
    let (status, answer) = complete(&setup, &setup.device, &state, &code, &Pkce::new().verifier).await;
    let message = assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(message.contains("PKCE"), "{message}");

    // Signed in at the provider, but in no group Wardbook maps.
    let pkce = Pkce::new();
    let (url, state) = begin(&setup, &setup.device, &pkce).await;
    let (code, _) = browse(&url, &NOBODY).await;
    let (status, answer) = complete(&setup, &setup.device, &state, &code, &pkce.verifier).await;
    let message = assert_api_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    assert!(message.contains("no group"), "{message}");
    let users: i64 = setup.server.owner().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(users, 0);

    // The start refuses what RFC 8252 does not allow.
    for (redirect, challenge, code) in [
        ("http://localhost:48123/callback", Pkce::new().challenge, "invalid_redirect_uri"),
        ("https://hospital.example/callback", Pkce::new().challenge, "invalid_redirect_uri"),
        (REDIRECT, "plain-verifier".to_owned(), "invalid_code_challenge"),
    ] {
        let (status, answer) = setup
            .server
            .call(
                Method::POST,
                "/v1/login/oidc/start",
                Some(&setup.device.credential),
                Some(json!({ "provider": "hospital-sso", "redirect_uri": redirect, "code_challenge": challenge })),
            )
            .await;
        assert_api_error(status, &answer, StatusCode::BAD_REQUEST, code);
    }
}
