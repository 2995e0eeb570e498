//! The MLLP listener under faults, on real sockets and a real PostgreSQL:
//! broken framing, oversize, truncated and silent connections, binary
//! garbage, wrong character sets, unreadable and unsupported messages. Each
//! is refused (AR) or its connection closed; none changes a row of
//! patients, observations, allergies or phi.hl7_messages; and the listener
//! then serves a good message on a new connection. Also: one message sent
//! on two connections at once applies once; the real service killed between
//! receiving and acknowledging applies the sender's retry once; MLLP over
//! TLS. Synthetic data only (MSH-11 `T`, `SYN-` MRNs, "Synthetic" names).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
mod hl7_support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{TestServer, eventually};
use hl7_support::identities::Db;
use hl7_support::wire::{Counts, acked_control, adt_a01, err_code, exchange, read_frame_on, write_while_reading};
use hl7_support::{Feed, ack_code, err_location, frame};
use rand::{Rng, RngCore, SeedableRng};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// The ward every good message admits to (created by [`setup`]).
const WARD: &str = "7A";

async fn setup() -> TestServer {
    let server = TestServer::start().await;
    let owner = server.owner().await;
    wardbook_server::admin::location_add(&owner, WARD, "Ward 7A (synthetic)").await.unwrap();
    server
}

/// Good message number `n`: an admission of a new synthetic patient. Every
/// one has the same length (the size-limit test relies on it).
fn good(n: u32) -> String {
    adt_a01(&format!("OK-{n:04}"), &format!("SYN-{n:04}"), WARD, "01")
}

/// A good message on `conn`: AA, and exactly one more patient and stored message.
async fn accepted_on<S: AsyncRead + AsyncWrite + Unpin>(server: &TestServer, conn: &mut S, n: u32, what: &str) {
    let before = Counts::of(server).await;
    let ack = exchange(conn, &frame(good(n).as_bytes())).await.unwrap_or_else(|| panic!("{what}: no ACK"));
    assert_eq!(ack_code(&ack), "AA", "{what}: a good message is accepted: {ack}");
    assert_eq!(acked_control(&ack), format!("OK-{n:04}"), "{what}: MSA-2 echoes MSH-10");
    let after = Counts::of(server).await;
    assert_eq!(
        (after.patients, after.hl7_messages, after.allergies),
        (before.patients + 1, before.hl7_messages + 1, before.allergies + 1),
        "{what}: the good message applied once"
    );
}

/// After bad input: a good message on a new connection is accepted.
async fn still_serves(server: &TestServer, feed: &Feed, n: u32, after: &str) {
    let mut conn = feed.connect().await;
    accepted_on(server, &mut conn.stream, n, &format!("a new connection after {after}")).await;
}

/// What the listener must do with one piece of bad input.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// The connection closed, nothing answered.
    Closed,
    /// AR with this ERR-3.1 (and ERR-2, when given); the connection stays
    /// open and serves a good message next.
    Refused { err3: Option<&'static str>, err2: Option<&'static str>, control: Option<&'static str> },
    /// AR with this ERR-3.1, then the connection closed.
    RefusedThenClosed { err3: &'static str, control: &'static str },
    /// Binary garbage: closed, or answered AR; never anything else.
    ClosedOrRefused,
}

struct Case {
    name: String,
    bytes: Vec<u8>,
    /// Shut the write side down after writing (the sender went away).
    shutdown: bool,
    expect: Expect,
}

impl Case {
    fn new(name: impl Into<String>, bytes: Vec<u8>, expect: Expect) -> Case {
        Case { name: name.into(), bytes, shutdown: false, expect }
    }

    fn then_shutdown(mut self) -> Case {
        self.shutdown = true;
        self
    }
}

fn refused(err3: &'static str, err2: &'static str, control: &'static str) -> Expect {
    Expect::Refused { err3: Some(err3), err2: Some(err2), control: Some(control) }
}

/// Sends one case on a new connection and checks the answer, that no row
/// changed, and that good messages are served afterwards (`n`, `n + 1`).
async fn check(server: &TestServer, feed: &Feed, case: &Case, n: u32) {
    let name = &case.name;
    let before = Counts::of(server).await;
    let mut conn = feed.connect().await;
    let answer = if case.shutdown {
        write_while_reading(&mut conn.stream, &case.bytes).await
    } else {
        conn.send_bytes(&case.bytes).await
    };
    match case.expect {
        Expect::Closed => assert!(answer.is_none(), "{name}: the connection is closed, not answered: {answer:?}"),
        Expect::ClosedOrRefused => {
            if let Some(ack) = &answer {
                assert_eq!(ack_code(ack), "AR", "{name}: garbage is refused: {ack}");
            }
        }
        Expect::Refused { err3, err2, control } => {
            let ack = answer.unwrap_or_else(|| panic!("{name}: answered AR, not closed"));
            assert_eq!(ack_code(&ack), "AR", "{name}: {ack}");
            if let Some(err3) = err3 {
                assert_eq!(err_code(&ack), err3, "{name}: ERR-3.1: {ack}");
            }
            if let Some(err2) = err2 {
                assert_eq!(err_location(&ack), err2, "{name}: ERR-2: {ack}");
            }
            if let Some(control) = control {
                assert_eq!(acked_control(&ack), control, "{name}: MSA-2 echoes MSH-10: {ack}");
            }
        }
        Expect::RefusedThenClosed { err3, control } => {
            let ack = answer.unwrap_or_else(|| panic!("{name}: answered AR before closing"));
            assert_eq!(ack_code(&ack), "AR", "{name}: {ack}");
            assert_eq!(err_code(&ack), err3, "{name}: ERR-3.1: {ack}");
            assert_eq!(acked_control(&ack), control, "{name}: MSA-2 echoes MSH-10: {ack}");
            let next = read_frame_on(&mut conn.stream).await;
            assert!(next.is_none(), "{name}: the connection is closed after the AR: {next:?}");
        }
    }
    assert_eq!(Counts::of(server).await, before, "{name}: bad input changes no row");
    if matches!(case.expect, Expect::Refused { .. }) {
        accepted_on(server, &mut conn.stream, n, &format!("the same connection after {name}")).await;
    }
    still_serves(server, feed, n + 1, name).await;
}

async fn check_all(server: &TestServer, feed: &Feed, cases: &[Case]) {
    for (i, case) in cases.iter().enumerate() {
        check(server, feed, case, 2 * i as u32).await;
    }
}

#[tokio::test]
async fn broken_framing_closes_the_connection_and_changes_nothing() {
    let server = setup().await;
    // A read timeout longer than the client's 30 s wait: every close seen
    // here is the listener's answer to the bytes, not to silence.
    let feed = Feed::start_with(&server, |l| l.read_timeout = Duration::from_secs(120)).await;
    let message = adt_a01("BAD-0001", "SYN-9001", WARD, "09");
    let m = message.as_bytes();
    let cat = |parts: &[&[u8]]| parts.concat();
    let cases = [
        Case::new("bytes before the start block", cat(&[b"HELLO", &frame(m)]), Expect::Closed),
        Case::new("0x1C followed by 0x0A, not 0x0D", cat(&[&[0x0B], m, &[0x1C, 0x0A]]), Expect::Closed),
        Case::new("0x1C followed by the next message", cat(&[&[0x0B], m, &[0x1C], &frame(m)]), Expect::Closed),
        Case::new("a start block inside a message", cat(&[&[0x0B], &m[..40], &frame(m)]), Expect::Closed),
        Case::new("half a frame, then the sender's end of stream", cat(&[&[0x0B], &m[..m.len() / 2]]), Expect::Closed)
            .then_shutdown(),
        Case::new("a whole message, 0x1C, then end of stream", cat(&[&[0x0B], m, &[0x1C]]), Expect::Closed)
            .then_shutdown(),
    ];
    check_all(&server, &feed, &cases).await;

    // What the listener tolerates: line ends between frames.
    let mut conn = feed.connect().await;
    let ack = conn.send_bytes(&cat(&[b"\r\n", &frame(m)])).await.expect("an ACK");
    assert_eq!(ack_code(&ack), "AA", "{ack}");
}

#[tokio::test]
async fn silence_in_the_middle_of_a_message_closes_the_connection() {
    let server = setup().await;
    let feed = Feed::start_with(&server, |l| l.read_timeout = Duration::from_millis(300)).await;
    let message = adt_a01("BAD-0002", "SYN-9002", WARD, "09");
    let before = Counts::of(&server).await;
    let mut conn = feed.connect().await;
    let half = [&[0x0B][..], &message.as_bytes()[..100]].concat();
    // Written, then silence with the connection left open.
    let answer = conn.send_bytes(&half).await;
    assert!(answer.is_none(), "a silent sender is disconnected after the read timeout: {answer:?}");
    assert_eq!(Counts::of(&server).await, before);
    still_serves(&server, &feed, 1, "a silent sender").await;
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_refused_and_its_connection_closed() {
    let server = setup().await;
    let limit = good(0).len();
    let feed = Feed::start_with(&server, |l| l.max_message_bytes = limit).await;
    // A message of exactly the limit is accepted (the good ones are that long).
    still_serves(&server, &feed, 100, "nothing").await;

    let one_over = adt_a01("BIG-001", "SYN-9003", WARD, "091");
    assert_eq!(one_over.len(), limit + 1);
    let mut huge = adt_a01("BIG-0002", "SYN-9004", WARD, "09");
    while huge.len() < 1024 * 1024 {
        huge.push_str("NTE|1||Synthetic padding, never a real note.\r");
    }
    let cases = [
        Case::new(
            "one byte over the limit",
            frame(one_over.as_bytes()),
            Expect::RefusedThenClosed { err3: "207", control: "BIG-001" },
        ),
        Case::new(
            "a megabyte over a small limit",
            frame(huge.as_bytes()),
            Expect::RefusedThenClosed { err3: "207", control: "BIG-0002" },
        )
        .then_shutdown(),
    ];
    check_all(&server, &feed, &cases).await;
}

/// `len` random bytes from `rng`, none of them an MLLP block byte.
fn random_unframed(rng: &mut impl RngCore, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    bytes.retain(|&b| b != 0x0B && b != 0x1C);
    bytes
}

#[tokio::test]
async fn binary_garbage_is_refused_and_changes_nothing() {
    let server = setup().await;
    let feed = Feed::start_with(&server, |l| l.read_timeout = Duration::from_secs(120)).await;
    let mut cases = Vec::new();
    for seed in 0..12u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let len = rng.random_range(1..4096);
        let mut raw = vec![0u8; len];
        rng.fill_bytes(&mut raw);
        cases.push(Case::new(format!("random bytes (seed {seed})"), raw, Expect::ClosedOrRefused).then_shutdown());

        let len = rng.random_range(0..4096);
        let inside = random_unframed(&mut rng, len);
        cases.push(Case::new(
            format!("random bytes in a frame (seed {seed})"),
            frame(&inside),
            Expect::Refused { err3: None, err2: None, control: None },
        ));

        // Text that starts like HL7, then random separators and letters.
        let alphabet = b"|^~\\&\r\nAZaz09 .-+MSHPIDOBX";
        let len = rng.random_range(0..600);
        let mut text = b"MSH|^~\\&|".to_vec();
        text.extend((0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]));
        cases.push(Case::new(
            format!("an MSH of random fields in a frame (seed {seed})"),
            frame(&text),
            Expect::Refused { err3: None, err2: None, control: None },
        ));
    }
    check_all(&server, &feed, &cases).await;
}

/// A framed synthetic admission whose MSH-18 is `charset` and whose family name
/// is the bytes `family`.
fn with_charset(control: &str, mrn: &str, charset: &str, family: &[u8]) -> Vec<u8> {
    let text = adt_a01(control, mrn, WARD, "05")
        .replace("|T|2.5.1\r", &format!("|T|2.5.1||||||{charset}\r"))
        .replace("Synthetic^Alex", "FAMILY^Alex");
    let (head, tail) = text.split_once("FAMILY").unwrap();
    frame(&[head.as_bytes(), family, tail.as_bytes()].concat())
}

#[tokio::test]
async fn a_wrong_or_unsupported_character_set_is_refused_with_ar() {
    let server = setup().await;
    let feed = Feed::start(&server).await;
    let latin1 = b"M\xfcller";
    let utf8 = "Müller".as_bytes();
    let cases = [
        Case::new(
            "MSH-18 ASCII, Latin-1 bytes",
            with_charset("CS-0001", "SYN-9101", "ASCII", latin1),
            refused("102", "MSH^1^18", "CS-0001"),
        ),
        Case::new(
            "MSH-18 ASCII, UTF-8 bytes",
            with_charset("CS-0002", "SYN-9102", "ASCII", utf8),
            refused("102", "MSH^1^18", "CS-0002"),
        ),
        Case::new(
            "MSH-18 UNICODE UTF-8, Latin-1 bytes",
            with_charset("CS-0003", "SYN-9103", "UNICODE UTF-8", latin1),
            refused("102", "MSH^1^18", "CS-0003"),
        ),
        Case::new(
            "MSH-18 empty (UTF-8), Latin-1 bytes",
            with_charset("CS-0004", "SYN-9104", "", latin1),
            refused("102", "MSH^1^18", "CS-0004"),
        ),
        Case::new(
            "MSH-18 ISO IR87 (unsupported)",
            with_charset("CS-0005", "SYN-9105", "ISO IR87", b"Synthetic"),
            refused("103", "MSH^1^18", "CS-0005"),
        ),
        Case::new(
            "MSH-18 UNICODE UTF-16 (unsupported)",
            with_charset("CS-0006", "SYN-9106", "UNICODE UTF-16", b"Synthetic"),
            refused("103", "MSH^1^18", "CS-0006"),
        ),
    ];
    check_all(&server, &feed, &cases).await;

    // The same name in the sets MSH-18 names correctly is read as the same text.
    let mut conn = feed.connect().await;
    let db = Db::of(&server).await;
    for (control, mrn, charset, family) in
        [("CS-0101", "SYN-9201", "8859/1", &latin1[..]), ("CS-0102", "SYN-9202", "UNICODE UTF-8", utf8)]
    {
        let ack = conn.send_bytes(&with_charset(control, mrn, charset, family)).await.expect("an ACK");
        assert_eq!(ack_code(&ack), "AA", "{charset}: {ack}");
        assert_eq!(db.patient(mrn).await.family_name, "Müller", "MSH-18 {charset}");
    }
}

#[tokio::test]
async fn an_unreadable_message_in_a_valid_frame_gets_ar() {
    let server = setup().await;
    let feed = Feed::start(&server).await;
    let good_text = adt_a01("UR-0001", "SYN-9301", WARD, "06");
    let no_control = good_text.replace("|UR-0001|", "||");
    let after_pid = format!("PID|1||SYN-9302^^^GENHOSP^MR\r{}", good_text.replace("UR-0001", "UR-0003"));
    let processing = good_text.replace("|UR-0001|T|", "|UR-0004|X|");
    let version = good_text.replace("|UR-0001|T|2.5.1", "|UR-0005|T|3.0");
    let no_type = good_text.replace("ADT^A01^ADT_A01|UR-0001|", "|UR-0006|");
    let cases = [
        Case::new(
            "plain text, not HL7",
            frame(b"This is not an HL7 message."),
            Expect::Refused { err3: Some("100"), err2: None, control: None },
        ),
        Case::new("an empty frame", frame(b""), Expect::Refused { err3: Some("100"), err2: None, control: None }),
        Case::new(
            "a segment before MSH",
            frame(after_pid.as_bytes()),
            Expect::Refused { err3: Some("100"), err2: None, control: None },
        ),
        Case::new(
            "no MSH-10",
            frame(no_control.as_bytes()),
            Expect::Refused { err3: Some("101"), err2: Some("MSH^1^10"), control: None },
        ),
        Case::new("no MSH-9", frame(no_type.as_bytes()), refused("101", "MSH^1^9", "UR-0006")),
        Case::new("MSH-11 X", frame(processing.as_bytes()), refused("202", "MSH^1^11", "UR-0004")),
        Case::new("MSH-12 3.0", frame(version.as_bytes()), refused("203", "MSH^1^12", "UR-0005")),
    ];
    check_all(&server, &feed, &cases).await;
}

#[tokio::test]
async fn an_unsupported_message_type_gets_ar_200_or_201() {
    let server = setup().await;
    let feed = Feed::start(&server).await;
    let as_type = |message_type: &str, control: &str| {
        frame(adt_a01(control, "SYN-9401", WARD, "07").replace("ADT^A01^ADT_A01", message_type).as_bytes())
    };
    let cases = [
        Case::new("SIU^S12 (scheduling)", as_type("SIU^S12^SIU_S12", "UT-0001"), refused("200", "MSH^1^9", "UT-0001")),
        Case::new("ORM^O01 (orders)", as_type("ORM^O01^ORM_O01", "UT-0002"), refused("200", "MSH^1^9", "UT-0002")),
        Case::new(
            "ADT^A31 (an unsupported event)",
            as_type("ADT^A31^ADT_A05", "UT-0003"),
            refused("201", "MSH^1^9", "UT-0003"),
        ),
        Case::new(
            "ORU^R30 (an unsupported event)",
            as_type("ORU^R30^ORU_R30", "UT-0004"),
            refused("201", "MSH^1^9", "UT-0004"),
        ),
    ];
    check_all(&server, &feed, &cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_on_two_connections_at_once_applies_once() {
    let server = setup().await;
    let feed = Feed::start(&server).await;
    let owner = server.owner().await;
    for round in 0..10i64 {
        let message = adt_a01(&format!("DUP-{round:04}"), &format!("SYN-D{round:03}"), WARD, "02");
        let (mut a, mut b) = (feed.connect().await, feed.connect().await);
        let (ack_a, ack_b) = tokio::join!(a.send(&message), b.send(&message));
        assert_eq!(
            (ack_code(&ack_a).as_str(), ack_code(&ack_b).as_str()),
            ("AA", "AA"),
            "round {round}: {ack_a} / {ack_b}"
        );
        let counts = Counts::of(&server).await;
        assert_eq!(
            (counts.patients, counts.hl7_messages, counts.allergies),
            (round + 1, round + 1, round + 1),
            "round {round}: one copy applied"
        );
        let copies: i64 = owner
            .query_one("SELECT count(*) FROM phi.hl7_messages WHERE control_id = $1", &[&format!("DUP-{round:04}")])
            .await
            .unwrap()
            .get(0);
        assert_eq!(copies, 1);
    }
}

// The real binary, killed.

const BIN: &str = env!("CARGO_BIN_EXE_wardbook-server");

/// `wardbook-server serve`, killed and reaped when dropped.
struct Service {
    child: Child,
    mllp: SocketAddr,
}

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Service {
    /// Starts the service over `database_url` with its MLLP listener on
    /// `mllp_listen`; returns once both listeners are ready.
    fn start(database_url: &str, mllp_listen: &str, config: &Path) -> Service {
        let mut command = Command::new(BIN);
        command.arg("serve");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("WARDBOOK_") {
                command.env_remove(name);
            }
        }
        command
            .env("WARDBOOK_SERVER_CONFIG", config)
            .env("WARDBOOK_ENV", "test")
            .env("WARDBOOK_DATABASE_URL", database_url)
            .env("WARDBOOK_LISTEN", "127.0.0.1:0")
            .env("WARDBOOK_MLLP_LISTEN", mllp_listen)
            .env("WARDBOOK_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the wardbook-server binary runs");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // After the caller stops listening, keep draining so the
                // service never blocks on a full pipe.
                let _ = tx.send(line);
            }
        });
        let mut service = Service { child, mllp: SocketAddr::from(([127, 0, 0, 1], 0)) };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        let mut mllp = None;
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains("MLLP listener ready") => mllp = address_in(&line),
                Ok(line) if line.contains("listening") => {
                    service.mllp = mllp.unwrap_or_else(|| panic!("no MLLP address logged before {line:?}: {seen:?}"));
                    return service;
                }
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "serve did not become ready (exit: {:?}); stderr:\n{}",
                    service.child.try_wait().ok().flatten(),
                    seen.join("\n")
                ),
            }
        }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

/// `127.0.0.1:PORT` in a log line.
fn address_in(line: &str) -> Option<SocketAddr> {
    let start = line.find("127.0.0.1:")?;
    let rest = &line[start + "127.0.0.1:".len()..];
    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
    format!("127.0.0.1:{port}").parse().ok()
}

/// The service URL with its own `application_name`, so that this run's
/// database sessions can be told apart.
fn named(url: &str, name: &str) -> String {
    format!("{url}{}application_name={name}", if url.contains('?') { '&' } else { '?' })
}

/// Waits until PostgreSQL has ended every session of a killed run: from
/// then on, whatever it committed is all it will ever commit.
async fn sessions_gone(owner: &tokio_postgres::Client, name: &str) {
    eventually(Duration::from_secs(30), &format!("the sessions of {name} to end"), || async {
        let n: i64 = owner
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&name])
            .await
            .unwrap()
            .get(0);
        (n == 0).then_some(())
    })
    .await;
}

/// (message rows with this control id, patients with this MRN: the MRN is
/// sealed, so its rows are counted by its blind index).
async fn copies(owner: &Db, control: &str, mrn: &str) -> (i64, i64) {
    let row = owner
        .query_one(
            "SELECT (SELECT count(*) FROM phi.hl7_messages WHERE control_id = $1),
                    (SELECT count(*) FROM phi.patient_identities WHERE mrn_index = $2)",
            &[&control, &owner.keys.mrn_index(mrn)],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_killed_before_acknowledging_applies_the_retry_once() {
    let server = setup().await;
    let owner = Db::of(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "").unwrap();
    let start = |run: &str, mllp: String| {
        let url = named(&server.service_url, run);
        let config = config.clone();
        tokio::task::block_in_place(move || Service::start(&url, &mllp, &config))
    };

    // 1. Killed at once after the message was written: it may or may not
    // have been stored; if it was, it was applied with it (one transaction).
    let service = start("wardbook-kill-1", "127.0.0.1:0".to_owned());
    let addr = service.mllp;
    let first = adt_a01("KILL-0001", "SYN-K001", WARD, "11");
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(&frame(first.as_bytes())).await.unwrap();
    service.kill();
    let answer = read_frame_on(&mut conn).await;
    sessions_gone(&owner, "wardbook-kill-1").await;
    let (messages, patients) = copies(&owner, "KILL-0001", "SYN-K001").await;
    println!("killed at once: ACK {answer:?}, {messages} message row(s), {patients} patient(s)");
    assert!(messages <= 1 && patients == messages, "stored and applied together, or neither");
    if let Some(ack) = &answer {
        assert_eq!(ack_code(ack), "AA", "an ACK sent before the kill is an AA: {ack}");
        assert_eq!(messages, 1, "an AA was sent only after the commit");
    }

    // The sender's retry, to the restarted service on the same port.
    let service = start("wardbook-kill-2", addr.to_string());
    assert_eq!(service.mllp, addr);
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let ack = exchange(&mut conn, &frame(first.as_bytes())).await.expect("an ACK for the retry");
    assert_eq!(ack_code(&ack), "AA", "{ack}");
    assert_eq!(copies(&owner, "KILL-0001", "SYN-K001").await, (1, 1), "the retry applied exactly once");

    // 2. Killed after the commit, before the sender read the ACK.
    let second = adt_a01("KILL-0002", "SYN-K002", WARD, "12");
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(&frame(second.as_bytes())).await.unwrap();
    eventually(Duration::from_secs(30), "the second message to be committed", || async {
        let status: Option<String> = owner
            .query_opt("SELECT status FROM phi.hl7_messages WHERE control_id = 'KILL-0002'", &[])
            .await
            .unwrap()
            .map(|r| r.get(0));
        (status.as_deref() == Some("processed")).then_some(())
    })
    .await;
    service.kill();
    drop(conn);
    sessions_gone(&owner, "wardbook-kill-2").await;

    let service = start("wardbook-kill-3", addr.to_string());
    let mut conn = TcpStream::connect(service.mllp).await.unwrap();
    let ack = exchange(&mut conn, &frame(second.as_bytes())).await.expect("an ACK for the retry");
    assert_eq!(ack_code(&ack), "AA", "the retry of a stored message is acknowledged as the first: {ack}");
    assert_eq!(copies(&owner, "KILL-0002", "SYN-K002").await, (1, 1), "the retry applied nothing twice");
    let counts = Counts::of(&server).await;
    assert_eq!((counts.patients, counts.hl7_messages, counts.allergies), (2, 2, 2));
    service.kill();
}

// TLS.

/// A self-signed certificate for `localhost` (tests only) as the service
/// gets it: axum-server's RustlsConfig from PEM, its inner ServerConfig.
async fn self_signed() -> (Arc<rustls::ServerConfig>, rustls::pki_types::CertificateDer<'static>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(
        certified.cert.pem().into_bytes(),
        certified.signing_key.serialize_pem().into_bytes(),
    )
    .await
    .unwrap();
    (config.get_inner(), certified.cert.der().clone())
}

fn trusting(cert: rustls::pki_types::CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
}

#[tokio::test]
async fn mllp_over_tls_is_acknowledged_and_plain_tcp_is_not() {
    let server = setup().await;
    let (config, cert) = self_signed().await;
    let feed = Feed::start_with(&server, |l| l.tls = Some(config)).await;

    let mut tls = feed.connect_tls(trusting(cert), "localhost").await.expect("the TLS handshake");
    accepted_on(&server, &mut tls, 1, "MLLP over TLS").await;
    // A second message on the same TLS connection.
    accepted_on(&server, &mut tls, 2, "a second message over TLS").await;

    // A client that does not trust the certificate gets no handshake.
    let (_, stranger) = self_signed().await;
    let refused = feed.connect_tls(trusting(stranger), "localhost").await;
    assert!(refused.is_err(), "a certificate the client does not trust fails the handshake");

    // Plain MLLP to the TLS port: no ACK, nothing stored.
    let before = Counts::of(&server).await;
    let mut plain = feed.connect().await;
    let answer = plain.send_bytes(&frame(adt_a01("PLAIN-001", "SYN-9501", WARD, "08").as_bytes())).await;
    assert!(answer.is_none(), "plain TCP gets no ACK from the TLS listener: {answer:?}");
    assert_eq!(Counts::of(&server).await, before);
}

#[tokio::test]
async fn messages_written_back_to_back_are_answered_in_order() {
    let server = setup().await;
    let feed = Feed::start(&server).await;
    let mut conn = feed.connect().await;
    let both = [frame(good(1).as_bytes()), frame(good(2).as_bytes())].concat();
    let first = conn.send_bytes(&both).await.expect("the first ACK");
    let second = conn.read_frame().await.expect("the second ACK");
    assert_eq!((ack_code(&first).as_str(), acked_control(&first).as_str()), ("AA", "OK-0001"));
    assert_eq!((ack_code(&second).as_str(), acked_control(&second).as_str()), ("AA", "OK-0002"));
    assert_eq!(Counts::of(&server).await.patients, 2);
}

// `Running::stop` ends the connections that are open too, not only the
// accept loop: nothing arriving after the stop is received or applied.
#[tokio::test]
async fn a_stopped_listener_serves_no_open_connection() {
    let server = setup().await;
    let feed = Feed::start(&server).await;
    let mut conn = feed.connect().await;
    accepted_on(&server, &mut conn.stream, 1, "before the stop").await;
    let before = Counts::of(&server).await;
    drop(feed);
    let answer = conn.send_bytes(&frame(good(2).as_bytes())).await;
    assert!(answer.is_none(), "a connection opened before the stop is dropped: {answer:?}");
    assert_eq!(Counts::of(&server).await, before, "nothing arriving after the stop is applied");
}
