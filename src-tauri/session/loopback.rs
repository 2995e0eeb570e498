//! The loopback redirect of the browser sign-in (RFC 8252 section 7.3): a
//! listener on 127.0.0.1 on a port the system chooses, for the one request
//! the system browser makes when the hospital's OpenID provider sends it
//! back to `http://127.0.0.1:<port>/callback?code=…&state=…`.
//!
//! The listener answers every request with a small page (the browser shows
//! it in the tab the sign-in used) and hands back the code only when the
//! request carries exactly the `state` this sign-in started with. Anything
//! else (another path, such as the browser's favicon request; a state that
//! is not ours, which may be another page on this computer trying to feed
//! us its own code) is answered and ignored: the real redirect may still
//! come. An `error=` redirect with our state ends the wait.

use std::io;
use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use zeroize::Zeroizing;

/// The redirect URI's path.
pub(crate) const CALLBACK_PATH: &str = "/callback";
/// A browser's request head is far smaller; anything longer is not one.
const HEAD_LIMIT: usize = 16 * 1024;
/// How long one connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What one request to the listener is.
#[derive(PartialEq, Eq)]
pub(crate) enum Callback {
    /// Our state, and the authorization code.
    Code(Zeroizing<String>),
    /// Our state, and the provider's `error` code (sanitized: letters,
    /// digits, `_`, `-`, `.`; at most 64 characters).
    ProviderError(String),
    /// A redirect with another state (or none): refused.
    WrongState,
    /// Another path (the browser's favicon request).
    OtherPath,
    /// Not a GET, a broken request, or a callback without a code or error.
    Malformed,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Callback::Code(_) => f.write_str("Code(***)"),
            Callback::ProviderError(e) => f.debug_tuple("ProviderError").field(e).finish(),
            Callback::WrongState => f.write_str("WrongState"),
            Callback::OtherPath => f.write_str("OtherPath"),
            Callback::Malformed => f.write_str("Malformed"),
        }
    }
}

/// How the wait ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Code(Zeroizing<String>),
    ProviderError(String),
}

/// The listener, bound and waiting.
#[derive(Debug)]
pub(crate) struct Loopback {
    listener: TcpListener,
    port: u16,
}

impl Loopback {
    /// Binds 127.0.0.1 on a port the system chooses (an IP literal, not
    /// `localhost`, which could resolve elsewhere: RFC 8252 section 8.3).
    pub(crate) async fn bind() -> io::Result<Loopback> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        Ok(Loopback { listener, port })
    }

    pub(crate) fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port)
    }

    /// Answers requests until one brings this sign-in's code or error.
    pub(crate) async fn wait(&self, expected_state: &str) -> io::Result<Outcome> {
        loop {
            let (stream, _) = self.listener.accept().await?;
            match answer(stream, expected_state).await {
                Callback::Code(code) => return Ok(Outcome::Code(code)),
                Callback::ProviderError(error) => return Ok(Outcome::ProviderError(error)),
                Callback::WrongState => {
                    tracing::warn!("a sign-in redirect with another state was refused at the loopback listener");
                }
                Callback::OtherPath | Callback::Malformed => {}
            }
        }
    }
}

/// Reads one request, answers it, and says what it was.
async fn answer(mut stream: TcpStream, expected_state: &str) -> Callback {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        _ => return Callback::Malformed,
    };
    let callback = parse_request(&String::from_utf8_lossy(&head), expected_state);
    let response = response_for(&callback);
    // The browser may have gone: what matters is the code.
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    callback
}

/// The request line and headers (up to the blank line), wiped on drop:
/// they hold the code.
async fn read_head(stream: &mut TcpStream) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut head = Zeroizing::new(Vec::with_capacity(1024));
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > HEAD_LIMIT {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    buf.fill(0);
    Ok(head)
}

/// What a request head is, for the sign-in whose state is `expected_state`
/// (compared exactly). Pure: the unit tests walk it.
pub(crate) fn parse_request(head: &str, expected_state: &str) -> Callback {
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some("GET"), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Callback::Malformed;
    };
    if !target.starts_with('/') || !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return Callback::Malformed;
    }
    let Ok(url) = Url::parse(&format!("http://127.0.0.1{target}")) else { return Callback::Malformed };
    if url.path() != CALLBACK_PATH {
        return Callback::OtherPath;
    }
    let (mut state, mut code, mut error) = (None, None, None);
    for (key, value) in url.query_pairs() {
        let slot = match key.as_ref() {
            "state" => &mut state,
            "code" => &mut code,
            "error" => &mut error,
            _ => continue,
        };
        if slot.replace(Zeroizing::new(value.into_owned())).is_some() {
            // A parameter twice: not what a provider sends.
            return Callback::Malformed;
        }
    }
    if state.as_deref().map(String::as_str) != Some(expected_state) || expected_state.is_empty() {
        return Callback::WrongState;
    }
    match (code, error) {
        (_, Some(error)) => Callback::ProviderError(
            error.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')).take(64).collect(),
        ),
        (Some(code), None) if !code.is_empty() => Callback::Code(code),
        _ => Callback::Malformed,
    }
}

/// The HTTP answer to a request: a small page, never cached, sending no referrer.
fn response_for(callback: &Callback) -> String {
    let (status, title, text) = match callback {
        Callback::Code(_) => (
            "200 OK",
            "Signed in to Wardbook",
            "You are signed in to Wardbook: you can close this tab and return to Wardbook.".to_owned(),
        ),
        Callback::ProviderError(error) => (
            "200 OK",
            "Wardbook sign-in did not complete",
            format!(
                "The hospital sign-in ended with the error “{error}”. Close this tab and return to Wardbook to try again."
            ),
        ),
        Callback::WrongState => (
            "400 Bad Request",
            "Not the sign-in Wardbook is waiting for",
            "This answer does not belong to the sign-in Wardbook started, so it was refused. Close this tab and start the sign-in again from Wardbook.".to_owned(),
        ),
        Callback::OtherPath => ("404 Not Found", "Not found", "Nothing here.".to_owned()),
        Callback::Malformed => ("400 Bad Request", "Bad request", "Wardbook could not read this request.".to_owned()),
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family: sans-serif; margin: 3rem\"><h1>{title}</h1><p>{text}</p></body></html>\n"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
#[path = "loopback_tests.rs"]
mod tests;
