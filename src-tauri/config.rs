//! Settings. Precedence, lowest first: built-in defaults < user settings
//! (the environment) < system policy (IT's file). Policy beats the user: a
//! workstation cannot be pointed at another server or keep audit events
//! longer than IT decided.
//!
//! | variable                    | meaning                                                   |
//! |-----------------------------|-----------------------------------------------------------|
//! | `WARDBOOK_ENV`              | `production` (the default when unset), `development`, `test` |
//! | `WARDBOOK_DATA_DIR`         | where the encrypted database lives (default: platform data dir) |
//! | `WARDBOOK_INSECURE_KEY_FILE`| outside production only: keep the database key in this plaintext file instead of the OS keyring |
//! | `WARDBOOK_SERVER_URL`       | the sync service; unset = no server configured             |
//! | `WARDBOOK_CA_FILE`          | a PEM file of the hospital's CA, trusted in addition to the system's |
//! | `WARDBOOK_SYNC_INTERVAL_SECONDS` | how often background sync runs (default 60)          |
//! | `WARDBOOK_POLICY_FILE`      | the system policy file (default `/etc/wardbook/policy.toml` on Linux) |
//!
//! The policy file (TOML; every key optional) may set `server_url`,
//! `ca_file`, `sync_interval_seconds` and `audit_retention_days` (how long
//! audit events the server has acknowledged stay on the workstation;
//! default 30). A missing default policy file is fine; a named one that is
//! missing, and any file that does not parse, stop the app with the reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
    #[error("The policy file {path} cannot be read ({cause}). Check the path in WARDBOOK_POLICY_FILE, or ask IT.")]
    PolicyUnreadable { path: String, cause: String },
    #[error("The policy file {path} is not valid: {detail}. Ask IT to correct it.")]
    PolicyInvalid { path: String, detail: String },
    #[error("{name} must be a whole number of {unit}. Correct it or unset it.")]
    NotANumber { name: &'static str, unit: &'static str },
}

/// IT's system policy file: every key optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub server_url: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub sync_interval_seconds: Option<u64>,
    pub audit_retention_days: Option<u32>,
}

impl Policy {
    /// Reads `path`; a missing file is `None` when `required` is false.
    pub fn load(path: &Path, required: bool) -> Result<Option<Policy>, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
            Err(e) => {
                return Err(ConfigError::PolicyUnreadable {
                    path: path.display().to_string(),
                    cause: e.kind().to_string(),
                });
            }
        };
        toml::from_str(&text).map(Some).map_err(|e| ConfigError::PolicyInvalid {
            path: path.display().to_string(),
            detail: e.message().to_owned(),
        })
    }
}

/// Where IT puts the policy file on this platform.
pub fn default_policy_file() -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(r"C:\ProgramData\Wardbook\policy.toml")
    } else if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/Wardbook/policy.toml")
    } else {
        PathBuf::from("/etc/wardbook/policy.toml")
    }
}

/// Audit events the server has acknowledged stay this long by default.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 30;
/// Background sync runs this often by default.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(60);

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
    /// A PEM CA file trusted for the sync service, besides the system roots.
    pub ca_file: Option<PathBuf>,
    pub sync_interval: Duration,
    pub audit_retention_days: u32,
    /// The policy file that was read, if any (for `doctor` and `status`).
    pub policy_file: Option<PathBuf>,
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
        let (policy_path, required) = match var("WARDBOOK_POLICY_FILE") {
            Some(path) => (PathBuf::from(path), true),
            None => (default_policy_file(), false),
        };
        let policy = Policy::load(&policy_path, required)?;
        let interval = match var("WARDBOOK_SYNC_INTERVAL_SECONDS") {
            Some(v) => Some(
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| ConfigError::NotANumber { name: "WARDBOOK_SYNC_INTERVAL_SECONDS", unit: "seconds" })?,
            ),
            None => None,
        };
        let p = policy.clone().unwrap_or_default();
        Ok(Config {
            environment,
            data_dir,
            key_location,
            server_url: p.server_url.or_else(|| var("WARDBOOK_SERVER_URL")),
            ca_file: p.ca_file.or_else(|| var("WARDBOOK_CA_FILE").map(PathBuf::from)),
            sync_interval: p
                .sync_interval_seconds
                .or(interval)
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_SYNC_INTERVAL),
            audit_retention_days: p.audit_retention_days.unwrap_or(DEFAULT_AUDIT_RETENTION_DAYS),
            policy_file: policy.map(|_| policy_path),
        })
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
    fn policy_beats_user_settings_and_bad_policy_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, "server_url = \"https://sync.hospital.invalid\"\naudit_retention_days = 7\n")
            .expect("write");
        let path = policy.to_str().expect("utf-8");
        let c = config(&[
            ("WARDBOOK_DATA_DIR", "/tmp/x"),
            ("WARDBOOK_POLICY_FILE", path),
            ("WARDBOOK_SERVER_URL", "http://127.0.0.1:9"),
            ("WARDBOOK_SYNC_INTERVAL_SECONDS", "5"),
        ])
        .expect("config");
        assert_eq!(c.server_url.as_deref(), Some("https://sync.hospital.invalid"));
        assert_eq!(c.audit_retention_days, 7);
        assert_eq!(c.sync_interval, Duration::from_secs(5));
        assert_eq!(c.policy_file.as_deref(), Some(policy.as_path()));

        std::fs::write(&policy, "server = \"typo\"\n").expect("write");
        let err = config(&[("WARDBOOK_DATA_DIR", "/tmp/x"), ("WARDBOOK_POLICY_FILE", path)]).expect_err("refused");
        assert!(matches!(err, ConfigError::PolicyInvalid { .. }), "{err}");
        let missing = dir.path().join("absent.toml");
        let err =
            config(&[("WARDBOOK_DATA_DIR", "/tmp/x"), ("WARDBOOK_POLICY_FILE", missing.to_str().expect("utf-8"))])
                .expect_err("refused");
        assert!(matches!(err, ConfigError::PolicyUnreadable { .. }), "{err}");
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
