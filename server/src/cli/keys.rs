//! `wardbook-server keys ...`: the data keys that seal patient identifiers
//! in PostgreSQL, and the key-encryption key that wraps them (see
//! `wardbook_server::keys` and the IT guide's "Keys").

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Subcommand;
use wardbook_protocol::api::EncryptionStatus;
use wardbook_server::AppState;
use wardbook_server::config::Settings;
use wardbook_server::keys::{Kek, reencrypt, store, write_new_kek};

use crate::emit;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Write a new random key-encryption key to FILE (mode 0600; an existing
    /// file is never overwritten). Keep a copy apart from database backups.
    GenerateKek { file: PathBuf },
    /// Create the first data key and the blind-index key, wrapped by the
    /// key-encryption key (WARDBOOK_KEK_FILE). Once, after `migrate`, before `serve`.
    Init,
    /// Show the current data key, the rows each key seals, and any row in clear text.
    Status,
    /// Make a new data key current. A running service moves every row to it
    /// in the background; the old key is retired once no row uses it.
    Rotate {
        /// Wait until every row is under the new key (polls `keys status`).
        #[arg(long)]
        wait: bool,
    },
    /// Move every row to the current data key now, in this process (for when
    /// no service runs); then retire the keys no row uses.
    Reencrypt,
    /// Re-wrap every data key under a new key-encryption key (no row changes).
    /// Then point WARDBOOK_KEK_FILE at the new file and restart the service.
    RotateKek {
        #[arg(long)]
        new_kek_file: PathBuf,
    },
}

fn human(status: &EncryptionStatus) -> String {
    let mut out = match status.current_key_id {
        Some(id) => format!("current data key: {id}\n"),
        None => "no data key yet: run `wardbook-server keys init`\n".to_owned(),
    };
    for k in &status.keys {
        out.push_str(&format!("key {} ({}, created {}): {} rows\n", k.key_id, k.state, k.created_at, k.rows));
    }
    out.push_str(&format!("rows in clear text: {}\n", status.clear_rows));
    out.push_str(&format!("rows not yet under the current key: {}", status.pending_rows));
    if status.throwaway_kek {
        out.push_str("\nthe key-encryption key is a throwaway one (development and tests only)");
    }
    out
}

/// `keys generate-kek FILE`: no database, no settings.
pub fn generate_kek(file: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    write_new_kek(file)?;
    emit(
        json,
        serde_json::json!({ "file": file }),
        &format!(
            "key-encryption key written to {} (mode 0600). Back it up apart from the database backups.",
            file.display()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn run(settings: &Settings, json: bool, command: KeysCommand) -> anyhow::Result<ExitCode> {
    if let KeysCommand::GenerateKek { file } = &command {
        return generate_kek(file, json);
    }
    let state = AppState::new(settings.clone())?;
    let kek = state.keys.kek()?;
    let mut db = state.db().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    match command {
        KeysCommand::GenerateKek { .. } => unreachable!("handled above"),
        KeysCommand::Init => {
            store::init(&mut db, kek).await?;
            emit(
                json,
                serde_json::json!({ "kek_fingerprint": kek.fingerprint() }),
                &format!("encryption keys created under the key-encryption key {}", kek.fingerprint()),
            );
        }
        KeysCommand::Status => {
            store::load(&**db, kek).await?;
            let status = store::status(&**db, kek.is_throwaway()).await?;
            emit(json, serde_json::to_value(&status)?, &human(&status));
        }
        KeysCommand::Rotate { wait } => {
            let id = store::rotate(&mut db, kek).await?;
            if wait {
                let started = Instant::now();
                loop {
                    let status = store::status(&**db, kek.is_throwaway()).await?;
                    if status.pending_rows == 0 {
                        break;
                    }
                    if started.elapsed() > Duration::from_secs(3600) {
                        anyhow::bail!(
                            "{} rows are still not under key {id} after an hour. Is the service running? `wardbook-server keys reencrypt` moves them without it.",
                            status.pending_rows
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            let status = store::status(&**db, kek.is_throwaway()).await?;
            emit(
                json,
                serde_json::to_value(&status)?,
                &format!(
                    "data key {id} is current; a running service re-encrypts the other rows in the background\n{}",
                    human(&status)
                ),
            );
        }
        KeysCommand::Reencrypt => {
            state.keys.reload().await?;
            let moved = reencrypt::run_to_end(&state).await?;
            let status = store::status(&**db, kek.is_throwaway()).await?;
            emit(
                json,
                serde_json::json!({ "rows_moved": moved, "status": status }),
                &format!("{moved} rows re-encrypted\n{}", human(&status)),
            );
        }
        KeysCommand::RotateKek { new_kek_file } => {
            let new = Kek::from_file(&new_kek_file)
                .with_context(|| format!("the new key-encryption key {}", new_kek_file.display()))?;
            let count = store::rotate_kek(&mut db, kek, &new).await?;
            emit(
                json,
                serde_json::json!({ "keys": count, "kek_fingerprint": new.fingerprint() }),
                &format!(
                    "{count} data keys re-wrapped under {} ({}). Point WARDBOOK_KEK_FILE at it and restart the service; keep the old key until a backup taken now exists.",
                    new_kek_file.display(),
                    new.fingerprint()
                ),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
