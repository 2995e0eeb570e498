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
//! | `WARDBOOK_IDLE_LOCK_SECONDS`| outside production only: lock an idle session after this many seconds (tests); the policy's `idle_lock_minutes` still wins |
//!
//! The policy file (TOML; every key optional) may set:
//!
//! | key                        | meaning                                                        | range    | default |
//! |----------------------------|----------------------------------------------------------------|----------|---------|
//! | `server_url`               | the sync service                                               |          | none    |
//! | `ca_file`                  | a PEM file of the hospital's CA                                |          | none    |
//! | `sync_interval_seconds`    | how often background sync runs                                 |          | 60      |
//! | `audit_retention_days`     | how long audit events the server has acknowledged stay here    |          | 30      |
//! | `idle_lock_minutes`        | an idle session locks after this many minutes                  | 1..=240  | 10      |
//! | `offline_login_hours`      | how long after an online sign-in a clinician may sign in or unlock offline on this workstation (the server's window may be shorter) | 1..=720 | 72 |
//! | `break_glass_minutes`      | the longest a break-the-glass access stays open on this workstation (the server's grant may be shorter) | 5..=480 | 60 |
//! | `data_age_warning_minutes` | the UI warns when the cache's last sync is older than this     | 1..=10080 | 120    |
//!
//! A missing default policy file is fine; a named one that is missing, any
//! file that does not parse, and a value out of its range stop the app with
//! the reason (naming the key).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    #[error(
        "The policy file {path} sets {key} = {value}, outside the allowed range {min} to {max}. Ask IT to correct it."
    )]
    PolicyOutOfRange { path: String, key: &'static str, value: u64, min: u32, max: u32 },
    #[error("{name} must be between {min} and {max} {unit}. Correct it or unset it.")]
    OutOfRange { name: &'static str, min: u32, max: u32, unit: &'static str },
    #[error(
        "WARDBOOK_IDLE_LOCK_SECONDS is set, but this is a production installation: the idle lock comes from the policy (idle_lock_minutes). Unset WARDBOOK_IDLE_LOCK_SECONDS."
    )]
    IdleLockOverrideInProduction,
}

/// IT's system policy file: every key optional. Kept in [`Config::policy`]
/// so the settings screen can show which values IT fixed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub server_url: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub sync_interval_seconds: Option<u64>,
    pub audit_retention_days: Option<u32>,
    pub idle_lock_minutes: Option<u32>,
    pub offline_login_hours: Option<u32>,
    pub break_glass_minutes: Option<u32>,
    pub data_age_warning_minutes: Option<u32>,
}

/// The ranges the session keys must fall in: (key, min, max).
const POLICY_RANGES: [(&str, u32, u32); 4] = [
    ("idle_lock_minutes", 1, 240),
    ("offline_login_hours", 1, 720),
    ("break_glass_minutes", 5, 480),
    ("data_age_warning_minutes", 1, 10_080),
];

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
        let policy: Policy = toml::from_str(&text).map_err(|e| ConfigError::PolicyInvalid {
            path: path.display().to_string(),
            detail: e.message().to_owned(),
        })?;
        policy.check_ranges(path)?;
        Ok(Some(policy))
    }

    /// Refuses a session value outside its range, naming the key.
    fn check_ranges(&self, path: &Path) -> Result<(), ConfigError> {
        let values =
            [self.idle_lock_minutes, self.offline_login_hours, self.break_glass_minutes, self.data_age_warning_minutes];
        for ((key, min, max), value) in POLICY_RANGES.into_iter().zip(values) {
            if let Some(value) = value.filter(|v| !(min..=max).contains(v)) {
                return Err(ConfigError::PolicyOutOfRange {
                    path: path.display().to_string(),
                    key,
                    value: u64::from(value),
                    min,
                    max,
                });
            }
        }
        Ok(())
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
/// An idle session locks after this long by default (DESIGN.md section 8).
pub const DEFAULT_IDLE_LOCK: Duration = Duration::from_secs(10 * 60);
/// Offline sign-in is allowed this long after an online one, by default.
pub const DEFAULT_OFFLINE_LOGIN_HOURS: u32 = 72;
/// A break-the-glass access lasts this long at most, by default.
pub const DEFAULT_BREAK_GLASS_MINUTES: u32 = 60;
/// The UI warns about cached data older than this, by default.
pub const DEFAULT_DATA_AGE_WARNING_MINUTES: u32 = 120;
/// `WARDBOOK_IDLE_LOCK_SECONDS` may range over 1 second to the policy's 240 minutes.
const MAX_IDLE_LOCK_SECONDS: u32 = 240 * 60;

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
    /// An idle session locks after this long.
    pub idle_lock: Duration,
    /// Offline sign-in is allowed this long after an online one (at most).
    pub offline_login_hours: u32,
    /// A break-the-glass access lasts this long at most.
    pub break_glass_minutes: u32,
    /// The UI warns about cached data older than this.
    pub data_age_warning_minutes: u32,
    /// The policy file that was read, if any (for `doctor` and `status`).
    pub policy_file: Option<PathBuf>,
    /// What the policy file set (all `None` without one): the values IT fixed.
    pub policy: Policy,
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
        let idle_lock_seconds = match var("WARDBOOK_IDLE_LOCK_SECONDS") {
            None => None,
            Some(_) if environment == Environment::Production => {
                return Err(ConfigError::IdleLockOverrideInProduction);
            }
            Some(v) => {
                let name = "WARDBOOK_IDLE_LOCK_SECONDS";
                let seconds = v.trim().parse::<u32>().map_err(|_| ConfigError::NotANumber { name, unit: "seconds" })?;
                if !(1..=MAX_IDLE_LOCK_SECONDS).contains(&seconds) {
                    return Err(ConfigError::OutOfRange { name, min: 1, max: MAX_IDLE_LOCK_SECONDS, unit: "seconds" });
                }
                Some(seconds)
            }
        };
        let p = policy.clone().unwrap_or_default();
        let fixed = p.clone();
        let idle_lock = match (p.idle_lock_minutes, idle_lock_seconds) {
            (Some(minutes), _) => Duration::from_secs(u64::from(minutes) * 60),
            (None, Some(seconds)) => Duration::from_secs(u64::from(seconds)),
            (None, None) => DEFAULT_IDLE_LOCK,
        };
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
            idle_lock,
            offline_login_hours: p.offline_login_hours.unwrap_or(DEFAULT_OFFLINE_LOGIN_HOURS),
            break_glass_minutes: p.break_glass_minutes.unwrap_or(DEFAULT_BREAK_GLASS_MINUTES),
            data_age_warning_minutes: p.data_age_warning_minutes.unwrap_or(DEFAULT_DATA_AGE_WARNING_MINUTES),
            policy_file: policy.is_some().then_some(policy_path),
            policy: fixed,
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
    fn session_defaults_without_a_policy() {
        let c = config(&[("WARDBOOK_DATA_DIR", "/tmp/x")]).expect("config");
        assert_eq!(c.idle_lock, Duration::from_secs(600));
        assert_eq!((c.offline_login_hours, c.break_glass_minutes, c.data_age_warning_minutes), (72, 60, 120));
    }

    #[test]
    fn session_keys_from_the_policy_are_range_checked_and_win_over_the_environment() {
        let dir = tempfile::tempdir().expect("dir");
        let policy = dir.path().join("policy.toml");
        let path = policy.to_str().expect("utf-8");
        std::fs::write(
            &policy,
            "idle_lock_minutes = 5\noffline_login_hours = 24\nbreak_glass_minutes = 30\ndata_age_warning_minutes = 45\n",
        )
        .expect("write");
        let c = config(&[
            ("WARDBOOK_ENV", "test"),
            ("WARDBOOK_DATA_DIR", "/tmp/x"),
            ("WARDBOOK_POLICY_FILE", path),
            ("WARDBOOK_IDLE_LOCK_SECONDS", "2"),
        ])
        .expect("config");
        assert_eq!(c.idle_lock, Duration::from_secs(300), "the policy beats the environment");
        assert_eq!((c.offline_login_hours, c.break_glass_minutes, c.data_age_warning_minutes), (24, 30, 45));
        assert_eq!(c.policy.idle_lock_minutes, Some(5));
        assert_eq!(c.policy.server_url, None);

        for (text, key) in [
            ("idle_lock_minutes = 0\n", "idle_lock_minutes"),
            ("idle_lock_minutes = 241\n", "idle_lock_minutes"),
            ("offline_login_hours = 721\n", "offline_login_hours"),
            ("break_glass_minutes = 4\n", "break_glass_minutes"),
            ("data_age_warning_minutes = 0\n", "data_age_warning_minutes"),
        ] {
            std::fs::write(&policy, text).expect("write");
            let err = config(&[("WARDBOOK_DATA_DIR", "/tmp/x"), ("WARDBOOK_POLICY_FILE", path)]).expect_err(text);
            assert!(matches!(err, ConfigError::PolicyOutOfRange { key: k, .. } if k == key), "{err}");
            assert!(err.to_string().contains(key), "the message names the key: {err}");
        }
        std::fs::write(&policy, "idle_lock_minutes = -3\n").expect("write");
        let err = config(&[("WARDBOOK_DATA_DIR", "/tmp/x"), ("WARDBOOK_POLICY_FILE", path)]).expect_err("negative");
        assert!(matches!(err, ConfigError::PolicyInvalid { .. }), "{err}");
    }

    #[test]
    fn idle_lock_seconds_only_outside_production() {
        let c =
            config(&[("WARDBOOK_ENV", "test"), ("WARDBOOK_DATA_DIR", "/tmp/x"), ("WARDBOOK_IDLE_LOCK_SECONDS", "3")])
                .expect("config");
        assert_eq!(c.idle_lock, Duration::from_secs(3));
        let err = config(&[("WARDBOOK_DATA_DIR", "/tmp/x"), ("WARDBOOK_IDLE_LOCK_SECONDS", "3")]).expect_err("refused");
        assert!(matches!(err, ConfigError::IdleLockOverrideInProduction), "{err}");
        for bad in ["0", "soon", "14401"] {
            let err = config(&[
                ("WARDBOOK_ENV", "test"),
                ("WARDBOOK_DATA_DIR", "/tmp/x"),
                ("WARDBOOK_IDLE_LOCK_SECONDS", bad),
            ])
            .expect_err(bad);
            assert!(err.to_string().contains("WARDBOOK_IDLE_LOCK_SECONDS"), "{err}");
        }
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
