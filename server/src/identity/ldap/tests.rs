//! The configuration: what parses, what `Ldap::new` refuses and how it says
//! so, and that the service password never shows. The directory itself is
//! exercised against a real slapd in server/tests/ldap_directory.rs.

#![allow(clippy::unwrap_used)]

use std::io::Write;

use super::*;
use crate::identity::ProviderConfig;

/// The Active Directory example of docs/it-guide.md, with a password file.
fn active_directory(password_file: &std::path::Path) -> String {
    format!(
        r#"
kind = "ldap"
id = "hospital-ad"
name = "Hospital account"
url = "ldaps://dc1.hospital.local:636"
bind_dn = "CN=svc-wardbook,OU=Service Accounts,DC=hospital,DC=local"
bind_password_file = "{}"
user_base = "OU=Staff,DC=hospital,DC=local"
user_filter = "(&(objectCategory=person)(objectClass=user)(sAMAccountName={{username}}))"
username_attribute = "sAMAccountName"
display_name_attribute = "displayName"
enabled_filter = "(!(userAccountControl:1.2.840.113556.1.4.803:=2))"
timeout_seconds = 5

[groups]
"CN=Wardbook Clinicians,OU=Groups,DC=hospital,DC=local" = ["clinician"]
"#,
        password_file.display()
    )
}

fn password_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn parse(toml_text: &str) -> LdapConfig {
    match toml::from_str::<ProviderConfig>(toml_text).unwrap() {
        ProviderConfig::Ldap(config) => config,
        ProviderConfig::Oidc(_) => panic!("parsed as OIDC"),
    }
}

/// A minimal valid OpenLDAP configuration (direct bind, plain on loopback).
fn minimal() -> LdapConfig {
    parse(
        r#"
kind = "ldap"
id = "test"
name = "Test directory"
url = "ldap://127.0.0.1:3890"
user_dn_template = "uid={username},ou=people,dc=example,dc=org"
"#,
    )
}

fn misconfigured(config: LdapConfig) -> String {
    match Ldap::new(config) {
        Err(ProviderError::Misconfigured { provider, reason }) => {
            assert_eq!(provider, "Test directory");
            reason
        }
        other => panic!("expected Misconfigured, got {other:?}"),
    }
}

#[test]
fn the_active_directory_example_parses_and_its_password_stays_hidden() {
    let file = password_file("s3cret-Service-pw\n");
    let config = parse(&active_directory(file.path()));
    assert_eq!(config.username_attribute, "sAMAccountName");
    assert_eq!(config.group_filter, "(|(member={dn})(uniqueMember={dn}))", "the default");
    assert_eq!(config.member_of_attribute, "memberOf", "the default");
    assert_eq!(config.groups.len(), 1);
    let ldap = Ldap::new(config).unwrap();
    assert_eq!(ldap.bind_password.as_ref().map(Secret::expose), Some("s3cret-Service-pw"), "newline trimmed");
    let debug = format!("{ldap:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(debug.contains("Secret(*******)"), "{debug}");
}

#[test]
fn defaults_are_those_of_the_issue() {
    let config = minimal();
    assert_eq!(config.user_filter, "(uid={username})");
    assert_eq!(config.username_attribute, "uid");
    assert_eq!(config.display_name_attribute, "cn");
    assert_eq!(config.timeout_seconds, 10);
    assert!(!config.starttls);
    Ldap::new(config).unwrap();
}

#[test]
fn unknown_keys_and_an_inline_password_are_refused() {
    let text = r#"
kind = "ldap"
id = "test"
name = "Test directory"
url = "ldaps://ldap.example.org"
user_base = "ou=people,dc=example,dc=org"
bind_dn = "cn=svc,dc=example,dc=org"
bind_password = "inline"
"#;
    let e = toml::from_str::<ProviderConfig>(text).unwrap_err().to_string();
    assert!(e.contains("bind_password"), "{e}");
    assert!(!e.contains("inline"), "the value is not repeated: {e}");
}

#[test]
fn new_says_what_is_wrong_with_the_configuration() {
    type Change = fn(&mut LdapConfig);
    let cases: [(Change, &str); 11] = [
        (|c| c.url = "ldap://ldap.example.org".into(), "starttls = true"),
        (|c| c.user_dn_template = Some("uid=fixed,dc=example".into()), "{username}"),
        (|c| c.user_base = Some("dc=example".into()), "not both"),
        (
            |c| {
                c.user_dn_template = None;
                c.user_base = None;
            },
            "set user_base",
        ),
        (
            |c| {
                c.user_dn_template = None;
                c.user_base = Some("dc=example".into());
                c.user_filter = "(uid=alice)".into();
            },
            "user_filter must contain {username}",
        ),
        (|c| c.enabled_filter = Some("!(locked=*)".into()), "enabled_filter is not an LDAP filter"),
        (|c| c.user_filter = "(uid={username}".into(), "user_filter is not an LDAP filter"),
        (|c| c.bind_dn = Some("cn=svc,dc=example".into()), "go together"),
        (|c| c.bind_password_file = Some("/nonexistent/wardbook/ldap.pw".into()), "go together"),
        (|c| c.timeout_seconds = 0, "timeout_seconds"),
        (|c| c.ca_file = Some("/nonexistent/wardbook/ca.pem".into()), "/nonexistent/wardbook/ca.pem"),
    ];
    for (change, needle) in cases {
        let mut config = minimal();
        change(&mut config);
        let reason = misconfigured(config);
        assert!(reason.contains(needle), "expected {needle:?} in: {reason}");
    }
}

#[test]
fn the_password_file_must_exist_and_hold_a_password() {
    let mut config = minimal();
    config.bind_dn = Some("cn=svc,dc=example,dc=org".into());
    config.bind_password_file = Some("/nonexistent/wardbook/ldap.pw".into());
    let reason = misconfigured(config.clone());
    assert!(reason.contains("cannot read bind_password_file /nonexistent/wardbook/ldap.pw"), "{reason}");

    let empty = password_file("\n");
    config.bind_password_file = Some(empty.path().to_owned());
    let reason = misconfigured(config);
    assert!(reason.contains("is empty"), "{reason}");
}

#[test]
fn a_group_filter_must_name_the_user() {
    let mut config = minimal();
    config.group_base = Some("ou=groups,dc=example,dc=org".into());
    config.group_filter = "(objectClass=groupOfNames)".into();
    assert!(misconfigured(config.clone()).contains("group_filter must contain {dn}"));
    config.group_filter = "(memberUid={username})".into();
    Ldap::new(config).unwrap();
}

#[tokio::test]
async fn empty_passwords_and_user_names_are_refused_before_any_connection() {
    // Nothing listens on port 9 (discard): reaching the network would be
    // Unreachable, not Refused.
    let mut config = minimal();
    config.url = "ldap://127.0.0.1:9".into();
    let ldap = Ldap::new(config).unwrap();
    for (username, password, why) in
        [("alice", "", "empty password"), ("  ", "pw", "empty user name"), ("", "", "empty user name")]
    {
        match ldap.authenticate(username, password).await {
            Err(ProviderError::Refused { why: got, .. }) => assert_eq!(got, why),
            other => panic!("{username:?}: expected Refused, got {other:?}"),
        }
    }
}
