//! The sync engine end to end against the real service and PostgreSQL:
//! round trip between two workstations, offline work, conflicts, scope
//! changes, restarts in the middle of an initial sync. Synthetic data only.

mod common;

use common::central::{Central, Station, heart_rate, penicillin_allergy};
use uuid::Uuid;
use wardbook::edits;
use wardbook::sync::SyncError;
use wardbook_protocol::ObservationStatus;
use wardbook_test_support::{Cut, FaultPlan, FaultProxy};

const WARD: &str = "Ward 7A";

/// A ward, a workstation enrolled and synced, and a reference workstation
/// in the same location that only ever pulls: its cache is the server's
/// scoped state.
fn setup(patients: usize) -> (Central, Station, Station) {
    let central = Central::start();
    central.synth(patients, 11);
    let mut a = Station::new("nurse.a.synthetic");
    a.enroll(&central, &central.url(), WARD);
    let mut reference = Station::new("reference.synthetic");
    reference.enroll(&central, &central.url(), WARD);
    a.sync(&central).expect("initial sync");
    reference.sync(&central).expect("initial sync");
    (central, a, reference)
}

fn first_patient(station: &Station) -> Uuid {
    station.view_everything()[0]
}

/// The workstation holds what the server holds for its scope, row for row.
fn assert_converged(central: &Central, station: &Station, reference: &Station) {
    reference.sync(central).expect("reference sync");
    let (mine, theirs) = (station.digest(), reference.digest());
    assert_eq!(mine.len(), theirs.len(), "row counts differ");
    for (key, value) in &theirs {
        assert_eq!(mine.get(key), Some(value), "{key:?} differs from the server's scoped state");
    }
}

#[test]
fn round_trip_reaches_the_central_database_and_a_second_workstation() {
    let (central, a, reference) = setup(8);
    let status = a.status();
    assert!(status.enrolled && status.online == Some(true), "{status:?}");
    assert!(status.initial_sync.is_none() && status.data_as_of.is_some(), "{status:?}");
    let patient = first_patient(&a);

    // One cycle at a time per data directory (the window and `sync --once`).
    let lock = std::fs::File::open(a.data_dir().join("sync.lock")).expect("the lock file exists");
    lock.lock().expect("hold the lock");
    assert!(matches!(a.sync(&central), Err(SyncError::Busy)), "a second cycle waits its turn");
    drop(lock);

    let hr = a.with(|s| edits::record_observation(s, &a.ctx, heart_rate(patient, 88.0))).expect("vitals");
    let allergy = a.with(|s| edits::save_allergy(s, &a.ctx, penicillin_allergy(patient))).expect("allergy");
    assert_eq!(a.status().pending_edits, 2);
    let report = a.sync(&central).expect("sync");
    assert_eq!(report.pushed.applied, 2, "{report:?}");
    assert_eq!(a.status().pending_edits, 0);

    let client = central.owner();
    let row = central
        .rt
        .block_on(client.query_one(
            "SELECT m.author, m.authored_at, o.version, o.body->>'recorded_by'
               FROM applied_mutations m JOIN observations o ON o.id = m.entity_id WHERE o.id = $1",
            &[&hr.id],
        ))
        .expect("the observation is central");
    assert_eq!(row.get::<_, String>(0), "nurse.a.synthetic");
    let authored: chrono::DateTime<chrono::Utc> = row.get(1);
    assert!((authored - hr.updated_at).num_seconds().abs() < 5, "authored at the time of the edit");
    assert_eq!(row.get::<_, i64>(2), 1);
    assert_eq!(row.get::<_, String>(3), "nurse.a.synthetic");
    let allergy_author: String = central
        .rt
        .block_on(client.query_one("SELECT author FROM applied_mutations WHERE entity_id = $1", &[&allergy.id]))
        .expect("the allergy is central")
        .get(0);
    assert_eq!(allergy_author, "nurse.a.synthetic");

    // The second workstation of the ward receives both.
    reference.sync(&central).expect("sync");
    let theirs = reference.digest();
    assert!(theirs.contains_key(&("observation", hr.id)) && theirs.contains_key(&("allergy", allergy.id)));
    assert_converged(&central, &a, &reference);
    // Every view was uploaded once, and the chain verifies on the server.
    a.sync(&central).expect("sync");
    assert_eq!(central.stored_audit_ids(a.device_id()), a.audit_ids());
    assert_eq!(central.verify_audit(a.device_id()).1, None);
}

#[test]
fn offline_edits_and_views_all_arrive_once_in_order_when_the_service_returns() {
    let (mut central, a, reference) = setup(6);
    central.stop_service();
    let patients = a.view_everything();
    let mut recorded = Vec::new();
    for (i, p) in patients.iter().enumerate() {
        recorded.push(a.with(|s| edits::record_observation(s, &a.ctx, heart_rate(*p, 60.0 + i as f64))).expect("edit"));
    }
    let err = a.sync(&central).expect_err("offline");
    assert!(matches!(err, SyncError::Offline { .. }), "{err}");
    let status = a.status();
    assert_eq!(status.online, Some(false));
    assert_eq!(status.pending_edits, patients.len() as i64);
    assert!(status.pending_audit_events > patients.len() as i64);
    assert!(status.last_error.as_deref().is_some_and(|e| e.contains("cannot be reached")), "{status:?}");
    // Entered in error while offline: a second edit of the same row.
    a.with(|s| edits::set_observation_status(s, &a.ctx, recorded[0].id, ObservationStatus::EnteredInError))
        .expect("status change");

    central.start_service();
    let report = a.sync(&central).expect("one cycle after the service returns");
    assert_eq!(report.pushed.applied, patients.len() as u64 + 1, "{report:?}");
    let status = a.status();
    assert_eq!((status.online, status.pending_edits, status.pending_audit_events), (Some(true), 0, 0));
    assert_eq!(central.stored_audit_ids(a.device_id()), a.audit_ids(), "every event once, in order");
    assert_eq!(central.verify_audit(a.device_id()).1, None, "the chain verifies on the server");
    let status_text: String = central
        .rt
        .block_on(
            central.owner().query_one("SELECT body->>'status' FROM observations WHERE id = $1", &[&recorded[0].id]),
        )
        .expect("row")
        .get(0);
    assert_eq!(status_text, "entered-in-error");
    assert_converged(&central, &a, &reference);
}

#[test]
fn concurrent_allergy_edits_become_a_visible_conflict_that_can_be_reapplied() {
    let (central, a, b) = setup(4);
    let patient = first_patient(&a);
    let allergy = a.with(|s| edits::save_allergy(s, &a.ctx, penicillin_allergy(patient))).expect("allergy");
    a.sync(&central).expect("sync");
    b.sync(&central).expect("sync");

    // Both change it "offline" (neither has synced since).
    let mut on_a = allergy.clone();
    on_a.criticality = wardbook_protocol::Criticality::Low;
    a.with(|s| edits::save_allergy(s, &a.ctx, on_a)).expect("edit a");
    let mut on_b = allergy.clone();
    on_b.clinical_status = wardbook_protocol::AllergyClinicalStatus::Resolved;
    b.with(|s| edits::save_allergy(s, &b.ctx, on_b)).expect("edit b");

    assert_eq!(a.sync(&central).expect("a syncs first").pushed.applied, 1);
    let report = b.sync(&central).expect("b syncs second");
    assert_eq!(report.pushed.conflicts, 1, "{report:?}");
    let conflicts = b.with(|s| edits::conflicts(s)).expect("conflicts");
    assert_eq!(conflicts.len(), 1);
    let (mine, theirs) = b
        .with(|s| wardbook::audit::reads::conflict_versions(s, &b.ctx, conflicts[0].mutation_id))
        .expect("both versions");
    let (
        wardbook_protocol::api::Record::Allergy { allergy: mine },
        wardbook_protocol::api::Record::Allergy { allergy: theirs },
    ) = (mine, theirs)
    else {
        panic!("allergy versions");
    };
    assert_eq!(mine.clinical_status, wardbook_protocol::AllergyClinicalStatus::Resolved, "b's edit is kept");
    assert_eq!(theirs.criticality, wardbook_protocol::Criticality::Low, "a's edit is what the server holds");
    assert_eq!(b.status().conflicts, 1);

    let before: i64 = central.query_i64(&format!("SELECT version FROM allergies WHERE id = '{}'", allergy.id));
    b.with(|s| edits::reapply_conflict(s, &b.ctx, conflicts[0].mutation_id)).expect("re-apply");
    assert_eq!(b.sync(&central).expect("sync").pushed.applied, 1);
    let after: i64 = central.query_i64(&format!("SELECT version FROM allergies WHERE id = '{}'", allergy.id));
    assert_eq!(after, before + 1, "re-applying makes a new version on the server");
    let fields = central.owner();
    let row = central
        .rt
        .block_on(fields.query_one("SELECT clinical_status, criticality FROM allergies WHERE id = $1", &[&allergy.id]))
        .expect("allergy");
    assert_eq!(
        (row.get::<_, String>(0).as_str(), row.get::<_, String>(1).as_str()),
        ("resolved", "low"),
        "re-applying lays b's change over a's: neither is lost"
    );
    assert_eq!(b.status().conflicts, 0);
    a.sync(&central).expect("a catches up");
    assert_converged(&central, &a, &b);
}

#[test]
fn a_patient_leaving_scope_is_purged_after_its_pending_edits_are_pushed() {
    let (central, a, reference) = setup(6);
    let patients = a.view_everything();
    let (kept_edit, quiet) = (patients[0], patients[1]);
    let hr = a.with(|s| edits::record_observation(s, &a.ctx, heart_rate(kept_edit, 101.0))).expect("edit");
    central.assign(kept_edit, WARD, false);
    central.assign(quiet, WARD, false);
    a.view_everything();

    a.sync(&central).expect("sync");
    let digest = a.digest();
    assert!(!digest.contains_key(&("patient", quiet)), "the quiet patient is purged");
    assert!(!digest.contains_key(&("patient", kept_edit)), "purged once its edit was pushed");
    assert_eq!(central.query_i64(&format!("SELECT count(*) FROM observations WHERE id = '{}'", hr.id)), 1);
    assert_eq!(central.stored_audit_ids(a.device_id()), a.audit_ids(), "its audit events still upload");
    assert_converged(&central, &a, &reference);
}

#[test]
fn an_initial_sync_interrupted_by_restarts_resumes_from_the_last_applied_page() {
    let mut central = Central::start();
    central.synth(40, 5);
    let proxy = FaultProxy::start(central.addr);
    let mut a = Station::new("nurse.synthetic");
    a.enroll(&central, &proxy.url(), WARD);
    a.engine = a.engine.take().map(|e| e.with_pull_page(50));
    // The connection breaks part-way through the download.
    proxy.set_plan(FaultPlan::Always(Cut::ServerBytes(120_000)));
    assert!(a.sync(&central).is_err(), "the cut interrupts the initial sync");
    let progress = a.status().initial_sync.expect("initial sync under way");
    let expected = progress.rows_expected.expect("the first page says how many rows are coming");
    assert!(progress.rows_done >= 50 && progress.rows_done < expected, "{progress:?}");

    // The service and PostgreSQL restart.
    central.stop_service();
    let cluster = central.db.cluster().expect("a cluster of our own");
    cluster.stop().expect("PostgreSQL stops");
    cluster.start_again().expect("PostgreSQL starts");
    central.start_service();
    proxy.set_plan(FaultPlan::Pass);

    let report = a.sync(&central).expect("the sync resumes");
    assert_eq!(report.pulled as i64, expected - progress.rows_done, "the rest, not everything again");
    assert!(a.status().initial_sync.is_none());
    assert_eq!(a.digest().len() as i64, expected);
}

#[test]
fn a_server_transaction_that_commits_late_still_reaches_the_workstation() {
    let (central, a, reference) = setup(10);
    let patients = a.view_everything();
    let before = a.digest();
    // Writer 1 changes a patient and stays open; writer 2 starts later,
    // changes another and commits first.
    let mut early = central.owner();
    let tx1 = central.rt.block_on(early.transaction()).expect("transaction");
    central
        .rt
        .block_on(tx1.execute("UPDATE patients SET preferred_language = 'fr' WHERE id = $1", &[&patients[0]]))
        .expect("early write");
    let late = central.owner();
    central
        .rt
        .block_on(late.execute("UPDATE patients SET preferred_language = 'de' WHERE id = $1", &[&patients[1]]))
        .expect("late write");

    a.sync(&central).expect("sync while writer 1 is open");
    assert_eq!(a.digest().get(&("patient", patients[0])), before.get(&("patient", patients[0])), "not yet committed");

    central.rt.block_on(tx1.commit()).expect("late commit");
    a.sync(&central).expect("sync after the commit");
    let after = a.digest();
    for p in &patients[..2] {
        let server_version = central.query_i64(&format!("SELECT version FROM patients WHERE id = '{p}'"));
        assert_eq!(after.get(&("patient", *p)).map(|v| v.0), Some(server_version), "patient {p} is current");
    }
    assert_converged(&central, &a, &reference);
}

#[test]
fn acknowledged_audit_events_are_removed_after_retention_and_the_chain_still_verifies() {
    let central = Central::start();
    central.synth(8, 2);
    let policy_dir = tempfile::tempdir().expect("dir");
    let policy = policy_dir.path().join("policy.toml");
    std::fs::write(&policy, "audit_retention_days = 0\n").expect("policy");
    let mut a = Station::with_vars("nurse.synthetic", &[("WARDBOOK_POLICY_FILE", policy.display().to_string())]);
    a.enroll(&central, &central.url(), WARD);
    a.sync(&central).expect("sync");
    a.view_everything();
    let all_events = a.audit_ids();
    assert!(all_events.len() > 3);

    // Unacknowledged events are never removed, whatever the retention; the
    // trigger refuses even a direct delete.
    let key = a.keys().load(wardbook::keys::KeySlot::Current).expect("keyring").expect("key");
    let raw = common::raw_connection(&a.config.database_path(), &key);
    let direct = raw.execute("DELETE FROM audit_events", []);
    assert!(direct.is_err(), "an unacknowledged event cannot be deleted");
    drop(raw);

    a.sync(&central).expect("upload, then prune");
    let left = a.audit_ids();
    assert_eq!(left, vec![*all_events.last().expect("events")], "all but the newest acknowledged event are gone");
    assert_eq!(central.stored_audit_ids(a.device_id()), all_events, "the server holds them all");
    let report = a.with(|s| wardbook::audit::verify::verify_chain(s)).expect("verify");
    assert!(matches!(report, wardbook::audit::verify::ChainReport::Intact { .. }), "{report}");

    // The chain goes on from there, locally and on the server.
    a.view_everything();
    a.sync(&central).expect("sync");
    let report = a.with(|s| wardbook::audit::verify::verify_chain(s)).expect("verify");
    assert!(matches!(report, wardbook::audit::verify::ChainReport::Intact { .. }), "{report}");
    assert_eq!(central.verify_audit(a.device_id()).1, None);
    assert_eq!(a.status().pending_audit_events, 0);
}

#[test]
fn background_sync_runs_on_start_on_demand_and_when_the_service_returns() {
    let (mut central, a, _reference) = setup(4);
    // The window's own connection to the same cache, and its background task.
    let ws = wardbook::startup::open_workstation(a.config.clone()).expect("open");
    let engine = wardbook::sync::engine_for(&a.config, a.keys().as_ref(), &ws.store).expect("engine");
    let shared = std::sync::Arc::new(std::sync::Mutex::new(ws));
    let before = a.status().last_success;
    let (trigger, task) =
        wardbook::sync::engine::background(std::sync::Arc::new(engine), shared, std::time::Duration::from_secs(3600));
    let task = central.rt.spawn(task);
    let poll = |what: &str, done: &dyn Fn(&wardbook_protocol::SyncStatus) -> bool| {
        wardbook_test_support::wait_until(std::time::Duration::from_secs(60), what, || {
            let s = a.status();
            Ok(done(&s).then_some(()))
        })
        .expect(what);
    };
    poll("a cycle on start", &|s| s.last_success > before);

    central.stop_service();
    let patient = first_patient(&a);
    a.with(|s| edits::record_observation(s, &a.ctx, heart_rate(patient, 90.0))).expect("edit");
    trigger.sync_now();
    poll("an on-demand cycle that finds the service gone", &|s| s.online == Some(false));
    assert_eq!(a.status().pending_edits, 1);

    central.start_service();
    poll("a cycle soon after the service returns, without being asked", &|s| {
        s.online == Some(true) && s.pending_edits == 0 && s.pending_audit_events == 0
    });
    task.abort();
}
