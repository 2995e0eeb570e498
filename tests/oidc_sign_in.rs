//! Hospital sign-in through a real OpenID provider (panva's certified
//! `oidc-provider`, `wardbook_test_support::oidc`), the real service and
//! PostgreSQL, and a workstation as the app opens it: the workstation's
//! PKCE and loopback listener, the service's start and complete, the
//! provider's login form. The "system browser" is the test's opener: it
//! follows the authorization URL, posts the synthetic account's password
//! to the provider's form (`server/tests/oidc_support`, shared with the
//! service's tests) and then goes where the provider sends it, the app's
//! loopback listener. Then the workstation PIN: set, used to unlock and,
//! with the service down, to sign in offline; wrong PINs up to the limit
//! wipe it. Synthetic accounts only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../server/tests/oidc_support/mod.rs"]
mod oidc_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::central::Central;
use common::desk::Desk;
use wardbook::session::{SessionError, SessionPolicy, Sessions};
use wardbook_protocol::api::ProviderKind;
use wardbook_protocol::workstation::{Credentials, PinEntry, SecretKind, SessionMode, SessionState};
use wardbook_protocol::{AuditOutcome, AuditSubtype};
use wardbook_server::identity::ProviderConfig;
use wardbook_server::identity::oidc::OidcConfig;
use wardbook_test_support::OidcProvider;
use wardbook_test_support::oidc::{NURSE, PUBLIC_CLIENT_ID, SyntheticAccount};

const PROVIDER: &str = "hospital-sso";
const PIN: &str = "480213";

/// The OpenID provider, and the service trusting it as `hospital-sso`
/// (Wardbook as the provider's public client; its clinicians' group gives
/// the clinician role).
fn start() -> (OidcProvider, Central) {
    let provider = OidcProvider::start().expect("the OpenID provider starts");
    let config = OidcConfig {
        id: PROVIDER.into(),
        name: "Synthetic Hospital SSO".into(),
        issuer: provider.issuer().into(),
        client_id: PUBLIC_CLIENT_ID.into(),
        client_secret_file: None,
        scopes: vec!["openid".into(), "profile".into(), "groups".into()],
        username_claim: "preferred_username".into(),
        display_name_claim: "name".into(),
        groups_claim: "groups".into(),
        groups: BTreeMap::from([("wardbook-clinicians".to_owned(), vec!["clinician".to_owned()])]),
        ca_file: None,
        timeout_seconds: 5,
    };
    let central = Central::start_with(|s| s.identity_providers = vec![ProviderConfig::Oidc(config)]);
    central.synth(2, 1);
    (provider, central)
}

fn sessions() -> Sessions {
    Sessions::new(SessionPolicy {
        idle_lock: Duration::from_secs(600),
        offline_login_hours: 72,
        break_glass_minutes: 60,
    })
}

/// What the browser was shown at the loopback listener: status and page.
type Pages = Arc<Mutex<Vec<(u16, String)>>>;

/// The system browser, played by a thread: signs `account` in at the
/// provider, then delivers the provider's redirect to the app's loopback
/// listener, first with its state replaced when `stranger_first` (a
/// redirect that is not this sign-in's).
fn browser(
    account: SyntheticAccount,
    stranger_first: bool,
) -> (impl Fn(&str) -> Result<(), String> + Send + Sync, Pages) {
    let pages: Pages = Arc::default();
    let shown = pages.clone();
    let opener = move |url: &str| {
        let (url, shown) = (url.to_owned(), shown.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let authorization = reqwest::Url::parse(&url).unwrap();
                let redirect_uri = authorization
                    .query_pairs()
                    .find(|(k, _)| k == "redirect_uri")
                    .map(|(_, v)| v.into_owned())
                    .expect("a redirect_uri in the authorization URL");
                let callback = oidc_support::sign_in(&url, &redirect_uri, &account).await.unwrap();
                let mut deliveries = Vec::new();
                if stranger_first {
                    let mut other = callback.url.clone();
                    let pairs: Vec<(String, String)> = callback
                        .url
                        .query_pairs()
                        .map(|(k, v)| {
                            let value = if k == "state" { "not-this-sign-in".to_owned() } else { v.into_owned() };
                            (k.into_owned(), value)
                        })
                        .collect();
                    other.query_pairs_mut().clear().extend_pairs(pairs);
                    deliveries.push(other);
                }
                deliveries.push(callback.url);
                for url in deliveries {
                    let response = reqwest::get(url).await.unwrap();
                    let status = response.status().as_u16();
                    let page = response.text().await.unwrap();
                    shown.lock().unwrap().push((status, page));
                }
            });
        });
        Ok(())
    };
    (opener, pages)
}

fn sign_in_oidc(central: &Central, desk: &Desk, sessions: &Sessions, account: SyntheticAccount) -> SessionState {
    let (opener, pages) = browser(account, false);
    let state = central.rt.block_on(sessions.sign_in_oidc(&desk.ws, PROVIDER, &opener)).expect("browser sign-in");
    let pages = pages.lock().unwrap();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert_eq!(pages[0].0, 200);
    assert!(pages[0].1.contains("you can close this tab"), "{}", pages[0].1);
    state
}

fn pin(
    central: &Central,
    desk: &Desk,
    sessions: &Sessions,
    username: &str,
    pin: &str,
) -> Result<SessionMode, SessionError> {
    let credentials = Credentials { username: username.into(), password: pin.into(), provider: Some(PROVIDER.into()) };
    central.rt.block_on(sessions.sign_in_pin(&desk.ws, &credentials)).map(|s| s.mode)
}

fn set_pin(
    central: &Central,
    desk: &Desk,
    sessions: &Sessions,
    pin: &str,
    confirm: &str,
) -> Result<SessionMode, SessionError> {
    let entry = PinEntry { pin: pin.into(), confirm: confirm.into() };
    central.rt.block_on(sessions.set_pin(&desk.ws, &entry)).map(|s| s.mode)
}

fn roles_of(central: &Central, username: &str) -> Vec<String> {
    let client = central.owner();
    let row = central.rt.block_on(client.query_one("SELECT roles FROM users WHERE username = $1", &[&username]));
    row.expect("the user was created").get(0)
}

#[test]
fn a_clinician_signs_in_through_the_browser_sets_a_pin_and_signs_in_offline_with_it() {
    let (_provider, mut central) = start();
    let desk = Desk::new(&central, "Ward 7A");
    let sessions = sessions();

    // The sign-in screen lists the provider, and keeps the list for offline.
    let options = central.rt.block_on(sessions.sign_in_options(&desk.ws)).unwrap();
    assert!(options.fresh);
    assert_eq!(options.providers.len(), 1);
    assert_eq!((options.providers[0].id.as_str(), options.providers[0].kind), (PROVIDER, ProviderKind::Oidc));

    // The browser sign-in: the service made the user with the mapped role.
    let state = sign_in_oidc(&central, &desk, &sessions, NURSE);
    let SessionState::PinSetup { user_id, display_name, pin_min_length } = state else { panic!("{state:?}") };
    assert_eq!(display_name, NURSE.display_name);
    assert_eq!(pin_min_length, 6);
    assert_eq!(roles_of(&central, NURSE.username), ["clinician"]);
    let login = desk.last_event();
    assert_eq!((login.subtype, login.user_id.as_str()), (AuditSubtype::Login, user_id.as_str()));

    // No patient data until the PIN is set; a bad PIN is refused.
    assert!(matches!(desk.with(|s| sessions.context(s)), Err(SessionError::PinSetup)));
    for (pin, confirm) in [("480213", "480214"), ("4802", "4802"), ("123456", "123456")] {
        let refused = set_pin(&central, &desk, &sessions, pin, confirm);
        assert!(matches!(refused, Err(SessionError::PinInvalid(_))), "{pin}: {refused:?}");
    }
    assert_eq!(set_pin(&central, &desk, &sessions, PIN, PIN).unwrap(), SessionMode::Online);
    assert!(desk.with(|s| sessions.context(s)).is_ok());

    // The PIN unlocks the locked session (a wrong one is counted, then forgiven).
    desk.with(|s| sessions.lock(s)).unwrap();
    let locked = desk.with(|s| sessions.state(s)).unwrap();
    assert!(matches!(locked, SessionState::Locked { unlock_with: SecretKind::Pin, .. }), "{locked:?}");
    assert!(matches!(central.rt.block_on(sessions.unlock(&desk.ws, "000000")), Err(SessionError::BadCredentials)));
    assert_eq!(central.rt.block_on(sessions.unlock(&desk.ws, PIN)).unwrap().mode, SessionMode::Online);

    // While the provider answers, the PIN does not sign in: the browser does.
    desk.with(|s| sessions.sign_out(s)).unwrap();
    assert!(matches!(pin(&central, &desk, &sessions, NURSE.username, PIN), Err(SessionError::OnlineAvailable)));

    // The service down: the list is the kept one, the browser sign-in says
    // to use the PIN, and the PIN signs in offline.
    central.stop_service();
    let kept = central.rt.block_on(sessions.sign_in_options(&desk.ws)).unwrap();
    assert!(!kept.fresh);
    assert_eq!(kept.providers, options.providers);
    let (opener, pages) = browser(NURSE, false);
    let unreachable = central.rt.block_on(sessions.sign_in_oidc(&desk.ws, PROVIDER, &opener));
    assert!(matches!(unreachable, Err(SessionError::ProviderUnreachable)), "{unreachable:?}");
    assert!(pages.lock().unwrap().is_empty(), "no browser was opened");
    assert_eq!(pin(&central, &desk, &sessions, "  Nurse.OIDC ", PIN).unwrap(), SessionMode::Offline);
    assert_eq!(desk.last_event().subtype, AuditSubtype::LoginOffline);
    assert_eq!(desk.last_event().user_id, user_id);
    // A password form is the wrong door for this clinician.
    let password = Credentials { username: NURSE.username.into(), password: PIN.into(), provider: None };
    assert!(matches!(central.rt.block_on(sessions.sign_in(&desk.ws, &password)), Err(SessionError::UsePin)));

    // Wrong PINs count; at the limit (5) the verifier is wiped, and then
    // even the right PIN is refused.
    desk.with(|s| sessions.sign_out(s)).unwrap();
    for attempt in 1..=4 {
        let refused = pin(&central, &desk, &sessions, NURSE.username, "999999");
        assert!(matches!(refused, Err(SessionError::BadCredentials)), "attempt {attempt}: {refused:?}");
    }
    assert!(matches!(pin(&central, &desk, &sessions, NURSE.username, "999999"), Err(SessionError::PinWiped)));
    assert!(matches!(pin(&central, &desk, &sessions, NURSE.username, PIN), Err(SessionError::OfflineNotAllowed)));
    let failures = desk
        .events()
        .iter()
        .filter(|e| e.subtype == AuditSubtype::UnlockFailed && e.outcome == AuditOutcome::MinorFailure)
        .count();
    // The unlock's wrong PIN, the password form, five wrong PINs, the refusal after the wipe.
    assert_eq!(failures, 8);

    // Online again, the browser sign-in asks for a new PIN.
    central.start_service();
    let state = sign_in_oidc(&central, &desk, &sessions, NURSE);
    assert!(matches!(state, SessionState::PinSetup { .. }), "{state:?}");
}

#[test]
fn a_redirect_with_another_state_is_refused_and_the_sign_in_waits_for_its_own() {
    let (_provider, central) = start();
    let desk = Desk::new(&central, "Ward 7A");
    let sessions = sessions();
    // A clinician who already has a PIN here signs in again: no new PIN asked.
    sign_in_oidc(&central, &desk, &sessions, NURSE);
    set_pin(&central, &desk, &sessions, PIN, PIN).unwrap();

    let (opener, pages) = browser(NURSE, true);
    let state = central.rt.block_on(sessions.sign_in_oidc(&desk.ws, PROVIDER, &opener)).expect("browser sign-in");
    assert!(matches!(state, SessionState::Active { ref session } if session.mode == SessionMode::Online), "{state:?}");
    let pages = pages.lock().unwrap();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert_eq!(pages[0].0, 400, "the stranger's redirect: {}", pages[0].1);
    assert!(pages[0].1.contains("does not belong to the sign-in Wardbook started"), "{}", pages[0].1);
    assert_eq!(pages[1].0, 200, "our redirect: {}", pages[1].1);

    // "Cancel" on the waiting screen ends the wait (the browser never comes back).
    let cancel = |_: &str| {
        sessions.cancel_oidc();
        Ok(())
    };
    let cancelled = central.rt.block_on(sessions.sign_in_oidc(&desk.ws, PROVIDER, &cancel));
    assert!(matches!(cancelled, Err(SessionError::SignInCancelled)), "{cancelled:?}");
    // The session of before is still there.
    assert!(matches!(desk.with(|s| sessions.state(s)).unwrap(), SessionState::Active { .. }));
}
