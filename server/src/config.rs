//! Service settings: built-in defaults < configuration file < environment <
//! command-line flags. Every setting has an environment variable, so scripts,
//! systemd units and tests need no file at all.
//!
//! | setting | flag / variable | default |
//! |---|---|---|
//! | environment | `--env` / `WARDBOOK_ENV` | `production` when unset |
//! | database URL | `--database-url` / `WARDBOOK_DATABASE_URL` | (required) |
//! | listen address | `--listen` / `WARDBOOK_LISTEN` | `127.0.0.1:8443` |
//! | TLS certificate chain (PEM) | `--tls-cert` / `WARDBOOK_TLS_CERT` | none |
//! | TLS private key (PEM) | `--tls-key` / `WARDBOOK_TLS_KEY` | none |
//! | configuration file | `--config` / `WARDBOOK_SERVER_CONFIG` | `/etc/wardbook/server.toml` if present |
//! | MLLP listen address (HL7 v2) | `--mllp-listen` / `WARDBOOK_MLLP_LISTEN` | none: no listener |
//! | identifier system of MRNs in FHIR | file only: `fhir_mrn_system` | `urn:wardbook:mrn` |
//! | CA certificates (PEM) trusted for outbound TLS | file only: `ca_file` | the system's roots |
//! | key-encryption key (base64 of 32 bytes) | `--kek-file` / `WARDBOOK_KEK_FILE` | required in production; elsewhere a throwaway key |
//! | CA certificates (PEM) of PostgreSQL's server certificate | `--database-ca-file` / `WARDBOOK_DATABASE_CA_FILE` | none: plain, loopback and Unix socket only |
//! | streaming replicas the change feed reads from (comma-separated URLs) | `--database-replica-urls` / `WARDBOOK_DATABASE_REPLICA_URLS` | none: every read on the primary |
//! | identity providers (OpenID Connect, LDAP) | file only: `[[identity_providers]]` | none: local accounts only |
//! | local accounts for clinicians and privacy officers | file only: `local_accounts_for_clinicians` | `true` |
//!
//! The file (TOML) may also set `mllp_allow_plain`, `fhir_mrn_system` and
//! the policy values of [`Policy`]. `fhir_mrn_system` is the URI under which
//! `/fhir/r4` writes and reads a patient's MRN (`Patient.identifier.system`):
//! the hospital's own MRN system, so that its FHIR clients recognise the
//! number; the default is Wardbook's own URN for a hospital that has none.
//! Plain HTTP is allowed only on a loopback address and outside production. MLLP uses TLS with the service's certificate; plain TCP only
//! on loopback, or anywhere when the file says `mllp_allow_plain = true`
//! (many interface engines speak plain MLLP inside the hospital network;
//! health warns about it in production).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wardbook_protocol::Environment;

use crate::identity::ProviderConfig;

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/wardbook/server.toml";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// The MRN identifier system of `/fhir/r4` when the file names none.
pub const DEFAULT_FHIR_MRN_SYSTEM: &str = "urn:wardbook:mrn";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error(
        "WARDBOOK_ENV is set to an unknown value. Set it to production, development or test (or unset it for production)."
    )]
    UnknownEnvironment,
    #[error("No database is configured. Set WARDBOOK_DATABASE_URL (or --database-url) to a postgres:// URL.")]
    MissingDatabaseUrl,
    #[error(
        "The listen address is not of the form host:port (for example 0.0.0.0:8443). Fix WARDBOOK_LISTEN or --listen."
    )]
    BadListen,
    #[error("Cannot read the configuration file {path}: {reason}. Fix the file or point --config elsewhere.")]
    File { path: PathBuf, reason: String },
    #[error(
        "Refusing to serve plain HTTP on {listen}: outside loopback, or in production, TLS is required. Set WARDBOOK_TLS_CERT and WARDBOOK_TLS_KEY."
    )]
    TlsRequired { listen: SocketAddr },
    #[error("Set both WARDBOOK_TLS_CERT and WARDBOOK_TLS_KEY, or neither.")]
    TlsHalfConfigured,
    #[error(
        "The MLLP listen address is not of the form host:port (for example 0.0.0.0:2575). Fix WARDBOOK_MLLP_LISTEN or --mllp-listen."
    )]
    BadMllpListen,
    #[error(
        "Refusing to serve MLLP in plain TCP on {listen}: off loopback it needs TLS (set WARDBOOK_TLS_CERT and WARDBOOK_TLS_KEY) or `mllp_allow_plain = true` in the configuration file."
    )]
    MllpTlsRequired { listen: SocketAddr },
    #[error(
        "fhir_mrn_system in the configuration file is not a URI (for example https://hospital.example/fhir/sid/mrn, without spaces). Fix it or remove it for the default urn:wardbook:mrn."
    )]
    BadFhirMrnSystem,
    #[error("The identity providers in the configuration file are wrong: {reason}")]
    IdentityProviders { reason: String },
}

/// Security and sync policy, with defaults a hospital can tighten in the file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Lifetime of a login token.
    pub session_minutes: u32,
    /// How long after an online login a workstation may unlock offline.
    /// Also the late-edit window: an edit made before the device lost a
    /// patient (transfer, discharge, the workstation moved) is accepted only
    /// if the device lost the patient at most this long ago
    /// (`push::late_edit_window`).
    pub offline_unlock_hours: u32,
    /// Failed offline unlocks after which the app wipes its verifier.
    pub offline_max_failed_attempts: u32,
    /// How long a break-the-glass access lasts.
    pub break_glass_minutes: u32,
    /// Lifetime of an enrolment code.
    pub enrolment_code_hours: u32,
    /// Login and enrolment attempts allowed per minute per client and per name.
    pub auth_attempts_per_minute: u32,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Changes per pull page, at most.
    pub max_pull_page: u32,
    /// Connections to PostgreSQL held by one service instance.
    pub pool_size: usize,
    /// Days a processed HL7 message (raw text: PHI) is kept, then removed.
    pub hl7_retention_days: u32,
    /// Largest MLLP message accepted, in bytes.
    pub mllp_max_message_bytes: usize,
    /// Silence allowed in the middle of an MLLP message, in seconds.
    pub mllp_read_timeout_seconds: u32,
    /// Silence allowed between MLLP messages before the connection is closed, in seconds.
    pub mllp_idle_timeout_seconds: u32,
    /// MLLP connections served at once.
    pub mllp_max_connections: usize,
    /// How long a receiver of filed-back messages (RAS^O17) may take to
    /// acknowledge one, in seconds.
    pub hl7_send_ack_timeout_seconds: u32,
    /// The longest wait between attempts to send a queued message, in seconds.
    pub hl7_send_retry_max_seconds: u32,
    /// Health warns about a message queued for longer than this, in minutes.
    pub hl7_outbound_stale_minutes: u32,
    /// The compliance report names an active device that has uploaded no
    /// audit event for longer than this, in hours.
    pub audit_upload_silence_hours: u32,
    /// Rows re-encrypted per transaction by a rotation or a conversion.
    pub key_rotation_batch_rows: u32,
    /// Pause between two such batches, in milliseconds, so a rotation of
    /// a large database leaves room for the wards' traffic.
    pub key_rotation_pause_ms: u32,
    /// The shortest workstation PIN (offline unlock after an OpenID Connect
    /// sign-in, where the app never sees a password). Its attempts are
    /// bounded by `offline_max_failed_attempts`, its life by `offline_unlock_hours`.
    pub pin_min_length: u32,
    /// How often the service asks each LDAP directory whether its users are
    /// still there and enabled, in minutes (0: never). A leaver found so is
    /// disabled here and dropped by workstations at their next sync, even if
    /// they never sign in again.
    pub directory_check_minutes: u32,
    /// Health warns when one transaction has held the change feed's
    /// horizon back for this long, in minutes.
    pub feed_horizon_warn_minutes: u32,
    /// A replica further behind the primary than this, in seconds, is not
    /// read from until it catches up (`crate::replicas`).
    pub replica_max_lag_seconds: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            session_minutes: 15,
            offline_unlock_hours: 72,
            offline_max_failed_attempts: 5,
            break_glass_minutes: 60,
            enrolment_code_hours: 24,
            auth_attempts_per_minute: 10,
            max_body_bytes: 16 * 1024 * 1024,
            max_pull_page: 5000,
            pool_size: 16,
            hl7_retention_days: 30,
            mllp_max_message_bytes: 1024 * 1024,
            mllp_read_timeout_seconds: 30,
            mllp_idle_timeout_seconds: 3600,
            mllp_max_connections: 64,
            hl7_send_ack_timeout_seconds: 30,
            hl7_send_retry_max_seconds: 300,
            hl7_outbound_stale_minutes: 15,
            audit_upload_silence_hours: 24,
            key_rotation_batch_rows: 500,
            key_rotation_pause_ms: 0,
            pin_min_length: 6,
            directory_check_minutes: 15,
            feed_horizon_warn_minutes: 5,
            replica_max_lag_seconds: 10,
        }
    }
}

impl Policy {
    pub fn session_ttl(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.session_minutes))
    }

    /// How long a disabled user's id travels in every pull: the offline
    /// unlock window (a verifier older than that has expired on its own),
    /// plus a day for a workstation's clock running behind.
    pub fn revocation_window(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.offline_unlock_hours) + 24)
    }
}

/// The contents of the configuration file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub environment: Option<String>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub mllp_listen: Option<String>,
    pub mllp_allow_plain: Option<bool>,
    pub fhir_mrn_system: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub kek_file: Option<PathBuf>,
    pub database_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub database_replica_urls: Vec<String>,
    #[serde(default)]
    pub identity_providers: Vec<ProviderConfig>,
    pub local_accounts_for_clinicians: Option<bool>,
    #[serde(default)]
    pub policy: Option<Policy>,
}

impl FileSettings {
    pub fn load(path: &Path) -> Result<FileSettings, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::File { path: path.to_owned(), reason: e.kind().to_string() })?;
        toml::from_str(&text).map_err(|e| ConfigError::File { path: path.to_owned(), reason: e.message().to_owned() })
    }
}

/// Values given on the command line or in the environment (clap reads both).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub environment: Option<String>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub mllp_listen: Option<String>,
    pub kek_file: Option<PathBuf>,
    pub database_ca_file: Option<PathBuf>,
    pub database_replica_urls: Option<Vec<String>>,
}

/// The database URL holds a password: it never reaches `Debug` output.
#[derive(Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: String,
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Where HL7 v2 arrives over MLLP; none when no listener runs.
    pub mllp_listen: Option<SocketAddr>,
    /// MLLP in plain TCP even off loopback (see the module doc).
    pub mllp_allow_plain: bool,
    /// The identifier system of MRNs in `/fhir/r4` (see the module doc).
    pub fhir_mrn_system: String,
    /// CA certificates (PEM) trusted when sending HL7 over TLS (`interface
    /// add --send-tls`); the system's roots when none.
    pub ca_file: Option<PathBuf>,
    /// The key-encryption key's file (`crate::keys`); none outside
    /// production means a throwaway key, in production a refusal to start.
    pub kek_file: Option<PathBuf>,
    /// CA certificates (PEM) that PostgreSQL's server certificate must chain
    /// to: TLS with the host name verified (`sslmode=verify-full`). Without
    /// it only loopback and Unix-socket connections are allowed, in plain.
    pub database_ca_file: Option<PathBuf>,
    /// Hot standbys of the primary that the change feed's pulls may read
    /// from (`crate::replicas`), connected as the primary is (same role, CA
    /// file and TLS rules). They hold passwords: never in `Debug` output.
    pub database_replica_urls: Vec<String>,
    /// The hospital's identity providers (`crate::identity`), in the order
    /// the sign-in screen lists them.
    pub identity_providers: Vec<ProviderConfig>,
    /// Whether clinicians and privacy officers may sign in with a local
    /// account (`user add`). When false only admins (the emergency account)
    /// and integration clients may: everyone else signs in through a provider.
    pub local_accounts_for_clinicians: bool,
    pub policy: Policy,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("environment", &self.environment)
            .field("database_url", &"***")
            .field("listen", &self.listen)
            .field("tls", &self.tls)
            .field("mllp_listen", &self.mllp_listen)
            .field("mllp_allow_plain", &self.mllp_allow_plain)
            .field("fhir_mrn_system", &self.fhir_mrn_system)
            .field("ca_file", &self.ca_file)
            .field("kek_file", &self.kek_file)
            .field("database_ca_file", &self.database_ca_file)
            .field("database_replica_urls", &format_args!("[{} x ***]", self.database_replica_urls.len()))
            .field("identity_providers", &self.identity_providers)
            .field("local_accounts_for_clinicians", &self.local_accounts_for_clinicians)
            .field("policy", &self.policy)
            .finish()
    }
}

impl Settings {
    /// Merges the file (if any) under the overrides.
    pub fn resolve(file: FileSettings, over: Overrides) -> Result<Settings, ConfigError> {
        let environment = match over.environment.or(file.environment) {
            None => Environment::Production,
            Some(s) if s.is_empty() => Environment::Production,
            Some(s) => Environment::parse(&s).ok_or(ConfigError::UnknownEnvironment)?,
        };
        let database_url = over.database_url.or(file.database_url).ok_or(ConfigError::MissingDatabaseUrl)?;
        let listen = over
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned())
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError::BadListen)?;
        let tls = match (over.tls_cert.or(file.tls_cert), over.tls_key.or(file.tls_key)) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(ConfigError::TlsHalfConfigured),
        };
        let mllp_listen = match over.mllp_listen.or(file.mllp_listen).filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(s) => Some(s.parse::<SocketAddr>().map_err(|_| ConfigError::BadMllpListen)?),
        };
        let fhir_mrn_system = match file.fhir_mrn_system {
            None => DEFAULT_FHIR_MRN_SYSTEM.to_owned(),
            Some(uri) if is_uri(&uri) => uri,
            Some(_) => return Err(ConfigError::BadFhirMrnSystem),
        };
        crate::identity::validate(&file.identity_providers, environment)
            .map_err(|reason| ConfigError::IdentityProviders { reason })?;
        Ok(Settings {
            environment,
            database_url,
            listen,
            tls,
            mllp_listen,
            mllp_allow_plain: file.mllp_allow_plain.unwrap_or(false),
            fhir_mrn_system,
            ca_file: file.ca_file,
            kek_file: over.kek_file.or(file.kek_file),
            database_ca_file: over.database_ca_file.or(file.database_ca_file),
            database_replica_urls: over
                .database_replica_urls
                .unwrap_or(file.database_replica_urls)
                .into_iter()
                .map(|url| url.trim().to_owned())
                .filter(|url| !url.is_empty())
                .collect(),
            identity_providers: file.identity_providers,
            local_accounts_for_clinicians: file.local_accounts_for_clinicians.unwrap_or(true),
            policy: file.policy.unwrap_or_default(),
        })
    }

    /// Plain HTTP only on loopback outside production.
    pub fn check_transport(&self) -> Result<(), ConfigError> {
        if self.tls.is_none() && (self.environment == Environment::Production || !self.listen.ip().is_loopback()) {
            return Err(ConfigError::TlsRequired { listen: self.listen });
        }
        if let Some(listen) = self.mllp_listen
            && self.mllp_plain()
            && !self.mllp_allow_plain
            && !listen.ip().is_loopback()
        {
            return Err(ConfigError::MllpTlsRequired { listen });
        }
        Ok(())
    }

    /// Whether MLLP runs in plain TCP: no certificate, or allowed explicitly.
    pub fn mllp_plain(&self) -> bool {
        self.tls.is_none() || self.mllp_allow_plain
    }

    /// Settings for tests and tools that build the app in-process.
    pub fn for_tests(database_url: String) -> Settings {
        Settings {
            environment: Environment::Test,
            database_url,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            mllp_listen: None,
            mllp_allow_plain: false,
            fhir_mrn_system: DEFAULT_FHIR_MRN_SYSTEM.to_owned(),
            ca_file: None,
            kek_file: None,
            database_ca_file: None,
            database_replica_urls: Vec::new(),
            identity_providers: Vec::new(),
            local_accounts_for_clinicians: true,
            policy: Policy::default(),
        }
    }
}

/// An absolute URI as FHIR's `uri` type needs it: a scheme, a colon, and no
/// whitespace. A system that is not one would make every Patient the
/// interface writes invalid FHIR, so it is refused at start-up instead.
fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else { return false };
    !rest.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn over(env: Option<&str>, listen: Option<&str>) -> Overrides {
        Overrides {
            environment: env.map(str::to_owned),
            database_url: Some("postgres://localhost/wardbook".into()),
            listen: listen.map(str::to_owned),
            ..Overrides::default()
        }
    }

    #[test]
    fn unset_environment_is_production_and_needs_tls() {
        let s = Settings::resolve(FileSettings::default(), over(None, None)).unwrap();
        assert_eq!(s.environment, Environment::Production);
        assert!(matches!(s.check_transport(), Err(ConfigError::TlsRequired { .. })));
    }

    #[test]
    fn plain_http_only_on_loopback_outside_production() {
        let s = Settings::resolve(FileSettings::default(), over(Some("development"), Some("127.0.0.1:9000"))).unwrap();
        assert!(s.check_transport().is_ok());
        let s = Settings::resolve(FileSettings::default(), over(Some("development"), Some("0.0.0.0:9000"))).unwrap();
        assert!(s.check_transport().is_err());
    }

    #[test]
    fn plain_mllp_only_on_loopback_unless_allowed() {
        let mut o = over(Some("development"), Some("127.0.0.1:9000"));
        o.mllp_listen = Some("0.0.0.0:2575".into());
        let s = Settings::resolve(FileSettings::default(), o.clone()).unwrap();
        assert!(matches!(s.check_transport(), Err(ConfigError::MllpTlsRequired { .. })));
        let file: FileSettings = toml::from_str("mllp_allow_plain = true").unwrap();
        assert!(Settings::resolve(file, o.clone()).unwrap().check_transport().is_ok());
        o.mllp_listen = Some("127.0.0.1:2575".into());
        assert!(Settings::resolve(FileSettings::default(), o.clone()).unwrap().check_transport().is_ok());
        o.mllp_listen = Some("nonsense".into());
        assert!(matches!(Settings::resolve(FileSettings::default(), o), Err(ConfigError::BadMllpListen)));
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let file: FileSettings = toml::from_str(
            "environment = \"test\"\nlisten = \"127.0.0.1:7000\"\ndatabase_url = \"postgres://file/db\"\n[policy]\nsession_minutes = 5\n",
        )
        .unwrap();
        let s = Settings::resolve(file, over(None, Some("127.0.0.1:7001"))).unwrap();
        assert_eq!(s.environment, Environment::Test);
        assert_eq!(s.listen.port(), 7001);
        assert_eq!(s.database_url, "postgres://localhost/wardbook");
        assert_eq!(s.policy.session_minutes, 5);
        assert_eq!(s.policy.pool_size, Policy::default().pool_size);
    }

    #[test]
    fn replica_urls_come_from_the_file_or_the_environment_and_never_reach_debug() {
        assert!(Settings::resolve(FileSettings::default(), over(None, None)).unwrap().database_replica_urls.is_empty());
        let file: FileSettings = toml::from_str(
            "database_replica_urls = [\"postgres://app:file-secret@standby1/w\"]\n[policy]\nreplica_max_lag_seconds = 3\n",
        )
        .unwrap();
        let s = Settings::resolve(file, over(None, None)).unwrap();
        assert_eq!(s.database_replica_urls, ["postgres://app:file-secret@standby1/w"]);
        assert_eq!(s.policy.replica_max_lag_seconds, 3);
        assert!(!format!("{s:?}").contains("file-secret"), "{s:?}");
        let file: FileSettings = toml::from_str("database_replica_urls = [\"postgres://standby1/w\"]").unwrap();
        let mut o = over(None, None);
        o.database_replica_urls =
            Some(vec![" postgres://standby2/w".into(), String::new(), "postgres://standby3/w".into()]);
        let s = Settings::resolve(file, o).unwrap();
        assert_eq!(s.database_replica_urls, ["postgres://standby2/w", "postgres://standby3/w"], "the environment wins");
    }

    #[test]
    fn the_fhir_mrn_system_defaults_and_must_be_a_uri() {
        let s = Settings::resolve(FileSettings::default(), over(None, None)).unwrap();
        assert_eq!(s.fhir_mrn_system, DEFAULT_FHIR_MRN_SYSTEM);
        let file: FileSettings = toml::from_str("fhir_mrn_system = \"https://hospital.example/fhir/sid/mrn\"").unwrap();
        assert_eq!(
            Settings::resolve(file, over(None, None)).unwrap().fhir_mrn_system,
            "https://hospital.example/fhir/sid/mrn"
        );
        for bad in ["", "mrn", "https://hospital.example/ mrn", "1x:y", "urn:"] {
            let file = FileSettings { fhir_mrn_system: Some(bad.to_owned()), ..FileSettings::default() };
            assert!(
                matches!(Settings::resolve(file, over(None, None)), Err(ConfigError::BadFhirMrnSystem)),
                "{bad:?} is refused"
            );
        }
    }

    #[test]
    fn unknown_keys_and_environments_are_refused() {
        assert!(toml::from_str::<FileSettings>("databse_url = \"x\"").is_err());
        assert!(matches!(
            Settings::resolve(FileSettings::default(), over(Some("prod"), None)),
            Err(ConfigError::UnknownEnvironment)
        ));
        assert!(!format!("{:?}", Settings::for_tests("postgres://u:secret@h/d".into())).contains("secret"));
    }
}
