//! What the CLI's `doctor` does, as a plain function (the CLI only parses
//! and prints): the checks of one workstation, in the order IT reads them.
//! (Synthetic data for development is `crate::seed`.)

use crate::config::{Config, ConfigError, Environment};
use crate::keys::key_store_for;
use crate::store::Store;

/// One line of `doctor`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// What was found; on failure, also what to do.
    pub detail: String,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.ok { "ok  " } else { "FAIL" };
        write!(f, "{mark}  {:<22} {}", self.name, self.detail)
    }
}

fn check(name: &'static str, result: Result<String, String>) -> Check {
    match result {
        Ok(detail) => Check { name, ok: true, detail },
        Err(detail) => Check { name, ok: false, detail },
    }
}

/// The doctor's checks of one workstation, in the order IT reads them:
/// settings, local machine (data folder, SQLCipher, keyring), database,
/// then the sync service (reachable, TLS, enrolment) and the sync state.
/// A failed step skips the checks that need it. No line holds PHI.
pub fn doctor(config: Result<Config, ConfigError>, rt: &tokio::runtime::Runtime) -> Vec<Check> {
    let config = match config {
        Ok(config) => config,
        Err(e) => return vec![check("settings", Err(e.to_string()))],
    };
    let mut checks = vec![
        check("policy", Ok(policy_summary(&config))),
        check(
            "settings",
            Ok(match &config.user_settings_file {
                Some(file) => {
                    format!("{} (valid); run `wardbook settings` for every value and its source", file.display())
                }
                None => "no user settings file; run `wardbook settings` for every value and its source".into(),
            }),
        ),
        Check { name: "environment", ok: true, detail: config.environment.as_str().to_owned() },
    ];
    let dir = &config.data_dir;
    checks.push(check(
        "data directory",
        crate::startup::ensure_data_dir(dir)
            .map_err(|e| e.to_string())
            .and_then(|()| writable(dir).map(|()| format!("{} (writable)", dir.display()))),
    ));
    checks.push(check("SQLCipher", sqlcipher_version()));
    let keys = key_store_for(&config);
    let keyring_ok = keys.self_test();
    checks.push(check(
        "keyring self-test",
        keyring_ok
            .as_ref()
            .map(|()| format!("{}: write, read back, delete", keys.describe()))
            .map_err(ToString::to_string),
    ));
    if keyring_ok.is_err() {
        return checks;
    }
    let db_path = config.database_path();
    if !db_path.exists() {
        checks.push(Check {
            name: "database",
            ok: true,
            detail: format!("none yet at {} (created on first start)", db_path.display()),
        });
        checks.extend(service_checks(&config, keys.as_ref(), None, rt));
        return checks;
    }
    if let Some(marker) = crate::store::integrity::read_marker(&db_path) {
        // Opening would move the file aside under a running app: say so instead.
        checks.push(check(
            "database",
            Err(format!(
                "{marker}. Stop using this workstation and call IT; Wardbook moves the file aside at its next start (IT guide: \"integrity\")."
            )),
        ));
        return checks;
    }
    let opened = crate::store::rekey::open_with_keys(&db_path, &config.quarantine_dir(), keys.as_ref());
    let (store, report) = match opened {
        Ok(pair) => pair,
        Err(e) => {
            checks.push(check("database", Err(e.to_string())));
            return checks;
        }
    };
    checks.push(check("database", Ok(format!("{} opens with the stored key", db_path.display()))));
    // The whole-file check, on demand (start no longer runs one). Damage
    // found leaves the marker, so the next start of Wardbook moves the file
    // aside; doctor itself never moves a file a running app may hold.
    let damaged = |problems: usize, first: &str| {
        crate::store::integrity::mark_damaged(&db_path, u32::try_from(problems).unwrap_or(u32::MAX), "wardbook doctor");
        format!(
            "the database is damaged ({problems} problem(s), first: {first}). Stop using this workstation and call IT; Wardbook moves the file aside at its next start (IT guide: \"integrity\")."
        )
    };
    checks.push(check(
        "cipher_integrity_check",
        match store.integrity_problems() {
            Ok(problems) if problems.is_empty() => Ok("every page authenticates; structure ok".to_owned()),
            Ok(problems) => Err(damaged(problems.len(), problems.first().map(String::as_str).unwrap_or_default())),
            Err(e) if e.is_damage() => Err(damaged(1, "a page fails its authentication")),
            Err(e) => Err(e.to_string()),
        },
    ));
    checks.push(check("migrations", Ok(migration_state(&report))));
    checks.push(check(
        "audit chain",
        match crate::audit::verify::verify_chain(&store) {
            Ok(r @ crate::audit::verify::ChainReport::Intact { .. }) => Ok(r.to_string()),
            Ok(r) => Err(format!("{r}. Keep this workstation as it is and call the privacy officer.")),
            Err(e) => Err(e.to_string()),
        },
    ));
    checks.extend(service_checks(&config, keys.as_ref(), Some(&store), rt));
    checks
}

/// The service's identity providers as its health reports them: each
/// reachable or not, and why (the service never puts a secret there).
fn sign_in_providers(health: Result<wardbook_protocol::api::Health, crate::sync::SyncError>) -> Result<String, String> {
    let health = health.map_err(|e| format!("the service's health could not be read: {e}"))?;
    if health.identity_providers.is_empty() {
        return Ok("none: Wardbook accounts only".to_owned());
    }
    let describe = |p: &wardbook_protocol::api::ProviderHealth| {
        let kind = match p.kind {
            wardbook_protocol::api::ProviderKind::Oidc => "OpenID Connect",
            wardbook_protocol::api::ProviderKind::Ldap => "LDAP",
        };
        match &p.problem {
            None => format!("{} ({kind}) reachable", p.name),
            Some(problem) => format!("{} ({kind}) NOT reachable from the service: {problem}", p.name),
        }
    };
    let lines: Vec<String> = health.identity_providers.iter().map(describe).collect();
    if health.identity_providers.iter().all(|p| p.reachable) {
        Ok(lines.join("; "))
    } else {
        Err(format!(
            "{}. Offline unlock still works for recent sign-ins; ask the central service's administrators (`wardbook-server health`).",
            lines.join("; ")
        ))
    }
}

fn policy_summary(config: &Config) -> String {
    match &config.policy_file {
        Some(file) => {
            let set: Vec<&str> = crate::config::KEYS.iter().map(|k| k.name).filter(|k| config.policy.sets(k)).collect();
            let set = if set.is_empty() { "no keys".to_owned() } else { set.join(", ") };
            format!("{} (valid; sets {set})", file.display())
        }
        None => format!(
            "none at {} (defaults, user settings and environment apply)",
            crate::config::default_policy_file().display()
        ),
    }
}

/// The sync service (reachable, TLS trusted, this device enrolled and not
/// revoked) and the local sync state (last sync, what waits).
fn service_checks(
    config: &Config,
    keys: &dyn crate::keys::KeyStore,
    store: Option<&Store>,
    rt: &tokio::runtime::Runtime,
) -> Vec<Check> {
    use crate::sync::client::{Client, Probe};
    let mut checks = Vec::new();
    let server = match store {
        Some(store) => crate::sync::server_url(config, store).ok().flatten(),
        None => config.server_url.clone(),
    };
    let Some(server) = server else {
        if config.environment != Environment::Production {
            checks.push(check("server", Ok("none configured: a stand-alone cache (development and test only)".into())));
            return checks;
        }
        checks.push(check(
            "server",
            Err("no sync service configured. Set server_url in the policy file (IT guide: \"Policy file\") or enrol with `wardbook enroll --server URL --code CODE`.".into()),
        ));
        return checks;
    };
    let credential = match keys.load_credential() {
        Ok(credential) => credential,
        Err(e) => {
            checks.push(check("enrolment", Err(e.to_string())));
            return checks;
        }
    };
    let client = match Client::new(&server, config.ca_file.as_deref(), config.environment, credential.clone()) {
        Ok(client) => client,
        Err(e) => {
            checks.push(check("server", Err(e.to_string())));
            return checks;
        }
    };
    let reachable = match rt.block_on(client.probe()) {
        Probe::Reachable { status: 200 } => Ok(format!("{server} answers; TLS trusted")),
        Probe::Reachable { status } => Err(format!(
            "{server} answers {status}: the service is up but not healthy. Ask the central service's administrators (`wardbook-server health`)."
        )),
        Probe::TlsUntrusted(cause) => Err(format!(
            "{server}: the TLS certificate is not trusted ({cause}). Set ca_file in the policy file to the hospital CA's PEM file, or ask IT to fix the service's certificate."
        )),
        Probe::Unreachable(cause) => Err(format!(
            "{server} cannot be reached ({cause}). Check the network, DNS and firewall (port of the URL), and that the service runs."
        )),
    };
    let reached = reachable.is_ok();
    checks.push(check("server", reachable));
    if reached {
        checks.push(check("sign-in providers", sign_in_providers(rt.block_on(client.health()))));
    }
    checks.push(check(
        "enrolment",
        match (credential.is_some(), reached) {
            (false, _) => Err("not enrolled: no device credential in the keyring. Run `wardbook enroll --code CODE` with a code from `wardbook-server device enroll-code`.".into()),
            (true, false) => Err("a device credential is stored, but the service could not be asked whether it is still valid (see server).".into()),
            (true, true) => match rt.block_on(client.device()) {
                Ok(info) => Ok(format!("device {} ({}) serves {}; not revoked", info.device_id, info.name, info.locations.join(", "))),
                Err(crate::sync::SyncError::Unauthorized) => Err("the service refused this device's credential: it was revoked or replaced. Ask IT to enrol the workstation again (IT guide: \"Enrolment\").".into()),
                Err(e) => Err(e.to_string()),
            },
        },
    ));
    let Some(store) = store else { return checks };
    let status = match crate::sync::status(config, keys, store) {
        Ok(status) => status,
        Err(e) => {
            checks.push(check("last sync", Err(e.to_string())));
            return checks;
        }
    };
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
    };
    checks.push(check(
        "last sync",
        match &status.last_error {
            Some(error) => Err(format!("last success {}; the last attempt failed: {error}", when(status.last_success))),
            _ if status.last_success.is_none() => {
                Err("never synced. Run `wardbook sync --once` and read its error.".into())
            }
            _ => Ok(format!("last success {}; data as of {}", when(status.last_success), when(status.data_as_of))),
        },
    ));
    let waiting = format!(
        "{} edit(s) and {} audit event(s) waiting to upload; {} conflict(s), {} rejected edit(s)",
        status.pending_edits, status.pending_audit_events, status.conflicts, status.rejected_edits
    );
    checks.push(check(
        "pending",
        if status.conflicts + status.rejected_edits > 0 {
            Err(format!("{waiting}. A clinician must resolve them in Wardbook (the status bar opens them); never remove the data folder meanwhile."))
        } else {
            Ok(waiting)
        },
    ));
    checks
}

fn writable(dir: &std::path::Path) -> Result<(), String> {
    let probe = dir.join(format!(".doctor-{}", uuid::Uuid::new_v4()));
    std::fs::write(&probe, b"probe").and_then(|()| std::fs::remove_file(&probe)).map_err(|e| {
        format!("{} is not writable ({}). Fix its permissions or set WARDBOOK_DATA_DIR.", dir.display(), e.kind())
    })
}

/// The SQLCipher version of the linked SQLite, from an in-memory database.
pub fn sqlcipher_version() -> Result<String, String> {
    let missing = || "this build's SQLite has no SQLCipher: reinstall Wardbook from the official package".to_owned();
    let conn = crate::store::sqlcipher::open_in_memory().map_err(|_| missing())?;
    match conn.query_row("PRAGMA cipher_version", [], |r| r.get::<_, String>(0)) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(missing()),
    }
}

fn migration_state(report: &crate::store::OpenReport) -> String {
    let applied = if report.migrations_applied_now.is_empty() {
        String::from("none pending")
    } else {
        format!("applied now: {:?}", report.migrations_applied_now)
    };
    format!("schema {} (newest this build knows); {applied}", report.schema_version)
}
