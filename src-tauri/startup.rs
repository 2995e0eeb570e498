//! Bringing a workstation up: settings, the key store and its self-test, the
//! data directory, the database. Shared by the window and the CLI
//! subcommands. (A first development start's synthetic data is
//! `crate::seed::seed_if_empty_development`.)

use std::path::Path;

use crate::config::{Config, ConfigError};
use crate::keys::{KeyError, KeyStore, key_store_for};
use crate::store::StoreError;
use crate::workstation::Workstation;

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
    #[error(
        "The data directory {path} cannot be created or used ({cause}). Set WARDBOOK_DATA_DIR to a writable folder or ask IT."
    )]
    DataDir { path: String, cause: String },
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
    let (mut store, open_report) =
        crate::store::rekey::open_with_keys(&config.database_path(), &config.quarantine_dir(), keys.as_ref())?;
    store.set_clinical(config.clinical);
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
