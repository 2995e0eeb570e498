//! The service over raw HTTP (baselines and breakdown), and a loopback
//! server that replays recorded pull pages from memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wardbook::sync::engine::PULL_PAGE;

/// The cursor and `has_more` of an encoded page, read from its end (they
/// follow the changes), without decoding the page.
pub fn tail_of(body: &[u8]) -> (String, bool) {
    #[derive(serde::Deserialize)]
    struct Tail {
        cursor: String,
        has_more: bool,
    }
    let key = b"\"cursor\":";
    let at = body.windows(key.len()).rposition(|w| w == key).expect("a cursor in the page");
    let tail: Tail = serde_json::from_slice(&[b"{", &body[at..]].concat()).expect("page tail");
    (tail.cursor, tail.has_more)
}

/// One pull as raw bytes: (time to the response headers, time for the body, body).
pub async fn raw_pull(
    http: &reqwest::Client,
    base: &str,
    credential: &str,
    cursor: Option<&str>,
) -> (Duration, Duration, Vec<u8>) {
    let limit = PULL_PAGE.to_string();
    let mut query = vec![("limit", limit.as_str())];
    if let Some(c) = cursor {
        query.push(("cursor", c));
    }
    let started = Instant::now();
    let response = http
        .get(format!("{base}/v1/sync/pull"))
        .bearer_auth(credential)
        .query(&query)
        .send()
        .await
        .expect("send")
        .error_for_status()
        .expect("status");
    let headers = started.elapsed();
    let started = Instant::now();
    let bytes = response.bytes().await.expect("body").to_vec();
    (headers, started.elapsed(), bytes)
}

/// POSTs a JSON body that must succeed and decodes the answer.
pub async fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    credential: &str,
    body: &B,
) -> T {
    http.post(url)
        .bearer_auth(credential)
        .json(body)
        .send()
        .await
        .expect("send")
        .error_for_status()
        .expect("status")
        .json()
        .await
        .expect("decode")
}

/// A loopback HTTP/1.1 server that answers `GET /v1/sync/pull?...cursor=C`
/// with the recorded body for C (no cursor: the first page), from memory.
pub async fn replay_server(requested: &[Option<String>], bodies: Vec<Vec<u8>>) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The bodies move in rather than being copied: at `make bench-large`'s
    // 10 M rows they are some 6 GB.
    let answers: Arc<HashMap<String, Vec<u8>>> =
        Arc::new(requested.iter().zip(bodies).map(|(c, b)| (c.clone().unwrap_or_default(), b)).collect());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                loop {
                    // Read one request head (the pull has no body).
                    let end = loop {
                        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break pos + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end);
                    let target = head.split_whitespace().nth(1).unwrap_or_default();
                    let cursor = target
                        .split_once('?')
                        .map(|(_, q)| q)
                        .unwrap_or_default()
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("cursor="))
                        .map(percent_decode)
                        .unwrap_or_default();
                    let response = match answers.get(&cursor) {
                        Some(body) => {
                            let mut r = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                                body.len()
                            )
                            .into_bytes();
                            r.extend_from_slice(body);
                            r
                        }
                        None => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec(),
                    };
                    if socket.write_all(&response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
