#![allow(clippy::unwrap_used)]

use super::*;

fn parse(extra: &str) -> Result<OidcConfig, toml::de::Error> {
    toml::from_str(&format!(
        "id = \"hospital\"\nname = \"Hospital sign-in\"\nissuer = \"https://idp.hospital.example/realms/wardbook\"\nclient_id = \"wardbook\"\n{extra}"
    ))
}

fn misconfigured(config: OidcConfig) -> String {
    match Oidc::new(config) {
        Err(ProviderError::Misconfigured { reason, .. }) => reason,
        other => panic!("expected Misconfigured, got {other:?}"),
    }
}

#[test]
fn the_configuration_has_defaults_and_refuses_unknown_keys() {
    let c = parse("").unwrap();
    assert_eq!(c.scopes, ["openid", "profile"]);
    assert_eq!((c.username_claim.as_str(), c.display_name_claim.as_str()), ("preferred_username", "name"));
    assert_eq!(c.groups_claim, "groups");
    assert_eq!(c.timeout_seconds, 10);
    assert!(c.client_secret_file.is_none() && c.ca_file.is_none());
    let e = parse("client_secret = \"inline\"\n").unwrap_err().to_string();
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn new_refuses_what_would_fail_later_and_names_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();

    let mut c = parse("").unwrap();
    c.issuer = "http://idp.hospital.example".into();
    assert!(misconfigured(c).contains("https://"));
    let mut c = parse("").unwrap();
    c.client_secret_file = Some(missing);
    assert!(misconfigured(c).contains("cannot be read"));
    let mut c = parse("").unwrap();
    c.client_secret_file = Some(empty);
    assert!(misconfigured(c).contains("is empty"));
    let mut c = parse("").unwrap();
    c.ca_file = Some(garbage);
    assert!(misconfigured(c).contains("CA file"));
    let mut c = parse("").unwrap();
    c.scopes = vec!["openid profile".into()];
    assert!(misconfigured(c).contains("single word"));
    let mut c = parse("").unwrap();
    c.timeout_seconds = 0;
    assert!(misconfigured(c).contains("timeout_seconds"));

    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cr3t-value\n").unwrap();
    let mut c = parse("").unwrap();
    c.client_secret_file = Some(secret);
    let oidc = Oidc::new(c).unwrap();
    assert_eq!(oidc.client_secret.as_deref().map(String::as_str), Some("s3cr3t-value"));
    let shown = format!("{oidc:?}");
    assert!(!shown.contains("s3cr3t") && shown.contains("*******"), "{shown}");
}

#[test]
fn the_secret_goes_by_basic_auth_unless_the_provider_takes_only_the_body() {
    use CoreClientAuthMethod::{ClientSecretBasic, ClientSecretPost, PrivateKeyJwt};
    let cases = [
        (None, true, AuthType::BasicAuth),
        (Some(vec![ClientSecretBasic, ClientSecretPost]), true, AuthType::BasicAuth),
        (Some(vec![ClientSecretPost]), true, AuthType::RequestBody),
        (Some(vec![PrivateKeyJwt, ClientSecretPost]), true, AuthType::RequestBody),
        // A public client: its id in the body whatever the method (oauth2 does so for BasicAuth without a secret).
        (Some(vec![ClientSecretPost]), false, AuthType::BasicAuth),
    ];
    for (supported, has_secret, expected) in cases {
        let got = auth_type(supported.as_ref(), has_secret);
        assert_eq!(format!("{got:?}"), format!("{expected:?}"), "{supported:?} {has_secret}");
    }
}

#[test]
fn refusals_name_the_check_not_the_values() {
    let value = "VALUE-FROM-TOKEN";
    for e in [
        ClaimsVerificationError::Expired(value.into()),
        ClaimsVerificationError::InvalidAudience(value.into()),
        ClaimsVerificationError::InvalidIssuer(value.into()),
        ClaimsVerificationError::InvalidNonce(value.into()),
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey),
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::CryptoError(value.into())),
        ClaimsVerificationError::Other(value.into()),
    ] {
        let why = refusal(&e);
        assert!(!why.contains(value) && why.starts_with("the ID token"), "{why}");
    }
    assert_eq!(
        refusal(&ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)),
        "the ID token is signed with a key the provider does not publish"
    );
}

#[tokio::test]
async fn the_authorization_url_needs_an_s256_challenge_state_and_nonce_before_any_request() {
    // The issuer is never contacted: each call fails its own checks first.
    let oidc = Oidc::new(parse("").unwrap()).unwrap();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let refused = |r: Result<String, ProviderError>| match r {
        Err(ProviderError::Refused { why, .. }) => why,
        other => panic!("expected Refused, got {other:?}"),
    };
    let cb = "http://127.0.0.1:5000/callback";
    assert!(refused(oidc.authorization_url("s", "n", "plain-verifier", cb).await).contains("S256"));
    assert!(refused(oidc.authorization_url("", "n", challenge, cb).await).contains("state"));
    assert!(refused(oidc.authorization_url("s", "", challenge, cb).await).contains("nonce"));
    assert!(refused(oidc.authorization_url("s", "n", challenge, "not a url").await).contains("redirect URI"));
}

#[test]
fn the_it_guides_examples_are_valid_configurations() {
    #[derive(serde::Deserialize)]
    struct File {
        identity_providers: Vec<crate::identity::ProviderConfig>,
    }
    let guide = include_str!("../../../../docs/it-guide.md");
    let examples: Vec<&str> = guide
        .split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter(|block| block.contains("kind = \"oidc\""))
        .collect();
    assert!(examples.len() >= 4, "the OpenID Connect section's examples are gone");
    for example in examples {
        let file: File = toml::from_str(example).unwrap_or_else(|e| panic!("{e}\n{example}"));
        crate::identity::validate(&file.identity_providers, wardbook_protocol::Environment::Production).unwrap();
        for provider in file.identity_providers {
            let crate::identity::ProviderConfig::Oidc(config) = provider else { continue };
            Oidc::new(config).unwrap();
        }
    }
}
