//! A committed audit event survives a killed process. The test re-runs its
//! own binary as a child that records audit events and reports each commit;
//! the parent kills it with SIGKILL mid-stream and checks that every
//! reported event is in the database with the chain intact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use wardbook::audit::reads::{self, Source};
use wardbook::audit::verify::{ChainReport, verify_chain};
use wardbook::keys::DbKey;
use wardbook::store::Store;

const CHILD_ENV: &str = "WARDBOOK_DURABILITY_CHILD";

#[test]
fn committed_audit_events_survive_sigkill() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let db = TestDb::new();
    let mut store = db.open();
    let ward = ward(2);
    seed(&mut store, &ward);
    drop(store);
    let spec = format!("{}|{}|{}", db.path().display(), &*db.key.expose_hex(), ward.patients[0].id);
    let mut child = Command::new(std::env::current_exe().expect("test exe"))
        .args(["--exact", "committed_audit_events_survive_sigkill", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let mut last_committed = 0i64;
    let deadline = Instant::now() + Duration::from_secs(120);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(n) = line.strip_prefix("committed ") {
            last_committed = n.trim().parse().expect("sequence");
            if last_committed >= 40 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "child too slow");
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert!(last_committed >= 40, "child reported commits");

    let store = Store::open(&db.path(), &db.key, &db.quarantine()).expect("reopen").0;
    match verify_chain(&store).expect("verify") {
        ChainReport::Intact { events } => assert!(
            i64::try_from(events).expect("count") >= last_committed,
            "{events} events stored, {last_committed} reported committed"
        ),
        broken => panic!("chain after kill: {broken}"),
    }
}

fn child(spec: &str) {
    let mut parts = spec.split('|');
    let path = std::path::PathBuf::from(parts.next().expect("path"));
    let key = DbKey::from_hex(parts.next().expect("key")).expect("key hex");
    let patient = uuid::Uuid::parse_str(parts.next().expect("patient")).expect("uuid");
    let quarantine = path.with_file_name("quarantine");
    let mut store = Store::open(&path, &key, &quarantine).expect("child open").0;
    let ctx = ctx();
    for n in 1.. {
        reads::open_chart(&mut store, &ctx, patient, &Source::Cache).expect("audited read");
        println!("committed {n}");
    }
}
