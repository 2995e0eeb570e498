//! Hospital sign-in on the service side, without a provider to reach: the
//! provider list, local accounts turned off for clinicians (the emergency
//! admin still signs in), a leaver disabled by an admin (refused, sessions
//! ended, named in every pull until the offline window has passed), and the
//! OpenID Connect flow's refusals that need no provider (unknown provider,
//! unknown or replayed state). The providers themselves are tested against
//! real ones in `ldap_directory.rs`, `oidc_provider.rs` and `directory_sign_in.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{PASSWORD, TestServer, assert_api_error};
use wardbook_protocol::Environment;
use wardbook_protocol::api::Role;
use wardbook_server::identity::ProviderConfig;

fn ldap_nowhere() -> ProviderConfig {
    toml::from_str::<toml::Table>(
        "kind = \"ldap\"\nid = \"hospital-ad\"\nname = \"Hospital directory\"\nurl = \"ldaps://127.0.0.1:9\"\nuser_base = \"ou=people,dc=hospital,dc=example\"\n",
    )
    .unwrap()
    .try_into()
    .unwrap()
}

#[tokio::test]
async fn the_sign_in_screen_lists_the_providers_and_whether_local_accounts_serve_clinicians() {
    let server = TestServer::start_with(Environment::Test, |s| {
        s.identity_providers = vec![ldap_nowhere()];
        s.local_accounts_for_clinicians = false;
    })
    .await;
    let (status, body) = server.call(Method::GET, "/v1/login/providers", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "providers": [{ "id": "hospital-ad", "name": "Hospital directory", "kind": "ldap" }],
            "local_accounts_for_clinicians": false
        })
    );
    // Health names the provider it cannot reach, and how, without a secret.
    let (status, health) = server.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    let provider = &health["identity_providers"][0];
    assert_eq!(
        (provider["id"].as_str(), provider["reachable"].as_bool()),
        (Some("hospital-ad"), Some(false)),
        "{health}"
    );
    assert!(provider["problem"].as_str().unwrap().contains("127.0.0.1"), "{health}");
    let findings = health["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["code"] == "identity_provider_unreachable"), "{health}");
}

#[tokio::test]
async fn with_local_accounts_off_for_clinicians_only_the_emergency_admin_signs_in_locally() {
    let server = TestServer::start_with(Environment::Test, |s| s.local_accounts_for_clinicians = false).await;
    let owner = server.owner().await;
    wardbook_server::admin::location_add(&owner, "7A", "7A").await.unwrap();
    server.add_user("nurse.local.synthetic", &[Role::Clinician]).await;
    server.add_user("admin.emergency.synthetic", &[Role::Admin]).await;
    let device = server.enrol("7A").await;
    let body = |user: &str| Some(serde_json::json!({ "username": user, "password": PASSWORD }));
    let (status, answer) =
        server.call(Method::POST, "/v1/login", Some(&device.credential), body("nurse.local.synthetic")).await;
    let message = assert_api_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    assert!(message.contains("local accounts"), "{message}");
    server.login(&device, "admin.emergency.synthetic").await;

    // A password for an unknown LDAP provider is a clear refusal, not a local login.
    let (status, answer) = server
        .call(
            Method::POST,
            "/v1/login",
            Some(&device.credential),
            Some(serde_json::json!({ "username": "admin.emergency.synthetic", "password": PASSWORD, "provider": "nowhere" })),
        )
        .await;
    assert_api_error(status, &answer, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_disabled_user_is_refused_loses_their_sessions_and_is_named_in_every_pull() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    wardbook_server::admin::location_add(&owner, "7A", "7A").await.unwrap();
    let leaver = server.add_user("nurse.leaver.synthetic", &[Role::Clinician, Role::PrivacyOfficer]).await;
    let stayer = server.add_user("nurse.stayer.synthetic", &[Role::Clinician]).await;
    let device = server.enrol("7A").await;
    let token = server.login(&device, "nurse.leaver.synthetic").await;
    server.login(&device, "nurse.stayer.synthetic").await;
    let (status, _) = server.call(Method::GET, "/v1/audit/reports", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "the session works before");
    assert!(server.pull(&device, None, 100).await.revoked_users.is_empty());

    let (id, changed) = wardbook_server::admin::user_disable(&owner, "nurse.leaver.synthetic").await.unwrap();
    assert_eq!((id, changed), (leaver, true));
    let (status, answer) = server.call(Method::GET, "/v1/audit/reports", Some(&token), None).await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, answer) = server
        .call(
            Method::POST,
            "/v1/login",
            Some(&device.credential),
            Some(serde_json::json!({ "username": "nurse.leaver.synthetic", "password": PASSWORD })),
        )
        .await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let sessions: i64 =
        owner.query_one("SELECT count(*) FROM sessions WHERE user_id = $1", &[&leaver]).await.unwrap().get(0);
    assert_eq!(sessions, 0);
    // Every page names the leaver (an initial sync and an incremental one alike), never the stayer.
    let page = server.pull(&device, None, 1).await;
    assert_eq!(page.revoked_users, vec![leaver]);
    let page = server.pull(&device, Some(&page.cursor), 100).await;
    assert_eq!(page.revoked_users, vec![leaver]);
    assert!(!page.revoked_users.contains(&stayer));
    // A second disable changes nothing; past the offline window the name is dropped.
    assert!(!wardbook_server::admin::user_disable(&owner, "nurse.leaver.synthetic").await.unwrap().1);
    owner
        .execute("UPDATE users SET disabled_at = now() - interval '97 hours' WHERE id = $1", &[&leaver])
        .await
        .unwrap();
    assert!(server.pull(&device, None, 100).await.revoked_users.is_empty());

    // Enabled again: signs in, and is named no more.
    owner.execute("UPDATE users SET disabled_at = now() WHERE id = $1", &[&leaver]).await.unwrap();
    assert!(wardbook_server::admin::user_enable(&owner, "nurse.leaver.synthetic").await.unwrap().1);
    server.login(&device, "nurse.leaver.synthetic").await;
    assert!(server.pull(&device, None, 100).await.revoked_users.is_empty());
}

#[tokio::test]
async fn an_oidc_completion_without_a_live_attempt_is_refused() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    wardbook_server::admin::location_add(&owner, "7A", "7A").await.unwrap();
    let device = server.enrol("7A").await;
    let (status, answer) = server
        .call(
            Method::POST,
            "/v1/login/oidc/start",
            Some(&device.credential),
            Some(serde_json::json!({
                "provider": "nowhere",
                "redirect_uri": "http://127.0.0.1:5000/callback",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            })),
        )
        .await;
    assert_api_error(status, &answer, StatusCode::NOT_FOUND, "not_found");
    let (status, answer) = server
        .call(
            Method::POST,
            "/v1/login/oidc/complete",
            Some(&device.credential),
            Some(serde_json::json!({ "state": "never-issued", "code": "x", "code_verifier": "y" })),
        )
        .await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, answer) = server
        .call(
            Method::POST,
            "/v1/login/oidc/complete",
            None,
            Some(serde_json::json!({ "state": "never-issued", "code": "x", "code_verifier": "y" })),
        )
        .await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
}
