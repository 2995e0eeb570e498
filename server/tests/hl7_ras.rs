//! Filing back (issue 15): an administration pushed by a workstation is
//! queued as an RAS^O17 in the push's transaction and sent over MLLP by
//! the service's sender, in order, until acknowledged.
//!
//! - To a receiver the project did not write (python-hl7's asyncio MLLP
//!   server, `tests/peer/ras_peer.py`): it reads one RAS per dose, with the
//!   RXA the dose says, and its ACKs mark them sent.
//! - To a receiver that is down: the message is retried with backoff, health
//!   says it waits, and once the receiver is up it is sent exactly once.
//! - To a receiver that answers AE: the message is in error (health lists
//!   it) until IT reprocesses it, which sends it again.
//! - Over TLS: a receiver whose certificate only `ca_file` vouches for is
//!   refused with the system's roots and reached with the file.
//!
//! Synthetic data only. The Python peer lives in `target/api-tools/venv`
//! (`scripts/install-deps.sh --with-api-tools`); missing, the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
mod hl7_support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{Device, TestServer, eventually, new_mutation};
use hl7_support::field;
use hl7_support::wire::read_frame_on;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use uuid::Uuid;
use wardbook_protocol::api::{MutationOutcome, Record};
use wardbook_protocol::medication::{
    AdministrationStatus, Dose, MedicationAdministration, MedicationRequest, MedicationRequestStatus, Timing,
};
use wardbook_protocol::{Coding, RXNORM};
use wardbook_server::hl7::outbound::{self, Round, Sender};
use wardbook_server::interfaces::{self, Destination, NewInterface};

/// A ward with a patient in a workstation's scope, an order for the patient
/// filed under EPIC's placer number P100, and an interface `epic` that
/// files back to `send_to`.
async fn ward(send_to: &str) -> (TestServer, Device, MedicationRequest) {
    let server = TestServer::start().await;
    server.synth(3, 15).await;
    let device = server.enrol("Ward 7A").await;
    let (changes, _) = server.pull_all(&device, None, 1000).await;
    let patient_id = common::patient_ids(&changes)[0];
    let order = MedicationRequest {
        id: Uuid::now_v7(),
        version: 0,
        updated_at: Utc::now(),
        deleted: false,
        synthetic: true,
        patient_id,
        medication: Coding::new(RXNORM, "723", "Amoxicillin 500 MG Oral Capsule"),
        ingredients: Vec::new(),
        generic_name: Some("amoxicillin".into()),
        strength: None,
        dose: Some(Dose { value: 500.0, unit: "mg".into() }),
        route: Some(Coding::new("http://terminology.hl7.org/CodeSystem/v2-0162", "PO", "Oral")),
        timing: Timing::TimesPerDay { count: 3 },
        start: Utc::now() - chrono::Duration::days(1),
        end: None,
        status: MedicationRequestStatus::Active,
        prescriber: None,
        indication: None,
        instructions: None,
        high_alert: false,
    };
    let mut owner = server.owner().await;
    let tx = owner.transaction().await.unwrap();
    let key = ("urn:wardbook:hl7v2:placer-order:EPIC", "P100");
    let id = wardbook_server::ingest::upsert_medication_request(
        &tx,
        &server.state.keys.get().await.unwrap(),
        key,
        order.clone(),
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    let new = NewInterface {
        name: "epic".into(),
        kind: "hl7v2-mllp".into(),
        senders: vec!["EPIC".into()],
        location_map: Vec::new(),
        silence_minutes: 60,
    };
    let interface = interfaces::add(&owner, &new).await.unwrap();
    interfaces::set_destination(&owner, interface, Some(&Destination::new(send_to, false).unwrap())).await.unwrap();
    (server, device, MedicationRequest { id, ..order })
}

fn dose(order: &MedicationRequest, given_at: DateTime<Utc>) -> MedicationAdministration {
    MedicationAdministration {
        id: Uuid::now_v7(),
        version: 0,
        updated_at: Utc::now(),
        deleted: false,
        synthetic: true,
        patient_id: order.patient_id,
        request_id: order.id,
        due_at: Some(given_at),
        status: AdministrationStatus::Given,
        not_given_reason: None,
        dose: order.dose.clone(),
        route: None,
        site: Some("left arm".into()),
        given_at,
        performer: "nurse.one".into(),
        witness: Some("nurse.two".into()),
        overrides: Vec::new(),
        error_reason: None,
        recorded_at: Utc::now(),
    }
}

async fn push(server: &TestServer, device: &Device, a: &MedicationAdministration, base: Option<i64>) {
    let record = Record::MedicationAdministration { medication_administration: a.clone() };
    let answer = server.push_ok(device, vec![new_mutation(base, record)]).await;
    assert!(matches!(answer.results[0].outcome, MutationOutcome::Applied { .. }), "{answer:?}");
}

fn sender(retry: Duration) -> Sender {
    Sender {
        poll: Duration::from_millis(50),
        connect_timeout: Duration::from_secs(2),
        ack_timeout: Duration::from_secs(10),
        retry_min: retry,
        retry_max: retry * 4,
        tls: outbound::client_tls(None).unwrap(),
    }
}

/// The outbound rows: (status, ack_code, attempts), oldest first.
async fn outbound_rows(server: &TestServer) -> Vec<(String, Option<String>, i32)> {
    server
        .owner()
        .await
        .query("SELECT status, ack_code, attempts FROM phi.hl7_messages WHERE direction = 'outbound' ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// The venv's Python with `hl7` (see `hl7_peer.rs`), or a failure that says how to install it.
fn peer_python() -> PathBuf {
    let python = std::env::var_os("WARDBOOK_HL7_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/api-tools/venv/bin/python"));
    assert!(
        python.is_file(),
        "the Python of the HL7 peer is not installed at {}: run `scripts/install-deps.sh --with-api-tools` (make test does)",
        python.display()
    );
    python
}

/// The Python peer: started, listening; stopped by closing its stdin.
struct PythonPeer {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    port: u64,
}

impl PythonPeer {
    async fn start(ack_code: &str) -> PythonPeer {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peer/ras_peer.py");
        let mut child = Command::new(peer_python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the peer starts");
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", json!({"port": 0, "ack_code": ack_code})).unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        // The peer blocks its pipe until it listens; read it off the runtime's workers.
        let (line, stdout) = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            (line, stdout)
        })
        .await
        .unwrap();
        let listening: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("the peer's first line ({e}): {line}"));
        let port = listening["listening"].as_u64().expect("the peer's port");
        PythonPeer { child, stdin, stdout, port }
    }

    /// Stops the peer and returns its report.
    async fn stop(self) -> Value {
        let PythonPeer { mut child, stdin, mut stdout, .. } = self;
        drop(stdin);
        let (rest, status) = tokio::task::spawn_blocking(move || {
            let mut rest = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
            (rest, child.wait().unwrap())
        })
        .await
        .unwrap();
        assert!(status.success(), "the peer failed ({status}): {rest}");
        serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("the peer's report ({e}): {rest}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_receiver_reads_one_ras_per_dose_and_acknowledges_it() {
    let peer = PythonPeer::start("AA").await;
    let (server, device, order) = ward(&format!("127.0.0.1:{}", peer.port)).await;
    let a = dose(&order, common::at(0));
    push(&server, &device, &a, None).await;
    let marked = MedicationAdministration {
        status: AdministrationStatus::EnteredInError,
        error_reason: Some("Recorded for the wrong round".into()),
        ..a.clone()
    };
    push(&server, &device, &marked, Some(0)).await;
    assert_eq!(outbound_rows(&server).await.len(), 2, "one RAS per stored change, queued by the push");

    let running =
        outbound::start(server.state.pool.clone(), server.state.keys.clone(), sender(Duration::from_millis(100)));
    let rows = eventually(Duration::from_secs(30), "both RAS acknowledged", || async {
        let rows = outbound_rows(&server).await;
        rows.iter().all(|(status, _, _)| status == "sent").then_some(rows)
    })
    .await;
    running.stop();
    assert_eq!(rows, vec![("sent".to_owned(), Some("AA".to_owned()), 1); 2], "each sent once, acknowledged AA");

    let report = peer.stop().await;
    println!("python-hl7 {} read: {}", report["hl7_version"], report["received"]);
    let received = report["received"].as_array().expect("the peer's readings");
    assert_eq!(received.len(), 2, "{report}");
    let controls: Vec<String> = server
        .owner()
        .await
        .query("SELECT control_id FROM phi.hl7_messages WHERE direction = 'outbound' ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (reading, (control, action)) in received.iter().zip(controls.iter().zip(["A", "D"])) {
        let rxa = |n: &str| reading["rxa"][n].as_str().unwrap().to_owned();
        assert_eq!(reading["msh_9"], "RAS^O17^RAS_O17");
        assert_eq!(reading["msh_10"].as_str(), Some(control.as_str()), "in the order queued");
        assert!(reading["pid_3"].as_str().unwrap().ends_with("^^^^MR"), "{reading}");
        assert_eq!((reading["orc_1"].as_str(), reading["orc_2"].as_str()), (Some("RE"), Some("P100^EPIC")));
        assert_eq!((rxa("1"), rxa("2"), rxa("3")), ("0".into(), "1".into(), "20260301080000+0000".into()));
        assert_eq!(rxa("5"), "723^Amoxicillin 500 MG Oral Capsule^RXNORM");
        assert_eq!((rxa("6"), rxa("7")), ("500".into(), "mg".into()));
        assert_eq!(rxa("10"), "nurse.one~nurse.two");
        assert_eq!((rxa("20"), rxa("21")), ("CP".into(), action.to_owned()), "{reading}");
        assert_eq!(reading["rxr_1"], "PO^Oral^HL70162");
    }
}

/// A receiver written here: records each message and answers with the code
/// `answer` holds (an AE names PID-3, as an EHR that lacks the patient would).
struct Receiver {
    received: Arc<Mutex<Vec<String>>>,
    answer: Arc<Mutex<&'static str>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    fn serve(listener: TcpListener) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new("AA"));
        let (r, a) = (received.clone(), answer.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (received, answer) = (r.clone(), a.clone());
                tokio::spawn(async move {
                    while let Some(message) = read_frame_on(&mut socket).await {
                        let control = field(&message, "MSH", 9);
                        received.lock().unwrap().push(message);
                        let code = *answer.lock().unwrap();
                        let mut ack = format!(
                            "MSH|^~\\&|EPIC|GENHOSP|WARDBOOK|WARDBOOK|20260301080000||ACK^O17^ACK|ACK{control}|P|2.5.1\rMSA|{code}|{control}\r"
                        );
                        if code != "AA" {
                            ack.push_str("ERR||PID^1^3|204^Unknown key identifier^HL70357|E\r");
                        }
                        if socket.write_all(&hl7_support::frame(ack.as_bytes())).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { received, answer, task }
    }

    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_gets_the_message_once_when_it_is_up_and_an_ae_waits_for_it() {
    // A port nothing listens on (yet).
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let (server, device, order) = ward(&format!("127.0.0.1:{port}")).await;
    let pool = server.state.pool.clone();
    push(&server, &device, &dose(&order, common::at(0)), None).await;

    let config = sender(Duration::from_millis(100));
    let running = outbound::start(pool.clone(), server.state.keys.clone(), config.clone());
    eventually(Duration::from_secs(30), "attempts while the receiver is down", || async {
        let rows = outbound_rows(&server).await;
        (rows[0].0 == "queued" && rows[0].2 >= 2).then_some(())
    })
    .await;
    let owner = server.owner().await;
    let last: String = owner
        .query_one("SELECT error_text FROM phi.hl7_messages WHERE direction = 'outbound'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(last.contains("cannot connect"), "{last}");
    let waiting = outbound::findings(&owner, 0).await.unwrap();
    assert_eq!(waiting.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(), ["hl7_outbound_queued"]);
    assert!(waiting[0].message.contains("interface epic"), "{}", waiting[0].message);

    // The receiver comes up: the message goes, once.
    let receiver = Receiver::serve(TcpListener::bind(("127.0.0.1", port)).await.unwrap());
    let rows = eventually(Duration::from_secs(30), "the message acknowledged", || async {
        let rows = outbound_rows(&server).await;
        (rows[0].0 == "sent").then_some(rows)
    })
    .await;
    running.stop();
    assert_eq!(rows[0].1.as_deref(), Some("AA"));
    assert_eq!(
        outbound::send_due(&pool, &server.state.keys, &config).await.unwrap(),
        Round::default(),
        "a sent message stays sent"
    );
    assert_eq!(receiver.count(), 1, "sent exactly once");
    assert!(outbound::findings(&owner, 0).await.unwrap().is_empty());

    // An AE is final for that message: in error, listed by health, the next
    // one goes on; reprocessing sends it again.
    *receiver.answer.lock().unwrap() = "AE";
    push(&server, &device, &dose(&order, common::at(360)), None).await;
    let round = outbound::send_due(&pool, &server.state.keys, &config).await.unwrap();
    assert_eq!(round, Round { sent: 0, refused: 1, failed: 0 });
    let row = owner
        .query_one(
            "SELECT id, status, ack_code, error_code, error_location FROM phi.hl7_messages
              WHERE direction = 'outbound' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let id: i64 = row.get(0);
    let stored: (String, Option<String>, Option<String>, Option<String>) =
        (row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!(stored, ("error".into(), Some("AE".into()), Some("204".into()), Some("PID-1-3".into())));
    let health = wardbook_server::health::check(&server.state).await;
    assert!(health.findings.iter().any(|f| f.code == "hl7_messages_in_error"), "{:?}", health.findings);

    *receiver.answer.lock().unwrap() = "AA";
    let m = wardbook_server::hl7::messages::reprocess(&pool, &server.state.keys, id).await.unwrap();
    assert_eq!((m.status.as_str(), m.direction.as_str()), ("queued", "outbound"));
    let round = outbound::send_due(&pool, &server.state.keys, &config).await.unwrap();
    assert_eq!(round, Round { sent: 1, refused: 0, failed: 0 });
    assert_eq!(receiver.count(), 3, "the refused message went again, once");
    assert_eq!(outbound_rows(&server).await.iter().filter(|(s, _, _)| s == "sent").count(), 2);
}

/// A self-signed certificate for `localhost` (tests only): the server side,
/// and the certificate as a PEM file for `ca_file`.
async fn self_signed(dir: &std::path::Path) -> (Arc<tokio_rustls::rustls::ServerConfig>, PathBuf) {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(
        certified.cert.pem().into_bytes(),
        certified.signing_key.serialize_pem().into_bytes(),
    )
    .await
    .unwrap();
    let ca_file = dir.join("receiver-ca.pem");
    std::fs::write(&ca_file, certified.cert.pem()).unwrap();
    (config.get_inner(), ca_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_receiver_is_trusted_through_ca_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, ca_file) = self_signed(dir.path()).await;
    // The receiver: Wardbook's own MLLP listener over TLS, which answers an
    // RAS^O17 with AR (it takes no administrations): an answer all the same.
    let (server, device, order) = ward("localhost:1").await;
    let receiver = hl7_support::Feed::start_with(&server, |l| l.tls = Some(tls)).await;
    let owner = server.owner().await;
    let id: Uuid = owner.query_one("SELECT id FROM interfaces WHERE name = 'epic'", &[]).await.unwrap().get(0);
    let to = Destination::new(&format!("localhost:{}", receiver.addr.port()), true).unwrap();
    interfaces::set_destination(&owner, id, Some(&to)).await.unwrap();
    push(&server, &device, &dose(&order, common::at(0)), None).await;
    let pool = server.state.pool.clone();

    // Not trusted by the system's roots: the handshake fails and it waits.
    let round = outbound::send_due(&pool, &server.state.keys, &sender(Duration::from_millis(1))).await.unwrap();
    assert_eq!(round, Round { sent: 0, refused: 0, failed: 1 });
    let last: String = owner
        .query_one("SELECT error_text FROM phi.hl7_messages WHERE direction = 'outbound'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(last.contains("TLS handshake"), "{last}");

    // Trusted through ca_file: sent and answered.
    let trusting = Sender { tls: outbound::client_tls(Some(&ca_file)).unwrap(), ..sender(Duration::from_millis(1)) };
    let round = eventually(Duration::from_secs(10), "the retry's time", || async {
        let round = outbound::send_due(&pool, &server.state.keys, &trusting).await.unwrap();
        (round != Round::default()).then_some(round)
    })
    .await;
    assert_eq!(round, Round { sent: 0, refused: 1, failed: 0 });
    let row = owner
        .query_one("SELECT status, ack_code, error_code FROM phi.hl7_messages WHERE direction = 'outbound'", &[])
        .await
        .unwrap();
    let answered: (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(answered, ("error".into(), "AR".into(), "200".into()), "Wardbook's listener takes no RAS^O17");
    assert!(outbound::client_tls(Some(&dir.path().join("missing.pem"))).is_err());
}
