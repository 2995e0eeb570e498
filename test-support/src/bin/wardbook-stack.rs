//! `wardbook-stack`: the central side for `make run` and the end-to-end
//! tests, in one process. It starts a throwaway PostgreSQL cluster
//! ([`PgCluster`]), applies the central migrations, loads a synthetic ward
//! (patients alternate between Ward 7A and Ward 7B), adds two synthetic
//! clinicians and a privacy officer, and starts the real sync service on loopback in the
//! development environment, with its HL7 v2 MLLP listener (plain TCP, which
//! the service allows on loopback only) on a port the system picks. With
//! `WARDBOOK_STACK_FEED=hl7` (`make run`) the ward is not loaded directly:
//! it arrives over that listener as ADT and ORU messages, as from a
//! hospital's interface engine.
//!
//! Protocol, one JSON line each way:
//! - on start it prints `{"url", "mllp", "codes", "users", "in_scope_mrn",
//!   "out_of_scope_mrn"}` (`mllp` is the listener's `host:port`; enrolment
//!   codes are for Ward 7A; the out-of-scope MRN is a Ward 7B patient, for
//!   break-the-glass);
//! - then it reads commands from stdin and answers each with
//!   `{"ok": true, ...}` or `{"ok": false, "error": "..."}`:
//!   `stop-service`, `start-service` (same ports), `sql <statement>` (as the
//!   database owner; answers `rows`, every value as text, NULL as ""),
//!   `patient <MRN>` (answers `rows` as `sql` does: one row of the patient's
//!   id and family name, or none; identifiers are sealed in the database,
//!   so SQL cannot find a patient by MRN nor read a name),
//!   `hl7 <message as a JSON string>` (sent as an interface engine sends it:
//!   a new TCP connection to the MLLP listener, the message framed, the
//!   framed ACK read back; answers `code`, the ACK's MSA-1, and `ack`, its
//!   text). An ACK of AE or AR is still `ok`: the exchange worked, and the
//!   caller judges the code.
//!
//! End of input, SIGTERM or Ctrl-C stops the service and deletes the
//! cluster. Development and tests only, synthetic data only: it is never
//! packaged.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::signal::unix::{SignalKind, signal};
use wardbook_protocol::Environment;
use wardbook_protocol::api::Role;
use wardbook_server::config::Settings;
use wardbook_server::keys::{KeySet, Keyring};
use wardbook_server::serve::Running;
use wardbook_test_support::PgCluster;

/// Patients in the synthetic ward (half on each ward).
const PATIENTS: usize = 40;
const SEED: u64 = 7;
/// Ward 7A: the workstation's location.
const HOME_WARD: &str = "Ward 7A";
/// Synthetic users; the password is not a secret (development only).
const USERS: &[(&str, &str)] = &[("nurse.synthetic", "Synthetic Nurse"), ("doctor.synthetic", "Synthetic Doctor")];
/// A synthetic privacy officer (the privacy workspace), not a clinician:
/// listed after the clinicians.
const PRIVACY_OFFICER: (&str, &str) = ("privacy.synthetic", "Synthetic Privacy Officer");
const PASSWORD: &str = "synthetic-ward-password";
/// How long one `hl7` exchange may take, connection to ACK: the service
/// stores the message before it answers, so this covers a transaction.
const HL7_TIMEOUT: Duration = Duration::from_secs(30);

struct Stack {
    cluster: PgCluster,
    owner_url: String,
    settings: Settings,
    running: Option<Running>,
    /// The service's keys (the same throwaway key-encryption key): what
    /// opens the identifiers the database holds sealed.
    keys: Arc<Keyring>,
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
                    // Both ports are fixed from the first start on: the app and
                    // a sender find the service again where they left it.
                    self.settings.listen = running.addr;
                    if let Some(mllp) = &running.mllp {
                        self.settings.mllp_listen = Some(mllp.addr);
                    }
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

    async fn keys(&self) -> Result<Arc<KeySet>> {
        self.keys.get().await.map_err(|e| anyhow!("the data keys: {e}"))
    }

    /// The patient with this MRN, as one row of (id, family name), or no row.
    async fn patient(&self, mrn: &str) -> Result<Vec<Vec<String>>> {
        let mut client = self.connect().await?;
        let keys = self.keys().await?;
        let id = match wardbook_server::admin::patient_id(&client, &keys, mrn).await {
            Ok(id) => id,
            Err(wardbook_server::Error::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(anyhow!("looking up the MRN: {e}")),
        };
        let patient = wardbook_server::admin::patient(&mut client, &keys, id)
            .await
            .map_err(|e| anyhow!("reading the patient: {e}"))?;
        Ok(patient.map(|p| vec![p.id.to_string(), p.family_name]).into_iter().collect())
    }

    /// The running listener's address; none while the service is stopped.
    fn mllp_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().and_then(|r| r.mllp.as_ref()).map(|m| m.addr)
    }

    async fn command(&mut self, line: &str) -> Value {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let result = match verb {
            "stop-service" => self.stop_service().await.map(|()| json!({ "ok": true })),
            "start-service" => self.start_service().await.map(|()| json!({ "ok": true })),
            "sql" => self.sql(rest).await.map(|rows| json!({ "ok": true, "rows": rows })),
            "patient" => self.patient(rest.trim()).await.map(|rows| json!({ "ok": true, "rows": rows })),
            "hl7" => match (serde_json::from_str::<String>(rest), self.mllp_addr()) {
                (Err(e), _) => {
                    Err(anyhow!("hl7 takes the message as one JSON string, segments separated by \\r ({e})"))
                }
                (Ok(_), None) => Err(anyhow!("the service is stopped: nothing listens for MLLP (start-service)")),
                (Ok(message), Some(addr)) => {
                    send_hl7(addr, &message).await.map(|(code, ack)| json!({ "ok": true, "code": code, "ack": ack }))
                }
            },
            other => Err(anyhow!(
                "unknown command {other:?}: use stop-service, start-service, sql <statement>, patient <MRN> or hl7 <JSON string>"
            )),
        };
        result.unwrap_or_else(|e| json!({ "ok": false, "error": format!("{e:#}") }))
    }
}

// ---- HL7 v2 over MLLP, as a sending system does it ----------------------

/// MLLP framing: start block, end block, carriage return.
const START: u8 = 0x0B;
const END: u8 = 0x1C;
const CR: u8 = 0x0D;

/// Sends one message to the MLLP listener at `addr` on a new connection
/// and reads its ACK; answers (MSA-1, the ACK's text). Segments end in
/// `\r`; a `\n` or `\r\n` in `message` is sent as `\r`, so that a caller
/// may write one segment per line.
async fn send_hl7(addr: SocketAddr, message: &str) -> Result<(String, String)> {
    if !message.starts_with("MSH") {
        return Err(anyhow!("an HL7 v2 message starts with its MSH segment"));
    }
    let message = message.replace("\r\n", "\r").replace('\n', "\r");
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.context("connecting to the MLLP listener")?;
        let mut frame = Vec::with_capacity(message.len() + 3);
        frame.push(START);
        frame.extend_from_slice(message.as_bytes());
        frame.extend_from_slice(&[END, CR]);
        stream.write_all(&frame).await.context("sending the message")?;
        read_ack(&mut BufReader::new(stream)).await
    };
    let ack = tokio::time::timeout(HL7_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow!("no ACK within {} s", HL7_TIMEOUT.as_secs()))??;
    let code = msa_1(&ack).with_context(|| format!("the answer is not an ACK (no MSA-1): {ack:?}"))?;
    Ok((code, ack))
}

/// Reads one framed answer: `0x0B <ack> 0x1C 0x0D`.
async fn read_ack(stream: &mut BufReader<TcpStream>) -> Result<String> {
    let closed = || anyhow!("the listener closed the connection without an ACK");
    loop {
        match stream.read_u8().await.map_err(|_| closed())? {
            START => break,
            b'\r' | b'\n' => {}
            other => return Err(anyhow!("the answer does not start with an MLLP start block (byte {other:#04x})")),
        }
    }
    let mut ack = Vec::new();
    loop {
        match stream.read_u8().await.map_err(|_| closed())? {
            END => break,
            byte => ack.push(byte),
        }
    }
    if stream.read_u8().await.map_err(|_| closed())? != CR {
        return Err(anyhow!("the ACK's end block 0x1C is not followed by 0x0D"));
    }
    String::from_utf8(ack).context("the ACK is not UTF-8")
}

/// MSA-1 (AA, AE, AR, or CA/CE/CR) of an ACK, read with the field
/// separator its MSH-1 names.
fn msa_1(ack: &str) -> Option<String> {
    let separator = ack.strip_prefix("MSH")?.chars().next()?;
    ack.split(['\r', '\n'])
        .find(|segment| segment.strip_prefix("MSA").is_some_and(|rest| rest.starts_with(separator)))?
        .split(separator)
        .nth(1)
        .map(str::to_owned)
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

/// The MRN of the first patient by MRN among those `sql` selects (ids of
/// patients, as text): MRNs are sealed in the database, so they are opened here.
async fn first_mrn(client: &mut tokio_postgres::Client, keys: &KeySet, sql: &str, what: &str) -> Result<String> {
    let ids: Vec<String> = client.query(sql, &[]).await?.iter().map(|row| row.get(0)).collect();
    let patients =
        wardbook_server::admin::patients(client, keys).await.map_err(|e| anyhow!("reading the patients: {e}"))?;
    patients
        .into_iter()
        .find(|p| ids.contains(&p.id.to_string()))
        .map(|p| p.mrn)
        .with_context(|| format!("the synthetic ward has no {what}"))
}

async fn start() -> Result<(Stack, Value)> {
    let cluster = PgCluster::start().context("starting PostgreSQL")?;
    let database = cluster.create_database()?;
    let owner_url = cluster.url(&database);
    wardbook_server::db::migrate(&owner_url, None).await.context("applying the central migrations")?;
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
    settings.mllp_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    // The service's own keyring (the same settings, so the same throwaway
    // key-encryption key): outside production it makes the first data keys.
    let state = wardbook_server::AppState::new(settings.clone()).context("the service's state")?;
    let mut stack = Stack { cluster, owner_url, settings, running: None, keys: state.keys.clone() };
    let keys = stack.keys().await?;

    let mut client = stack.connect().await?;
    // `make run` (WARDBOOK_STACK_FEED=hl7): the ward arrives as a hospital's
    // interface engine would send it, over MLLP, once the service is up;
    // otherwise (the end-to-end run) it is loaded directly.
    let through_feed = std::env::var("WARDBOOK_STACK_FEED").is_ok_and(|v| v == "hl7");
    if through_feed {
        for ward in ["Ward 7A", "Ward 7B"] {
            wardbook_server::admin::location_add(&client, ward, ward).await.context("adding the wards")?;
        }
        stack.start_service().await?;
        let addr = stack.mllp_addr().context("the service started without its MLLP listener")?;
        let now = chrono::Utc::now();
        let ward = wardbook_protocol::synthetic::generate(&wardbook_protocol::synthetic::SyntheticConfig::new(
            SEED, PATIENTS, now,
        ));
        let feed = wardbook_server::hl7::emit::ward_as_hl7(&ward, now);
        for message in wardbook_server::hl7::messages::split_file(&feed) {
            let (code, ack) = send_hl7(addr, &message).await?;
            if code != "AA" {
                return Err(anyhow!("the synthetic feed was not accepted: {ack:?}"));
            }
        }
        // The feed carries no medication orders or charted doses yet (its
        // synthetic HL7 is ADT and ORU): they are loaded for the patients it made.
        wardbook_server::admin::load_medications(&mut client, &keys, Environment::Development, &ward)
            .await
            .context("loading the synthetic medications")?;
    } else {
        wardbook_server::admin::synth(&mut client, &keys, Environment::Development, PATIENTS, SEED, chrono::Utc::now())
            .await
            .context("loading the synthetic ward")?;
    }
    let mut users = Vec::new();
    let officer = (PRIVACY_OFFICER.0, PRIVACY_OFFICER.1, Role::PrivacyOfficer);
    for (username, display_name, role) in USERS.iter().map(|(u, d)| (*u, *d, Role::Clinician)).chain([officer]) {
        wardbook_server::admin::user_add(&client, username, display_name, &[role], PASSWORD)
            .await
            .with_context(|| format!("adding {username}"))?;
        users.push(json!({
            "username": username, "password": PASSWORD, "display_name": display_name, "roles": [role.as_str()]
        }));
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
             WHERE pl.patient_id = p.id AND pl.active AND l.code = '{code}')"
        )
    };
    let in_scope_mrn = first_mrn(
        &mut client,
        &keys,
        &format!(
            "SELECT p.id::text FROM patients p WHERE {} \
             AND EXISTS (SELECT 1 FROM allergies a WHERE a.patient_id = p.id AND NOT a.deleted) \
             AND (SELECT count(*) FROM observations o WHERE o.patient_id = p.id AND o.category = 'vital-signs') >= 6",
            on_ward(HOME_WARD)
        ),
        "home-ward patient with allergies and vitals",
    )
    .await?;
    let out_of_scope_mrn = first_mrn(
        &mut client,
        &keys,
        &format!("SELECT p.id::text FROM patients p WHERE {} AND NOT {}", on_ward("Ward 7B"), on_ward(HOME_WARD)),
        "patient on Ward 7B only",
    )
    .await?;
    stack.start_service().await?;
    let url = format!("http://{}", stack.settings.listen);
    let mllp = stack.mllp_addr().context("the service started without its MLLP listener")?;
    let info = json!({
        "synthetic": true,
        "url": url,
        "mllp": mllp.to_string(),
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

#[cfg(test)]
mod tests {
    use super::msa_1;

    #[test]
    fn msa_1_is_read_with_the_separator_msh_names() {
        let aa = "MSH|^~\\&|WARDBOOK|GENHOSP|LAB|GENHOSP|20261201||ACK^R01^ACK|A1|T|2.5.1\rMSA|AA|C1\r";
        assert_eq!(msa_1(aa).as_deref(), Some("AA"));
        let ae = "MSH#^~\\&#WARDBOOK\rMSA#AE#C2\rERR####E#204\r";
        assert_eq!(msa_1(ae).as_deref(), Some("AE"));
        assert_eq!(msa_1("MSH|^~\\&|X\rMSAX|AA\r"), None, "a segment named MSAX is not MSA");
        assert_eq!(msa_1("not an ACK"), None);
    }
}
