//! The audit table is append-only and its hash chain exposes edits and gaps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use wardbook::audit::reads::{self, Source};
use wardbook::audit::verify::{BreakReason, ChainReport, verify_chain};
use wardbook_protocol::GENESIS_HASH;

/// A store with `n` audit events.
fn store_with_events(n: usize) -> (TestDb, wardbook::store::Store) {
    let db = TestDb::new();
    let ward = ward(2);
    let mut store = db.open();
    seed(&mut store, &ward);
    for _ in 0..n {
        reads::open_chart(&mut store, &ctx(), ward.patients[0].id, &Source::Cache).expect("read");
    }
    (db, store)
}

#[test]
fn an_untouched_chain_is_intact_and_linked() {
    let (db, store) = store_with_events(5);
    assert_eq!(verify_chain(&store).expect("verify"), ChainReport::Intact { events: 5 });
    assert_eq!(verify_chain(&store).expect("verify").to_string(), "5 events, chain intact");
    let raw = db.raw();
    let first_prev: String =
        raw.query_row("SELECT prev_hash FROM audit_events WHERE sequence = 1", [], |r| r.get(0)).expect("row");
    assert_eq!(first_prev, GENESIS_HASH);
    let linked: i64 = raw
        .query_row(
            "SELECT count(*) FROM audit_events a JOIN audit_events b ON b.sequence = a.sequence + 1
             WHERE b.prev_hash = a.hash",
            [],
            |r| r.get(0),
        )
        .expect("join");
    assert_eq!(linked, 4);
}

#[test]
fn update_and_delete_are_refused_by_triggers() {
    let (db, _store) = store_with_events(2);
    let raw = db.raw();
    let err = raw.execute("UPDATE audit_events SET user_id = 'someone-else' WHERE sequence = 1", []);
    assert!(err.expect_err("update refused").to_string().contains("append-only"));
    let err = raw.execute("DELETE FROM audit_events WHERE sequence = 2", []);
    assert!(err.expect_err("delete refused").to_string().contains("append-only"));
    assert_eq!(count_audit_rows(&raw), 2);
}

#[test]
fn changing_one_byte_of_one_event_is_found_at_its_position() {
    let (db, store) = store_with_events(6);
    let raw = db.raw();
    raw.execute_batch(
        "DROP TRIGGER audit_events_no_update;
         UPDATE audit_events SET user_id = 'test-clinicia_' WHERE sequence = 4;",
    )
    .expect("tamper");
    let report = verify_chain(&store).expect("verify");
    assert_eq!(report, ChainReport::Broken { sequence: 4, reason: BreakReason::Altered });
    assert!(report.to_string().starts_with("chain broken at sequence 4"), "{report}");
}

#[test]
fn a_recomputed_hash_still_breaks_the_next_link() {
    let (db, store) = store_with_events(6);
    let raw = db.raw();
    // Rewrite event 3 consistently with itself (as a forger with the key
    // could): its own hash checks out, but event 4 no longer links to it.
    let mut event = wardbook::audit::recent_events(&store, 100).expect("events")[2].clone();
    assert_eq!(event.sequence, 3);
    event.user_id = "forger".into();
    let event = event.seal();
    raw.execute_batch("DROP TRIGGER audit_events_no_update").expect("drop");
    raw.execute(
        "UPDATE audit_events SET user_id = ?1, hash = ?2 WHERE sequence = 3",
        rusqlite::params![event.user_id, event.hash],
    )
    .expect("forge");
    let report = verify_chain(&store).expect("verify");
    assert_eq!(report, ChainReport::Broken { sequence: 4, reason: BreakReason::Unlinked });
}

#[test]
fn a_deleted_event_is_named_as_a_gap() {
    let (db, store) = store_with_events(6);
    let raw = db.raw();
    raw.execute_batch(
        "DROP TRIGGER audit_events_no_delete;
         DELETE FROM audit_events WHERE sequence = 3;",
    )
    .expect("delete");
    let report = verify_chain(&store).expect("verify");
    assert_eq!(report, ChainReport::Broken { sequence: 3, reason: BreakReason::Gap { first: 3, last: 3 } });
    assert_eq!(report.to_string(), "chain broken at sequence 3: event 3 is missing");
}

#[test]
fn sequences_continue_across_reopening() {
    let (db, store) = store_with_events(3);
    drop(store);
    let mut store = db.open();
    let patient = wardbook::audit::recent_events(&store, 1).expect("events")[0].patient_id.expect("patient");
    reads::open_chart(&mut store, &ctx(), patient, &Source::Cache).expect("read");
    assert_eq!(verify_chain(&store).expect("verify"), ChainReport::Intact { events: 4 });
}
