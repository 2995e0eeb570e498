//! A real OpenID provider on loopback for the sign-in tests: panva's
//! certified `oidc-provider` (npm), run by `tests/oidc/provider.mjs` with
//! synthetic accounts, a confidential and a public client (both native apps
//! whose loopback redirect URI may take any port) and PKCE required.
//!
//! [`OidcProvider::start`] runs `node tests/oidc/provider.mjs` from the
//! repository root and reads the issuer it listens at from its first line
//! of output, with a deadline. Stdin and stdout stay a line protocol of
//! JSON between the test and the script: [`OidcProvider::rotate_keys`] has
//! the provider publish and sign with a new key; [`OidcProvider::forge`]
//! signs any claims with the provider's key or with a key it never
//! published. The process is killed when the value is dropped (and exits by
//! itself when its stdin closes, should the test process die first).
//!
//! Driving the sign-in itself (the browser's part) needs an HTTP client;
//! the service's tests have one in `server/tests/oidc_support/`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::wait::TIMEOUT;

/// The confidential client (`client_secret_basic`) and its secret.
pub const CONFIDENTIAL_CLIENT_ID: &str = "wardbook-confidential";
pub const CLIENT_SECRET: &str = "synthetic-client-secret";
/// The public client (`token_endpoint_auth_method: none`).
pub const PUBLIC_CLIENT_ID: &str = "wardbook-public";

/// One of the provider's synthetic accounts, with what Wardbook should make
/// of it (`username`: the `preferred_username` claim trimmed, lower-cased).
#[derive(Clone, Copy, Debug)]
pub struct SyntheticAccount {
    pub login: &'static str,
    pub password: &'static str,
    pub subject: &'static str,
    pub username: &'static str,
    pub display_name: &'static str,
    pub groups: &'static [&'static str],
}

/// In `wardbook-clinicians`; its `preferred_username` is `Nurse.OIDC`.
pub const NURSE: SyntheticAccount = SyntheticAccount {
    login: "nurse.oidc",
    password: "synthetic-nurse-password",
    subject: "synthetic-oidc-0001",
    username: "nurse.oidc",
    display_name: "Synthetic Nurse (OIDC)",
    groups: &["wardbook-clinicians"],
};
/// In `wardbook-privacy`.
pub const PRIVACY_OFFICER: SyntheticAccount = SyntheticAccount {
    login: "privacy.oidc",
    password: "synthetic-privacy-password",
    subject: "synthetic-oidc-0002",
    username: "privacy.oidc",
    display_name: "Synthetic Privacy Officer (OIDC)",
    groups: &["wardbook-privacy"],
};
/// In no group.
pub const NOBODY: SyntheticAccount = SyntheticAccount {
    login: "nobody.oidc",
    password: "synthetic-nobody-password",
    subject: "synthetic-oidc-0003",
    username: "nobody.oidc",
    display_name: "Synthetic Nobody (OIDC)",
    groups: &[],
};

/// How the provider is started.
#[derive(Clone, Debug, Default)]
pub struct OidcProviderOptions {
    /// Put the profile and groups claims in the ID token too (by default,
    /// as the spec intends when an access token is issued, only userinfo
    /// has them).
    pub claims_in_id_token: bool,
    /// The clients' registered redirect URIs; default
    /// `http://127.0.0.1/callback` (any port is accepted for it).
    pub redirect_uris: Vec<String>,
}

/// Which key [`OidcProvider::forge`] signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForgeKey {
    /// The key the provider signs with now (and publishes).
    Current,
    /// A key the provider never published.
    Rogue,
}

/// A running `tests/oidc/provider.mjs`; killed on drop.
#[derive(Debug)]
pub struct OidcProvider {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    issuer: String,
    kid: String,
}

impl OidcProvider {
    pub fn start() -> Result<OidcProvider> {
        OidcProvider::start_with(OidcProviderOptions::default())
    }

    pub fn start_with(options: OidcProviderOptions) -> Result<OidcProvider> {
        let root = repository_root();
        if !root.join("tests/oidc/node_modules/oidc-provider").is_dir() {
            bail!(
                "tests/oidc/node_modules is missing: run `make npm-deps` (it installs the OpenID provider the sign-in tests run)"
            );
        }
        let mut command = Command::new("node");
        command
            .current_dir(&root)
            .arg("tests/oidc/provider.mjs")
            .args(["--port", "0", "--confidential-client", CONFIDENTIAL_CLIENT_ID, "--public-client", PUBLIC_CLIENT_ID])
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if options.claims_in_id_token {
            command.arg("--claims-in-id-token");
        }
        for uri in &options.redirect_uris {
            command.args(["--redirect-uri", uri]);
        }
        let mut child = command.spawn().map_err(|e| {
            anyhow!("cannot run node (Node.js runs the tests' OpenID provider; `make deps` installs it): {e}")
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            bail!("node started without its pipes");
        };
        let lines = read_lines(stdout);
        let stderr = collect(stderr);
        let mut provider = OidcProvider { child, stdin, lines, stderr, issuer: String::new(), kid: String::new() };
        let first = provider.answer("the provider to listen")?;
        provider.issuer = text(&first, "issuer")?;
        provider.kid = text(&first, "kid")?;
        Ok(provider)
    }

    /// `http://127.0.0.1:PORT`, exactly as in its tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `kid` of the key the provider signs with now.
    pub fn signing_kid(&self) -> &str {
        &self.kid
    }

    /// Publishes a new key and signs with it from now on (the old key stays
    /// published); returns its `kid`.
    pub fn rotate_keys(&mut self) -> Result<String> {
        let answer = self.command(json!({"cmd": "rotate"}), "the keys to rotate")?;
        self.kid = text(&answer, "rotated")?;
        Ok(self.kid.clone())
    }

    /// A JWT (RS256) of `claims`, signed with `key`, with `kid` in its header
    /// (default: the signing key's own). `iss`, `iat` and `exp` (in five
    /// minutes) are added unless `claims` has them; a claim set to null is
    /// left out.
    pub fn forge(&mut self, key: ForgeKey, kid: Option<&str>, claims: Value) -> Result<String> {
        let key = match key {
            ForgeKey::Current => "current",
            ForgeKey::Rogue => "rogue",
        };
        let mut cmd = json!({"cmd": "forge", "key": key, "claims": claims});
        if let Some(kid) = kid {
            cmd["kid"] = json!(kid);
        }
        let answer = self.command(cmd, "a forged token")?;
        text(&answer, "token")
    }

    fn command(&mut self, cmd: Value, what: &str) -> Result<Value> {
        writeln!(self.stdin, "{cmd}").and_then(|()| self.stdin.flush()).context("writing to the OpenID provider")?;
        self.answer(what)
    }

    /// The next JSON line of the provider's, within the deadline.
    fn answer(&mut self, what: &str) -> Result<Value> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    bail!("timed out after {TIMEOUT:?} waiting for {what}{}", self.tail())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    bail!("the OpenID provider exited ({status}) before {what}{}", self.tail())
                }
            };
            // Anything else a dependency prints is not the protocol's.
            let Ok(value @ Value::Object(_)) = serde_json::from_str::<Value>(&line) else { continue };
            if let Some(error) = value.get("error") {
                bail!("the OpenID provider refused {what}: {error}");
            }
            return Ok(value);
        }
    }

    fn tail(&self) -> String {
        let stderr = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its stderr ends:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace root: the parent of this crate's directory.
fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn text(answer: &Value, key: &str) -> Result<String> {
    answer
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the OpenID provider answered {answer} without {key:?}"))
}

/// The lines of `stdout`, read on a thread of their own so that the test
/// can wait for one with a deadline.
fn read_lines(stdout: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Everything `stderr` says, kept for the error messages.
fn collect(stderr: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let mut text = sink.lock().unwrap_or_else(PoisonError::into_inner);
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}
