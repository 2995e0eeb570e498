//! `wardbook-server interface ...` and `wardbook-server hl7 ...`: the
//! sending systems and the HL7 v2 messages they sent, for IT staff.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use wardbook_server::config::Settings;
use wardbook_server::{AppState, hl7, interfaces};

use crate::{client, emit};

#[derive(Subcommand, Debug)]
pub(crate) enum InterfaceCommand {
    /// Register a sending system.
    Add {
        name: String,
        /// hl7v2-mllp or fhir.
        #[arg(long = "type")]
        kind: String,
        /// The sending application (MSH-3) it uses; repeat for several.
        #[arg(long = "sender")]
        senders: Vec<String>,
        /// POINT_OF_CARE=LOCATION_CODE: the sender's PV1-3.1 ward to a
        /// Wardbook location; repeat for several. A point of care not mapped
        /// must be a location code itself.
        #[arg(long = "map")]
        map: Vec<String>,
        /// Minutes without a message after which health warns.
        #[arg(long, default_value_t = 60)]
        silence_minutes: i32,
        /// HOST:PORT of the MLLP receiver that administrations recorded in
        /// Wardbook are filed back to (RAS^O17), retried until acknowledged.
        #[arg(long, value_name = "HOST:PORT")]
        send_to: Option<String>,
        /// Send to --send-to over TLS (trusting ca_file in server.toml, else
        /// the system's roots).
        #[arg(long, requires = "send_to")]
        send_tls: bool,
    },
    /// Interfaces with their message counts, errors and last message.
    List,
    /// Stop accepting messages from an interface (its senders get AR).
    Disable { name: String },
}

#[derive(Subcommand, Debug)]
pub(crate) enum Hl7Command {
    /// Stored messages, newest first: ids, types, times, statuses and error
    /// codes (no patient data).
    Messages {
        /// processed or error (received); queued, sent or error (filed back).
        #[arg(long)]
        status: Option<String>,
        /// Only messages received at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Apply a message in error again, once its cause is fixed; an outbound
    /// one its receiver refused is queued to be sent again.
    Reprocess { id: i64 },
    /// Receive every message of a file in order, as if sent over MLLP
    /// (backfills, tests). Segments may end with CR, LF or CRLF.
    Import { file: PathBuf },
}

pub(crate) async fn interface(settings: &Settings, json: bool, command: InterfaceCommand) -> anyhow::Result<()> {
    let db = client(settings).await?;
    match command {
        InterfaceCommand::Add { name, kind, senders, map, silence_minutes, send_to, send_tls } => {
            let location_map = map
                .iter()
                .map(|m| {
                    m.split_once('=')
                        .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
                        .with_context(|| format!("--map {m:?} is not POINT_OF_CARE=LOCATION_CODE"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            // Checked before anything is written.
            let destination = send_to.as_deref().map(|to| interfaces::Destination::new(to, send_tls)).transpose()?;
            if destination.is_some() && kind != "hl7v2-mllp" {
                bail!("--send-to is for an hl7v2-mllp interface.");
            }
            let new = interfaces::NewInterface { name: name.clone(), kind, senders, location_map, silence_minutes };
            let id = interfaces::add(&db, &new).await?;
            if destination.is_some() {
                interfaces::set_destination(&db, id, destination.as_ref()).await?;
            }
            emit(json, serde_json::json!({ "id": id, "name": name }), &format!("interface {name} added ({id})"));
        }
        InterfaceCommand::List => {
            let list = interfaces::list(&db).await?;
            let human = list
                .iter()
                .map(|i| {
                    format!(
                        "{}  {}  {}  senders {}  {} messages, {} in error, last {}{}{}",
                        i.name,
                        i.kind,
                        if i.active { "active" } else { "disabled" },
                        i.senders.join(","),
                        i.messages,
                        i.errors,
                        i.last_message_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "never".into()),
                        i.send_to
                            .as_ref()
                            .map(|to| format!(
                                "  sends to {to}{} ({} queued)",
                                if i.send_tls { " (TLS)" } else { "" },
                                i.queued
                            ))
                            .unwrap_or_default(),
                        if i.silent { "  SILENT" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            emit(json, serde_json::to_value(&list)?, if list.is_empty() { "no interfaces" } else { &human });
        }
        InterfaceCommand::Disable { name } => {
            interfaces::disable(&db, &name).await?;
            emit(json, serde_json::json!({ "disabled": name }), &format!("interface {name} disabled"));
        }
    }
    Ok(())
}

pub(crate) async fn hl7(settings: &Settings, json: bool, command: Hl7Command) -> anyhow::Result<()> {
    let state = AppState::new(settings.clone())?;
    match command {
        Hl7Command::Messages { status, since, limit } => {
            if let Some(s) = &status
                && !["received", "processed", "error", "queued", "sent"].contains(&s.as_str())
            {
                bail!("--status is processed, error, queued or sent.");
            }
            let db = state.db().await?;
            let list = hl7::messages::list(&db, status.as_deref(), since, limit.max(1)).await?;
            let human = list
                .iter()
                .map(|m| {
                    format!(
                        "{}  {}  {}  {}  {}  {} {}  {}{}",
                        m.id,
                        m.received_at.to_rfc3339(),
                        m.direction,
                        m.message_type,
                        m.status,
                        if m.direction == "outbound" { "to" } else { "from" },
                        if m.direction == "outbound" {
                            m.interface.as_deref().unwrap_or("-")
                        } else {
                            m.sending_application.as_str()
                        },
                        m.ack_code.as_deref().unwrap_or("-"),
                        m.error_code
                            .as_ref()
                            .map(|c| format!(
                                "  error {c} at {}: {}",
                                m.error_location.as_deref().unwrap_or("-"),
                                m.error_text.as_deref().unwrap_or("")
                            ))
                            .or_else(|| m.error_text.as_ref().map(|t| format!("  {t}")))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            emit(json, serde_json::to_value(&list)?, if list.is_empty() { "no messages" } else { &human });
        }
        Hl7Command::Reprocess { id } => {
            let m = hl7::messages::reprocess(&state.pool, &state.keys, id).await?;
            emit(
                json,
                serde_json::to_value(&m)?,
                &format!(
                    "message {id}: {}{}",
                    m.status,
                    m.error_text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
                ),
            );
            if m.status == "error" {
                bail!("Message {id} is still in error. Fix its cause and reprocess it again.");
            }
        }
        Hl7Command::Import { file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let text = hl7::mllp::decode(&bytes).map_err(|r| anyhow::anyhow!("{}", r.text))?;
            let report = hl7::messages::import(&state.pool, &state.keys, &text).await;
            emit(
                json,
                serde_json::to_value(&report)?,
                &format!(
                    "{} messages: {} accepted, {} in error, {} rejected",
                    report.messages, report.accepted, report.errors, report.rejected
                ),
            );
        }
    }
    Ok(())
}

/// `synth --hl7 FILE` and/or `synth --fhir DIR`: the synthetic ward as the
/// feed an interface engine would send (marked synthetic), for `hl7 import`
/// or an MLLP sender, and as FHIR Bulk Data files for `fhir import`. Both
/// from one generated ward, so the two describe the same patients.
pub(crate) fn write_synthetic_feed(
    patients: usize,
    seed: u64,
    hl7_file: Option<&std::path::Path>,
    fhir_dir: Option<&std::path::Path>,
    mrn_system: &str,
    json: bool,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let ward = wardbook_protocol::synthetic::generate(&wardbook_protocol::synthetic::SyntheticConfig::new(
        seed, patients, now,
    ));
    let mut report = serde_json::Map::new();
    let mut human = Vec::new();
    if let Some(file) = hl7_file {
        let text = hl7::emit::ward_as_hl7(&ward, now);
        std::fs::write(file, &text).with_context(|| format!("cannot write {}", file.display()))?;
        let count = hl7::messages::split_file(&text).len();
        report.insert("messages".into(), count.into());
        report.insert("file".into(), serde_json::json!(file));
        human.push(format!("{count} synthetic HL7 messages written to {}", file.display()));
    }
    if let Some(dir) = fhir_dir {
        let written = wardbook_server::fhir::emit::write_ward(&ward, mrn_system, dir)
            .with_context(|| format!("cannot write the NDJSON files in {}", dir.display()))?;
        human.push(format!(
            "{} synthetic FHIR resources written to {} ({} Patient, {} Encounter, {} Observation, {} AllergyIntolerance)",
            written.resources(),
            dir.display(),
            written.patients,
            written.encounters,
            written.observations,
            written.allergies
        ));
        report.insert("fhir".into(), serde_json::to_value(&written)?);
    }
    emit(json, serde_json::Value::Object(report), &human.join("\n"));
    Ok(())
}
