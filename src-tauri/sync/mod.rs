//! The sync engine (DESIGN.md sections 6 and 7): enrolment, then cycles of
//! audit upload, push and pull against the central sync service, planned by
//! a pure function (`plan`), carried out by `engine`, each local step one
//! transaction (`local`), over HTTPS (`client`).
//!
//! What waits on the network takes the shared `&Mutex<Workstation>` and
//! locks it only for each local step (see `crate::workstation`).

pub mod client;
pub mod engine;
pub(crate) mod local;
pub mod plan;

use std::sync::Mutex;

use wardbook_protocol::SyncStatus;
use wardbook_protocol::api::EnrolRequest;

pub use engine::{CycleReport, Engine, SyncTrigger};
pub use local::PushCounts;

use crate::config::Config;
use crate::keys::{KeyError, KeyStore};
use crate::store::{Store, StoreError};
use crate::workstation::Workstation;

/// Why sync did not happen, in words for a clinician or IT. Never contains
/// PHI, secrets or SQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    #[error(
        "The sync service at {server} cannot be reached ({cause}). Wardbook keeps working offline and syncs when the network is back."
    )]
    Offline { server: String, cause: String },
    #[error(
        "The sync service did not accept this workstation's credential: it may have been revoked. Ask IT to enrol the workstation again."
    )]
    Unauthorized,
    #[error("The sync service refused the request ({code}): {message}")]
    Server { status: u16, code: String, message: String },
    #[error(
        "The sync service sent an answer this version of Wardbook does not understand. Check that Wardbook and the service are compatible versions, or ask IT."
    )]
    Protocol,
    #[error("This workstation is not enrolled with a sync service. Run `wardbook enroll --server URL --code CODE`.")]
    NotEnrolled,
    #[error(
        "{count} edit(s) on this workstation are not yet settled with the sync service (waiting, in conflict or rejected). Run `wardbook sync --once` and resolve conflicts in Wardbook first; nothing was changed."
    )]
    EditsWaiting { count: i64 },
    #[error(
        "This workstation is already enrolled with {server}. Nothing was changed. To move it to another location, use `wardbook reenroll --code CODE`."
    )]
    AlreadyEnrolled { server: String },
    #[error(
        "No sync service is configured. Give --server, set server_url in the policy file, or set WARDBOOK_SERVER_URL."
    )]
    NoServer,
    #[error(
        "The settings name {configured} as the sync service, so enrolling with {requested} is refused. Use the configured service, or ask IT to change the policy."
    )]
    ServerMismatch { configured: String, requested: String },
    #[error("{url} is not a usable sync service address. Give an https:// URL.")]
    BadUrl { url: String },
    #[error(
        "Refusing plain HTTP to {url}: patient data travels only over HTTPS outside development (plain HTTP is allowed to this machine only). Use an https:// URL."
    )]
    InsecureUrl { url: String },
    #[error("The CA file {path} cannot be used ({cause}). Check the ca_file setting, or ask IT.")]
    CaFile { path: String, cause: String },
    #[error("Another sync of this workstation is running. Try again when it has finished.")]
    Busy,
    #[error(
        "The sync service stored audit events only through sequence {acknowledged} of the {sent_through} sent. They stay here and are sent again; if this persists, ask IT."
    )]
    AuditNotAcknowledged { sent_through: i64, acknowledged: i64 },
    #[error("{0}")]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The service to talk to: settings (policy, then the user's), else the one
/// this workstation enrolled with.
pub fn server_url(config: &Config, store: &Store) -> Result<Option<String>, SyncError> {
    match &config.server_url {
        Some(url) => Ok(Some(url.clone())),
        None => Ok(local::enrolled_server(store)?),
    }
}

/// `wardbook enroll` and the settings screen: turns a code into a device
/// credential kept in the key store (the OS keyring), enrolling under this
/// cache's device id so audit events recorded before enrolment upload as
/// the same chain. The workstation is not held across the network call.
pub async fn enroll(
    ws: &Mutex<Workstation>,
    keys: &dyn KeyStore,
    requested: Option<&str>,
    code: &str,
) -> Result<wardbook_protocol::api::EnrolResponse, SyncError> {
    let (config, enrolment) = {
        let ws = Workstation::lock(ws);
        (ws.config.clone(), Enrolment::of(&ws.store)?)
    };
    let (server, response) = enrolment.enrol(&config, keys, requested, code).await?;
    enrolment_done(&Workstation::lock(ws).store, &server, &response)?;
    Ok(response)
}

/// `wardbook reenroll`: moves this enrolled workstation to the location of a
/// new code (it was carried to another ward). Refused while any edit waits,
/// conflicts or was rejected, because those belong to the old location's
/// patients. The new credential replaces the old in the key store; the old
/// location's patients leave the cache and the next sync downloads the new
/// location's. Audit events stay and upload as before.
pub async fn reenroll(
    ws: &Mutex<Workstation>,
    keys: &dyn KeyStore,
    code: &str,
) -> Result<wardbook_protocol::api::EnrolResponse, SyncError> {
    let (client, server) = {
        let ws = Workstation::lock(ws);
        let (config, store) = (&ws.config, &ws.store);
        let waiting = local::status_parts(store)?;
        let unsettled = waiting.pending_edits + waiting.conflicts + waiting.rejected_edits;
        if unsettled > 0 {
            return Err(SyncError::EditsWaiting { count: unsettled });
        }
        let credential = keys.load_credential()?.ok_or(SyncError::NotEnrolled)?;
        let server = server_url(config, store)?.ok_or(SyncError::NoServer)?;
        let client = client::Client::new(&server, config.ca_file.as_deref(), config.environment, Some(credential))?;
        (client, server)
    };
    let request = wardbook_protocol::api::ReenrolRequest { code: code.trim().to_owned() };
    let mut response = client.reenrol(&request).await?;
    keys.save_credential(&response.credential)?;
    response.credential.clear();
    local::reset_for_new_location(&mut Workstation::lock(ws).store, &server, &response.locations)?;
    tracing::info!(device = %response.device_id, "workstation moved to another location");
    Ok(response)
}

/// What enrolment needs from the cache, read before the network call so
/// that the workstation is not held across it.
#[derive(Clone, Debug)]
struct Enrolment {
    device_id: uuid::Uuid,
    enrolled_server: Option<String>,
}

impl Enrolment {
    fn of(store: &Store) -> Result<Enrolment, SyncError> {
        Ok(Enrolment { device_id: store.device_id(), enrolled_server: local::enrolled_server(store)? })
    }

    /// Asks the service; the credential goes to the key store. Answers the
    /// server used and the service's response (credential cleared).
    async fn enrol(
        &self,
        config: &Config,
        keys: &dyn KeyStore,
        requested: Option<&str>,
        code: &str,
    ) -> Result<(String, wardbook_protocol::api::EnrolResponse), SyncError> {
        if let Some(server) = self.enrolled_server.clone().filter(|_| matches!(keys.load_credential(), Ok(Some(_)))) {
            return Err(SyncError::AlreadyEnrolled { server });
        }
        let server = match (&config.server_url, requested) {
            (Some(configured), Some(requested))
                if configured.trim_end_matches('/') != requested.trim_end_matches('/') =>
            {
                return Err(SyncError::ServerMismatch {
                    configured: configured.clone(),
                    requested: requested.to_owned(),
                });
            }
            (Some(configured), _) => configured.clone(),
            (None, Some(requested)) => requested.to_owned(),
            (None, None) => return Err(SyncError::NoServer),
        };
        let client = client::Client::new(&server, config.ca_file.as_deref(), config.environment, None)?;
        let device_name = whoami::hostname().unwrap_or_else(|_| "workstation".into());
        let request = EnrolRequest { code: code.trim().to_owned(), device_name, device_id: Some(self.device_id) };
        let mut response = client.enrol(&request).await?;
        keys.save_credential(&response.credential)?;
        response.credential.clear();
        Ok((server, response))
    }
}

/// Records a finished enrolment in the cache.
fn enrolment_done(
    store: &Store,
    server: &str,
    response: &wardbook_protocol::api::EnrolResponse,
) -> Result<(), SyncError> {
    local::record_enrolment(store, server, &response.locations)?;
    tracing::info!(device = %response.device_id, "workstation enrolled");
    Ok(())
}

/// The engine for this workstation, from its settings and stored credential.
pub fn engine_for(config: &Config, keys: &dyn KeyStore, store: &Store) -> Result<Engine, SyncError> {
    let credential = keys.load_credential()?.ok_or(SyncError::NotEnrolled)?;
    let server = server_url(config, store)?.ok_or(SyncError::NoServer)?;
    let client = client::Client::new(&server, config.ca_file.as_deref(), config.environment, Some(credential))?;
    Ok(Engine::new(client, config.audit_retention_days, &config.data_dir))
}

/// The locations this workstation was enrolled for (empty before enrolment).
pub fn enrolled_locations(store: &Store) -> Result<Vec<String>, SyncError> {
    Ok(local::enrolled_locations(store)?)
}

/// What `wardbook status` and the status bar show.
pub fn status(config: &Config, keys: &dyn KeyStore, store: &Store) -> Result<SyncStatus, SyncError> {
    let mut status = local::status_parts(store)?;
    status.enrolled = keys.load_credential()?.is_some();
    status.server_url = server_url(config, store)?;
    Ok(status)
}

/// The status in lines of text, for `wardbook status`.
pub fn status_text(s: &SyncStatus, now: chrono::DateTime<chrono::Utc>) -> String {
    use std::fmt::Write;
    let ago = |t: Option<chrono::DateTime<chrono::Utc>>| match t {
        Some(t) => format!("{} ({} ago)", t.format("%Y-%m-%d %H:%M:%S UTC"), human(now - t)),
        None => "never".to_owned(),
    };
    let mut out = String::new();
    let server = s.server_url.as_deref().unwrap_or("none configured");
    let _ = writeln!(out, "Sync service:     {server}{}", if s.enrolled { "" } else { " (not enrolled)" });
    let state = match s.online {
        Some(true) => format!("online since {}", ago(s.state_since)),
        Some(false) => format!("OFFLINE since {}", ago(s.state_since)),
        None => "not synced yet".to_owned(),
    };
    let _ = writeln!(out, "Connection:       {state}");
    let _ = writeln!(out, "Last sync:        {}", ago(s.last_success));
    let _ = writeln!(out, "Data as of:       {}", ago(s.data_as_of));
    if let Some(p) = s.initial_sync {
        let expected = p.rows_expected.map(|e| format!(" of {e}")).unwrap_or_default();
        let _ = writeln!(out, "Initial sync:     {} rows{expected} received", p.rows_done);
    }
    let _ = writeln!(out, "Pending edits:    {}", s.pending_edits);
    let _ = writeln!(out, "Pending audit:    {} events", s.pending_audit_events);
    let _ = writeln!(out, "Conflicts:        {}", s.conflicts);
    let _ = writeln!(out, "Rejected edits:   {}", s.rejected_edits);
    if let Some(e) = &s.last_error {
        let _ = writeln!(out, "Last error:       {e}");
    }
    out
}

fn human(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        7200..=172_799 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// (kind, id) of every cached row -> (version, SHA-256 of its content).
pub use crate::store::Digest;

/// Every cached row as (kind, id) -> (version, SHA-256 of its content):
/// identifiers and digests only, no PHI. Two caches that hold the same rows
/// have equal digests (tests compare a workstation with the server's scoped
/// state this way).
pub fn digest(store: &Store) -> Result<Digest, StoreError> {
    store.digest()
}
