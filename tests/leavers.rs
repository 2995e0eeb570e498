//! Leavers lose access everywhere: a clinician with an offline verifier on
//! two workstations is disabled centrally; after one sync of each, offline
//! unlock for that clinician is refused on both, while a colleague's still
//! works. The time from the disabling to "no workstation that has synced
//! will unlock" is measured and printed (never asserted: it is a figure for
//! the IT guide, bounded by the workstations' sync interval). Real service,
//! PostgreSQL, SQLCipher and Secret Service; synthetic users only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::central::Central;
use common::desk::Desk;
use wardbook::session::{SessionError, SessionPolicy, Sessions};
use wardbook_protocol::api::Role;
use wardbook_protocol::workstation::SessionMode;

const PASSWORD: &str = "synthetic-leaver-password";
const LEAVER: &str = "nurse.leaver.synthetic";
const STAYER: &str = "nurse.stayer.synthetic";

fn add_user(central: &Central, username: &str) {
    let db = central.owner();
    central
        .rt
        .block_on(wardbook_server::admin::user_add(&db, username, "Synthetic Nurse", &[Role::Clinician], PASSWORD))
        .expect("user");
}

#[test]
fn a_disabled_user_cannot_unlock_offline_on_any_workstation_after_its_next_sync() {
    let mut central = Central::start();
    central.synth(2, 1);
    add_user(&central, LEAVER);
    add_user(&central, STAYER);
    let desks = [Desk::new(&central, "Ward 7A"), Desk::new(&central, "Ward 7B")];
    let sessions: Vec<Sessions> = desks.iter().map(|d| Sessions::new(SessionPolicy::from_config(&d.config))).collect();
    for (desk, sessions) in desks.iter().zip(&sessions) {
        for user in [LEAVER, STAYER] {
            let info = desk.sign_in(&central, sessions, user, PASSWORD).expect("online sign-in");
            assert_eq!(info.mode, SessionMode::Online);
            desk.with(|s| sessions.sign_out(s)).expect("sign out");
        }
    }

    let disabled_at = Instant::now();
    let db = central.owner();
    let (_, changed) = central.rt.block_on(wardbook_server::admin::user_disable(&db, LEAVER)).expect("disable");
    assert!(changed);
    // Online, the leaver is refused at once, whatever the workstation.
    assert!(matches!(desks[0].sign_in(&central, &sessions[0], LEAVER, PASSWORD), Err(SessionError::BadCredentials)));
    for desk in &desks {
        desk.sync(&central).expect("sync");
    }
    let after_syncs = disabled_at.elapsed();

    central.stop_service();
    for (desk, sessions) in desks.iter().zip(&sessions) {
        let refused = desk.sign_in(&central, sessions, LEAVER, PASSWORD);
        assert!(matches!(refused, Err(SessionError::OfflineNotAllowed)), "{refused:?}");
        let stayer = desk.sign_in(&central, sessions, STAYER, PASSWORD).expect("a colleague still unlocks offline");
        assert_eq!(stayer.mode, SessionMode::Offline);
        desk.with(|s| sessions.sign_out(s)).expect("sign out");
    }
    eprintln!(
        "leaver: disabled to no synced workstation unlocking: {} ms (one sync of each of 2 workstations; in service, add up to one sync interval)",
        after_syncs.as_millis()
    );

    // Enabled again, the clinician signs in online and gets a verifier anew.
    central.start_service();
    let db = central.owner();
    central.rt.block_on(wardbook_server::admin::user_enable(&db, LEAVER)).expect("enable");
    let back = desks[1].sign_in(&central, &sessions[1], LEAVER, PASSWORD).expect("online sign-in again");
    assert_eq!(back.mode, SessionMode::Online);
}
