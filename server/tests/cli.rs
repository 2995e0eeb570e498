//! The real `wardbook-server` binary, as IT staff run it, against real
//! PostgreSQL: migrations, the admin commands, health's exit code, and
//! `serve` over plain HTTP (test only) and TLS. Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::{AuditChain, PASSWORD, TestServer};
use serde_json::Value;
use uuid::Uuid;
use wardbook_protocol::api::Change;
use wardbook_server::config::Settings;
use wardbook_server::{AppState, app, db};
use wardbook_test_support::{TestDatabase, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_wardbook-server");

/// How long one command may take before the test fails (and kills it).
const DEADLINE: Duration = Duration::from_secs(60);

/// Every variable the binary reads: cleared so the caller's environment
/// cannot change what a test sees.
const VARIABLES: [&str; 8] = [
    "WARDBOOK_ENV",
    "WARDBOOK_DATABASE_URL",
    "WARDBOOK_LISTEN",
    "WARDBOOK_TLS_CERT",
    "WARDBOOK_TLS_KEY",
    "WARDBOOK_SERVER_CONFIG",
    "WARDBOOK_LOG",
    "WARDBOOK_KEK_FILE",
];

/// A spawned process, killed and reaped when dropped (also when the test panics).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

impl Guard {
    /// Waits for the exit, failing the test (and killing the process) past `timeout`.
    fn wait(&mut self, timeout: Duration, what: &str) -> ExitStatus {
        wait_until(timeout, what, || Ok(self.0.try_wait()?)).unwrap()
    }
}

/// What one run printed, and how it ended.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert!(
            self.status.success(),
            "expected success, got {}:\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    fn failed(self) -> Run {
        assert!(!self.status.success(), "expected a failure:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        assert_eq!(self.status.code(), Some(1), "an error exits 1, not by a signal or panic: {}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }

    /// The JSON document printed on stdout (`--json`).
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// The binary with a clean environment: an empty configuration file (so a
/// machine's /etc/wardbook/server.toml plays no part), plain log lines, and
/// a key-encryption key of its own (as production has; [`Cli::kek`]).
struct Cli {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Cli {
    fn new(env: &[(&str, &str)]) -> Cli {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server.toml"), "").unwrap();
        let kek = dir.path().join("kek");
        wardbook_server::keys::write_new_kek(&kek).unwrap();
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        env.insert(0, ("WARDBOOK_KEK_FILE".to_owned(), kek.to_str().unwrap().to_owned()));
        Cli { dir, env }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The key-encryption key every run is given (WARDBOOK_KEK_FILE).
    fn kek(&self) -> PathBuf {
        self.path("kek")
    }

    fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut command = Command::new(BIN);
        command.args(args);
        for name in VARIABLES {
            command.env_remove(name);
        }
        command
            .env("WARDBOOK_SERVER_CONFIG", self.path("server.toml"))
            .env("WARDBOOK_LOG", "info")
            .env("NO_COLOR", "1");
        for (k, v) in self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(extra.iter().copied()) {
            command.env(k, v);
        }
        command
    }

    /// Runs to completion (within [`DEADLINE`]), feeding `stdin` if given.
    fn run_with(&self, args: &[&str], extra: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut command = self.command(args, extra);
        command
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = Guard(command.spawn().expect("the wardbook-server binary runs"));
        if let Some(text) = stdin {
            let mut pipe = guard.0.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).unwrap();
        }
        let stdout = read_all(guard.0.stdout.take().unwrap());
        let stderr = read_all(guard.0.stderr.take().unwrap());
        let status = guard.wait(DEADLINE, &format!("wardbook-server {}", args.join(" ")));
        Run { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], None)
    }

    /// Starts `serve` and waits for its "listening" log line; returns the
    /// process and the address it listens on.
    fn serve(&self, extra: &[(&str, &str)]) -> (Guard, String) {
        let mut command = self.command(&["serve"], extra);
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut guard = Guard(command.spawn().expect("the wardbook-server binary runs"));
        let (tx, rx) = mpsc::channel();
        let stderr = guard.0.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("listening") => {
                    let addr = address_in(&line).unwrap_or_else(|| panic!("no address in {line:?}"));
                    // Keep draining stderr so the server never blocks on a full pipe.
                    std::thread::spawn(move || for _ in rx {});
                    return (guard, addr);
                }
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "serve did not log \"listening\" (exit: {:?}); stderr:\n{}",
                    guard.0.try_wait().ok().flatten(),
                    seen.join("\n")
                ),
            }
        }
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// `127.0.0.1:PORT` in a log line (whatever colouring surrounds it).
fn address_in(line: &str) -> Option<String> {
    let start = line.find("127.0.0.1:")?;
    let rest = &line[start + "127.0.0.1:".len()..];
    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!port.is_empty()).then(|| format!("127.0.0.1:{port}"))
}

/// A port with nothing listening on it (free a moment ago).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn terminate(guard: &mut Guard) -> ExitStatus {
    let pid = guard.0.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    guard.wait(Duration::from_secs(30), "serve to stop on SIGTERM")
}

#[test]
fn help_lists_every_command() {
    let help = Cli::new(&[]).run(&["--help"]).ok();
    for command in ["migrate", "serve", "location", "user", "device", "patient", "synth", "audit", "health"] {
        assert!(
            help.stdout.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} missing from --help:\n{}",
            help.stdout
        );
    }
    let unknown = Cli::new(&[]).run(&["frobnicate"]);
    assert!(!unknown.status.success());
}

/// A service over a database the CLI migrated: as production, the service
/// connects as a login role holding only `wardbook_service`'s grants, and
/// holds the CLI's key-encryption key.
async fn service_over(db: TestDatabase, kek: PathBuf) -> TestServer {
    let owner_url = db.url().to_owned();
    let role = format!("wb_app_{}", db.name());
    db.psql(&format!("CREATE ROLE \"{role}\" LOGIN PASSWORD 'synthetic-test-only' IN ROLE wardbook_service")).unwrap();
    let config: tokio_postgres::Config = owner_url.parse().unwrap();
    let service_url = format!(
        "postgres://{role}:synthetic-test-only@{}/{}",
        db::describe_target(&config),
        config.get_dbname().unwrap()
    );
    let mut settings = Settings::for_tests(service_url.clone());
    settings.kek_file = Some(kek);
    let state = AppState::new(settings.clone()).unwrap();
    let router = app(state.clone());
    TestServer { db, owner_url, service_url, settings, state, router }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_from_migrate_to_audit_verify() {
    let db = tokio::task::spawn_blocking(TestDatabase::new).await.unwrap().unwrap();
    let cli = Cli::new(&[("WARDBOOK_DATABASE_URL", db.url())]);
    let test_env = [("WARDBOOK_ENV", "test")];
    let version = db::expected_migration_version();

    let first = cli.run(&["migrate", "--json"]).ok().json();
    let applied: Vec<i32> = serde_json::from_value(first["applied"].clone()).unwrap();
    assert!(applied.contains(&version) && applied.contains(&1), "{first}");
    assert_eq!(first["version"], version);
    let again = cli.run(&["migrate", "--json"]).ok().json();
    assert_eq!(again["applied"], serde_json::json!([]), "a second migrate applies nothing");
    assert_eq!(again["version"], version);
    let server = service_over(db, cli.kek()).await;
    let owner = server.owner().await;

    // Locations.
    let added = cli.run(&["location", "add", "W1", "--json"]).ok().json();
    let location: Uuid = added["id"].as_str().unwrap().parse().unwrap();
    let code: String = owner.query_one("SELECT code FROM locations WHERE id = $1", &[&location]).await.unwrap().get(0);
    assert_eq!(code, "W1");
    let duplicate = cli.run(&["location", "add", "W1", "--json"]).failed();
    assert!(duplicate.stderr.contains("exists already"), "{}", duplicate.stderr);

    // A user, the password read from stdin.
    let user = cli
        .run_with(
            &["user", "add", "alice", "--display-name", "Synthetic Alice", "--role", "clinician", "--json"],
            &[],
            Some(&format!("{PASSWORD}\n")),
        )
        .ok()
        .json();
    assert_eq!(user["username"], "alice");
    let user_id: Uuid = user["id"].as_str().unwrap().parse().unwrap();
    let row = owner
        .query_one("SELECT display_name, roles, password_hash FROM users WHERE id = $1", &[&user_id])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Synthetic Alice");
    assert_eq!(row.get::<_, Vec<String>>(1), ["clinician"]);
    assert!(row.get::<_, String>(2).starts_with("$argon2id$"), "only the hash is stored");
    let bad_role =
        cli.run_with(&["user", "add", "bob", "--display-name", "B", "--role", "surgeon"], &[], Some("x\n")).failed();
    assert!(bad_role.stderr.contains("unknown role"), "{}", bad_role.stderr);

    // An enrolment code from the CLI enrols a workstation through the API.
    let code = cli.run(&["device", "enroll-code", "--location", "W1", "--json"]).ok().json();
    assert_eq!(code["location"], "W1");
    let (status, body) = server
        .call(
            Method::POST,
            "/v1/enrol",
            None,
            Some(serde_json::json!({ "code": code["code"], "device_name": "synthetic-cli-workstation" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["locations"], serde_json::json!(["W1"]));
    let device = common::Device {
        id: body["device_id"].as_str().unwrap().parse().unwrap(),
        credential: body["credential"].as_str().unwrap().to_owned(),
    };
    server.login(&device, "alice").await; // the password given on stdin

    // Synthetic data: only outside production.
    let report = cli.run_with(&["synth", "--patients", "5", "--seed", "3", "--json"], &test_env, None).ok().json();
    assert_eq!(report["patients"], 5);
    assert!(report["observations"].as_u64().unwrap() > 0);
    let refused = cli.run(&["synth", "--patients", "5", "--seed", "4", "--json"]).failed();
    assert!(refused.stderr.contains("production"), "{}", refused.stderr);
    let patients: i64 = owner.query_one("SELECT count(*) FROM patients", &[]).await.unwrap().get(0);
    assert_eq!(patients, 5, "the refused synth loaded nothing");

    // Assigning a patient by MRN puts it in W1's scope (the first by MRN;
    // the MRNs are sealed, opened with the data keys).
    let keys = server.state.keys.get().await.expect("the data keys");
    let first = wardbook_server::admin::patients(&mut server.owner().await, &keys).await.unwrap().remove(0);
    let (patient, mrn) = (first.id, first.mrn);
    assert!(server.pull_all(&device, None, 100).await.0.is_empty(), "W1 has no patients yet");
    let assigned = cli.run(&["patient", "assign", &mrn, "--location", "W1", "--json"]).ok().json();
    assert_eq!(assigned["patient_id"], patient.to_string());
    assert_eq!(assigned["active"], true);
    let (changes, cursor) = server.pull_all(&device, None, 100).await;
    assert_eq!(common::patient_ids(&changes), [patient]);
    let unknown = cli.run(&["patient", "assign", "NO-SUCH-MRN", "--location", "W1"]).failed();
    assert!(unknown.stderr.contains("no patient"), "{}", unknown.stderr);
    cli.run(&["patient", "unassign", &patient.to_string(), "--location", "W1", "--json"]).ok();
    let (changes, _) = server.pull_all(&device, Some(&cursor), 100).await;
    assert!(changes.contains(&Change::Remove { patient_id: patient }), "{changes:?}");

    // Audit: the CLI reports and verifies what the device uploaded.
    let mut chain = AuditChain::new(device.id);
    let events = chain.take(3, "alice", Some(patient), 0);
    let (status, body) = server.upload_audit(&device, &events).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = cli.run(&["audit", "report", "--user", "alice", "--sort", "asc", "--json"]).ok().json();
    assert_eq!(report["total"], 3);
    assert_eq!(report["events"][0]["id"], events[0].id.to_string());
    // Without a patient or user: every event in the range, a page at a time.
    let all = cli.run(&["audit", "report", "--json"]).ok().json();
    assert_eq!(all["total"], 3);
    let refused = cli.run(&["audit", "report", "--page-size", "0", "--json"]).failed();
    assert!(refused.stderr.contains("page_size"), "{}", refused.stderr);
    let verified = cli.run(&["audit", "verify", "--json"]).ok().json();
    assert_eq!(verified, serde_json::json!([{ "device_id": device.id, "events": 3, "broken_at": null }]));

    // A batch of codes for a roll-out: distinct, one expiry, listed without the codes.
    let batch = cli.run(&["device", "enroll-code", "--location", "W1", "--count", "3", "--json"]).ok().json();
    let codes: Vec<String> = serde_json::from_value(batch["codes"].clone()).unwrap();
    assert_eq!(codes.len(), 3);
    assert_eq!(codes.iter().collect::<std::collections::BTreeSet<_>>().len(), 3, "codes are distinct");
    let text = cli.run(&["device", "enroll-code", "--location", "W1", "--count", "2"]).ok();
    assert_eq!(text.stdout.lines().count(), 2, "one code a line for scripts: {}", text.stdout);
    let listed = cli.run(&["device", "codes", "--location", "W1", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 5, "five usable codes: {listed}");
    assert!(!listed.to_string().contains(&codes[0]), "a listing never shows a code");
    for code in &codes[..2] {
        let (status, body) = server
            .call(
                Method::POST,
                "/v1/enrol",
                None,
                Some(serde_json::json!({ "code": code, "device_name": "synthetic-batch-workstation" })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let usable = cli.run(&["device", "codes", "--location", "W1", "--json"]).ok().json();
    assert_eq!(usable.as_array().unwrap().len(), 3, "two were used: {usable}");
    let all = cli.run(&["device", "codes", "--all", "--json"]).ok().json();
    let used: Vec<&Value> = all.as_array().unwrap().iter().filter(|c| c["state"] == "used").collect();
    assert_eq!(used.len(), 3, "the single code and two of the batch: {all}");
    assert!(used.iter().all(|c| c["used_by"].is_string()), "{all}");
    let none = cli.run(&["device", "enroll-code", "--location", "W1", "--count", "0"]).failed();
    assert!(none.stderr.contains("between 1 and 1000"), "{}", none.stderr);

    // Health: ok in the test environment; production flags the synthetic rows.
    let health = cli.run_with(&["health", "--json"], &test_env, None).ok().json();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["database"]["migration_version"], version);
    let production = cli.run(&["health", "--json"]).failed().json();
    assert_eq!(production["status"], "critical");
    // Among the findings (a plain database connection is one too, in production).
    let codes: Vec<&str> =
        production["findings"].as_array().unwrap().iter().filter_map(|f| f["code"].as_str()).collect();
    assert!(codes.contains(&"synthetic_data_in_production"), "{production}");
    let human = cli.run_with(&["health"], &test_env, None).ok();
    assert!(human.stdout.contains("status: ok"), "{}", human.stdout);

    // A tampered chain: verify exits 1 and names the position.
    owner
        .batch_execute(&format!(
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
             UPDATE audit_events SET user_id = 'mallory' WHERE device_id = '{}' AND sequence = 2;
             ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;",
            device.id
        ))
        .await
        .unwrap();
    let broken = cli.run(&["audit", "verify", "--json"]).failed().json();
    assert_eq!(broken[0]["broken_at"], serde_json::json!([2, "audit_altered"]));
    let human = cli.run(&["audit", "verify", "--device", &device.id.to_string()]).failed();
    assert!(human.stdout.contains("chain broken at sequence 2"), "{}", human.stdout);

    // Revocation stops the device at once.
    let revoked = cli.run(&["device", "revoke", &device.id.to_string(), "--json"]).ok().json();
    assert_eq!(revoked["revoked"], device.id.to_string());
    let (status, _) = server.call(Method::GET, "/v1/sync/pull", Some(&device.credential), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let missing = cli.run(&["device", "revoke", &Uuid::now_v7().to_string()]).failed();
    assert!(missing.stderr.contains("no device"), "{}", missing.stderr);
}

#[test]
fn health_exits_1_with_a_hint_when_nothing_listens() {
    let port = closed_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/wardbook");
    let cli = Cli::new(&[("WARDBOOK_DATABASE_URL", &url), ("WARDBOOK_ENV", "test")]);
    let run = cli.run(&["health", "--json"]).failed();
    let health = run.json();
    assert_eq!(health["status"], "unavailable");
    assert_eq!(health["database"]["reachable"], false);
    let hint = health["hint"].as_str().unwrap();
    assert!(hint.contains(&format!("Is PostgreSQL running at 127.0.0.1:{port}?")), "{hint}");
    let human = cli.run(&["health"]).failed();
    assert!(human.stdout.contains(&format!("Is PostgreSQL running at 127.0.0.1:{port}?")), "{}", human.stdout);

    let migrate = cli.run(&["migrate"]).failed();
    assert!(migrate.stderr.contains(&format!("127.0.0.1:{port}")), "{}", migrate.stderr);
    let no_url = Cli::new(&[]).run(&["health"]).failed();
    assert!(no_url.stderr.contains("WARDBOOK_DATABASE_URL"), "{}", no_url.stderr);
}

#[test]
fn serve_refuses_plain_http_in_production_and_unreadable_tls_files() {
    let url = format!("postgres://postgres@127.0.0.1:{}/wardbook", closed_port());
    let cli = Cli::new(&[("WARDBOOK_DATABASE_URL", &url), ("WARDBOOK_LISTEN", "127.0.0.1:0")]);
    let refused = cli.run(&["serve"]).failed();
    assert!(refused.stderr.contains("TLS"), "{}", refused.stderr);
    assert!(refused.stderr.contains("WARDBOOK_TLS_CERT"), "{}", refused.stderr);

    // Outside loopback, even the test environment needs TLS.
    let refused =
        cli.run_with(&["serve"], &[("WARDBOOK_ENV", "test"), ("WARDBOOK_LISTEN", "0.0.0.0:0")], None).failed();
    assert!(refused.stderr.contains("TLS"), "{}", refused.stderr);

    let missing = cli.path("missing.pem");
    let missing = missing.to_str().unwrap();
    let refused =
        cli.run_with(&["serve"], &[("WARDBOOK_TLS_CERT", missing), ("WARDBOOK_TLS_KEY", missing)], None).failed();
    assert!(refused.stderr.contains("TLS certificate or key"), "{}", refused.stderr);
    let half = cli.run_with(&["serve"], &[("WARDBOOK_TLS_CERT", missing)], None).failed();
    assert!(half.stderr.contains("WARDBOOK_TLS_KEY"), "{}", half.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_plain_http_in_the_test_environment() {
    let server = TestServer::start().await;
    let cli = Cli::new(&[
        ("WARDBOOK_DATABASE_URL", &server.service_url),
        ("WARDBOOK_ENV", "test"),
        ("WARDBOOK_LISTEN", "127.0.0.1:0"),
    ]);
    let (mut guard, addr) = cli.serve(&[]);
    {
        let http = reqwest::Client::new();
        let response = http.get(format!("http://{addr}/v1/health")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let health: Value = response.json().await.unwrap();
        assert_eq!(health["status"], "ok", "{health}");
        assert_eq!(health["environment"], "test");
        let response = http.get(format!("http://{addr}/v1/sync/pull")).send().await.unwrap();
        assert_eq!(response.status(), 401, "the device endpoints need a credential");
    }
    let status = terminate(&mut guard);
    assert!(status.success(), "serve stops cleanly on SIGTERM: {status}");
}

fn self_signed(dir: &Path) -> (String, String, Vec<u8>) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert.to_str().unwrap().to_owned(), key.to_str().unwrap().to_owned(), cert_pem.into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_tls_in_production() {
    let server = TestServer::start().await;
    let cli = Cli::new(&[("WARDBOOK_DATABASE_URL", &server.service_url), ("WARDBOOK_LISTEN", "127.0.0.1:0")]);
    // Production serves only a database whose keys were made with `keys init`.
    cli.run(&["keys", "init"]).ok();
    let (cert, key, cert_pem) = self_signed(cli.dir.path());
    let (mut guard, addr) = cli.serve(&[("WARDBOOK_TLS_CERT", &cert), ("WARDBOOK_TLS_KEY", &key)]);
    {
        let trusting = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&cert_pem).unwrap())
            .tls_built_in_root_certs(false)
            .https_only(true)
            .build()
            .unwrap();
        let response = trusting.get(format!("https://{addr}/v1/health")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let health: Value = response.json().await.unwrap();
        assert_eq!(health["status"], "ok", "{health}");
        assert_eq!(health["environment"], "production");

        // A client that does not trust the certificate is refused the handshake.
        let stranger = reqwest::Client::builder().build().unwrap();
        let refused = stranger.get(format!("https://{addr}/v1/health")).send().await;
        assert!(refused.is_err(), "an untrusted certificate must fail: {refused:?}");
        // Plain HTTP gets no API answer from the TLS port.
        let plain = reqwest::Client::new().get(format!("http://{addr}/v1/health")).send().await;
        assert!(plain.map_or(true, |r| r.status() != 200), "plain HTTP must not be served");
    }
    let status = terminate(&mut guard);
    assert!(status.success(), "serve stops cleanly on SIGTERM: {status}");
}

#[test]
fn migrate_refuses_a_newer_or_edited_database() {
    let db = TestDatabase::new().unwrap();
    let cli = Cli::new(&[("WARDBOOK_DATABASE_URL", db.url()), ("WARDBOOK_ENV", "test")]);
    cli.run(&["migrate"]).ok();
    // As the IT guide orders it: without keys, health is critical.
    cli.run(&["keys", "init"]).ok();
    let columns =
        db.psql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'refinery_schema_history'")
            .unwrap();
    assert_eq!(columns, "version,name,applied_on,checksum");

    // Migrated by a newer binary.
    db.psql("INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (999, 'from_a_newer_binary', '2030-01-01T00:00:00Z', '1')")
        .unwrap();
    let refused = cli.run(&["migrate"]).failed();
    assert!(refused.stderr.contains("newer"), "{}", refused.stderr);
    assert!(refused.stderr.contains("999"), "{}", refused.stderr);
    let health = cli.run(&["health", "--json"]).failed().json();
    assert_eq!(health["status"], "critical");
    assert_eq!(health["findings"][0]["code"], "schema_newer");
    db.psql("DELETE FROM refinery_schema_history WHERE version = 999").unwrap();
    cli.run(&["migrate"]).ok();
    cli.run(&["health"]).ok();

    // An applied migration that was edited afterwards.
    db.psql("UPDATE refinery_schema_history SET checksum = '12345' WHERE version = 1").unwrap();
    let refused = cli.run(&["migrate"]).failed();
    assert!(refused.stderr.contains("Migration failed"), "{}", refused.stderr);
    assert!(refused.stderr.to_lowercase().contains("different"), "{}", refused.stderr);
    let checksum = db.psql("SELECT checksum FROM refinery_schema_history WHERE version = 1").unwrap();
    assert_eq!(checksum, "12345", "a refused migrate changes nothing");
}

#[test]
fn synth_is_refused_in_production_before_touching_the_database() {
    // Nothing listens: the refusal must come first, not a connection error.
    let url = format!("postgres://postgres@127.0.0.1:{}/wardbook", closed_port());
    let refused = Cli::new(&[("WARDBOOK_DATABASE_URL", &url)]).run(&["synth", "--patients", "2"]).failed();
    assert!(refused.stderr.contains("production"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("Is PostgreSQL running"), "{}", refused.stderr);
}
