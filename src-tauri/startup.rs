//! Bringing a workstation up: settings, the key store and its self-test, the
//! data directory, the database, and (in development only) synthetic data.
//! Shared by the window and the CLI subcommands.

use std::path::Path;

use crate::admin::SeedError;
use crate::config::{Config, ConfigError, Environment};
use crate::keys::{KeyError, KeyStore, key_store_for};
use crate::store::{OpenReport, Store, StoreError};

/// Why the app cannot start: each says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Keyring(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error(
        "The data directory {path} cannot be created or used ({cause}). Set WARDBOOK_DATA_DIR to a writable folder or ask IT."
    )]
    DataDir { path: String, cause: String },
}

/// An open workstation: its settings and its store.
#[derive(Debug)]
pub struct Workstation {
    pub config: Config,
    pub store: Store,
    pub open_report: OpenReport,
    pub key_store: String,
}

/// The warning printed on every start that uses the plaintext key file.
pub fn insecure_key_warning(keys: &dyn KeyStore) -> String {
    format!(
        "WARNING: the database key is kept in {}; anyone who can read that file can read the cache. For development and test machines only.",
        keys.describe()
    )
}

/// Checks the key store (self-test), then opens or creates the database.
pub fn open_workstation(config: Config) -> Result<Workstation, StartupError> {
    let keys = key_store_for(&config);
    if keys.is_insecure() {
        let warning = insecure_key_warning(keys.as_ref());
        tracing::warn!("{warning}");
        eprintln!("{warning}");
    }
    keys.self_test()?;
    ensure_data_dir(&config.data_dir)?;
    let (store, open_report) =
        crate::store::rekey::open_with_keys(&config.database_path(), &config.quarantine_dir(), keys.as_ref())?;
    Ok(Workstation { key_store: keys.describe(), config, store, open_report })
}

/// Creates the data directory, private to this user.
pub fn ensure_data_dir(dir: &Path) -> Result<(), StartupError> {
    let fail =
        |e: std::io::Error| StartupError::DataDir { path: dir.display().to_string(), cause: e.kind().to_string() };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(fail)
}

/// In development with no server configured, a first start fills the empty
/// cache with synthetic data so there is something to work with.
pub fn seed_if_empty_development(ws: &mut Workstation) -> Result<bool, SeedError> {
    if ws.config.environment != Environment::Development || ws.config.server_url.is_some() || !ws.store.is_empty()? {
        return Ok(false);
    }
    crate::admin::seed(&mut ws.store, ws.config.environment, DEFAULT_SEED_PATIENTS, DEFAULT_SEED)?;
    Ok(true)
}

/// What `make run` shows on a fresh machine.
pub const DEFAULT_SEED_PATIENTS: usize = 24;
pub const DEFAULT_SEED: u64 = 42;
