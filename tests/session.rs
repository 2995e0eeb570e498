//! Clinician sessions end to end: the real sync service and PostgreSQL
//! (tests/common/central.rs), a real SQLCipher cache and the real Secret
//! Service (run inside `scripts/with-keyring.sh`). Online and offline
//! sign-in, the offline verifier's attempt limit, the idle lock on an
//! injected clock, unlock, another clinician over a locked session, and
//! break-the-glass. Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::central::Central;
use common::desk::Desk;
use uuid::Uuid;
use wardbook::audit::reads::{self, Source};
use wardbook::session::{ManualClock, SessionError, SessionPolicy, Sessions};
use wardbook_protocol::api::Role;
use wardbook_protocol::workstation::{BreakGlassRequest, Credentials, SessionMode, SessionState};
use wardbook_protocol::{AuditAction, AuditEvent, AuditOutcome, AuditSubtype, PurposeOfUse};

const PASSWORD: &str = "synthetic-session-password";
const NURSE: &str = "nurse.session.synthetic";
const DOCTOR: &str = "doctor.session.synthetic";
const REASON: &str = "Arrived unconscious in ED; need allergies and recent vitals";

fn add_user(central: &Central, username: &str, display_name: &str) -> Uuid {
    let client = central.owner();
    central
        .rt
        .block_on(wardbook_server::admin::user_add(&client, username, display_name, &[Role::Clinician], PASSWORD))
        .expect("user")
}

fn credentials(username: &str, password: &str) -> Credentials {
    Credentials { username: username.to_owned(), password: password.to_owned(), provider: None }
}

fn policy(idle_minutes: u64, break_glass_minutes: u32) -> SessionPolicy {
    SessionPolicy { idle_lock: Duration::from_secs(idle_minutes * 60), offline_login_hours: 72, break_glass_minutes }
}

fn sign_in(
    central: &Central,
    desk: &Desk,
    sessions: &Sessions,
    username: &str,
    password: &str,
) -> Result<wardbook_protocol::workstation::SessionInfo, SessionError> {
    central.rt.block_on(sessions.sign_in(&desk.ws, &credentials(username, password)))
}

/// The session event of a subtype: execute, this outcome, no patient unless break-the-glass.
fn assert_session_event(e: &AuditEvent, subtype: AuditSubtype, user_id: &str, outcome: AuditOutcome) {
    assert_eq!(e.subtype, subtype, "{e:?}");
    assert_eq!(e.action, AuditAction::Execute, "{e:?}");
    assert_eq!(e.user_id, user_id, "{e:?}");
    assert_eq!(e.outcome, outcome, "{e:?}");
}

#[test]
fn online_sign_in_then_offline_sign_in_while_the_service_is_down() {
    let mut central = Central::start();
    central.synth(2, 1);
    let nurse = add_user(&central, NURSE, "Synthetic Nurse").to_string();
    let desk = Desk::new(&central, "Ward 7A");
    let sessions = Sessions::new(SessionPolicy::from_config(&desk.config));
    assert_eq!(desk.with(|s| sessions.state(s)).unwrap(), SessionState::SignedOut);
    assert_eq!(desk.with(|s| sessions.context(s)).unwrap_err().code(), "signed_out");

    let info = sign_in(&central, &desk, &sessions, NURSE, PASSWORD).expect("online sign-in");
    assert_eq!((info.user_id.as_str(), info.mode, info.idle_lock_minutes), (nurse.as_str(), SessionMode::Online, 10));
    let login = desk.last_event();
    assert_session_event(&login, AuditSubtype::Login, &nurse, AuditOutcome::Success);
    assert_eq!(login.purpose_of_use, PurposeOfUse::Treatment);
    let ctx = desk.with(|s| sessions.context(s)).expect("context");
    assert_eq!((ctx.user_id.as_str(), ctx.session_id), (nurse.as_str(), login.session_id));
    desk.with(|s| sessions.sign_out(s)).expect("sign out");
    assert_session_event(&desk.last_event(), AuditSubtype::Logout, &nurse, AuditOutcome::Success);
    assert_eq!(desk.with(|s| sessions.state(s)).unwrap(), SessionState::SignedOut);

    central.stop_service();
    // Offline, the name matches whatever its case and spaces.
    let info = sign_in(&central, &desk, &sessions, "  Nurse.Session.Synthetic ", PASSWORD).expect("offline sign-in");
    assert_eq!((info.user_id.as_str(), info.mode), (nurse.as_str(), SessionMode::Offline));
    assert_eq!(info.display_name, "Synthetic Nurse");
    assert_session_event(&desk.last_event(), AuditSubtype::LoginOffline, &nurse, AuditOutcome::Success);
    assert!(desk.with(|s| sessions.context(s)).is_ok());

    // The service back: the events reach it, chained.
    central.start_service();
    let keys = wardbook::keys::key_store_for(&desk.config);
    let engine = desk.with(|s| wardbook::sync::engine_for(&desk.config, keys.as_ref(), s)).expect("engine");
    central.rt.block_on(engine.cycle(&desk.ws)).expect("sync");
    let device = desk.with(|s| s.device_id());
    assert_eq!(central.verify_audit(device).1, None);
    assert_eq!(central.stored_audit_ids(device), desk.events().iter().map(|e| e.id).collect::<Vec<_>>());
}

#[test]
fn five_wrong_offline_passwords_wipe_the_verifier() {
    let mut central = Central::start();
    central.synth(2, 1);
    let nurse = add_user(&central, NURSE, "Synthetic Nurse").to_string();
    let desk = Desk::new(&central, "Ward 7A");
    let sessions = Sessions::new(policy(10, 60));
    sign_in(&central, &desk, &sessions, NURSE, PASSWORD).expect("online sign-in");
    desk.with(|s| sessions.sign_out(s)).expect("sign out");
    central.stop_service();

    for attempt in 1..=5 {
        let err = sign_in(&central, &desk, &sessions, NURSE, "not-the-password").expect_err("wrong password");
        let want = if attempt < 5 { "bad_credentials" } else { "verifier_wiped" };
        assert_eq!(err.code(), want, "attempt {attempt}: {err}");
        assert_session_event(&desk.last_event(), AuditSubtype::UnlockFailed, &nurse, AuditOutcome::MinorFailure);
        assert_eq!(desk.with(|s| sessions.state(s)).unwrap(), SessionState::SignedOut);
    }
    let err = sign_in(&central, &desk, &sessions, NURSE, PASSWORD).expect_err("the verifier is gone");
    assert_eq!(err.code(), "offline_not_allowed", "{err}");
    assert!(err.to_string().contains("Sign in online"), "{err}");
    for secret in [PASSWORD, NURSE, "not-the-password"] {
        assert!(!err.to_string().contains(secret), "{err}");
    }
    // Not even counted against a verifier: no user to name.
    assert_session_event(&desk.last_event(), AuditSubtype::UnlockFailed, "unknown", AuditOutcome::MinorFailure);

    // Online again, the verifier comes back.
    central.start_service();
    sign_in(&central, &desk, &sessions, NURSE, PASSWORD).expect("online sign-in");
    desk.with(|s| sessions.sign_out(s)).expect("sign out");
    central.stop_service();
    assert_eq!(sign_in(&central, &desk, &sessions, NURSE, PASSWORD).expect("offline").mode, SessionMode::Offline);
}

#[test]
fn offline_sign_in_is_refused_to_a_clinician_who_never_signed_in_online_here() {
    let mut central = Central::start();
    central.synth(2, 1);
    add_user(&central, NURSE, "Synthetic Nurse");
    let doctor = add_user(&central, DOCTOR, "Synthetic Doctor").to_string();
    let desk = Desk::new(&central, "Ward 7A");
    let sessions = Sessions::new(policy(10, 60));
    // A wrong password online is refused, not tried offline.
    let err = sign_in(&central, &desk, &sessions, DOCTOR, "not-the-password").expect_err("refused");
    assert_eq!(err.code(), "bad_credentials", "{err}");
    sign_in(&central, &desk, &sessions, DOCTOR, PASSWORD).expect("the doctor signs in online");
    desk.with(|s| sessions.sign_out(s)).expect("sign out");
    central.stop_service();

    let err = sign_in(&central, &desk, &sessions, NURSE, PASSWORD).expect_err("never online here");
    assert_eq!(err.code(), "offline_not_allowed", "{err}");
    assert_session_event(&desk.last_event(), AuditSubtype::UnlockFailed, "unknown", AuditOutcome::MinorFailure);
    assert_eq!(desk.with(|s| sessions.state(s)).unwrap(), SessionState::SignedOut);
    // The doctor who did sign in online here may.
    assert_eq!(sign_in(&central, &desk, &sessions, DOCTOR, PASSWORD).expect("offline").user_id, doctor);
}

#[test]
fn an_idle_session_locks_unlocks_with_the_password_and_yields_to_another_clinician() {
    let central = Central::start();
    central.synth(2, 1);
    let nurse = add_user(&central, NURSE, "Synthetic Nurse").to_string();
    let doctor = add_user(&central, DOCTOR, "Synthetic Doctor").to_string();
    let desk = Desk::new(&central, "Ward 7A");
    let clock = Arc::new(ManualClock::new());
    let sessions = Sessions::with_clock(policy(10, 60), clock.clone());
    sign_in(&central, &desk, &sessions, NURSE, PASSWORD).expect("sign-in");
    let session_id = desk.last_event().session_id;

    // Activity postpones the lock; reads do not.
    clock.advance(Duration::from_secs(9 * 60));
    sessions.activity();
    clock.advance(Duration::from_secs(9 * 60));
    assert!(desk.with(|s| sessions.context(s)).is_ok());
    clock.advance(Duration::from_secs(60));
    let err = desk.with(|s| sessions.context(s)).expect_err("locked after 10 idle minutes");
    assert_eq!(err.code(), "locked");
    let lock = desk.last_event();
    assert_session_event(&lock, AuditSubtype::Lock, &nurse, AuditOutcome::Success);
    assert_eq!(lock.session_id, session_id);
    let state = desk.with(|s| sessions.state(s)).unwrap();
    let unlock_with = wardbook_protocol::workstation::SecretKind::Password;
    assert_eq!(
        state,
        SessionState::Locked { user_id: nurse.clone(), display_name: "Synthetic Nurse".into(), unlock_with }
    );
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json.as_object().map(|o| o.len()), Some(4), "the state, the user, the name, what unlocks: {json}");
    sessions.activity();
    assert_eq!(desk.with(|s| sessions.context(s)).unwrap_err().code(), "locked", "activity does not unlock");
    assert_eq!(desk.events().iter().filter(|e| e.subtype == AuditSubtype::Lock).count(), 1, "locked once");

    let err = central.rt.block_on(sessions.unlock(&desk.ws, "not-the-password")).expect_err("wrong password");
    assert_eq!(err.code(), "bad_credentials");
    let failed = desk.last_event();
    assert_session_event(&failed, AuditSubtype::UnlockFailed, &nurse, AuditOutcome::MinorFailure);
    assert_eq!(failed.session_id, session_id);
    let info = central.rt.block_on(sessions.unlock(&desk.ws, PASSWORD)).expect("unlock");
    assert_eq!(info.user_id, nurse);
    let unlock = desk.last_event();
    assert_session_event(&unlock, AuditSubtype::Unlock, &nurse, AuditOutcome::Success);
    assert_eq!(unlock.session_id, session_id, "the same session resumes");
    assert_eq!(desk.with(|s| sessions.context(s)).unwrap().session_id, session_id);

    // Locked by hand, then another clinician signs in over it.
    desk.with(|s| sessions.lock(s)).expect("lock");
    assert_session_event(&desk.last_event(), AuditSubtype::Lock, &nurse, AuditOutcome::Success);
    let before = desk.events().len();
    let info = sign_in(&central, &desk, &sessions, DOCTOR, PASSWORD).expect("another clinician");
    assert_eq!(info.user_id, doctor);
    let events = desk.events();
    assert_eq!(events.len(), before + 2);
    assert_session_event(&events[before], AuditSubtype::Logout, &nurse, AuditOutcome::Success);
    assert_eq!(events[before].session_id, session_id);
    assert_session_event(&events[before + 1], AuditSubtype::Login, &doctor, AuditOutcome::Success);
    assert_ne!(events[before + 1].session_id, session_id);
    assert!(
        matches!(desk.with(|s| sessions.state(s)).unwrap(), SessionState::Active { session } if session.user_id == doctor)
    );
}

/// (patient id, MRN) of a patient on `location`, the first by MRN (the
/// MRNs are sealed: opened with the data keys).
fn patient_on(central: &Central, location: &str) -> (Uuid, String) {
    let mut client = central.owner();
    let on: Vec<Uuid> = central
        .rt
        .block_on(client.query(
            "SELECT pl.patient_id FROM patient_locations pl JOIN locations l ON l.id = pl.location_id
              WHERE pl.active AND l.code = $1",
            &[&location],
        ))
        .expect("the patients on the location")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let keys = central.keys();
    let patients = central.rt.block_on(wardbook_server::admin::patients(&mut client, &keys)).expect("the patients");
    let first = patients.into_iter().find(|p| on.contains(&p.id)).expect("a patient");
    (first.id, first.mrn)
}

#[test]
fn break_the_glass_holds_the_records_in_memory_until_expiry_lock_or_going_offline() {
    let mut central = Central::start();
    central.synth(6, 3);
    let nurse = add_user(&central, NURSE, "Synthetic Nurse").to_string();
    let desk = Desk::new(&central, "Ward 7A");
    let (patient, mrn) = patient_on(&central, "Ward 7B");
    let clock = Arc::new(ManualClock::new());
    let sessions = Sessions::with_clock(policy(60, 30), clock.clone());
    let request = |reason: &str| BreakGlassRequest {
        mrn: mrn.clone(),
        family_name: None,
        birth_date: None,
        reason: reason.to_owned(),
    };
    let glass = |central: &Central, reason: &str| central.rt.block_on(sessions.break_glass(&desk.ws, &request(reason)));

    assert_eq!(glass(&central, REASON).expect_err("signed out").code(), "signed_out");
    sign_in(&central, &desk, &sessions, NURSE, PASSWORD).expect("sign-in");
    for reason in ["", "   urgent   ", "a b c d e f g h i"] {
        assert_eq!(glass(&central, reason).expect_err("no reason").code(), "reason_required");
    }
    let unknown = central
        .rt
        .block_on(sessions.break_glass(
            &desk.ws,
            &BreakGlassRequest {
                mrn: "SYN-NOPE-000".into(),
                family_name: None,
                birth_date: None,
                reason: REASON.into(),
            },
        ))
        .expect_err("unknown MRN");
    assert_eq!(unknown.code(), "not_found");
    assert_eq!(desk.with(|s| sessions.emergency_access(s, patient)).unwrap().map(|_| ()), None);

    assert_eq!(glass(&central, REASON).expect("break-the-glass"), patient);
    let start = desk.last_event();
    assert_session_event(&start, AuditSubtype::BreakGlassStart, &nurse, AuditOutcome::Success);
    assert_eq!((start.patient_id, start.purpose_of_use), (Some(patient), PurposeOfUse::EmergencyTreatment));
    let (ctx, records) = desk.with(|s| sessions.emergency_access(s, patient)).unwrap().expect("records held");
    assert_eq!(
        (ctx.purpose, ctx.user_id.as_str(), ctx.session_id),
        (PurposeOfUse::EmergencyTreatment, nurse.as_str(), start.session_id)
    );
    assert_eq!((records.patient.id, records.patient.mrn.as_str()), (patient, mrn.as_str()));
    // The chart comes from the held records, its view audited in the emergency context.
    let (chart_ctx, source) = desk.with(|s| sessions.chart_access(s, patient)).unwrap();
    assert_eq!(chart_ctx, ctx);
    let before = desk.last_event().sequence;
    let opened = desk.with(|s| reads::open_chart(s, &chart_ctx, patient, &source)).expect("the held chart");
    assert_eq!(opened.header.patient.id, patient);
    assert!(!opened.vitals.is_empty(), "the vitals tab comes with the held chart");
    let viewed = desk.last_event();
    assert_eq!(viewed.sequence, before + 1, "one event for the header, allergies and vitals");
    assert_eq!(
        (viewed.subtype, viewed.patient_id, viewed.purpose_of_use),
        (AuditSubtype::ChartOpen, Some(patient), PurposeOfUse::EmergencyTreatment)
    );
    // Any other patient's comes from the cache, in the treatment context.
    let (other_ctx, other) = desk.with(|s| sessions.chart_access(s, Uuid::now_v7())).unwrap();
    assert_eq!(other_ctx.purpose, PurposeOfUse::Treatment);
    assert!(matches!(other, Source::Cache), "{other:?}");
    let SessionState::Active { session } = desk.with(|s| sessions.state(s)).unwrap() else { panic!("active") };
    assert_eq!(session.break_glass.len(), 1);
    assert_eq!(session.break_glass[0].patient_id, patient);
    let minutes = (session.break_glass[0].expires_at - session.break_glass[0].started_at).num_minutes();
    assert_eq!(minutes, 30, "the workstation's policy is shorter than the service's 60 minutes");

    // Flagged for review on the server, under the same user id.
    let client = central.owner();
    let row =
        central
            .rt
            .block_on(client.query_one(
                "SELECT user_id, review_status FROM break_glass_accesses WHERE patient_id = $1",
                &[&patient],
            ))
            .expect("the access is recorded");
    assert_eq!((row.get::<_, Uuid>(0).to_string(), row.get::<_, String>(1)), (nurse.clone(), "pending".into()));

    // Never written to the cache: the chart is not there.
    let err = desk.with(|s| reads::open_chart(s, &ctx, patient, &Source::Cache)).expect_err("not cached");
    assert_eq!(err.code(), "not-found");

    // Expiry drops the records and writes the stop.
    clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(desk.with(|s| sessions.emergency_access(s, patient)).unwrap().map(|_| ()), None);
    let stop = desk.last_event();
    assert_session_event(&stop, AuditSubtype::BreakGlassStop, &nurse, AuditOutcome::Success);
    assert_eq!((stop.patient_id, stop.purpose_of_use), (Some(patient), PurposeOfUse::EmergencyTreatment));

    // A lock ends a running access too.
    glass(&central, REASON).expect("again");
    desk.with(|s| sessions.lock(s)).expect("lock");
    let events = desk.events();
    let tail: Vec<AuditSubtype> = events[events.len() - 3..].iter().map(|e| e.subtype).collect();
    assert_eq!(tail, [AuditSubtype::BreakGlassStart, AuditSubtype::BreakGlassStop, AuditSubtype::Lock]);
    central.rt.block_on(sessions.unlock(&desk.ws, PASSWORD)).expect("unlock");
    assert_eq!(desk.with(|s| sessions.emergency_access(s, patient)).unwrap().map(|_| ()), None);

    // Offline: refused, with the service down or in a session started offline.
    central.stop_service();
    assert_eq!(glass(&central, REASON).expect_err("service down").code(), "offline");
    desk.with(|s| sessions.sign_out(s)).expect("sign out");
    sign_in(&central, &desk, &sessions, NURSE, PASSWORD).expect("offline sign-in");
    assert_eq!(glass(&central, REASON).expect_err("offline session").code(), "offline");
}
