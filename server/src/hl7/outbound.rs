//! Sending what Wardbook files back (RAS^O17, `ras`): the queued outbound
//! rows of `phi.hl7_messages`, to each interface's `send_to` over MLLP
//! (TLS when `send_tls`, trusting the service's `ca_file`, else the
//! system's roots), in order per interface, each acknowledged before the
//! next is sent.
//!
//! For the oldest queued message of an interface, in one database
//! transaction that holds the interface's lock (so that of N service
//! instances one sends) and the row's:
//! - AA or CA (accepted, or committed in enhanced mode): `sent`, with the
//!   code; the next message follows on the same connection.
//! - AE, AR, CE, CR: `error`, with ERR-3 and ERR-2 of the answer (never its
//!   text, which may quote patient data). Health lists it as it lists
//!   inbound errors; `hl7 reprocess ID` queues it again once the receiver
//!   is fixed. The messages after it go on: the answer was final.
//! - No connection, no answer within the timeout, or an answer that is not
//!   an ACK of this message: the row stays queued with its attempts counted
//!   and its next attempt put off (exponential from `retry_min`, capped at
//!   `retry_max`, with jitter), and the interface's later messages wait
//!   behind it: order is kept.
//!
//! A row is marked `sent` in the transaction that sent it, so that one
//! acknowledged is never sent again. If that commit fails after the ACK
//! (the database lost at that instant), the message goes again with the
//! same MSH-10 control id, which the receiver's duplicate check answers
//! without applying it twice.

use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use uuid::Uuid;
use wardbook_protocol::api::{HealthFinding, Severity};

use super::fields::Seg;
use crate::db::Pool;
use crate::error::{Error, Result};
use crate::keys::{KeySet, Keyring};

/// How the sender runs.
#[derive(Clone)]
pub struct Sender {
    /// How often the queue is looked at.
    pub poll: Duration,
    pub connect_timeout: Duration,
    /// How long an ACK may take once a message is sent.
    pub ack_timeout: Duration,
    /// The first delay after a failed attempt, doubled at each, up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Whom to trust for destinations with `send_tls`.
    pub tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("poll", &self.poll)
            .field("ack_timeout", &self.ack_timeout)
            .field("retry_max", &self.retry_max)
            .finish_non_exhaustive()
    }
}

/// The TLS trust of outbound connections: the PEM certificates of
/// `ca_file`, else the operating system's roots.
pub fn client_tls(ca_file: Option<&std::path::Path>) -> std::result::Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| format!("the CA file {} is not PEM certificates: {e}", path.display()))?;
            for cert in certs {
                roots.add(cert).map_err(|e| format!("a certificate of {} is not usable: {e}", path.display()))?;
            }
        }
        None => {
            let _ = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The sender's background task.
#[derive(Debug)]
pub struct Running {
    pub task: JoinHandle<()>,
}

impl Running {
    /// Stops sending. A message being sent is not marked sent (its
    /// transaction rolls back) and goes again, with its control id.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Starts the background task: every `poll`, [`send_due`].
pub fn start(pool: Pool, keys: std::sync::Arc<Keyring>, config: Sender) -> Running {
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(config.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = send_due(&pool, &keys, &config).await {
                tracing::warn!(error = %e, "queued HL7 messages could not be sent now; trying again");
            }
        }
    });
    Running { task }
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: u32,
    pub refused: u32,
    pub failed: u32,
}

/// One destination.
#[derive(Clone, Debug)]
struct Destination {
    id: Uuid,
    name: String,
    send_to: String,
    tls: bool,
}

/// Sends every queued message that is due, interface by interface.
pub async fn send_due(pool: &Pool, keys: &Keyring, config: &Sender) -> Result<Round> {
    let keys = keys.get().await?;
    let db = pool.get().await.map_err(|_| Error::unavailable("PostgreSQL"))?;
    let rows = db
        .query(
            "SELECT i.id, i.name, i.send_to, i.send_tls FROM interfaces i
              WHERE i.active AND i.send_to IS NOT NULL AND EXISTS (
                    SELECT 1 FROM phi.hl7_messages m WHERE m.interface_id = i.id AND m.direction = 'outbound'
                       AND m.status = 'queued' AND m.next_attempt_at <= now())
              ORDER BY i.name",
            &[],
        )
        .await?;
    drop(db);
    let mut round = Round::default();
    for r in rows {
        let destination = Destination { id: r.get(0), name: r.get(1), send_to: r.get(2), tls: r.get(3) };
        drain(pool, &keys, config, &destination, &mut round).await?;
    }
    Ok(round)
}

/// An open MLLP connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Sends the interface's due messages in order until one fails or none is left.
async fn drain(pool: &Pool, keys: &KeySet, config: &Sender, to: &Destination, round: &mut Round) -> Result<()> {
    let mut connection: Option<Box<dyn Io>> = None;
    loop {
        let mut client = pool.get().await.map_err(|_| Error::unavailable("PostgreSQL"))?;
        let tx = client.transaction().await?;
        let locked: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 15))", &[&to.id.to_string()])
            .await?
            .get(0);
        if !locked {
            return Ok(());
        }
        let head = tx
            .query_opt(
                "SELECT id, control_id, attempts, next_attempt_at <= now(), raw, key_id, direction, sending_application,
                        sending_facility, control_id FROM phi.hl7_messages
                  WHERE interface_id = $1 AND direction = 'outbound' AND status = 'queued'
                  ORDER BY id LIMIT 1 FOR UPDATE",
                &[&to.id],
            )
            .await?;
        let Some(head) = head else { return Ok(()) };
        let (id, control_id, attempts, due): (i64, String, i32, bool) =
            (head.get(0), head.get(1), head.get(2), head.get(3));
        let raw = super::sealed::open_raw(keys, &head, 4)?;
        if !due {
            return Ok(());
        }
        match exchange(&mut connection, config, to, &raw, &control_id).await {
            Ok(ack) if ack.accepted() => {
                tx.execute(
                    "UPDATE phi.hl7_messages SET status = 'sent', ack_code = 'AA', attempts = attempts + 1,
                            processed_at = now(), next_attempt_at = NULL,
                            error_code = NULL, error_location = NULL, error_text = NULL
                      WHERE id = $1",
                    &[&id],
                )
                .await?;
                tx.commit().await?;
                round.sent += 1;
            }
            Ok(ack) => {
                let text = format!(
                    "The receiver of interface {} answered {}: fix what it reports (ERR-2, ERR-3), then `wardbook-server hl7 reprocess {id}` sends it again.",
                    to.name, ack.code
                );
                tx.execute(
                    "UPDATE phi.hl7_messages SET status = 'error', ack_code = $2, attempts = attempts + 1,
                            processed_at = NULL, next_attempt_at = NULL,
                            error_code = $3, error_location = $4, error_text = $5
                      WHERE id = $1",
                    &[&id, &ack.stored_code(), &ack.error_code, &ack.error_location, &text],
                )
                .await?;
                tx.commit().await?;
                tracing::info!(message = id, interface = %to.name, code = %ack.code, "an outbound HL7 message was refused by its receiver");
                round.refused += 1;
            }
            Err(reason) => {
                let delay = retry_delay(config, attempts + 1);
                tx.execute(
                    "UPDATE phi.hl7_messages SET attempts = attempts + 1, error_text = $2,
                            next_attempt_at = now() + make_interval(secs => $3)
                      WHERE id = $1",
                    &[&id, &format!("Last attempt: {reason}."), &delay.as_secs_f64()],
                )
                .await?;
                tx.commit().await?;
                tracing::info!(message = id, interface = %to.name, %reason, retry_in = ?delay, "an outbound HL7 message was not acknowledged; it will be sent again");
                round.failed += 1;
                return Ok(());
            }
        }
    }
}

/// The wait before attempt `attempt + 1` (1 after the first failure):
/// exponential from `retry_min`, doubling, with up to as much again of
/// jitter, capped at `retry_max`.
fn retry_delay(config: &Sender, attempt: i32) -> Duration {
    let steps = usize::try_from(attempt.clamp(1, 64) - 1).unwrap_or(0);
    backon::ExponentialBuilder::new()
        .with_min_delay(config.retry_min)
        .with_max_delay(config.retry_max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(steps)
        .unwrap_or(config.retry_max)
        .min(config.retry_max)
}

/// An acknowledgment of one of our messages.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ack {
    /// MSA-1: AA, AE, AR (original mode), CA, CE, CR (enhanced mode).
    code: String,
    error_code: Option<String>,
    error_location: Option<String>,
}

impl Ack {
    fn accepted(&self) -> bool {
        matches!(self.code.as_str(), "AA" | "CA")
    }

    /// As `phi.hl7_messages.ack_code` keeps it (AA, AE or AR).
    fn stored_code(&self) -> &'static str {
        match self.code.as_str() {
            "AA" | "CA" => "AA",
            "AE" | "CE" => "AE",
            _ => "AR",
        }
    }
}

/// Sends `raw` on the interface's connection (opened when there is none)
/// and reads its ACK. An error closes the connection and says why, in words
/// with no patient data.
async fn exchange(
    connection: &mut Option<Box<dyn Io>>,
    config: &Sender,
    to: &Destination,
    raw: &str,
    control_id: &str,
) -> std::result::Result<Ack, String> {
    if connection.is_none() {
        *connection = Some(connect(config, to).await?);
    }
    let Some(stream) = connection.as_mut() else { return Err("no connection".to_owned()) };
    let outcome = async {
        let mut frame = Vec::with_capacity(raw.len() + 3);
        frame.push(0x0B);
        frame.extend_from_slice(raw.as_bytes());
        frame.extend_from_slice(&[0x1C, 0x0D]);
        stream.write_all(&frame).await.map_err(|e| format!("cannot send to {}: {}", to.send_to, e.kind()))?;
        stream.flush().await.map_err(|e| format!("cannot send to {}: {}", to.send_to, e.kind()))?;
        let answer = tokio::time::timeout(config.ack_timeout, read_frame(stream.as_mut()))
            .await
            .map_err(|_| format!("no ACK from {} within {:?}", to.send_to, config.ack_timeout))??;
        read_ack(&answer, control_id)
    }
    .await;
    if outcome.is_err() {
        *connection = None;
    }
    outcome
}

async fn connect(config: &Sender, to: &Destination) -> std::result::Result<Box<dyn Io>, String> {
    let tcp = tokio::time::timeout(config.connect_timeout, TcpStream::connect(to.send_to.as_str()))
        .await
        .map_err(|_| format!("connecting to {} timed out", to.send_to))?
        .map_err(|e| format!("cannot connect to {}: {}", to.send_to, e.kind()))?;
    let _ = tcp.set_nodelay(true);
    if !to.tls {
        return Ok(Box::new(tcp));
    }
    let host = to.send_to.rsplit_once(':').map_or(to.send_to.as_str(), |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| format!("{} is not a host name TLS can check", to.send_to))?;
    let tls = tokio::time::timeout(
        config.connect_timeout,
        tokio_rustls::TlsConnector::from(config.tls.clone()).connect(name, tcp),
    )
    .await
    .map_err(|_| format!("the TLS handshake with {} timed out", to.send_to))?
    .map_err(|e| format!("the TLS handshake with {} failed: {e}", to.send_to))?;
    Ok(Box::new(tls))
}

/// The largest ACK read.
const MAX_ACK_BYTES: usize = 64 * 1024;

/// One framed answer: the bytes between 0x0B and 0x1C 0x0D.
async fn read_frame(stream: &mut dyn Io) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut started = false;
    loop {
        let byte = stream.read_u8().await.map_err(|e| format!("the connection ended before an ACK ({})", e.kind()))?;
        match byte {
            0x0B => {
                started = true;
                out.clear();
            }
            0x1C if started => {
                let cr = stream.read_u8().await.map_err(|e| format!("the ACK's frame is cut ({})", e.kind()))?;
                return if cr == 0x0D {
                    Ok(out)
                } else {
                    Err("the ACK's end block is not followed by 0x0D".to_owned())
                };
            }
            b if started => {
                if out.len() >= MAX_ACK_BYTES {
                    return Err("the answer is larger than an ACK can be".to_owned());
                }
                out.push(b);
            }
            _ => {}
        }
    }
}

/// MSA-1 and MSA-2 of an answer, which must acknowledge `control_id`, and
/// ERR-3.1 and ERR-2 (kept only when shaped like a code and a location).
fn read_ack(bytes: &[u8], control_id: &str) -> std::result::Result<Ack, String> {
    let text = String::from_utf8_lossy(bytes);
    let message = super::parse::read_structure(&text).map_err(|_| "the answer is not an HL7 message".to_owned())?;
    let Some(msa) = message.segment("MSA") else { return Err("the answer has no MSA segment".to_owned()) };
    let msa = Seg { segment: msa, separators: &message.separators, sequence: 1 };
    let code = msa.first(1).text().unwrap_or_default().to_ascii_uppercase();
    if !matches!(code.as_str(), "AA" | "AE" | "AR" | "CA" | "CE" | "CR") {
        return Err("the answer's MSA-1 is not an acknowledgment code".to_owned());
    }
    if msa.first(2).as_str() != control_id {
        return Err("the answer acknowledges another message (MSA-2)".to_owned());
    }
    let err = message.segment("ERR").map(|segment| Seg { segment, separators: &message.separators, sequence: 1 });
    let shaped = |s: String, extra: &str| {
        (s.len() <= 40 && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c))).then_some(s)
    };
    let error_code = err.and_then(|e| e.value(3, 1, 1).text()).and_then(|c| shaped(c, ""));
    let error_location = err
        .and_then(|e| {
            let parts: Vec<String> = (1..=4).filter_map(|c| e.value(2, 1, c).text()).collect();
            (!parts.is_empty()).then(|| parts.join("-"))
        })
        .and_then(|l| shaped(l, "-"));
    Ok(Ack { code, error_code, error_location })
}

/// What health reports about the queue: messages queued for longer than
/// `stale_minutes` (a receiver down, a destination wrong).
pub async fn findings(
    db: &tokio_postgres::Client,
    stale_minutes: u32,
) -> std::result::Result<Vec<HealthFinding>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT coalesce(i.name, '?'), count(*), min(m.id) FROM phi.hl7_messages m
               LEFT JOIN interfaces i ON i.id = m.interface_id
              WHERE m.direction = 'outbound' AND m.status = 'queued'
                AND m.received_at < now() - make_interval(mins => $1)
              GROUP BY i.name ORDER BY i.name",
            &[&i32::try_from(stale_minutes).unwrap_or(i32::MAX)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let (name, count, first): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
            HealthFinding {
                severity: Severity::Warning,
                code: "hl7_outbound_queued".into(),
                message: format!(
                    "{count} HL7 message(s) for interface {name} have waited more than {stale_minutes} minutes to be acknowledged (oldest id {first}). Check that its receiver (send_to) is up and reachable; `wardbook-server hl7 messages --status queued` shows the last error. They are sent, in order, once it answers."
                ),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn acks_are_read_for_their_code_and_control_id_only() {
        let ack =
            |msa: &str, err: &str| format!("MSH|^~\\&|EPIC|H|WARDBOOK|W|20260301||ACK^O17^ACK|9|P|2.5.1\r{msa}\r{err}");
        let got = read_ack(ack("MSA|AA|C1", "").as_bytes(), "C1").unwrap();
        assert!(got.accepted());
        let got = read_ack(ack("MSA|CA|C1", "").as_bytes(), "C1").unwrap();
        assert_eq!(got.stored_code(), "AA");
        let got =
            read_ack(ack("MSA|AE|C1|Jane Doe unknown", "ERR||PID^1^3|204^Unknown key^HL70357|E").as_bytes(), "C1")
                .unwrap();
        assert_eq!(
            (got.stored_code(), got.error_code.as_deref(), got.error_location.as_deref()),
            ("AE", Some("204"), Some("PID-1-3"))
        );
        let got = read_ack(ack("MSA|AR|C1", "ERR||Jane Doe|Jane Doe").as_bytes(), "C1").unwrap();
        assert_eq!((got.error_code, got.error_location), (None, None), "free text is not kept");
        assert!(read_ack(ack("MSA|AA|C2", "").as_bytes(), "C1").is_err(), "another message's ACK");
        assert!(read_ack(ack("MSA|XX|C1", "").as_bytes(), "C1").is_err());
        assert!(read_ack(b"not hl7", "C1").is_err());
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let config = Sender {
            poll: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            ack_timeout: Duration::from_secs(1),
            retry_min: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            tls: client_tls(None).unwrap(),
        };
        for attempt in 1..=4 {
            let base = Duration::from_secs(2 << (attempt - 1));
            let delay = retry_delay(&config, attempt);
            assert!(delay >= base && delay <= base * 2, "attempt {attempt}: {delay:?}");
        }
        for attempt in [10, 64, 1000, i32::MAX] {
            assert!(retry_delay(&config, attempt) <= Duration::from_secs(60));
            assert!(retry_delay(&config, attempt) >= Duration::from_secs(32));
        }
    }
}
