//! `wardbook-stack`: the central side for `make run` and the end-to-end
//! tests, in one process. It starts a throwaway PostgreSQL cluster
//! ([`PgCluster`]), applies the central migrations, loads a synthetic ward
//! (patients alternate between Ward 7A and Ward 7B), adds two synthetic
//! clinicians and starts the real sync service on loopback in the
//! development environment.
//!
//! Protocol, one JSON line each way:
//! - on start it prints `{"url", "codes", "users", "in_scope_mrn",
//!   "out_of_scope_mrn"}` (enrolment codes are for Ward 7A; the out-of-scope
//!   MRN is a Ward 7B patient, for break-the-glass);
//! - then it reads commands from stdin and answers each with
//!   `{"ok": true, ...}` or `{"ok": false, "error": "..."}`:
//!   `stop-service`, `start-service` (same port), `sql <statement>` (as the
//!   database owner; answers `rows`, every value as text, NULL as "").
//!
//! End of input, SIGTERM or Ctrl-C stops the service and deletes the
//! cluster. Development and tests only, synthetic data only: it is never
//! packaged.

use std::io::Write as _;

use anyhow::{Context as _, Result, anyhow};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::signal::unix::{SignalKind, signal};
use wardbook_protocol::Environment;
use wardbook_protocol::api::Role;
use wardbook_server::config::Settings;
use wardbook_server::serve::Running;
use wardbook_test_support::PgCluster;

/// Patients in the synthetic ward (half on each ward).
const PATIENTS: usize = 40;
const SEED: u64 = 7;
/// Ward 7A: the workstation's location.
const HOME_WARD: &str = "Ward 7A";
/// Synthetic users; the password is not a secret (development only).
const USERS: &[(&str, &str)] = &[("nurse.synthetic", "Synthetic Nurse"), ("doctor.synthetic", "Synthetic Doctor")];
const PASSWORD: &str = "synthetic-ward-password";

struct Stack {
    cluster: PgCluster,
    owner_url: String,
    settings: Settings,
    running: Option<Running>,
}

impl Stack {
    async fn connect(&self) -> Result<tokio_postgres::Client> {
        let (client, connection) = tokio_postgres::connect(&self.owner_url, tokio_postgres::NoTls)
            .await
            .context("connecting to the stack's database")?;
        tokio::spawn(connection);
        Ok(client)
    }

    async fn start_service(&mut self) -> Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        // The port can linger for a moment after the previous listener closed.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            match wardbook_server::serve::start(self.settings.clone()).await {
                Ok(running) => {
                    self.settings.listen = running.addr;
                    self.running = Some(running);
                    return Ok(());
                }
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(anyhow!("the service did not start again: {e}")),
            }
        }
    }

    async fn stop_service(&mut self) -> Result<()> {
        if let Some(running) = self.running.take() {
            running.shutdown().await.map_err(|e| anyhow!("stopping the service: {e}"))?;
        }
        Ok(())
    }

    async fn sql(&self, statement: &str) -> Result<Vec<Vec<String>>> {
        let client = self.connect().await?;
        let messages = client.simple_query(statement).await.map_err(|e| anyhow!("{}", db_error(&e)))?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some((0..row.len()).map(|i| row.get(i).unwrap_or("").to_owned()).collect())
                }
                _ => None,
            })
            .collect())
    }

    async fn command(&mut self, line: &str) -> Value {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let result = match verb {
            "stop-service" => self.stop_service().await.map(|()| json!({ "ok": true })),
            "start-service" => self.start_service().await.map(|()| json!({ "ok": true })),
            "sql" => self.sql(rest).await.map(|rows| json!({ "ok": true, "rows": rows })),
            other => Err(anyhow!("unknown command {other:?}: use stop-service, start-service or sql <statement>")),
        };
        result.unwrap_or_else(|e| json!({ "ok": false, "error": format!("{e:#}") }))
    }
}

fn db_error(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_owned())
}

/// One line of JSON on stdout, flushed (the reader waits for it).
fn say(value: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")?;
    out.flush()?;
    Ok(())
}

async fn scalar(client: &tokio_postgres::Client, sql: &str, what: &str) -> Result<String> {
    client
        .query_opt(sql, &[])
        .await?
        .map(|row| row.get::<_, String>(0))
        .with_context(|| format!("the synthetic ward has no {what}"))
}

async fn start() -> Result<(Stack, Value)> {
    let cluster = PgCluster::start().context("starting PostgreSQL")?;
    let database = cluster.create_database()?;
    let owner_url = cluster.url(&database);
    wardbook_server::db::migrate(&owner_url).await.context("applying the central migrations")?;
    cluster.psql(
        &database,
        "CREATE ROLE wb_stack_service LOGIN PASSWORD 'synthetic-stack-only' IN ROLE wardbook_service",
    )?;
    let service_url =
        format!("postgres://wb_stack_service:synthetic-stack-only@{}:{}/{database}", cluster.host(), cluster.port());
    let mut settings = Settings::for_tests(service_url);
    settings.environment = Environment::Development;
    // A working day: the end-to-end run and a `make run` session outlast the default token.
    settings.policy.session_minutes = 12 * 60;
    let mut stack = Stack { cluster, owner_url, settings, running: None };

    let mut client = stack.connect().await?;
    wardbook_server::admin::synth(&mut client, Environment::Development, PATIENTS, SEED, chrono::Utc::now())
        .await
        .context("loading the synthetic ward")?;
    let mut users = Vec::new();
    for (username, display_name) in USERS {
        wardbook_server::admin::user_add(&client, username, display_name, &[Role::Clinician], PASSWORD)
            .await
            .with_context(|| format!("adding {username}"))?;
        users.push(json!({ "username": username, "password": PASSWORD, "display_name": display_name }));
    }
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (code, _) =
            wardbook_server::enrolment::create_code(&client, HOME_WARD, chrono::Duration::hours(12)).await?;
        codes.push(code.expose().to_owned());
    }
    // A home-ward patient with allergies and vitals, and one only on the other ward.
    let on_ward = |code: &str| {
        format!(
            "EXISTS (SELECT 1 FROM patient_locations pl JOIN locations l ON l.id = pl.location_id \
             WHERE pl.patient_id = i.patient_id AND pl.active AND l.code = '{code}')"
        )
    };
    let in_scope_mrn = scalar(
        &client,
        &format!(
            "SELECT i.mrn FROM phi.patient_identities i WHERE {} \
             AND EXISTS (SELECT 1 FROM allergies a WHERE a.patient_id = i.patient_id AND NOT a.deleted) \
             AND (SELECT count(*) FROM observations o WHERE o.patient_id = i.patient_id AND o.category = 'vital-signs') >= 6 \
             ORDER BY i.mrn LIMIT 1",
            on_ward(HOME_WARD)
        ),
        "home-ward patient with allergies and vitals",
    )
    .await?;
    let out_of_scope_mrn = scalar(
        &client,
        &format!(
            "SELECT i.mrn FROM phi.patient_identities i WHERE {} AND NOT {} ORDER BY i.mrn LIMIT 1",
            on_ward("Ward 7B"),
            on_ward(HOME_WARD)
        ),
        "patient on Ward 7B only",
    )
    .await?;
    stack.start_service().await?;
    let url = format!("http://{}", stack.settings.listen);
    let info = json!({
        "synthetic": true,
        "url": url,
        "codes": codes,
        "users": users,
        "in_scope_mrn": in_scope_mrn,
        "out_of_scope_mrn": out_of_scope_mrn,
        "postgres_log": stack.cluster.dir().join("postgres.log"),
    });
    Ok((stack, info))
}

async fn serve_commands(stack: &mut Stack) -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut term = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => say(&stack.command(line.trim()).await)?,
                None => return Ok(()),
            },
            _ = term.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let (mut stack, info) = match start().await {
        Ok(started) => started,
        Err(e) => {
            eprintln!("wardbook-stack: could not start: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let served = match say(&info) {
        Ok(()) => serve_commands(&mut stack).await,
        Err(e) => Err(e),
    };
    let stopped = stack.stop_service().await;
    // Dropping the stack stops PostgreSQL and deletes its directory.
    drop(stack);
    match served.and(stopped) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wardbook-stack: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
