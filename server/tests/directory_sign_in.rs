//! Sign-in through an LDAP directory, end to end in the service: a real
//! OpenLDAP (`slapd`, started by the test with a synthetic directory, over
//! LDAPS with its own CA) behind `POST /v1/login` with `provider`. The
//! first sign-in creates the Wardbook user from the directory, groups map
//! to roles and are refreshed at every sign-in, a wrong password, a locked
//! account and a person in no mapped group are refused, a directory user
//! has no Wardbook password, a user name held by a local account is not
//! taken over, and a leaver found by the directory check is disabled and
//! named in every pull. The directory module itself is tested in
//! `ldap_directory.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use common::{TestServer, assert_api_error};
use serde_json::{Value, json};
use wardbook_protocol::Environment;
use wardbook_protocol::api::Role;
use wardbook_server::identity::ProviderConfig;
use wardbook_server::identity::ldap::LdapConfig;
use wardbook_test_support::Slapd;
use wardbook_test_support::slapd::directory::{
    CLINICIAN, CLINICIANS_GROUP, ENABLED_FILTER, LOCKED, NO_GROUP, PRIVACY_GROUP, PRIVACY_OFFICER,
};

fn provider(slapd: &Slapd) -> ProviderConfig {
    let mut config: LdapConfig = toml::from_str(&format!(
        "id = \"hospital-ldap\"\nname = \"Hospital account\"\nurl = \"{}\"\nuser_base = \"{}\"\n",
        slapd.ldaps_url(),
        slapd.people_dn()
    ))
    .unwrap();
    config.ca_file = Some(slapd.ca_file());
    config.bind_dn = Some(slapd.bind_dn().to_owned());
    config.bind_password_file = Some(slapd.bind_password_file());
    config.enabled_filter = Some(ENABLED_FILTER.to_owned());
    config.group_base = Some(slapd.groups_dn());
    config.groups = BTreeMap::from([
        (CLINICIANS_GROUP.to_owned(), vec!["clinician".to_owned()]),
        (PRIVACY_GROUP.to_owned(), vec!["privacy_officer".to_owned(), "clinician".to_owned()]),
    ]);
    ProviderConfig::Ldap(config)
}

async fn start() -> (Slapd, TestServer, common::Device) {
    let slapd = tokio::task::spawn_blocking(Slapd::start).await.unwrap().expect("slapd starts");
    let config = provider(&slapd);
    let server = TestServer::start_with(Environment::Test, move |s| s.identity_providers = vec![config]).await;
    assert_eq!(server.state.providers.misconfigured(), None);
    let owner = server.owner().await;
    wardbook_server::admin::location_add(&owner, "7A", "7A").await.unwrap();
    let device = server.enrol("7A").await;
    (slapd, server, device)
}

async fn sign_in(server: &TestServer, device: &common::Device, username: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({ "username": username, "password": password, "provider": "hospital-ldap" });
    server.call(Method::POST, "/v1/login", Some(&device.credential), Some(body)).await
}

#[tokio::test]
async fn directory_users_are_created_at_first_sign_in_with_roles_from_their_groups() {
    let (slapd, server, device) = start().await;
    let owner = server.owner().await;
    let (status, body) = sign_in(&server, &device, CLINICIAN.uid, CLINICIAN.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["username"], CLINICIAN.uid);
    assert_eq!(body["user"]["roles"], json!(["clinician"]));
    let row = owner
        .query_one("SELECT provider, subject, password_hash IS NULL FROM users WHERE username = $1", &[&CLINICIAN.uid])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, bool>(2)),
        ("hospital-ldap".to_owned(), slapd.user_dn(CLINICIAN.uid), true)
    );
    // No Wardbook password: the local form never signs a directory user in.
    let (status, answer) = server
        .call(
            Method::POST,
            "/v1/login",
            Some(&device.credential),
            Some(json!({ "username": CLINICIAN.uid, "password": CLINICIAN.password })),
        )
        .await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");

    // Groups are read at every sign-in: added to the privacy group, the roles follow, same user.
    let id = body["user"]["id"].clone();
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nadd: member\nmember: {}\n",
            slapd.group_dn(PRIVACY_GROUP),
            slapd.user_dn(CLINICIAN.uid)
        ))
        .unwrap();
    let (status, body) = sign_in(&server, &device, CLINICIAN.uid, CLINICIAN.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["user"]["id"].clone(), body["user"]["roles"].clone()),
        (id, json!(["clinician", "privacy_officer"]))
    );

    let (status, body) = sign_in(&server, &device, PRIVACY_OFFICER.uid, PRIVACY_OFFICER.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["roles"], json!(["clinician", "privacy_officer"]));
}

#[tokio::test]
async fn wrong_passwords_locked_accounts_and_people_without_a_mapped_group_are_refused() {
    let (_slapd, server, device) = start().await;
    let (status, answer) = sign_in(&server, &device, CLINICIAN.uid, "Not-the-password-9").await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, answer) = sign_in(&server, &device, "synth.nobody", "Whatever-synthetic-0").await;
    assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, answer) = sign_in(&server, &device, LOCKED.uid, LOCKED.password).await;
    let message = assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(message.contains("disabled in the hospital directory"), "{message}");
    let (status, answer) = sign_in(&server, &device, NO_GROUP.uid, NO_GROUP.password).await;
    let message = assert_api_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    assert!(message.contains("no group"), "{message}");
    let users: i64 = server.owner().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(users, 0, "no refused sign-in creates a user");
}

#[tokio::test]
async fn a_local_account_is_never_taken_over_by_a_directory_user_of_the_same_name() {
    let (_slapd, server, device) = start().await;
    server.add_user(PRIVACY_OFFICER.uid, &[Role::Admin]).await;
    let (status, answer) = sign_in(&server, &device, PRIVACY_OFFICER.uid, PRIVACY_OFFICER.password).await;
    let message = assert_api_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    assert!(message.contains("exists already"), "{message}");
    let roles: Vec<String> = server
        .owner()
        .await
        .query_one("SELECT roles FROM users WHERE username = $1", &[&PRIVACY_OFFICER.uid])
        .await
        .unwrap()
        .get(0);
    assert_eq!(roles, vec!["admin".to_owned()]);
}

#[tokio::test]
async fn a_leaver_found_by_the_directory_check_is_disabled_and_named_in_every_pull() {
    let (slapd, server, device) = start().await;
    let owner = server.owner().await;
    let (status, body) = sign_in(&server, &device, CLINICIAN.uid, CLINICIAN.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id: uuid::Uuid = body["user"]["id"].as_str().unwrap().parse().unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, body) = sign_in(&server, &device, PRIVACY_OFFICER.uid, PRIVACY_OFFICER.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(wardbook_server::identity::check::directory_pass(&server.state).await.unwrap(), 0);

    slapd.disable_user(CLINICIAN.uid).unwrap();
    assert_eq!(wardbook_server::identity::check::directory_pass(&server.state).await.unwrap(), 1);
    let by: Option<String> =
        owner.query_one("SELECT disabled_by FROM users WHERE id = $1", &[&id]).await.unwrap().get(0);
    assert_eq!(by.as_deref(), Some("directory"));
    assert_eq!(server.pull(&device, None, 100).await.revoked_users, vec![id]);
    let (status, answer) = server.call(Method::GET, "/v1/device", Some(&device.credential), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let sessions: i64 =
        owner.query_one("SELECT count(*) FROM sessions WHERE user_id = $1", &[&id]).await.unwrap().get(0);
    assert_eq!(sessions, 0, "the leaver's session ({}) ended", token.len());

    // Back in the directory (a return from leave): the directory re-enables what it disabled.
    slapd.enable_user(CLINICIAN.uid).unwrap();
    let (status, body) = sign_in(&server, &device, CLINICIAN.uid, CLINICIAN.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(server.pull(&device, None, 100).await.revoked_users.is_empty());

    // An admin's disabling is not undone by the directory.
    wardbook_server::admin::user_disable(&owner, CLINICIAN.uid).await.unwrap();
    let (status, answer) = sign_in(&server, &device, CLINICIAN.uid, CLINICIAN.password).await;
    let message = assert_api_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(message.contains("disabled in Wardbook"), "{message}");
}
