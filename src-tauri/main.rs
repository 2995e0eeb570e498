//! `wardbook`: with no subcommand, the clinician's window; subcommands for IT
//! and administrators. Parsing and printing only: the work is in the core.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wardbook::audit::verify::{ChainReport, verify_chain};
use wardbook::audit::{AccessContext, recent_events};
use wardbook::config::Config;
use wardbook::seed::seed_if_empty_development;
use wardbook::startup::{StartupError, open_workstation};
use wardbook::workstation::Workstation;

#[derive(Parser)]
#[command(name = "wardbook", version, about = "Wardbook: clinical records for ward workstations")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check this workstation: policy, server and TLS, enrolment, keyring, database, sync; each failure says what to do.
    Doctor {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The effective settings, each with where it came from (default, user settings, environment, policy).
    Settings {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The audit trail of PHI access on this workstation.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Re-encrypt the local database with a new key and store that key in the keyring.
    Rekey,
    /// Enrol this workstation with the sync service (the credential goes to the OS keyring).
    Enroll {
        /// The sync service, e.g. https://sync.hospital.example (policy or settings may already name it).
        #[arg(long)]
        server: Option<String>,
        /// The single-use code IT created for this workstation's location.
        #[arg(long)]
        code: String,
    },
    /// Move this enrolled workstation to another location with a code IT made
    /// for that location (refused while edits are unsettled). Close Wardbook first.
    Reenroll {
        /// A single-use code for the new location.
        #[arg(long)]
        code: String,
    },
    /// Synchronise with the service.
    Sync {
        /// Run one full cycle and exit: 0 when everything went up and came down,
        /// 1 when the cycle failed, 3 when it ran but edits need attention
        /// (conflicts, rejected edits) or something is still waiting.
        #[arg(long)]
        once: bool,
    },
    /// Online or offline, last sync, pending edits and audit events, conflicts.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Development tools (refused in production).
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain and report "N events, chain intact" or the first break.
    Verify,
    /// Print the newest audit events (identifiers only, no patient names).
    List {
        /// How many events, newest last.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DevCommand {
    /// Fill the local cache with a deterministic synthetic ward.
    Seed {
        #[arg(long)]
        patients: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Open charts and record synthetic vitals, as a clinician would (fault tests).
    Activity {
        /// How many chart-and-vitals rounds.
        #[arg(long)]
        iterations: u64,
        /// The acting user recorded on the edits and views.
        #[arg(long, default_value = "dev-activity")]
        user: String,
    },
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("wardbook: {message}");
            ExitCode::from(2)
        }
    }
}

/// `WARDBOOK_LOG`, with the PHI guard no value of it can lift.
fn init_logging() {
    wardbook::logging::init();
}

fn open() -> Result<Workstation, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    open_workstation(config).map_err(|e: StartupError| e.to_string())
}

/// A runtime for one CLI command's network calls.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    // Two workers: the next pull page downloads while this thread applies one.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("Could not start the network runtime ({e}). Ask IT."))
}

fn run(command: Option<Command>) -> Result<ExitCode, String> {
    match command {
        None => {
            let mut ws = open()?;
            if seed_if_empty_development(&mut ws).map_err(|e| e.to_string())? {
                tracing::info!("first start in development: seeded synthetic data");
            }
            wardbook::run_gui(ws)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Doctor { json }) => {
            let checks = wardbook::admin::doctor(Config::from_env(), &runtime()?);
            if json {
                println!("{}", serde_json::to_string_pretty(&checks).map_err(|e| e.to_string())?);
            } else {
                for check in &checks {
                    println!("{check}");
                }
            }
            Ok(if checks.iter().all(|c| c.ok) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Some(Command::Settings { json }) => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let effective = config.effective();
            if json {
                println!("{}", serde_json::to_string_pretty(&effective).map_err(|e| e.to_string())?);
            } else {
                let file =
                    |p: &Option<std::path::PathBuf>| p.as_ref().map_or("none".into(), |p| p.display().to_string());
                println!("policy file:        {}", file(&config.policy_file));
                println!("user settings file: {}", file(&config.user_settings_file));
                for e in &effective {
                    println!("{:<26} {:<14} {}", e.key, e.source.as_str(), e.value.as_deref().unwrap_or("(none)"));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Audit { command: AuditCommand::Verify }) => {
            let ws = open()?;
            let report = verify_chain(&ws.store).map_err(|e| e.to_string())?;
            println!("{report}");
            Ok(match report {
                ChainReport::Intact { .. } => ExitCode::SUCCESS,
                ChainReport::Broken { .. } => ExitCode::FAILURE,
            })
        }
        Some(Command::Audit { command: AuditCommand::List { limit, json } }) => {
            let ws = open()?;
            let events = recent_events(&ws.store, limit).map_err(|e| e.to_string())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&events).map_err(|e| e.to_string())?);
            } else {
                for e in &events {
                    let patient = e.patient_id.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
                    println!(
                        "{:>6}  {}  {:<18} {:<8} {:<16} {}  {}",
                        e.sequence,
                        e.recorded_at.format("%Y-%m-%d %H:%M:%S%.3fZ"),
                        e.subtype,
                        e.action,
                        e.user_id,
                        patient,
                        e.purpose_of_use
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Rekey) => {
            let mut ws = open()?;
            let keys = wardbook::keys::key_store_for(&ws.config);
            wardbook::store::rekey::rekey(&mut ws.store, keys.as_ref()).map_err(|e| e.to_string())?;
            println!("The database key was changed and stored in {}.", keys.describe());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Enroll { server, code }) => {
            let ws = open()?;
            let keys = wardbook::keys::key_store_for(&ws.config);
            let ws = std::sync::Mutex::new(ws);
            let response = runtime()?
                .block_on(wardbook::sync::enroll(&ws, keys.as_ref(), server.as_deref(), &code))
                .map_err(|e| e.to_string())?;
            println!(
                "Enrolled as device {} for {}. The credential is kept in {}.",
                response.device_id,
                response.locations.join(", "),
                keys.describe()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Reenroll { code }) => {
            let ws = open()?;
            let keys = wardbook::keys::key_store_for(&ws.config);
            let ws = std::sync::Mutex::new(ws);
            let response =
                runtime()?.block_on(wardbook::sync::reenroll(&ws, keys.as_ref(), &code)).map_err(|e| e.to_string())?;
            println!(
                "Device {} now serves {}. The previous location's patients were removed from this cache; run `wardbook sync --once` (or open Wardbook) to download the new location's.",
                response.device_id,
                response.locations.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Sync { once }) => {
            if !once {
                return Err("Background sync runs inside the Wardbook window; use `wardbook sync --once` here.".into());
            }
            let ws = open()?;
            let keys = wardbook::keys::key_store_for(&ws.config);
            let engine = wardbook::sync::engine_for(&ws.config, keys.as_ref(), &ws.store).map_err(|e| e.to_string())?;
            let ws = std::sync::Mutex::new(ws);
            let result = runtime()?.block_on(engine.cycle(&ws));
            let ws = ws.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
            let status = wardbook::sync::status(&ws.config, keys.as_ref(), &ws.store).map_err(|e| e.to_string())?;
            match result {
                Ok(report) => {
                    println!(
                        "Synced: {} audit events up, {} edits applied, {} conflicts, {} rejected, {} rows down.",
                        report.audit_uploaded,
                        report.pushed.applied,
                        report.pushed.conflicts,
                        report.pushed.rejected,
                        report.pulled
                    );
                    let settled = status.pending_edits == 0
                        && status.pending_audit_events == 0
                        && status.conflicts == 0
                        && status.rejected_edits == 0;
                    Ok(if settled { ExitCode::SUCCESS } else { ExitCode::from(3) })
                }
                Err(e) => {
                    eprintln!("wardbook: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Some(Command::Status { json }) => {
            let ws = open()?;
            let keys = wardbook::keys::key_store_for(&ws.config);
            let status = wardbook::sync::status(&ws.config, keys.as_ref(), &ws.store).map_err(|e| e.to_string())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status).map_err(|e| e.to_string())?);
            } else {
                print!("{}", wardbook::sync::status_text(&status, chrono::Utc::now()));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Dev { command: DevCommand::Activity { iterations, user } }) => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            if config.environment == wardbook::config::Environment::Production {
                return Err(wardbook::seed::SeedError::Production.to_string());
            }
            let mut ws = open_workstation(config).map_err(|e| e.to_string())?;
            let env = ws.config.environment;
            let ctx = AccessContext::treatment(user);
            let report = wardbook::seed::activity(&mut ws.store, env, &ctx, iterations).map_err(|e| e.to_string())?;
            println!("{} edits, {} views.", report.edits, report.views);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Dev { command: DevCommand::Seed { patients, seed } }) => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            if config.environment == wardbook::config::Environment::Production {
                return Err(wardbook::seed::SeedError::Production.to_string());
            }
            let mut ws = open_workstation(config).map_err(|e| e.to_string())?;
            let env = ws.config.environment;
            let report = wardbook::seed::seed(&mut ws.store, env, patients, seed).map_err(|e| e.to_string())?;
            println!(
                "Seeded {} synthetic patients, {} observations, {} allergies, {} medication orders with {} doses charted (seed {seed}).",
                report.patients,
                report.observations,
                report.allergies,
                report.medication_orders,
                report.medication_administrations
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
