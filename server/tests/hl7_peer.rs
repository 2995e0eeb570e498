//! The MLLP listener against a peer the project did not write: python-hl7
//! (PyPI `hl7`) sends an admission, a result with H and L flags, a
//! malformed message and a result for an unknown patient with its own MLLP
//! client, and reads each ACK with its own parser
//! (`tests/peer/hl7_peer.py`). This test checks that reading, and what the
//! database holds after. Synthetic data only.
//!
//! The peer lives in `target/api-tools/venv`, installed by
//! `scripts/install-deps.sh --with-api-tools` (`make test` runs it). Missing,
//! the test fails and says so: it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
mod hl7_support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::TestServer;
use hl7_support::Feed;
use hl7_support::identities::Db;
use hl7_support::wire::{Counts, adt_a01, oru_r01};
use serde_json::{Value, json};

const INSTALL: &str = "run `scripts/install-deps.sh --with-api-tools` (make test does)";

/// The venv's Python, `WARDBOOK_HL7_PEER_PYTHON` when set; it must import
/// `hl7`. Anything missing fails the test with the command that installs it.
fn peer_python() -> PathBuf {
    let python = std::env::var_os("WARDBOOK_HL7_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/api-tools/venv/bin/python"));
    assert!(
        python.is_file(),
        "the Python of the HL7 peer is not installed at {}: {INSTALL}, or point WARDBOOK_HL7_PEER_PYTHON at a Python with the `hl7` package",
        python.display()
    );
    let probe = Command::new(&python)
        .args(["-c", "import hl7, hl7.client; print(hl7.__version__)"])
        .output()
        .expect("the peer's Python runs");
    assert!(
        probe.status.success(),
        "the `hl7` package (python-hl7) is not installed in {}: {INSTALL}\n{}",
        python.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    python
}

/// Runs the peer against `feed`; returns its JSON report.
async fn run_peer(feed: &Feed, messages: Value) -> Value {
    let python = peer_python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peer/hl7_peer.py");
    let job = json!({ "host": feed.addr.ip().to_string(), "port": feed.addr.port(), "messages": messages });
    // The peer blocks on its socket; the listener runs on this runtime's workers.
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the peer starts");
        child.stdin.take().unwrap().write_all(job.to_string().as_bytes()).unwrap();
        child.wait_with_output().expect("the peer finishes")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the HL7 peer failed ({}):\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("the peer's report is not JSON ({e}): {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_mllp_peer_reads_aa_aa_ar_ae() {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    wardbook_server::admin::location_add(&owner, "4B", "Ward 4B (synthetic)").await.unwrap();
    let feed = Feed::start(&server).await;

    let malformed = "MSH|^~\\&|SYNTH-LAB|GENHOSP|WARDBOOK|GENHOSP|20261201090000|||PEER-BAD|T|2.5.1\r\
PID|1||SYN-P001^^^GENHOSP^MR\r";
    let messages = json!([
        { "name": "admission", "text": adt_a01("PEER-A01", "SYN-P001", "4B", "03") },
        { "name": "result", "text": oru_r01("PEER-ORU", "SYN-P001", "5.9", "H", "128", "L") },
        { "name": "malformed", "text": malformed },
        { "name": "unknown patient", "text": oru_r01("PEER-UNK", "SYN-P404", "4.0", "N", "140", "N") },
    ]);
    let report = run_peer(&feed, messages).await;
    println!("python-hl7 {} read: {}", report["hl7_version"], report["acks"]);
    let acks = report["acks"].as_array().expect("one reading per message");
    assert_eq!(acks.len(), 4, "{report}");
    let seen = |i: usize| {
        let a = &acks[i];
        let s = |k: &str| a[k].as_str().unwrap_or_else(|| panic!("{k} in {a}")).to_owned();
        (s("msa_1"), s("msa_2"), s("err_2"), s("err_3_1"))
    };
    let t = |a: &str, b: &str, c: &str, d: &str| (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned());
    assert_eq!(seen(0), t("AA", "PEER-A01", "", ""), "admission: {}", acks[0]);
    assert_eq!(seen(1), t("AA", "PEER-ORU", "", ""), "result: {}", acks[1]);
    assert_eq!(seen(2), t("AR", "PEER-BAD", "MSH^1^9", "101"), "malformed: {}", acks[2]);
    assert_eq!(seen(3), t("AE", "PEER-UNK", "PID^1^3", "204"), "unknown patient: {}", acks[3]);
    for a in acks {
        assert!(!a["ack"].as_str().unwrap().contains("SYN-P"), "an ACK holds no value from the message: {a}");
    }

    // What the database holds: the admission and the result applied, the
    // malformed message not kept, the unknown patient's result kept in error.
    let counts = Counts::of(&server).await;
    assert_eq!((counts.patients, counts.allergies, counts.observations, counts.hl7_messages), (1, 1, 2, 3));
    let patient = Db::of(&server).await.patient("SYN-P001").await;
    assert_eq!(patient.location.as_deref(), Some("4B"));
    assert_eq!(patient.bed.as_deref(), Some("03"));
    assert!(patient.synthetic, "MSH-11 T marks the patient synthetic");
    let flags: Vec<(String, String)> = owner
        .query(
            "SELECT o.code, o.body->>'interpretation' FROM observations o WHERE o.patient_id = $1 ORDER BY o.code",
            &[&patient.id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(flags, [("2823-3".to_owned(), "H".to_owned()), ("2951-2".to_owned(), "L".to_owned())]);
    // One line per stored message (NULLs left out).
    let stored: Vec<String> = owner
        .query(
            "SELECT concat_ws(' ', control_id, status, ack_code, error_code, error_location)
               FROM phi.hl7_messages ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, ["PEER-A01 processed AA", "PEER-ORU processed AA", "PEER-UNK error AE 204 PID-3"]);
}
