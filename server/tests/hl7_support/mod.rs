//! An MLLP listener in front of a test server, and a plain MLLP client for
//! the tests (the independent peer lives in `hl7_peer.rs`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wardbook_server::hl7::mllp::{self, Listener};

use crate::common::TestServer;

/// A running listener on a loopback port.
pub struct Feed {
    pub addr: SocketAddr,
    running: Option<mllp::Running>,
}

impl Feed {
    pub async fn start(server: &TestServer) -> Feed {
        Feed::start_with(server, |_| {}).await
    }

    pub async fn start_with(server: &TestServer, tweak: impl FnOnce(&mut Listener)) -> Feed {
        let mut config = Listener {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            keys: server.state.keys.clone(),
            tls: None,
            max_message_bytes: server.settings.policy.mllp_max_message_bytes,
            read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_connections: 8,
        };
        tweak(&mut config);
        let running = mllp::start(server.state.pool.clone(), config).await.expect("the MLLP listener starts");
        Feed { addr: running.addr, running: Some(running) }
    }

    pub async fn connect(&self) -> Connection {
        Connection { stream: TcpStream::connect(self.addr).await.expect("connect to the MLLP listener") }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
    }
}

pub struct Connection {
    pub stream: TcpStream,
}

impl Connection {
    /// Sends one framed message and reads its framed ACK.
    pub async fn send(&mut self, message: &str) -> String {
        self.send_bytes(&frame(message.as_bytes())).await.expect("an ACK")
    }

    /// Writes raw bytes and reads one framed answer; `None` when the
    /// listener closes the connection instead.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Option<String> {
        self.stream.write_all(bytes).await.ok()?;
        self.read_frame().await
    }

    pub async fn read_frame(&mut self) -> Option<String> {
        wire::read_frame_on(&mut self.stream).await
    }
}

pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0x0B];
    out.extend_from_slice(message);
    out.extend_from_slice(&[0x1C, 0x0D]);
    out
}

/// MSA-1 of an ACK.
pub fn ack_code(ack: &str) -> String {
    field(ack, "MSA", 1)
}

/// ERR-2 of an ACK.
pub fn err_location(ack: &str) -> String {
    field(ack, "ERR", 2)
}

pub fn field(message: &str, segment: &str, n: usize) -> String {
    message
        .split('\r')
        .find(|s| s.starts_with(segment))
        .and_then(|s| s.split('|').nth(n))
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------------------
// ADT tests (hl7_adt.rs) and what they share: building messages field by
// field, and reading what was stored of one. Kept in a module of its own so
// that other additions to this file cannot collide with these names.
// ---------------------------------------------------------------------------

pub mod adt {
    /// One segment from (field number, value) pairs; fields not named are
    /// empty. `seg("PV1", &[(3, "7A^^04"), (19, "V1")])` is `PV1|||7A^^04|...|V1`.
    pub fn seg(name: &str, fields: &[(usize, &str)]) -> String {
        let last = fields.iter().map(|(n, _)| *n).max().unwrap_or(0);
        let mut out = vec![String::new(); last + 1];
        out[0] = name.to_owned();
        for (n, value) in fields {
            out[*n] = (*value).to_owned();
        }
        out.join("|")
    }

    /// The MSH of a synthetic message (MSH-11 `T`) from `app` at GENHOSP.
    pub fn msh(app: &str, message_type: &str, control: &str) -> String {
        format!("MSH|^~\\&|{app}|GENHOSP|WARDBOOK|GENHOSP|20261201083000||{message_type}|{control}|T|2.5.1")
    }

    /// Segments joined into one message, each ended by `end` (`\r`, `\n` or `\r\n`).
    pub fn message(segments: &[String], end: &str) -> String {
        segments.iter().map(|s| format!("{s}{end}")).collect()
    }

    /// The stored inbound message with this control id: (status, ack_code),
    /// or `None` when nothing was stored.
    pub async fn stored(db: &tokio_postgres::Client, control: &str) -> Option<(String, Option<String>)> {
        db.query_opt(
            "SELECT status, ack_code FROM phi.hl7_messages WHERE control_id = $1 AND direction = 'inbound'",
            &[&control],
        )
        .await
        .expect("read phi.hl7_messages")
        .map(|r| (r.get(0), r.get(1)))
    }
}

// ---------------------------------------------------------------------------
// The fault, TLS and peer tests (hl7_mllp_faults.rs, hl7_peer.rs): frames on
// any stream, the row counts bad input must leave alone, and synthetic
// messages of a fixed shape. A module of its own, like `adt` above.
// ---------------------------------------------------------------------------

pub mod wire {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio_rustls::rustls;

    use super::{Feed, field};
    use crate::common::TestServer;

    /// Reads one framed answer from any stream (plain or TLS); `None` when
    /// the listener closes the connection (end of stream or reset) instead.
    /// Fails the test when neither happens within 30 s.
    pub async fn read_frame_on<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut byte = [0u8; 1];
            let n = tokio::time::timeout_at(deadline, stream.read(&mut byte))
                .await
                .expect("an answer or a closed connection within 30 s")
                .ok()?;
            if n == 0 {
                return None;
            }
            match byte[0] {
                0x0B => out.clear(),
                0x1C => {
                    let mut cr = [0u8; 1];
                    stream.read_exact(&mut cr).await.ok()?;
                    assert_eq!(cr[0], 0x0D, "the listener's end block is followed by a carriage return");
                    return Some(String::from_utf8(out).expect("a UTF-8 ACK"));
                }
                b => out.push(b),
            }
        }
    }

    /// Writes raw bytes and reads one framed answer, on any stream.
    pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> Option<String> {
        stream.write_all(bytes).await.ok()?;
        stream.flush().await.ok()?;
        read_frame_on(stream).await
    }

    /// Writes `bytes` while reading the answer, so that a listener that
    /// answers and closes before reading all of them is still heard; then
    /// shuts the write side. The write's own outcome does not matter.
    pub async fn write_while_reading(stream: &mut TcpStream, bytes: &[u8]) -> Option<String> {
        let (mut read, mut write) = stream.split();
        let writing = async {
            let _ = write.write_all(bytes).await;
            let _ = write.shutdown().await;
        };
        let (_, answer) = tokio::join!(writing, read_frame_on(&mut read));
        answer
    }

    impl Feed {
        /// A TLS connection to a listener started with `tls`, trusting only
        /// the roots of `client`, asking for `name`.
        pub async fn connect_tls(
            &self,
            client: Arc<rustls::ClientConfig>,
            name: &str,
        ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
            let tcp = TcpStream::connect(self.addr).await?;
            let name = rustls::pki_types::ServerName::try_from(name.to_owned())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            tokio_rustls::TlsConnector::from(client).connect(name, tcp).await
        }
    }

    /// The row counts bad input must leave alone.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Counts {
        pub patients: i64,
        pub observations: i64,
        pub allergies: i64,
        pub hl7_messages: i64,
    }

    impl Counts {
        pub async fn of(server: &TestServer) -> Counts {
            let db = server.owner().await;
            let row = db
                .query_one(
                    "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM observations),
                            (SELECT count(*) FROM allergies), (SELECT count(*) FROM phi.hl7_messages)",
                    &[],
                )
                .await
                .expect("row counts");
            Counts { patients: row.get(0), observations: row.get(1), allergies: row.get(2), hl7_messages: row.get(3) }
        }
    }

    /// A synthetic admission (ADT^A01, MSH-11 T) of MRN `mrn` to `ward`,
    /// bed `bed`, with one allergy. Its length depends only on the lengths
    /// of its arguments.
    pub fn adt_a01(control: &str, mrn: &str, ward: &str, bed: &str) -> String {
        format!(
            "MSH|^~\\&|SYNTH-ADT|GENHOSP|WARDBOOK|GENHOSP|20261201083000||ADT^A01^ADT_A01|{control}|T|2.5.1\r\
EVN|A01|20261201083000\r\
PID|1||{mrn}^^^GENHOSP^MR||Synthetic^Alex^^^^^L||19700101|F|||1 Synthetic Way^^Testtown\r\
PV1|1|I|{ward}^1^{bed}^GENHOSP||||0001^Doctor^Test\r\
AL1|1|DA|7980^Penicillin G^RXNORM|SV|Hives\r"
        )
    }

    /// A synthetic result (ORU^R01, MSH-11 T) for MRN `mrn`: potassium
    /// flagged `k_flag`, sodium flagged `na_flag`.
    pub fn oru_r01(control: &str, mrn: &str, potassium: &str, k_flag: &str, sodium: &str, na_flag: &str) -> String {
        format!(
            "MSH|^~\\&|SYNTH-LAB|GENHOSP|WARDBOOK|GENHOSP|20261201090000||ORU^R01^ORU_R01|{control}|T|2.5.1\r\
PID|1||{mrn}^^^GENHOSP^MR\r\
OBR|1|PL100|FL100|24323-8^Comprehensive metabolic panel^LN|||20261201070000\r\
OBX|1|NM|2823-3^Potassium^LN||{potassium}|mmol/L|3.5-5.1|{k_flag}|||F\r\
OBX|2|NM|2951-2^Sodium^LN||{sodium}|mmol/L|135-145|{na_flag}|||F\r"
        )
    }

    /// ERR-3.1 of an ACK: the HL7 table 0357 code.
    pub fn err_code(ack: &str) -> String {
        field(ack, "ERR", 3).split('^').next().unwrap_or_default().to_owned()
    }

    /// MSA-2 of an ACK: the control id it answers.
    pub fn acked_control(ack: &str) -> String {
        field(ack, "MSA", 2)
    }
}

// ---------------------------------------------------------------------------
// Reading back what a message stored of a patient. The identifiers are
// sealed in the database (phi.patient_identities, phi.external_ids), so the
// tests find a patient by MRN through the blind index and open its
// identifiers with the server's data keys, as the service does.
// ---------------------------------------------------------------------------

pub mod identities {
    use std::sync::Arc;

    use tokio_postgres::Client;
    use uuid::Uuid;
    use wardbook_protocol::Patient;
    use wardbook_server::admin;
    use wardbook_server::keys::KeySet;

    use crate::common::{TestServer, connect};

    /// A superuser connection (it derefs to the client, for plain SQL) with
    /// the data keys, for what SQL cannot read: the identifiers.
    pub struct Db {
        client: Client,
        url: String,
        pub keys: Arc<KeySet>,
    }

    impl std::ops::Deref for Db {
        type Target = Client;
        fn deref(&self) -> &Client {
            &self.client
        }
    }

    impl Db {
        pub async fn of(server: &TestServer) -> Db {
            let keys = server.state.keys.get().await.expect("the data keys");
            Db { client: server.owner().await, url: server.owner_url.clone(), keys }
        }

        /// The patient holding this MRN (through its blind index), if any.
        pub async fn patient_id(&self, mrn: &str) -> Option<Uuid> {
            match admin::patient_id(&self.client, &self.keys, mrn).await {
                Ok(id) => Some(id),
                Err(wardbook_server::Error::NotFound(_)) => None,
                Err(e) => panic!("looking up an MRN: {e}"),
            }
        }

        /// The patient holding this MRN, identifiers opened; fails the test
        /// when there is none.
        pub async fn patient(&self, mrn: &str) -> Patient {
            let id = self.patient_id(mrn).await.unwrap_or_else(|| panic!("a patient with MRN {mrn}"));
            self.patient_by_id(id).await
        }

        /// A patient by id, identifiers opened.
        pub async fn patient_by_id(&self, id: Uuid) -> Patient {
            let mut client = connect(&self.url).await;
            admin::patient(&mut client, &self.keys, id).await.expect("read a patient").expect("the patient exists")
        }

        /// The senders' identifiers of one kind, opened: (system, value,
        /// our row), by (system, value).
        pub async fn external_ids(&self, kind: &str) -> Vec<(String, String, Uuid)> {
            admin::external_ids(&self.client, &self.keys, kind).await.expect("read phi.external_ids")
        }
    }
}
