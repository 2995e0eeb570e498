//! The MLLP listener (HL7 v2 Minimal Lower Layer Protocol, release 2):
//! each message framed as `0x0B <message> 0x1C 0x0D`, answered on the same
//! connection with its ACK framed the same way. Messages of one connection
//! are processed one after another, in order; connections run side by
//! side. TLS with the service's certificate; plain TCP only on loopback or
//! when the configuration allows it explicitly (`mllp_allow_plain`).
//!
//! A frame that breaks the protocol (bytes before the start block, a start
//! block without an end, a message over the size limit, silence in the
//! middle of a message) closes the connection: nothing of it is stored, and
//! the sender sends it again on a new connection. A message in a character
//! set other than the one MSH-18 names is refused with AR.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::ack::{AckTo, ack};
use super::fields::Location;
use super::messages::receive;
use super::parse::{ErrorCode, Rejection};
use crate::db::Pool;

const START: u8 = 0x0B;
const END: u8 = 0x1C;
const CR: u8 = 0x0D;

/// How the listener runs.
#[derive(Clone)]
pub struct Listener {
    pub listen: SocketAddr,
    /// The keys that seal each message as it is stored.
    pub keys: Arc<crate::keys::Keyring>,
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// The largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Silence allowed in the middle of a message before the connection is closed.
    pub read_timeout: Duration,
    /// Silence allowed between messages before an idle connection is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("listen", &self.listen)
            .field("tls", &self.tls.is_some())
            .field("max_message_bytes", &self.max_message_bytes)
            .finish_non_exhaustive()
    }
}

/// A listener accepting connections.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting and closes open connections. A message whose
    /// transaction had not committed is not stored and gets no ACK: the
    /// sender sends it again.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Binds the listener and starts accepting.
pub async fn start(pool: Pool, config: Listener) -> std::io::Result<Running> {
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, tls = config.tls.is_some(), "MLLP listener ready");
    let task = tokio::spawn(accept_loop(listener, pool, config));
    Ok(Running { addr, task })
}

async fn accept_loop(listener: TcpListener, pool: Pool, config: Listener) {
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let acceptor = config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let config = Arc::new(config);
    // Owned here: when the listener is stopped (this task aborted), the set
    // is dropped and every open connection with it.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "an MLLP connection could not be accepted");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let pool = pool.clone();
        let config = config.clone();
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let _permit = permit;
            tracing::info!(%peer, "MLLP connection opened");
            let outcome = match acceptor {
                Some(acceptor) => match tokio::time::timeout(config.read_timeout, acceptor.accept(socket)).await {
                    Ok(Ok(stream)) => serve(stream, &pool, &config).await,
                    Ok(Err(e)) => Err(format!("TLS handshake failed: {}", e.kind())),
                    Err(_) => Err("TLS handshake timed out".to_owned()),
                },
                None => serve(socket, &pool, &config).await,
            };
            match outcome {
                Ok(()) => tracing::info!(%peer, "MLLP connection closed"),
                Err(reason) => tracing::warn!(%peer, %reason, "MLLP connection closed"),
            }
        });
    }
}

/// What reading one frame gave.
enum Frame {
    Message(Vec<u8>),
    /// Over the size limit: the start of it, for the ACK's header.
    TooLarge(Vec<u8>),
    Closed,
}

/// Serves one connection: frames in, ACKs out, in order.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, pool: &Pool, config: &Listener) -> Result<(), String> {
    let mut stream = BufReader::new(stream);
    loop {
        match read_frame(&mut stream, config).await? {
            Frame::Closed => return Ok(()),
            Frame::TooLarge(prefix) => {
                let to = AckTo::best_effort(&String::from_utf8_lossy(&prefix));
                let rejection = Rejection::reject(
                    ErrorCode::ApplicationInternalError,
                    None,
                    format!("The message is larger than the {} bytes Wardbook accepts.", config.max_message_bytes),
                );
                let _ = write_frame(&mut stream, &ack(&to, Err(&rejection))).await;
                return Err("a message over the size limit".to_owned());
            }
            Frame::Message(bytes) => {
                let reply = match decode(&bytes) {
                    Ok(text) => receive(pool, &config.keys, &text).await.ack,
                    Err(rejection) => {
                        let to = AckTo::best_effort(&String::from_utf8_lossy(&bytes));
                        ack(&to, Err(&rejection))
                    }
                };
                write_frame(&mut stream, &reply).await.map_err(|e| format!("cannot send the ACK: {}", e.kind()))?;
            }
        }
    }
}

async fn read_frame<S: AsyncRead + Unpin>(stream: &mut BufReader<S>, config: &Listener) -> Result<Frame, String> {
    // Between messages: wait for a start block; line ends and spaces some
    // senders put between frames are skipped.
    loop {
        let byte = match tokio::time::timeout(config.idle_timeout, stream.read_u8()).await {
            Err(_) => return Err("idle for longer than the idle timeout".to_owned()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(Frame::Closed),
            Ok(Err(e)) => return Err(format!("read failed: {}", e.kind())),
            Ok(Ok(b)) => b,
        };
        match byte {
            START => break,
            b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => return Err("bytes outside an MLLP frame (no start block 0x0B)".to_owned()),
        }
    }
    let mut message = Vec::with_capacity(4096);
    loop {
        let byte = match tokio::time::timeout(config.read_timeout, stream.read_u8()).await {
            Err(_) => return Err("silent in the middle of a message for longer than the read timeout".to_owned()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err("the connection ended in the middle of a message".to_owned());
            }
            Ok(Err(e)) => return Err(format!("read failed: {}", e.kind())),
            Ok(Ok(b)) => b,
        };
        match byte {
            END => {
                let next = tokio::time::timeout(config.read_timeout, stream.read_u8())
                    .await
                    .map_err(|_| "no carriage return after the end block".to_owned())?
                    .map_err(|_| "no carriage return after the end block".to_owned())?;
                if next != CR {
                    return Err("the end block 0x1C is not followed by 0x0D".to_owned());
                }
                return Ok(Frame::Message(message));
            }
            START => return Err("a start block inside a message".to_owned()),
            b => {
                if message.len() >= config.max_message_bytes {
                    message.truncate(2048);
                    return Ok(Frame::TooLarge(message));
                }
                message.push(b);
            }
        }
    }
}

async fn write_frame<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut BufReader<S>, text: &str) -> std::io::Result<()> {
    let mut frame = Vec::with_capacity(text.len() + 3);
    frame.push(START);
    frame.extend_from_slice(text.as_bytes());
    frame.push(END);
    frame.push(CR);
    let inner = stream.get_mut();
    inner.write_all(&frame).await?;
    inner.flush().await
}

/// The message's bytes as text, in the character set MSH-18 names: none
/// (UTF-8 accepted, ASCII being part of it), `ASCII`, `8859/1` (Latin-1),
/// `UNICODE UTF-8`. Anything else, or bytes that are not of that set, is
/// refused: guessing would store names wrongly.
pub fn decode(bytes: &[u8]) -> Result<String, Rejection> {
    let charset = msh_18(bytes);
    let msh18 = || Some(Location::new("MSH", 1, 18));
    let not_in_set = || {
        Rejection::reject(
            ErrorCode::DataType,
            msh18(),
            "The message's bytes are not valid in the character set MSH-18 names (UTF-8 when MSH-18 is empty).",
        )
    };
    match charset.as_str() {
        "" | "UNICODE UTF-8" | "UTF-8" => String::from_utf8(bytes.to_vec()).map_err(|_| not_in_set()),
        "ASCII" => {
            if bytes.is_ascii() {
                String::from_utf8(bytes.to_vec()).map_err(|_| not_in_set())
            } else {
                Err(not_in_set())
            }
        }
        "8859/1" => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        _ => Err(Rejection::reject(
            ErrorCode::TableValueNotFound,
            msh18(),
            "MSH-18 names a character set Wardbook does not read (ASCII, 8859/1 or UNICODE UTF-8).",
        )),
    }
}

/// MSH-18 read from the raw bytes (before decoding, which it governs).
fn msh_18(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(bytes.len());
    let msh = &bytes[..end];
    if msh.len() < 4 || !msh.starts_with(b"MSH") {
        return String::new();
    }
    let separator = msh[3];
    // Field n of MSH is part n - 1 (MSH-1 is the separator itself).
    msh.split(|&b| b == separator)
        .nth(17)
        .map(|f| String::from_utf8_lossy(f).split('^').next().unwrap_or_default().trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_character_set_is_the_one_msh_18_names() {
        let msh = |charset: &str, name: &[u8]| {
            let mut m = format!("MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5.1||||||{charset}\rPID|||1||").into_bytes();
            m.extend_from_slice(name);
            m
        };
        assert!(decode(&msh("", "Müller".as_bytes())).unwrap().ends_with("Müller"));
        assert!(decode(&msh("UNICODE UTF-8", "Müller".as_bytes())).unwrap().ends_with("Müller"));
        assert!(decode(&msh("8859/1", b"M\xfcller")).unwrap().ends_with("Müller"));
        assert_eq!(decode(&msh("", b"M\xfcller")).unwrap_err().location.unwrap().to_string(), "MSH-18");
        assert!(decode(&msh("ASCII", "Müller".as_bytes())).is_err());
        assert_eq!(decode(&msh("ISO IR87", b"x")).unwrap_err().code, ErrorCode::TableValueNotFound);
    }
}
