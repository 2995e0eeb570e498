//! Logs never contain patient data, whatever `WARDBOOK_LOG` says (DESIGN.md
//! section 8): the real `wardbook-server` binary runs every admin command
//! and `serve` (with every endpoint, break-the-glass by MRN included, over
//! HTTP) at trace level, once for each spec in [`logs_support::SPECS`], and
//! everything it prints, standard output and standard error, is searched for
//! the synthetic patients' names, MRNs, dates of birth and contact details.
//! No command is meant to print patient data, so nothing is left out.
//! Synthetic data only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod logs_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::path::Path;
use std::sync::Arc;

use common::PASSWORD;
use logs_support::{Api, Cast, Central, Needle, SPECS, assert_no_patient_data, needles, tour};
use uuid::Uuid;
use wardbook_server::keys::{Kek, store};
use wardbook_test_support::{TestDatabase, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_wardbook-server");

/// How long one command may take before the test fails (and kills it).
const DEADLINE: Duration = Duration::from_secs(60);

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
    fn wait(&mut self, what: &str) -> ExitStatus {
        wait_until(DEADLINE, what, || Ok(self.0.try_wait()?)).unwrap()
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// The binary against one database, logging at one spec, with everything
/// it printed kept for the search at the end.
struct Cli<'a> {
    config: tempfile::TempDir,
    database_url: &'a str,
    /// The key-encryption key file (the environment is cleared, so the
    /// throwaway key's place would not be this user's).
    kek: &'a Path,
    spec: &'a str,
    /// (command line, stdout and stderr) of every run.
    printed: Vec<(String, String)>,
}

impl Cli<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("WARDBOOK_SERVER_CONFIG", self.config.path().join("server.toml"))
            .env("WARDBOOK_DATABASE_URL", self.database_url)
            .env("WARDBOOK_KEK_FILE", self.kek)
            .env("WARDBOOK_ENV", "test")
            .env("WARDBOOK_LOG", self.spec)
            .env("NO_COLOR", "1");
        command
    }

    /// Runs one command to completion; it must succeed (or fail, with
    /// `ok = false`). Returns its standard output.
    fn run_as(&mut self, ok: bool, args: &[&str], stdin: Option<&str>) -> String {
        let mut command = self.command(args);
        command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut guard = Guard(command.spawn().expect("the wardbook-server binary runs"));
        if let Some(text) = stdin {
            guard.0.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        let stdout = read_all(guard.0.stdout.take().unwrap());
        let stderr = read_all(guard.0.stderr.take().unwrap());
        let line = format!("wardbook-server {} (WARDBOOK_LOG={})", args.join(" "), self.spec);
        let status = guard.wait(&line);
        let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
        assert_eq!(status.success(), ok, "{line}: {status}\nstdout: {stdout}\nstderr: {stderr}");
        self.printed.push((line, format!("{stdout}\n{stderr}")));
        stdout
    }

    fn run(&mut self, args: &[&str]) -> String {
        self.run_as(true, args, None)
    }

    fn json(&mut self, args: &[&str]) -> serde_json::Value {
        let stdout = self.run(args);
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {stdout}"))
    }

    /// Starts `serve`, waits for its "listening" line, runs `during` with the
    /// base URL, stops it with SIGTERM and keeps what it printed.
    async fn serve<F: std::future::Future<Output = ()>>(&mut self, during: impl FnOnce(String) -> F) {
        let mut command = self.command(&["serve"]);
        command.env("WARDBOOK_LISTEN", "127.0.0.1:0");
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut guard = Guard(command.spawn().expect("the wardbook-server binary runs"));
        let stdout = read_all(guard.0.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        let stderr = guard.0.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let deadline = Instant::now() + DEADLINE;
        let addr = loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("serve logs \"listening\" with its address");
            if line.contains("listening")
                && let Some(at) = line.find("127.0.0.1:")
            {
                let port: String = line[at + 10..].chars().take_while(char::is_ascii_digit).collect();
                break format!("127.0.0.1:{port}");
            }
        };
        during(format!("http://{addr}")).await;
        let pid = guard.0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = guard.wait("serve to stop on SIGTERM");
        assert!(status.success(), "serve stops cleanly: {status}");
        let printed = format!("{}\n{}", stdout.join().unwrap(), reader.join().unwrap());
        self.printed.push((format!("wardbook-server serve (WARDBOOK_LOG={})", self.spec), printed));
    }
}

/// The database with the data keys the binary made (under the test's KEK).
async fn central(owner: &tokio_postgres::Client, url: &str, kek: &Path) -> Central {
    let kek = Kek::from_file(kek).expect("the test's key-encryption key");
    Central::new(url, Arc::new(store::load(owner, &kek).await.expect("the data keys")))
}

/// The patient with the lowest MRN and that MRN.
async fn a_patient(central: &Central) -> (Uuid, String) {
    let first = central.patients().await.remove(0);
    (first.id, first.mrn)
}

/// Every admin command, then `serve` with the API tour, then the commands
/// that report on what the tour did. Returns the patient data as `synth`
/// loaded it (the tour edits some of it).
async fn every_command(cli: &mut Cli<'_>, n: usize, owner: &tokio_postgres::Client) -> Vec<Needle> {
    cli.json(&["migrate", "--json"]);
    cli.run(&["openapi"]);
    let seed = (21 + n).to_string();
    cli.json(&["synth", "--patients", "8", "--seed", &seed, "--json"]);
    let central = central(owner, cli.database_url, cli.kek).await;
    let loaded = needles(&central).await;
    // The same ward again: refused (its MRNs exist), and the error names none.
    cli.run_as(false, &["synth", "--patients", "8", "--seed", &seed], None);
    let ward = format!("LOGS-{n}");
    cli.json(&["location", "add", &ward, "--name", "Synthetic log ward", "--json"]);
    let password = format!("{PASSWORD}\n");
    let (nurse, officer, admin) =
        (format!("nurse{n}.synthetic"), format!("officer{n}.synthetic"), format!("admin{n}.synthetic"));
    for (user, role) in [(&nurse, "clinician"), (&officer, "privacy_officer"), (&admin, "admin")] {
        let args = ["user", "add", user, "--display-name", "Synthetic Log User", "--role", role, "--json"];
        cli.run_as(true, &args, Some(&password));
    }

    // Patient assignments by MRN and by id, and a refused one.
    let (patient, mrn) = a_patient(&central).await;
    cli.json(&["patient", "assign", &mrn, "--location", &ward, "--json"]);
    cli.run(&["patient", "unassign", &mrn, "--location", &ward]);
    cli.run(&["patient", "assign", &patient.to_string(), "--location", &ward]);
    cli.run_as(false, &["patient", "assign", &mrn, "--location", "NO-SUCH-WARD"], None);

    // Enrolment codes: one, a batch, the listing.
    let code = cli.json(&["device", "enroll-code", "--location", "Ward 7A", "--json"]);
    let code = code["code"].as_str().unwrap().to_owned();
    cli.run(&["device", "enroll-code", "--location", "Ward 7A", "--count", "2"]);
    cli.run(&["device", "codes", "--all", "--json"]);
    cli.run(&["device", "codes"]);

    let cast = Cast { code: &code, clinician: &nurse, officer: &officer, admin: &admin };
    cli.serve(|base| async move {
        let api = Api::Http { base, client: reqwest::Client::new() };
        tour(&api, &cast, &central).await;
    })
    .await;

    // What the privacy office and IT run afterwards.
    cli.json(&["audit", "report", "--patient", &patient.to_string(), "--json"]);
    cli.run(&["audit", "report", "--user", &nurse]);
    cli.run(&["audit", "verify"]);
    cli.json(&["audit", "break-glass", "--json"]);
    cli.run(&["audit", "break-glass"]);
    let device: Uuid = owner
        .query_one("SELECT id FROM devices WHERE revoked_at IS NULL ORDER BY enrolled_at DESC LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    cli.json(&["device", "revoke", &device.to_string(), "--json"]);
    cli.json(&["health", "--json"]);
    cli.run(&["health"]);
    loaded
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_server_binary_at_trace_prints_no_patient_data() {
    let db = tokio::task::spawn_blocking(TestDatabase::new).await.unwrap().expect("a test database");
    let owner = common::connect(db.url()).await;
    let keys = tempfile::tempdir().unwrap();
    let kek = keys.path().join("kek");
    wardbook_server::keys::write_new_kek(&kek).unwrap();
    let mut printed = Vec::new();
    let mut phi: Vec<Needle> = Vec::new();
    for (n, spec) in SPECS.iter().enumerate() {
        let config = tempfile::tempdir().unwrap();
        std::fs::write(config.path().join("server.toml"), "").unwrap();
        let mut cli = Cli { config, database_url: db.url(), kek: &kek, spec, printed: Vec::new() };
        phi.extend(every_command(&mut cli, n, &owner).await);
        printed.append(&mut cli.printed);
        phi.extend(needles(&central(&owner, db.url(), &kek).await).await);
    }
    let serve = printed.iter().find(|(line, _)| line.starts_with("wardbook-server serve")).unwrap();
    assert!(serve.1.contains("break-the-glass access granted"), "serve's log was captured: {}", serve.1);
    for (line, text) in &printed {
        assert_no_patient_data(line, text, &phi);
    }
}
