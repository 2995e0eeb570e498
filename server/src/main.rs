//! `wardbook-server`: the central sync service and its admin CLI for IT staff.
//! Every setting can come from a flag or an environment variable; admin
//! commands print machine-readable output with `--json`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use uuid::Uuid;
use wardbook_protocol::Environment;
use wardbook_protocol::api::Role;
use wardbook_server::config::{DEFAULT_CONFIG_FILE, DEFAULT_FHIR_MRN_SYSTEM, FileSettings, Overrides, Settings};
use wardbook_server::{AppState, admin, audit, db, enrolment, serve};

/// The hospital feed's commands: `interface`, `hl7`.
#[path = "cli/feed.rs"]
mod feed_cli;

/// FHIR Bulk Data files: `fhir import`.
#[path = "cli/fhir.rs"]
mod fhir_cli;

/// The encryption keys of identifiers: `keys init`, `rotate`, `status`.
#[path = "cli/keys.rs"]
mod keys_cli;

/// Reports for monitoring and auditors: `report compliance`.
#[path = "cli/report.rs"]
mod report_cli;

/// The service's health: `health`.
#[path = "cli/health.rs"]
mod health_cli;

#[derive(Parser, Debug)]
#[command(name = "wardbook-server", version, about = "Wardbook central sync service and admin CLI", long_about = None)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Global {
    /// Configuration file (TOML); flags and environment variables override it.
    #[arg(long, env = "WARDBOOK_SERVER_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// production (default when unset), development or test.
    #[arg(long = "env", env = "WARDBOOK_ENV", global = true)]
    environment: Option<String>,
    /// PostgreSQL URL, e.g. postgres://wardbook@db.example:5432/wardbook
    #[arg(long, env = "WARDBOOK_DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Address and port to serve on (default 127.0.0.1:8443).
    #[arg(long, env = "WARDBOOK_LISTEN", global = true)]
    listen: Option<String>,
    /// TLS certificate chain (PEM).
    #[arg(long, env = "WARDBOOK_TLS_CERT", global = true)]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "WARDBOOK_TLS_KEY", global = true)]
    tls_key: Option<PathBuf>,
    /// Address and port of the HL7 v2 MLLP listener (e.g. 0.0.0.0:2575); none by default.
    #[arg(long, env = "WARDBOOK_MLLP_LISTEN", global = true)]
    mllp_listen: Option<String>,
    /// Key-encryption key file (base64 of 32 random bytes, readable only by the service).
    #[arg(long, env = "WARDBOOK_KEK_FILE", global = true)]
    kek_file: Option<PathBuf>,
    /// CA certificates (PEM) that PostgreSQL's server certificate must chain to (TLS, host name verified).
    #[arg(long, env = "WARDBOOK_DATABASE_CA_FILE", global = true)]
    database_ca_file: Option<PathBuf>,
    /// Streaming replicas the change feed reads from, comma-separated PostgreSQL URLs (none by default).
    #[arg(long, env = "WARDBOOK_DATABASE_REPLICA_URLS", global = true, hide_env_values = true, value_delimiter = ',')]
    database_replica_urls: Option<Vec<String>>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply the central schema's pending migrations (run as the schema owner).
    Migrate,
    /// Serve the API until SIGTERM or Ctrl-C.
    Serve,
    /// Locations (wards, clinics) that devices serve and patients are assigned to.
    #[command(subcommand)]
    Location(LocationCommand),
    /// Users: clinicians, admins, privacy officers.
    #[command(subcommand)]
    User(UserCommand),
    /// Workstations: enrolment codes and revocation.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Patient assignments to locations (what each ward's devices receive).
    #[command(subcommand)]
    Patient(PatientCommand),
    /// Load a synthetic ward (refused in production); or, with --hl7 or
    /// --fhir, write it as the feed a hospital would send, marked synthetic,
    /// for `hl7 import` or an MLLP sender (nothing is loaded then).
    Synth {
        #[arg(long, default_value_t = 24)]
        patients: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Write the ward as HL7 v2 messages (ADT^A01, ORU^R01, one ADT^A02) to this file.
        #[arg(long)]
        hl7: Option<PathBuf>,
        /// Write the ward as FHIR Bulk Data NDJSON into this directory
        /// (Patient, Encounter, Observation, AllergyIntolerance .ndjson),
        /// for `fhir import`. May be given with --hl7.
        #[arg(long)]
        fhir: Option<PathBuf>,
    },
    /// The audit store: reports and chain verification.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The sending systems feeding Wardbook (interface engine channels, lab
    /// systems, FHIR clients).
    #[command(subcommand)]
    Interface(feed_cli::InterfaceCommand),
    /// HL7 v2 messages received: list, reprocess, import from a file.
    #[command(subcommand)]
    Hl7(feed_cli::Hl7Command),
    /// FHIR R4 Bulk Data: import NDJSON files.
    #[command(subcommand)]
    Fhir(fhir_cli::FhirCommand),
    /// The keys that encrypt patient identifiers in the database: create,
    /// rotate, and see which rows each key seals.
    #[command(subcommand)]
    Keys(keys_cli::KeysCommand),
    /// Reports for monitoring systems and auditors.
    #[command(subcommand)]
    Report(report_cli::ReportCommand),
    /// Check the database, migrations, replication; exit 1 when not healthy.
    Health,
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
}

#[derive(Subcommand, Debug)]
enum LocationCommand {
    /// Add a location.
    Add {
        code: String,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Add a user. The password is read from a prompt, or from stdin when it is not a terminal.
    Add {
        username: String,
        #[arg(long)]
        display_name: String,
        /// clinician, admin, privacy_officer or integration (a system using the FHIR API); repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Disable a user (a leaver): refused at every sign-in, sessions ended
    /// now, and every workstation deletes the user's offline verifier at its
    /// next sync.
    Disable { username: String },
    /// Enable a user an admin or the directory disabled.
    Enable { username: String },
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// Create single-use enrolment codes for a location (one by default).
    #[command(name = "enroll-code")]
    EnrollCode {
        #[arg(long)]
        location: String,
        /// Hours until the codes expire (default: the policy, 24).
        #[arg(long)]
        hours: Option<u32>,
        /// How many codes to make (1 to 1000), one per workstation: printed
        /// one a line, or with --json as {"location", "expires_at", "codes": [...]}.
        #[arg(long)]
        count: Option<u32>,
    },
    /// List enrolment codes (never the codes themselves, only a reference):
    /// those still usable, or with --all also used and expired ones.
    Codes {
        #[arg(long)]
        location: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Revoke a device: its credential and sessions stop working at once.
    Revoke { device_id: Uuid },
}

#[derive(Subcommand, Debug)]
enum PatientCommand {
    /// Assign a patient (id or MRN) to a location.
    Assign {
        patient: String,
        #[arg(long)]
        location: String,
    },
    /// End a patient's assignment to a location (discharge, transfer).
    Unassign {
        patient: String,
        #[arg(long)]
        location: String,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Who viewed a patient, or what a user viewed, over a time range (with
    /// neither: every event in the range).
    Report {
        #[arg(long)]
        patient: Option<Uuid>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value = "desc")]
        sort: audit::SortOrder,
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[arg(long, default_value_t = 100)]
        page_size: u32,
    },
    /// Re-verify stored chains (one device, or all); exit 1 on a break.
    Verify {
        #[arg(long)]
        device: Option<Uuid>,
    },
    /// Break-the-glass accesses awaiting review, oldest first, with the reasons given.
    BreakGlass,
}

fn main() -> ExitCode {
    // WARDBOOK_LOG, with the PHI guard no value of it can lift, for every
    // command (serve and the admin commands alike).
    wardbook_server::logging::init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wardbook-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wardbook-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration file's settings (none when there is no file).
fn file_settings(global: &Global) -> anyhow::Result<FileSettings> {
    Ok(match &global.config {
        Some(path) => FileSettings::load(path)?,
        None if std::path::Path::new(DEFAULT_CONFIG_FILE).exists() => {
            FileSettings::load(std::path::Path::new(DEFAULT_CONFIG_FILE))?
        }
        None => FileSettings::default(),
    })
}

fn settings(global: &Global) -> anyhow::Result<Settings> {
    let file = file_settings(global)?;
    let over = Overrides {
        environment: global.environment.clone(),
        database_url: global.database_url.clone(),
        listen: global.listen.clone(),
        tls_cert: global.tls_cert.clone(),
        tls_key: global.tls_key.clone(),
        mllp_listen: global.mllp_listen.clone(),
        kek_file: global.kek_file.clone(),
        database_ca_file: global.database_ca_file.clone(),
        database_replica_urls: global.database_replica_urls.clone(),
    };
    Ok(Settings::resolve(file, over)?)
}

#[allow(clippy::print_stdout)]
fn emit(json: bool, value: serde_json::Value, human: &str) {
    if json {
        println!("{value}");
    } else {
        println!("{human}");
    }
}

async fn client(settings: &Settings) -> anyhow::Result<db::Client> {
    let state = AppState::new(settings.clone())?;
    state.db().await.map_err(|e| anyhow::anyhow!("{e}"))
}

/// A connection and the data keys, for commands that read or write identifiers.
async fn client_and_keys(
    settings: &Settings,
) -> anyhow::Result<(db::Client, std::sync::Arc<wardbook_server::keys::KeySet>)> {
    let state = AppState::new(settings.clone())?;
    let keys = state.keys.get().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((state.db().await.map_err(|e| anyhow::anyhow!("{e}"))?, keys))
}

fn read_password() -> anyhow::Result<zeroize::Zeroizing<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = zeroize::Zeroizing::new(rpassword::prompt_password("Password: ")?);
        let again = zeroize::Zeroizing::new(rpassword::prompt_password("Again: ")?);
        if *first != *again {
            bail!("The two passwords differ. Run the command again.");
        }
        Ok(first)
    } else {
        let mut line = zeroize::Zeroizing::new(String::new());
        stdin.lock().read_line(&mut line).context("cannot read the password from stdin")?;
        let trimmed = line.trim_end_matches(['\r', '\n']).to_owned();
        Ok(zeroize::Zeroizing::new(trimmed))
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let json = cli.global.json;
    if let Command::Openapi = cli.command {
        std::io::stdout().write_all(wardbook_server::routes::openapi_json().as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Synth { patients, seed, hl7, fhir } = &cli.command
        && (hl7.is_some() || fhir.is_some())
    {
        // Files for a feed: no database, no environment check needed. The
        // MRN system is the configuration file's, as `fhir import` reads it.
        let mrn_system = match fhir {
            Some(_) => file_settings(&cli.global)?.fhir_mrn_system,
            None => None,
        };
        let mrn_system = mrn_system.unwrap_or_else(|| DEFAULT_FHIR_MRN_SYSTEM.to_owned());
        feed_cli::write_synthetic_feed(*patients, *seed, hl7.as_deref(), fhir.as_deref(), &mrn_system, json)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Keys(keys_cli::KeysCommand::GenerateKek { file }) = &cli.command {
        // A new key file needs no database and no settings.
        return keys_cli::generate_kek(file, json);
    }
    let settings = settings(&cli.global)?;
    match cli.command {
        Command::Openapi => unreachable!("handled above"),
        Command::Migrate => {
            let applied = db::migrate(&settings.database_url, settings.database_ca_file.as_deref()).await?;
            let version = db::expected_migration_version();
            emit(
                json,
                serde_json::json!({ "applied": applied, "version": version }),
                &format!("migrations applied now: {applied:?}; schema at version {version}"),
            );
        }
        Command::Serve => serve::run(settings).await?,
        Command::Location(LocationCommand::Add { code, name }) => {
            let db = client(&settings).await?;
            let id = admin::location_add(&db, &code, name.as_deref().unwrap_or(&code)).await?;
            emit(json, serde_json::json!({ "id": id, "code": code }), &format!("location {code} added ({id})"));
        }
        Command::User(UserCommand::Add { username, display_name, roles }) => {
            let roles = roles
                .iter()
                .map(|r| {
                    Role::parse(r).with_context(|| {
                        format!("unknown role {r:?}: use clinician, admin, privacy_officer or integration")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let password = read_password()?;
            let db = client(&settings).await?;
            let id = admin::user_add(&db, &username, &display_name, &roles, &password).await?;
            emit(json, serde_json::json!({ "id": id, "username": username }), &format!("user {username} added ({id})"));
        }
        Command::User(UserCommand::Disable { username }) => {
            let db = client(&settings).await?;
            let (id, changed) = admin::user_disable(&db, &username).await?;
            let text = if changed { "disabled; its sessions ended" } else { "was already disabled" };
            emit(
                json,
                serde_json::json!({ "id": id, "username": username, "disabled": true }),
                &format!("user {username} {text}"),
            );
        }
        Command::User(UserCommand::Enable { username }) => {
            let db = client(&settings).await?;
            let (id, changed) = admin::user_enable(&db, &username).await?;
            let text = if changed { "enabled" } else { "was not disabled" };
            emit(
                json,
                serde_json::json!({ "id": id, "username": username, "disabled": false }),
                &format!("user {username} {text}"),
            );
        }
        Command::Device(DeviceCommand::EnrollCode { location, hours, count: Some(count) }) => {
            let mut db = client(&settings).await?;
            let hours = hours.unwrap_or(settings.policy.enrolment_code_hours);
            let (codes, expires_at) =
                enrolment::create_codes(&mut db, &location, chrono::Duration::hours(i64::from(hours)), count).await?;
            let codes: Vec<&str> = codes.iter().map(|c| c.expose()).collect();
            if json {
                emit(true, serde_json::json!({ "location": location, "expires_at": expires_at, "codes": codes }), "");
            } else {
                eprintln!("{count} enrolment code(s) for {location} (single use, expire {expires_at}):");
                emit(false, serde_json::Value::Null, &codes.join("\n"));
            }
        }
        Command::Device(DeviceCommand::Codes { location, all }) => {
            let db = client(&settings).await?;
            let codes = enrolment::list_codes(&db, location.as_deref(), all).await?;
            let human = codes
                .iter()
                .map(|c| {
                    let used = c.used_by.map(|d| format!(" by device {d}")).unwrap_or_default();
                    format!("{}  {}  {}  expires {}{used}", c.reference, c.location, c.state, c.expires_at)
                })
                .collect::<Vec<_>>()
                .join("\n");
            emit(json, serde_json::json!(codes), if codes.is_empty() { "no enrolment codes" } else { &human });
        }
        Command::Device(DeviceCommand::EnrollCode { location, hours, count: None }) => {
            let db = client(&settings).await?;
            let hours = hours.unwrap_or(settings.policy.enrolment_code_hours);
            let (code, expires_at) =
                enrolment::create_code(&db, &location, chrono::Duration::hours(i64::from(hours))).await?;
            emit(
                json,
                serde_json::json!({ "code": code.expose(), "location": location, "expires_at": expires_at }),
                &format!("enrolment code for {location}: {} (single use, expires {expires_at})", code.expose()),
            );
        }
        Command::Device(DeviceCommand::Revoke { device_id }) => {
            let db = client(&settings).await?;
            if !enrolment::revoke(&db, device_id).await? {
                bail!("There is no device {device_id}.");
            }
            emit(json, serde_json::json!({ "revoked": device_id }), &format!("device {device_id} revoked"));
        }
        Command::Patient(PatientCommand::Assign { patient, location }) => {
            assign(&settings, json, &patient, &location, true).await?;
        }
        Command::Patient(PatientCommand::Unassign { patient, location }) => {
            assign(&settings, json, &patient, &location, false).await?;
        }
        Command::Synth { hl7: Some(_), .. } | Command::Synth { fhir: Some(_), .. } => {
            unreachable!("handled above")
        }
        Command::Synth { patients, seed, hl7: None, fhir: None } => {
            if settings.environment == Environment::Production {
                bail!(
                    "Synthetic data is never loaded in production. Set WARDBOOK_ENV=development or test on a non-production database."
                );
            }
            let (mut db, keys) = client_and_keys(&settings).await?;
            let report = admin::synth(&mut db, &keys, settings.environment, patients, seed, chrono::Utc::now()).await?;
            emit(
                json,
                serde_json::to_value(&report)?,
                &format!(
                    "synthetic ward loaded: {} patients, {} observations, {} allergies",
                    report.patients, report.observations, report.allergies
                ),
            );
        }
        Command::Audit(AuditCommand::Report { patient, user, from, to, sort, page, page_size }) => {
            let db = client(&settings).await?;
            let q = audit::ReportQuery {
                patient_id: patient,
                user_id: user,
                from,
                to,
                sort: Some(sort),
                page: Some(page),
                page_size: Some(page_size),
            };
            let report = audit::report(&db, &q).await?;
            let mut human =
                format!("{} events in total; page {} of size {}\n", report.total, report.page, report.page_size);
            for e in &report.events {
                human.push_str(&format!(
                    "{}  {}  {}  {}  patient {}  device {} #{}\n",
                    e.recorded_at.to_rfc3339(),
                    e.user_id,
                    e.action,
                    e.subtype,
                    e.patient_id.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    e.device_id,
                    e.sequence
                ));
            }
            emit(json, serde_json::to_value(&report)?, human.trim_end());
        }
        Command::Audit(AuditCommand::Verify { device }) => {
            let db = client(&settings).await?;
            let checks = audit::verify(&db, device).await?;
            let broken = checks.iter().any(|c| c.broken_at.is_some());
            let human = checks
                .iter()
                .map(|c| match c.broken_at {
                    None => format!("device {}: {} events, chain intact", c.device_id, c.events),
                    Some((pos, kind)) => format!("device {}: chain broken at sequence {pos} ({kind})", c.device_id),
                })
                .collect::<Vec<_>>()
                .join("\n");
            emit(json, serde_json::to_value(&checks)?, &human);
            if broken {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Audit(AuditCommand::BreakGlass) => {
            let db = client(&settings).await?;
            let pending = wardbook_server::break_glass::pending(&db).await?;
            let mut human = format!("{} break-the-glass accesses awaiting review\n", pending.len());
            for p in &pending {
                human.push_str(&format!(
                    "{}  access {}  user {}  patient {}  device {}  reason: {}\n",
                    p.started_at.to_rfc3339(),
                    p.access_id,
                    p.user_id,
                    p.patient_id,
                    p.device_id,
                    p.reason.escape_default()
                ));
            }
            emit(json, serde_json::to_value(&pending)?, human.trim_end());
        }
        Command::Interface(command) => feed_cli::interface(&settings, json, command).await?,
        Command::Hl7(command) => feed_cli::hl7(&settings, json, command).await?,
        Command::Fhir(command) => return fhir_cli::fhir(&settings, json, command).await,
        Command::Keys(command) => return keys_cli::run(&settings, json, command).await,
        Command::Report(command) => return report_cli::run(&settings, json, command).await,
        Command::Health => return health_cli::run(&settings, json).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn assign(settings: &Settings, json: bool, patient: &str, location: &str, active: bool) -> anyhow::Result<()> {
    let (db, keys) = client_and_keys(settings).await?;
    let patient_id = admin::patient_id(&db, &keys, patient).await?;
    let location_id = admin::location_id(&db, location).await?;
    admin::assign(&db, patient_id, location_id, active).await?;
    let verb = if active { "assigned to" } else { "unassigned from" };
    emit(
        json,
        serde_json::json!({ "patient_id": patient_id, "location": location, "active": active }),
        &format!("patient {patient_id} {verb} {location}"),
    );
    Ok(())
}
