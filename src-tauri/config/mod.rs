//! Settings, merged key by key from four layers. Precedence, lowest first:
//!
//! | layer | where | who |
//! |---|---|---|
//! | 1. built-in defaults | this file and [`layer::KEYS`] | developers |
//! | 2. user settings | `WARDBOOK_SETTINGS_FILE`, else `settings.toml` in the platform's per-user config folder (`~/.config/wardbook/` on Linux) | the workstation's user |
//! | 3. environment | `WARDBOOK_*` variables | whoever starts the process |
//! | 4. system policy | `WARDBOOK_POLICY_FILE`, else `/etc/wardbook/policy.toml` (Linux), `%ProgramData%\Wardbook\policy.toml` (Windows), `/Library/Application Support/Wardbook/policy.toml` (macOS) | IT |
//!
//! Policy beats everything: a workstation cannot be pointed at another
//! server, kept unlocked longer or switched out of production against IT's
//! file. The keys, their variables and ranges are [`layer::KEYS`]; the IT
//! guide (`docs/it-guide.md`) has the table.
//!
//! Two variables are not keys: `WARDBOOK_INSECURE_KEY_FILE` (outside
//! production only: keep the database key in a plaintext file, for tests) and
//! `WARDBOOK_IDLE_LOCK_SECONDS` (outside production only: an idle lock in
//! seconds, for tests; the policy's `idle_lock_minutes` still wins).
//!
//! A missing default file is fine. A file named by a variable that is
//! missing, any file that does not parse, an unknown key and a value of the
//! wrong type or out of range stop the app with the file, the line and the
//! key named: Wardbook refuses to start rather than guess.

pub mod clinical;
pub mod layer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use clinical::ClinicalSettings;
pub use layer::{KEYS, Layer, Value};
pub use wardbook_protocol::Environment;

/// Errors in settings: what is wrong, where, and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error(
        "No data directory could be determined for this user. Set data_dir (or WARDBOOK_DATA_DIR) to a writable folder."
    )]
    NoDataDir,
    #[error(
        "WARDBOOK_INSECURE_KEY_FILE is set, but this is a production installation: the database key must live in the OS keyring. Unset WARDBOOK_INSECURE_KEY_FILE."
    )]
    InsecureKeyFileInProduction,
    #[error("{origin} {path} cannot be read ({cause}). {fix}")]
    Unreadable { origin: &'static str, path: String, cause: String, fix: &'static str },
    /// A value or a file that is not valid; `at` names the line and key.
    #[error("{origin} is not valid{at}: {detail}. {fix}")]
    Invalid { origin: String, at: String, key: Option<String>, detail: String, fix: &'static str },
    #[error(
        "WARDBOOK_IDLE_LOCK_SECONDS is set, but this is a production installation: the idle lock comes from idle_lock_minutes. Unset WARDBOOK_IDLE_LOCK_SECONDS."
    )]
    IdleLockOverrideInProduction,
}

impl ConfigError {
    /// The key (or variable) concerned, for tests and `doctor`.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => key.as_deref(),
            _ => None,
        }
    }
}

/// Which layer a setting's effective value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Default,
    UserSettings,
    Environment,
    Policy,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::UserSettings => "user settings",
            Source::Environment => "environment",
            Source::Policy => "policy",
        }
    }
}

/// The two settings files and how their problems are worded.
#[derive(Clone, Copy, Debug)]
enum FileKind {
    Policy,
    UserSettings,
}

impl FileKind {
    fn origin(self) -> &'static str {
        match self {
            FileKind::Policy => "The policy file",
            FileKind::UserSettings => "The user settings file",
        }
    }

    fn fix(self) -> &'static str {
        match self {
            FileKind::Policy => "Ask IT to correct it: Wardbook does not start with an invalid policy.",
            FileKind::UserSettings => "Correct the file or delete it to use the defaults.",
        }
    }

    fn unreadable_fix(self) -> &'static str {
        match self {
            FileKind::Policy => "Check WARDBOOK_POLICY_FILE or the file's permissions, or ask IT.",
            FileKind::UserSettings => "Check WARDBOOK_SETTINGS_FILE or the file's permissions.",
        }
    }
}

/// Reads one settings file; a missing file is an empty layer unless `required`.
fn read_file(path: &Path, required: bool, kind: FileKind, home: Option<&Path>) -> Result<Option<Layer>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => {
            return Err(ConfigError::Unreadable {
                origin: kind.origin(),
                path: path.display().to_string(),
                cause: e.kind().to_string(),
                fix: kind.unreadable_fix(),
            });
        }
    };
    Layer::from_toml(&text, home).map(Some).map_err(|p| {
        let at = match (p.line, &p.key) {
            (Some(line), Some(key)) => format!(" at line {line} ({key})"),
            (Some(line), None) => format!(" at line {line}"),
            (None, Some(key)) => format!(" ({key})"),
            (None, None) => String::new(),
        };
        ConfigError::Invalid {
            origin: format!("{} {}", kind.origin(), path.display()),
            at,
            key: p.key,
            detail: p.detail,
            fix: kind.fix(),
        }
    })
}

/// Where IT puts the policy file on this platform.
pub fn default_policy_file() -> PathBuf {
    if cfg!(windows) {
        let base = std::env::var_os("ProgramData").map(PathBuf::from);
        base.unwrap_or_else(|| PathBuf::from(r"C:\ProgramData")).join("Wardbook").join("policy.toml")
    } else if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/Wardbook/policy.toml")
    } else {
        PathBuf::from("/etc/wardbook/policy.toml")
    }
}

/// The user's settings file: `~/.config/wardbook/settings.toml` on Linux,
/// `%APPDATA%\wardbook\Wardbook\config\settings.toml` on Windows,
/// `~/Library/Application Support/org.wardbook.Wardbook/settings.toml` on macOS.
pub fn default_user_settings_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "wardbook", "Wardbook").map(|d| d.config_dir().join("settings.toml"))
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
    /// Whether Wardbook may offer to update itself. Wardbook has no
    /// self-updater yet, so this only reports IT's choice.
    pub updates_allowed: bool,
    /// `hospital_time_zone` and `news2_max_age_hours`.
    pub clinical: ClinicalSettings,
    /// The policy file that was read, if any (for `doctor` and `settings`).
    pub policy_file: Option<PathBuf>,
    /// The user settings file that was read, if any.
    pub user_settings_file: Option<PathBuf>,
    /// What the policy file set: the values IT fixed, shown locked.
    pub policy: Layer,
    /// Where each key's effective value came from.
    pub sources: BTreeMap<&'static str, Source>,
}

/// The layers in precedence order, highest first, and the sources chosen.
struct Layers {
    ordered: [(Source, Layer); 3],
    sources: BTreeMap<&'static str, Source>,
}

impl Layers {
    /// The highest layer's value for `name`, recording its source.
    fn pick(&mut self, name: &'static str) -> Option<Value> {
        let found = self.ordered.iter().find_map(|(source, layer)| layer.get(name).map(|v| (*source, v.clone())));
        let source = found.as_ref().map_or(Source::Default, |(s, _)| *s);
        self.sources.insert(name, source);
        found.map(|(_, v)| v)
    }

    fn text(&mut self, name: &'static str) -> Option<String> {
        match self.pick(name) {
            Some(Value::Text(s)) => Some(s),
            _ => None,
        }
    }

    fn path(&mut self, name: &'static str) -> Option<PathBuf> {
        match self.pick(name) {
            Some(Value::Path(p)) => Some(p),
            _ => None,
        }
    }

    fn number(&mut self, name: &'static str, default: u32) -> u32 {
        match self.pick(name) {
            Some(Value::Number(n)) => n,
            _ => default,
        }
    }
}

impl Config {
    /// Reads the process environment and the settings files.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads settings through `var` (tests pass a map instead of the process
    /// environment) and the files it names.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
        let home = home.as_deref();
        let (policy_path, required) = match var("WARDBOOK_POLICY_FILE") {
            Some(path) => (PathBuf::from(path), true),
            None => (default_policy_file(), false),
        };
        let policy = read_file(&policy_path, required, FileKind::Policy, home)?;
        let (user_path, required) = match var("WARDBOOK_SETTINGS_FILE") {
            Some(path) => (Some(PathBuf::from(path)), true),
            None => (default_user_settings_file(), false),
        };
        let user = match &user_path {
            Some(path) => read_file(path, required, FileKind::UserSettings, home)?,
            None => None,
        };
        let env = Layer::from_vars(&var).map_err(|p| ConfigError::Invalid {
            origin: p.key.clone().unwrap_or_default(),
            at: String::new(),
            key: p.key,
            detail: p.detail,
            fix: "Correct it or unset it.",
        })?;
        let policy_file = policy.is_some().then_some(policy_path);
        let user_settings_file = user.as_ref().and(user_path);
        let fixed = policy.clone().unwrap_or_default();
        let mut layers = Layers {
            ordered: [
                (Source::Policy, policy.unwrap_or_default()),
                (Source::Environment, env),
                (Source::UserSettings, user.unwrap_or_default()),
            ],
            sources: BTreeMap::new(),
        };

        let environment = match layers.pick("environment") {
            Some(Value::Environment(e)) => e,
            _ => Environment::Production,
        };
        let data_dir = match layers.path("data_dir") {
            Some(dir) => dir,
            None => default_data_dir().ok_or(ConfigError::NoDataDir)?,
        };
        let key_location = match var("WARDBOOK_INSECURE_KEY_FILE") {
            None => KeyLocation::OsKeyring,
            Some(_) if environment == Environment::Production => {
                return Err(ConfigError::InsecureKeyFileInProduction);
            }
            Some(path) => KeyLocation::InsecureFile(PathBuf::from(path)),
        };
        let idle_lock_seconds = match var("WARDBOOK_IDLE_LOCK_SECONDS") {
            None => None,
            Some(_) if environment == Environment::Production => {
                return Err(ConfigError::IdleLockOverrideInProduction);
            }
            Some(v) => match v.trim().parse::<u32>() {
                Ok(seconds) if (1..=MAX_IDLE_LOCK_SECONDS).contains(&seconds) => Some(seconds),
                _ => {
                    return Err(ConfigError::Invalid {
                        origin: "WARDBOOK_IDLE_LOCK_SECONDS".into(),
                        at: String::new(),
                        key: Some("WARDBOOK_IDLE_LOCK_SECONDS".into()),
                        detail: format!("must be a whole number of seconds from 1 to {MAX_IDLE_LOCK_SECONDS}"),
                        fix: "Correct it or unset it.",
                    });
                }
            },
        };
        let idle_minutes = layers.number("idle_lock_minutes", 0);
        let idle_lock = match (layers.sources["idle_lock_minutes"], idle_lock_seconds) {
            (Source::Policy, _) => Duration::from_secs(u64::from(idle_minutes) * 60),
            (_, Some(seconds)) => {
                layers.sources.insert("idle_lock_minutes", Source::Environment);
                Duration::from_secs(u64::from(seconds))
            }
            (Source::Default, None) => DEFAULT_IDLE_LOCK,
            (_, None) => Duration::from_secs(u64::from(idle_minutes) * 60),
        };
        let default_interval = DEFAULT_SYNC_INTERVAL.as_secs() as u32;
        let sync_interval = Duration::from_secs(u64::from(layers.number("sync_interval_seconds", default_interval)));
        Ok(Config {
            environment,
            data_dir,
            key_location,
            server_url: layers.text("server_url"),
            ca_file: layers.path("ca_file"),
            sync_interval,
            audit_retention_days: layers.number("audit_retention_days", DEFAULT_AUDIT_RETENTION_DAYS),
            idle_lock,
            offline_login_hours: layers.number("offline_login_hours", DEFAULT_OFFLINE_LOGIN_HOURS),
            break_glass_minutes: layers.number("break_glass_minutes", DEFAULT_BREAK_GLASS_MINUTES),
            data_age_warning_minutes: layers.number("data_age_warning_minutes", DEFAULT_DATA_AGE_WARNING_MINUTES),
            updates_allowed: matches!(layers.pick("updates_allowed"), Some(Value::Flag(true))),
            clinical: ClinicalSettings::from_values(
                layers.text("hospital_time_zone").as_deref(),
                layers.number("news2_max_age_hours", clinical::DEFAULT_NEWS2_MAX_AGE_HOURS),
            ),
            policy_file,
            user_settings_file,
            policy: fixed,
            sources: layers.sources,
        })
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.data_dir.join("quarantine")
    }

    /// Where `name`'s effective value came from.
    pub fn source(&self, name: &str) -> Source {
        self.sources.get(name).copied().unwrap_or(Source::Default)
    }

    /// Every key with its effective value and source, for `wardbook settings`.
    pub fn effective(&self) -> Vec<Effective> {
        KEYS.iter()
            .map(|key| {
                let value = match key.name {
                    "server_url" => return self.effective_entry(key.name, self.server_url.clone()),
                    "ca_file" => {
                        return self.effective_entry(key.name, self.ca_file.as_ref().map(|p| p.display().to_string()));
                    }
                    "environment" => self.environment.as_str().to_owned(),
                    "data_dir" => self.data_dir.display().to_string(),
                    "idle_lock_minutes" => settings_minutes(self.idle_lock),
                    "offline_login_hours" => self.offline_login_hours.to_string(),
                    "data_age_warning_minutes" => self.data_age_warning_minutes.to_string(),
                    "break_glass_minutes" => self.break_glass_minutes.to_string(),
                    "audit_retention_days" => self.audit_retention_days.to_string(),
                    "sync_interval_seconds" => self.sync_interval.as_secs().to_string(),
                    "updates_allowed" => self.updates_allowed.to_string(),
                    "hospital_time_zone" => self.clinical.time_zone.name().to_owned(),
                    "news2_max_age_hours" => self.clinical.news2_max_age.num_hours().to_string(),
                    other => unreachable!("unlisted key {other}"),
                };
                self.effective_entry(key.name, Some(value))
            })
            .collect()
    }

    fn effective_entry(&self, key: &'static str, value: Option<String>) -> Effective {
        Effective { key, value, source: self.source(key) }
    }
}

/// One line of `wardbook settings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Effective {
    pub key: &'static str,
    /// `None`: not set (no server, no CA file).
    pub value: Option<String>,
    pub source: Source,
}

/// Whole minutes as a number, a shorter test setting as e.g. "0.50".
pub fn settings_minutes(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds.is_multiple_of(60) { (seconds / 60).to_string() } else { format!("{:.2}", seconds as f64 / 60.0) }
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
mod tests;
