//! LDAP sign-in (`identity::ldap`) against a real OpenLDAP server: the
//! system's slapd started by `wardbook_test_support::Slapd` on loopback, with
//! LDAPS and StartTLS from a test CA and a synthetic directory (people in
//! `ou=people`, groupOfNames in `ou=groups`, a service account that may read
//! them). Each test has its own server, so tests that lock or delete people
//! do not disturb the others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wardbook_server::identity::ldap::{Ldap, LdapConfig};
use wardbook_server::identity::{DirectoryUser, ProviderConfig, ProviderError};
use wardbook_test_support::Slapd;
use wardbook_test_support::slapd::directory::{
    CLINICIAN, CLINICIANS_GROUP, DirectoryPerson, ENABLED_FILTER, LOCKED, NO_GROUP, PRIVACY_GROUP, PRIVACY_OFFICER,
    WARD_GROUP,
};

#[derive(Clone, Copy, Debug)]
enum Transport {
    Ldaps,
    StartTls,
}

/// How the provider finds a person's entry and their groups.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Service account, `user_base` + `user_filter`, group search.
    SearchThenBind,
    /// Service account, search, groups from `memberOf`.
    SearchMemberOf,
    /// `user_dn_template`, service account, group search.
    DirectBind,
    /// `user_dn_template`, no service account: the person reads their own
    /// entry and its `memberOf`.
    DirectBindAlone,
}

const MODES: [Mode; 4] = [Mode::SearchThenBind, Mode::SearchMemberOf, Mode::DirectBind, Mode::DirectBindAlone];

fn start() -> Slapd {
    Slapd::start().expect("a throwaway slapd (install the slapd and ldap-utils packages)")
}

/// The `[[identity_providers]]` table an IT department would write.
fn toml(slapd: &Slapd, mode: Mode, transport: Transport) -> String {
    let url = match transport {
        Transport::Ldaps => format!("url = '{}'", slapd.ldaps_url()),
        Transport::StartTls => format!("url = '{}'\nstarttls = true", slapd.ldap_url()),
    };
    let service =
        format!("bind_dn = '{}'\nbind_password_file = '{}'", slapd.bind_dn(), slapd.bind_password_file().display());
    let groups = format!("group_base = '{}'", slapd.groups_dn());
    let template = format!("user_dn_template = 'uid={{username}},{}'", slapd.people_dn());
    let search = format!("user_base = '{}'", slapd.people_dn());
    let lookup = match mode {
        Mode::SearchThenBind => format!("{service}\n{search}\n{groups}"),
        Mode::SearchMemberOf => format!("{service}\n{search}"),
        Mode::DirectBind => format!("{service}\n{template}\n{groups}"),
        Mode::DirectBindAlone => template,
    };
    format!(
        "kind = 'ldap'\nid = 'test-directory'\nname = 'Test directory'\n{url}\nca_file = '{}'\n{lookup}\n\
         enabled_filter = '{ENABLED_FILTER}'\ntimeout_seconds = 10\n",
        slapd.ca_file().display()
    )
}

fn provider_from(text: &str) -> Ldap {
    let config: LdapConfig = match toml::from_str::<ProviderConfig>(text).expect(text) {
        ProviderConfig::Ldap(config) => config,
        ProviderConfig::Oidc(_) => panic!("not an LDAP provider"),
    };
    Ldap::new(config).expect("a valid configuration")
}

fn provider(slapd: &Slapd, mode: Mode, transport: Transport) -> Ldap {
    provider_from(&toml(slapd, mode, transport))
}

/// What a person's groups come back as: each group's DN and its `cn`.
fn expected_groups(slapd: &Slapd, person: &DirectoryPerson) -> Vec<String> {
    let mut groups: Vec<String> =
        person.groups.iter().flat_map(|cn| [slapd.group_dn(cn).to_lowercase(), (*cn).to_lowercase()]).collect();
    groups.sort();
    groups
}

/// Group names compared without regard to case: a server may spell a DN's
/// attribute types as it likes.
fn groups_of(user: &DirectoryUser) -> Vec<String> {
    let mut groups: Vec<String> = user.groups.iter().map(|g| g.to_lowercase()).collect();
    groups.sort();
    groups
}

fn refused(result: Result<DirectoryUser, ProviderError>) -> &'static str {
    match result {
        Err(ProviderError::Refused { provider, why }) => {
            assert_eq!(provider, "Test directory");
            why
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn everyone_signs_in_with_their_groups_over_ldaps_and_starttls_in_every_mode() {
    let slapd = start();
    for mode in MODES {
        for transport in [Transport::Ldaps, Transport::StartTls] {
            let ldap = provider(&slapd, mode, transport);
            for person in [CLINICIAN, PRIVACY_OFFICER, NO_GROUP] {
                let what = format!("{} by {mode:?} over {transport:?}", person.uid);
                let user =
                    ldap.authenticate(person.uid, person.password).await.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(user.subject, slapd.user_dn(person.uid), "{what}");
                assert_eq!(user.username, person.uid, "{what}");
                assert_eq!(user.display_name, person.display_name, "{what}");
                assert_eq!(groups_of(&user), expected_groups(&slapd, &person), "{what}");
            }
        }
    }
}

#[tokio::test]
async fn the_user_name_is_trimmed_and_lower_case_and_clear_text_works_on_loopback() {
    let slapd = start();
    let text = toml(&slapd, Mode::SearchThenBind, Transport::Ldaps)
        .replace(&format!("url = '{}'", slapd.ldaps_url()), &format!("url = '{}'", slapd.ldap_url()));
    let ldap = provider_from(&text);
    for typed in ["  Synth.Clinician ", "SYNTH.CLINICIAN"] {
        let user = ldap.authenticate(typed, CLINICIAN.password).await.unwrap();
        assert_eq!(
            (user.username.as_str(), user.subject.as_str()),
            (CLINICIAN.uid, slapd.user_dn(CLINICIAN.uid).as_str())
        );
    }
    // The group whose DN needs escaping comes back with its cn unescaped.
    let user = ldap.authenticate(CLINICIAN.uid, CLINICIAN.password).await.unwrap();
    assert!(user.groups.iter().any(|g| g == WARD_GROUP), "{:?}", user.groups);
    assert!(user.groups.iter().any(|g| g == CLINICIANS_GROUP), "{:?}", user.groups);
    assert!(!user.groups.iter().any(|g| g == PRIVACY_GROUP), "{:?}", user.groups);
}

#[tokio::test]
async fn wrong_passwords_unknown_users_and_empty_passwords_are_refused() {
    let slapd = start();
    for mode in MODES {
        let ldap = provider(&slapd, mode, Transport::Ldaps);
        let wrong = refused(ldap.authenticate(CLINICIAN.uid, "not-the-password").await);
        assert_eq!(wrong, "wrong password or unknown user", "{mode:?}");
        // Someone else's password is just as wrong.
        refused(ldap.authenticate(CLINICIAN.uid, PRIVACY_OFFICER.password).await);
        refused(ldap.authenticate("synth.nobody", CLINICIAN.password).await);
        // An empty password would be an unauthenticated bind, which slapd accepts.
        assert_eq!(refused(ldap.authenticate(CLINICIAN.uid, "").await), "empty password", "{mode:?}");
        assert_eq!(refused(ldap.authenticate("", CLINICIAN.password).await), "empty user name", "{mode:?}");
    }
}

#[tokio::test]
async fn a_user_name_with_filter_or_dn_syntax_matches_nobody() {
    let slapd = start();
    // Unescaped, each of these would find the clinician's entry (or all
    // entries), and the clinician's password would then sign in.
    let names = ["synth.clin*", "*clinician", "*", "*)(uid=*", "synth.clinician)(|(uid=*", "x,ou=people", "\\2a"];
    for mode in MODES {
        let ldap = provider(&slapd, mode, Transport::Ldaps);
        for name in names {
            let result = ldap.authenticate(name, CLINICIAN.password).await;
            assert!(matches!(result, Err(ProviderError::Refused { .. })), "{name:?} by {mode:?}: {result:?}");
        }
    }
}

#[tokio::test]
async fn a_locked_account_is_disabled_and_is_active_follows_the_directory() {
    let slapd = start();
    for mode in MODES {
        let ldap = provider(&slapd, mode, Transport::StartTls);
        let locked = ldap.authenticate(LOCKED.uid, LOCKED.password).await;
        assert!(matches!(locked, Err(ProviderError::Disabled { .. })), "{mode:?}: {locked:?}");
        // Without the right password, nothing is told about the account.
        refused(ldap.authenticate(LOCKED.uid, "not-the-password").await);
        let active = ldap.is_active(&slapd.user_dn(LOCKED.uid)).await;
        match mode {
            // Anonymous readers see nothing here: that is not "everyone left".
            Mode::DirectBindAlone => {
                let Err(ProviderError::Misconfigured { reason, .. }) = &active else { panic!("{active:?}") };
                assert!(reason.contains(&format!("{} cannot be read", slapd.people_dn())), "{reason}");
            }
            _ => assert!(!active.unwrap(), "{mode:?}"),
        }
    }

    let ldap = provider(&slapd, Mode::SearchThenBind, Transport::Ldaps);
    let subject = ldap.authenticate(CLINICIAN.uid, CLINICIAN.password).await.unwrap().subject;
    assert!(ldap.is_active(&subject).await.unwrap());

    slapd.disable_user(CLINICIAN.uid).unwrap();
    assert!(!ldap.is_active(&subject).await.unwrap(), "locked while the server runs");
    let disabled = ldap.authenticate(CLINICIAN.uid, CLINICIAN.password).await;
    assert!(matches!(disabled, Err(ProviderError::Disabled { .. })), "{disabled:?}");
    assert_eq!(disabled.unwrap_err().to_string(), "The account is disabled in Test directory.");

    slapd.enable_user(CLINICIAN.uid).unwrap();
    assert!(ldap.is_active(&subject).await.unwrap(), "unlocked again");

    slapd.delete_user(CLINICIAN.uid).unwrap();
    assert!(!ldap.is_active(&subject).await.unwrap(), "deleted");
    refused(ldap.authenticate(CLINICIAN.uid, CLINICIAN.password).await);
    assert!(!ldap.is_active("not a DN").await.unwrap());

    // The filter is what refuses a locked account: without it, slapd (no
    // ppolicy overlay) accepts the password.
    let text = toml(&slapd, Mode::SearchThenBind, Transport::Ldaps)
        .replace(&format!("enabled_filter = '{ENABLED_FILTER}'"), "");
    let unfiltered = provider_from(&text);
    assert_eq!(unfiltered.authenticate(LOCKED.uid, LOCKED.password).await.unwrap().username, LOCKED.uid);
}

#[tokio::test]
async fn a_certificate_from_another_ca_makes_the_directory_unreachable_without_naming_a_password() {
    let slapd = start();
    let other_ca = tempfile::NamedTempFile::new().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(other_ca.path(), params.self_signed(&key).unwrap().pem()).unwrap();

    for (transport, port) in [(Transport::Ldaps, slapd.ldaps_url()), (Transport::StartTls, slapd.ldap_url())] {
        let text = toml(&slapd, Mode::SearchThenBind, transport)
            .replace(&slapd.ca_file().display().to_string(), &other_ca.path().display().to_string());
        let ldap = provider_from(&text);
        let host = port.rsplit("//").next().unwrap().to_owned();
        for result in [ldap.authenticate(CLINICIAN.uid, CLINICIAN.password).await.map(drop), ldap.check().await] {
            let e = result.expect_err("a certificate from another CA");
            let ProviderError::Unreachable { reason, .. } = &e else { panic!("{transport:?}: {e:?}") };
            assert!(reason.contains(&host), "{transport:?} names {host}: {reason}");
            assert!(reason.contains("TLS") && reason.contains("ca_file"), "{transport:?}: {reason}");
            for text in [e.to_string(), format!("{e:?}")] {
                assert!(!text.contains(CLINICIAN.password), "{text}");
                assert!(!text.contains(slapd.bind_password()), "{text}");
            }
        }
        assert!(ldap.is_active(&slapd.user_dn(CLINICIAN.uid)).await.is_err(), "{transport:?}");
    }
}

#[tokio::test]
async fn check_passes_and_a_wrong_service_password_or_a_dead_port_is_named() {
    let slapd = start();
    for mode in MODES {
        for transport in [Transport::Ldaps, Transport::StartTls] {
            provider(&slapd, mode, transport).check().await.unwrap_or_else(|e| panic!("{mode:?} {transport:?}: {e}"));
        }
    }

    let wrong_password = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong_password.path(), "Wrong-service-password\n").unwrap();
    let text = toml(&slapd, Mode::SearchThenBind, Transport::Ldaps)
        .replace(&slapd.bind_password_file().display().to_string(), &wrong_password.path().display().to_string());
    let ldap = provider_from(&text);
    let signed_in = ldap.authenticate(CLINICIAN.uid, CLINICIAN.password).await.map(drop);
    for result in [ldap.check().await, signed_in] {
        let e = result.expect_err("a wrong service password");
        let ProviderError::Misconfigured { reason, .. } = &e else { panic!("{e:?}") };
        assert!(reason.contains("service account") && reason.contains("bind_password_file"), "{reason}");
        assert!(reason.contains("invalidCredentials"), "{reason}");
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains("Wrong-service-password") && !text.contains(CLINICIAN.password), "{text}");
        }
    }

    // A port nothing listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let text = toml(&slapd, Mode::SearchThenBind, Transport::Ldaps)
        .replace(&slapd.ldaps_url(), &format!("ldaps://127.0.0.1:{port}"));
    let e = provider_from(&text).check().await.expect_err("nothing listens");
    let ProviderError::Unreachable { reason, .. } = &e else { panic!("{e:?}") };
    assert!(reason.contains(&format!("127.0.0.1:{port}")), "{reason}");
}
