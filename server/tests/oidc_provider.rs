//! OpenID Connect sign-in (`identity::oidc`) against a real, certified
//! OpenID provider on loopback (panva's oidc-provider, started by
//! `wardbook_test_support::OidcProvider`): discovery, the authorization
//! URL, the whole code flow with PKCE over HTTP for a confidential and a
//! public client, and the ID tokens that must be refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod oidc_support;

use std::collections::BTreeMap;

use serde_json::json;
use tempfile::TempDir;
use wardbook_server::identity::oidc::{Oidc, OidcConfig};
use wardbook_server::identity::{DirectoryUser, ProviderError};
use wardbook_test_support::OidcProvider;
use wardbook_test_support::oidc::{
    CLIENT_SECRET, ForgeKey, NOBODY, NURSE, OidcProviderOptions, PRIVACY_OFFICER, PUBLIC_CLIENT_ID, SyntheticAccount,
};

use oidc_support::{Client, Pkce, provider_toml, sign_in, sign_in_with};

/// The workstation's loopback listener: any port (RFC 8252 section 7.3);
/// nothing listens there, the browser stops before it.
const REDIRECT_URI: &str = "http://127.0.0.1:49152/callback";

/// A provider's configuration as the service's TOML has it; the directory
/// holds the client secret file.
fn configured(provider: &OidcProvider, client: Client, extra: &str) -> (OidcConfig, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("client-secret");
    std::fs::write(&secret_file, format!("{CLIENT_SECRET}\n")).unwrap();
    let text = provider_toml(provider, "synthetic", client, Some(&secret_file), extra);
    #[derive(serde::Deserialize)]
    struct File {
        identity_providers: Vec<wardbook_server::identity::ProviderConfig>,
    }
    let file: File = toml::from_str(&text).unwrap();
    match file.identity_providers.into_iter().next().unwrap() {
        wardbook_server::identity::ProviderConfig::Oidc(config) => (config, dir),
        other => panic!("not an OpenID provider: {other:?}"),
    }
}

fn start(options: OidcProviderOptions) -> OidcProvider {
    OidcProvider::start_with(options).unwrap_or_else(|e| panic!("{e:#}"))
}

/// One sign-in as the service runs it: the authorization URL, the browser,
/// the state checked, the code redeemed with the workstation's verifier.
async fn sign_in_through(oidc: &Oidc, account: &SyntheticAccount) -> Result<DirectoryUser, ProviderError> {
    let pkce = Pkce::new();
    let (state, nonce) = (random(), random());
    let url = oidc.authorization_url(&state, &nonce, &pkce.challenge, REDIRECT_URI).await?;
    let callback = sign_in(&url, REDIRECT_URI, account).await.unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(callback.state, state, "the provider sends the state back");
    oidc.exchange(&callback.code, &pkce.verifier, REDIRECT_URI, &nonce).await
}

fn random() -> String {
    Pkce::new().verifier
}

fn assert_is(user: &DirectoryUser, account: &SyntheticAccount) {
    assert_eq!(user.subject, account.subject);
    assert_eq!(user.username, account.username);
    assert_eq!(user.display_name, account.display_name);
    assert_eq!(user.groups, account.groups);
}

fn refused<T: std::fmt::Debug>(result: Result<T, ProviderError>) -> &'static str {
    match result {
        Err(ProviderError::Refused { why, .. }) => why,
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn discovery_gives_an_authorization_url_with_pkce_state_nonce_and_the_loopback_redirect() {
    let provider = start(OidcProviderOptions::default());
    let (config, _dir) = configured(&provider, Client::Public, "");
    let oidc = Oidc::new(config).unwrap();
    let pkce = Pkce::new();
    let url = oidc.authorization_url("the-state", "the-nonce", &pkce.challenge, REDIRECT_URI).await.unwrap();

    let url = reqwest::Url::parse(&url).unwrap();
    assert_eq!(format!("{}{}", url.origin().ascii_serialization(), url.path()), format!("{}/auth", provider.issuer()));
    let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let expected = [
        ("response_type", "code"),
        ("client_id", PUBLIC_CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("state", "the-state"),
        ("nonce", "the-nonce"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("scope", "openid profile groups"),
    ];
    for (key, value) in expected {
        assert_eq!(query.get(key).map(String::as_str), Some(value), "{key}");
    }
}

#[tokio::test]
async fn the_code_flow_with_the_confidential_client_reads_groups_from_userinfo() {
    // By default the provider keeps profile and groups claims for userinfo.
    let provider = start(OidcProviderOptions::default());
    let (config, _dir) = configured(&provider, Client::Confidential, "");
    let oidc = Oidc::new(config).unwrap();
    assert_is(&sign_in_through(&oidc, &NURSE).await.unwrap(), &NURSE);
    assert_is(&sign_in_through(&oidc, &NOBODY).await.unwrap(), &NOBODY);
}

#[tokio::test]
async fn the_code_flow_with_the_public_client_reads_claims_from_the_id_token() {
    let provider = start(OidcProviderOptions { claims_in_id_token: true, ..Default::default() });
    let (config, _dir) = configured(&provider, Client::Public, "");
    let oidc = Oidc::new(config).unwrap();
    assert_is(&sign_in_through(&oidc, &PRIVACY_OFFICER).await.unwrap(), &PRIVACY_OFFICER);
    assert_is(&sign_in_through(&oidc, &NURSE).await.unwrap(), &NURSE);
}

#[tokio::test]
async fn a_wrong_verifier_a_wrong_nonce_or_a_reused_code_is_refused() {
    let provider = start(OidcProviderOptions::default());
    let (config, _dir) = configured(&provider, Client::Public, "");
    let oidc = Oidc::new(config).unwrap();

    let attempt = |nonce: String| {
        let oidc = &oidc;
        async move {
            let pkce = Pkce::new();
            let url = oidc.authorization_url("s", &nonce, &pkce.challenge, REDIRECT_URI).await.unwrap();
            (sign_in(&url, REDIRECT_URI, &NURSE).await.unwrap(), pkce)
        }
    };
    let nonce = random();
    let (callback, _) = attempt(nonce.clone()).await;
    let why = refused(oidc.exchange(&callback.code, &Pkce::new().verifier, REDIRECT_URI, &nonce).await);
    assert!(why.contains("code verifier"), "{why}");

    let (callback, pkce) = attempt(nonce.clone()).await;
    let why = refused(oidc.exchange(&callback.code, &pkce.verifier, REDIRECT_URI, &random()).await);
    assert!(why.contains("nonce"), "{why}");
    // That attempt redeemed the code: it cannot be redeemed again.
    let why = refused(oidc.exchange(&callback.code, &pkce.verifier, REDIRECT_URI, &nonce).await);
    assert!(why.contains("code"), "{why}");
}

#[tokio::test]
async fn a_wrong_password_is_refused_by_the_provider() {
    let provider = start(OidcProviderOptions::default());
    let (config, _dir) = configured(&provider, Client::Public, "");
    let oidc = Oidc::new(config).unwrap();
    let url = oidc.authorization_url("s", "n", &Pkce::new().challenge, REDIRECT_URI).await.unwrap();
    let e = sign_in_with(&url, REDIRECT_URI, NURSE.login, "not-the-password").await.unwrap_err();
    assert!(e.to_string().contains("refused"), "{e:#}");
}

#[tokio::test]
async fn a_wrong_client_secret_is_a_configuration_error() {
    let provider = start(OidcProviderOptions::default());
    let (config, dir) = configured(&provider, Client::Confidential, "");
    std::fs::write(dir.path().join("client-secret"), "not-the-secret\n").unwrap();
    let oidc = Oidc::new(config).unwrap();
    match sign_in_through(&oidc, &NURSE).await {
        Err(ProviderError::Misconfigured { reason, .. }) => {
            assert!(reason.contains("client_secret_file") && !reason.contains("not-the-secret"), "{reason}");
        }
        other => panic!("expected Misconfigured, got {other:?}"),
    }
}

#[tokio::test]
async fn forged_id_tokens_are_refused() {
    let mut provider = start(OidcProviderOptions::default());
    let (config, _dir) = configured(&provider, Client::Public, "");
    let oidc = Oidc::new(config).unwrap();
    let now = chrono::Utc::now().timestamp();
    let good = json!({
        "sub": NURSE.subject, "aud": PUBLIC_CLIENT_ID, "nonce": "n-1",
        "preferred_username": "Nurse.OIDC", "groups": ["wardbook-clinicians"],
    });
    let with = |changes: serde_json::Value| {
        let mut claims = good.clone();
        claims.as_object_mut().unwrap().extend(changes.as_object().unwrap().clone());
        claims
    };

    // The control: the provider's key and the right claims pass.
    let token = provider.forge(ForgeKey::Current, None, good.clone()).unwrap();
    let user = oidc.verify_id_token(&token, "n-1").await.unwrap();
    assert_eq!(user.username, "nurse.oidc");
    assert_eq!(user.groups, NURSE.groups);

    let kid = provider.signing_kid().to_owned();
    let cases = [
        (
            "a key never published, under the published kid",
            ForgeKey::Rogue,
            Some(kid.as_str()),
            good.clone(),
            "n-1",
            "signature",
        ),
        ("a key never published, under its own kid", ForgeKey::Rogue, None, good.clone(), "n-1", "does not publish"),
        ("another audience", ForgeKey::Current, None, with(json!({"aud": "another-client"})), "n-1", "another client"),
        (
            "another authorized party",
            ForgeKey::Current,
            None,
            with(json!({"azp": "another-client"})),
            "n-1",
            "another client",
        ),
        (
            "an audience besides us",
            ForgeKey::Current,
            None,
            with(json!({"aud": [PUBLIC_CLIENT_ID, "x"], "azp": PUBLIC_CLIENT_ID})),
            "n-1",
            "another client",
        ),
        (
            "another issuer",
            ForgeKey::Current,
            None,
            with(json!({"iss": "https://idp.elsewhere.example"})),
            "n-1",
            "another issuer",
        ),
        ("expired", ForgeKey::Current, None, with(json!({"iat": now - 7200, "exp": now - 3600})), "n-1", "expired"),
        ("another sign-in's nonce", ForgeKey::Current, None, good.clone(), "n-2", "nonce"),
        ("no nonce", ForgeKey::Current, None, with(json!({"nonce": null})), "n-1", "nonce"),
    ];
    for (what, key, kid, claims, nonce, says) in cases {
        let token = provider.forge(key, kid, claims).unwrap();
        let why = refused(oidc.verify_id_token(&token, nonce).await);
        assert!(why.contains(says), "{what}: {why}");
    }
    let why = refused(oidc.verify_id_token("not.a.token", "n-1").await);
    assert!(why.contains("not a signed JWT"), "{why}");
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_and_accepted() {
    let mut provider = start(OidcProviderOptions::default());
    let (config, _dir) = configured(&provider, Client::Confidential, "");
    let oidc = Oidc::new(config).unwrap();
    let old_kid = provider.signing_kid().to_owned();
    // Discovery and the keys as they are now, cached by the first sign-in.
    assert_is(&sign_in_through(&oidc, &NURSE).await.unwrap(), &NURSE);

    let new_kid = provider.rotate_keys().unwrap();
    assert_ne!(new_kid, old_kid);
    // The ID token is signed with a key the cache does not have: fetched, accepted.
    assert_is(&sign_in_through(&oidc, &PRIVACY_OFFICER).await.unwrap(), &PRIVACY_OFFICER);
    // Tokens under the old key (still published) pass too.
    let token = provider
        .forge(ForgeKey::Current, None, json!({"sub": NOBODY.subject, "aud": oidc.config.client_id, "nonce": "n", "preferred_username": "nobody.oidc"}))
        .unwrap();
    assert_eq!(oidc.verify_id_token(&token, "n").await.unwrap().username, "nobody.oidc");
}

#[tokio::test]
async fn after_a_refetch_that_did_not_find_the_key_only_the_token_endpoint_refetches_for_a_minute() {
    let mut provider = start(OidcProviderOptions::default());
    let (config, _dir) = configured(&provider, Client::Public, "");
    let oidc = Oidc::new(config).unwrap();
    oidc.check().await.unwrap();
    let claims = json!({"sub": NURSE.subject, "aud": PUBLIC_CLIENT_ID, "nonce": "n", "preferred_username": "n"});

    // A made-up kid: the keys are fetched again, and it is not among them.
    let forged = provider.forge(ForgeKey::Rogue, Some("made-up"), claims.clone()).unwrap();
    assert!(refused(oidc.verify_id_token(&forged, "n").await).contains("does not publish"));
    // So the next unknown kid in a token from elsewhere, even a genuinely new
    // key's, is not fetched for a while: forged tokens cannot make the
    // service hammer the provider.
    provider.rotate_keys().unwrap();
    let genuine = provider.forge(ForgeKey::Current, None, claims).unwrap();
    assert!(refused(oidc.verify_id_token(&genuine, "n").await).contains("does not publish"));
    // But an ID token straight from the token endpoint is the provider's own:
    // its new kid is fetched whatever the pause, and sign-in goes on.
    assert_is(&sign_in_through(&oidc, &NURSE).await.unwrap(), &NURSE);
    assert_eq!(oidc.verify_id_token(&genuine, "n").await.unwrap().username, "n");
}

#[tokio::test]
async fn check_reaches_the_provider_and_names_the_host_it_cannot_reach() {
    let provider = start(OidcProviderOptions::default());
    let (config, _dir) = configured(&provider, Client::Confidential, "");
    Oidc::new(config.clone()).unwrap().check().await.unwrap();

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}");
    let oidc = Oidc::new(OidcConfig { issuer: issuer.clone(), ..config }).unwrap();
    for result in
        [oidc.check().await, oidc.authorization_url("s", "n", &Pkce::new().challenge, REDIRECT_URI).await.map(|_| ())]
    {
        match result {
            Err(e @ ProviderError::Unreachable { .. }) => {
                let message = e.to_string();
                assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
                assert!(message.contains("could not connect"), "{message}");
                assert!(!message.contains(CLIENT_SECRET), "{message}");
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }
}
