//! Settings. Precedence, lowest first: built-in defaults < user settings <
//! system policy (IT) < environment. This foundation reads the environment
//! only; the policy file arrives with the IT issue and slots in below it.
//!
//! | variable                    | meaning                                                   |
//! |-----------------------------|-----------------------------------------------------------|
//! | `WARDBOOK_ENV`              | `production` (the default when unset), `development`, `test` |
//! | `WARDBOOK_DATA_DIR`         | where the encrypted database lives (default: platform data dir) |
//! | `WARDBOOK_INSECURE_KEY_FILE`| outside production only: keep the database key in this plaintext file instead of the OS keyring |
//! | `WARDBOOK_SERVER_URL`       | the sync service; unset = no server configured             |

use std::path::PathBuf;

pub use wardbook_protocol::Environment;

/// Errors in settings: what is wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error(
        "WARDBOOK_ENV is set to an unknown value. Set it to production, development or test (or unset it for production)."
    )]
    UnknownEnvironment,
    #[error("No data directory could be determined for this user. Set WARDBOOK_DATA_DIR to a writable folder.")]
    NoDataDir,
    #[error(
        "WARDBOOK_INSECURE_KEY_FILE is set, but this is a production installation: the database key must live in the OS keyring. Unset WARDBOOK_INSECURE_KEY_FILE."
    )]
    InsecureKeyFileInProduction,
}

/// Where the database key is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyLocation {
    /// The OS keyring (Secret Service, Credential Manager, Keychain).
    OsKeyring,
    /// A plaintext key file: development and test only, with a warning on every start.
    InsecureFile(PathBuf),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub data_dir: PathBuf,
    pub key_location: KeyLocation,
    pub server_url: Option<String>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads settings through `var` (tests pass a map instead of the process environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let environment = match var("WARDBOOK_ENV") {
            None => Environment::Production,
            Some(v) => Environment::parse(v.trim()).ok_or(ConfigError::UnknownEnvironment)?,
        };
        let data_dir = match var("WARDBOOK_DATA_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => default_data_dir().ok_or(ConfigError::NoDataDir)?,
        };
        let key_location = match var("WARDBOOK_INSECURE_KEY_FILE") {
            None => KeyLocation::OsKeyring,
            Some(_) if environment == Environment::Production => {
                return Err(ConfigError::InsecureKeyFileInProduction);
            }
            Some(path) => KeyLocation::InsecureFile(PathBuf::from(path)),
        };
        Ok(Config { environment, data_dir, key_location, server_url: var("WARDBOOK_SERVER_URL") })
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.data_dir.join("quarantine")
    }
}

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "wardbook.db";

/// The platform's per-user data folder: `~/.local/share/wardbook` on Linux,
/// `%LOCALAPPDATA%\wardbook\Wardbook\data` on Windows (local, never the
/// roaming profile: a PHI cache must not follow the user to file servers),
/// `~/Library/Application Support/org.wardbook.Wardbook` on macOS.
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "wardbook", "Wardbook").map(|d| d.data_local_dir().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn unset_environment_is_production() {
        let c = config(&[("WARDBOOK_DATA_DIR", "/tmp/x")]).expect("config");
        assert_eq!(c.environment, Environment::Production);
        assert_eq!(c.key_location, KeyLocation::OsKeyring);
        assert_eq!(c.database_path(), PathBuf::from("/tmp/x/wardbook.db"));
    }

    #[test]
    fn unknown_environment_is_refused() {
        assert!(matches!(config(&[("WARDBOOK_ENV", "prod")]), Err(ConfigError::UnknownEnvironment)));
    }

    #[test]
    fn insecure_key_file_only_outside_production() {
        assert!(matches!(
            config(&[("WARDBOOK_INSECURE_KEY_FILE", "/tmp/k")]),
            Err(ConfigError::InsecureKeyFileInProduction)
        ));
        let c = config(&[
            ("WARDBOOK_ENV", "development"),
            ("WARDBOOK_DATA_DIR", "/tmp/x"),
            ("WARDBOOK_INSECURE_KEY_FILE", "/tmp/k"),
        ])
        .expect("config");
        assert_eq!(c.key_location, KeyLocation::InsecureFile(PathBuf::from("/tmp/k")));
    }
}
