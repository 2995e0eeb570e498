//! The connection pool and the central schema's migrations.
//!
//! Every connection attempt is logged with its target (host:port, never the
//! password), as the hospital's guidelines ask, so an operator can see from
//! the log alone when and why the service lost its database.
//!
//! The connection carries patient data and the service's password, so it is
//! TLS with the server's certificate verified against
//! `WARDBOOK_DATABASE_CA_FILE`, host name included (libpq's
//! `sslmode=verify-full`), whatever `sslmode` the URL says: a server that
//! offers no TLS is refused rather than used in plain. Without a CA file the
//! connection is plain, which is allowed only where it never crosses a
//! network: loopback addresses, `localhost` and Unix sockets
//! ([`transport`]). The pool and `migrate` follow the same rules.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleResult};
use deadpool_postgres::{ClientWrapper, ManagerConfig, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

mod embedded {
    refinery::embed_migrations!("../migrations/central");
}

/// Where the service's PostgreSQL is, for logs and hints (`host:port`).
pub fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// Wraps deadpool-postgres's manager to log each connection attempt.
#[derive(Debug)]
pub struct LoggingManager {
    inner: deadpool_postgres::Manager,
    target: String,
}

impl managed::Manager for LoggingManager {
    type Type = ClientWrapper;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<ClientWrapper, tokio_postgres::Error> {
        tracing::info!(target = %self.target, "connecting to PostgreSQL");
        match self.inner.create().await {
            Ok(client) => {
                tracing::info!(target = %self.target, "connected to PostgreSQL");
                Ok(client)
            }
            Err(e) => {
                let (error, hint) = (describe(&e), tls_hint(&e));
                tracing::warn!(target = %self.target, %error, hint, "connection to PostgreSQL failed");
                Err(e)
            }
        }
    }

    async fn recycle(&self, client: &mut ClientWrapper, metrics: &Metrics) -> RecycleResult<tokio_postgres::Error> {
        self.inner.recycle(client, metrics).await
    }
}

pub type Pool = managed::Pool<LoggingManager>;
pub type Client = managed::Object<LoggingManager>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbSetupError {
    #[error("WARDBOOK_DATABASE_URL is not a valid PostgreSQL URL (postgres://user@host:port/database).")]
    BadUrl,
    #[error("Cannot build the connection pool.")]
    Pool,
    #[error(
        "WARDBOOK_DATABASE_URL names a PostgreSQL server beyond this machine (or asks for TLS), and TLS needs a CA to verify the server's certificate. Set WARDBOOK_DATABASE_CA_FILE to the CA that signed PostgreSQL's certificate (PEM). Without it, only loopback addresses, localhost and Unix sockets are allowed, in plain."
    )]
    CaFileRequired,
    #[error("Cannot read WARDBOOK_DATABASE_CA_FILE {}: {reason}.", path.display())]
    CaFileUnreadable { path: PathBuf, reason: String },
    #[error(
        "WARDBOOK_DATABASE_CA_FILE {} is not usable: {reason}. It must hold the PEM certificate(s) of the CA that signed PostgreSQL's certificate.",
        path.display()
    )]
    CaFileInvalid { path: PathBuf, reason: String },
    #[error(
        "WARDBOOK_DATABASE_CA_FILE is set, but WARDBOOK_DATABASE_URL names a Unix socket, where PostgreSQL offers no TLS. Use PostgreSQL's host name (the one its certificate names), or unset WARDBOOK_DATABASE_CA_FILE: a Unix socket stays on this machine."
    )]
    CaFileWithSocket,
}

/// How connections reach PostgreSQL: TLS verified against the CA file, or
/// plain (only where [`plain_allowed`] says so).
enum Transport {
    Plain,
    Verified(MakeRustlsConnect),
}

/// The parsed URL and how to connect with it. With a CA file, TLS is
/// required (`sslmode=require`: no fallback to plain) and rustls verifies the
/// chain and the host name, which together are `verify-full`. Without one,
/// refuses any host beyond loopback, and a URL asking for TLS it could not verify.
fn transport(url: &str, ca_file: Option<&Path>) -> Result<(tokio_postgres::Config, Transport), DbSetupError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|_| DbSetupError::BadUrl)?;
    match ca_file {
        Some(path) => {
            // tokio-postgres, like libpq, does no TLS over a Unix socket:
            // `require` would fail there on every attempt.
            if config.get_hosts().iter().any(|h| matches!(h, Host::Unix(_))) {
                return Err(DbSetupError::CaFileWithSocket);
            }
            config.ssl_mode(SslMode::Require);
            Ok((config, Transport::Verified(MakeRustlsConnect::new(client_tls(path)?))))
        }
        None if plain_allowed(&config) && config.get_ssl_mode() != SslMode::Require => Ok((config, Transport::Plain)),
        None => Err(DbSetupError::CaFileRequired),
    }
}

/// Whether every address the connection may go to is on this machine. The
/// address a TCP connection really goes to is `hostaddr` when the URL gives
/// one, else `host`.
fn plain_allowed(config: &tokio_postgres::Config) -> bool {
    let hosts = config.get_hosts();
    let hostaddrs = config.get_hostaddrs();
    (0..hosts.len().max(hostaddrs.len())).all(|i| match (hostaddrs.get(i), hosts.get(i)) {
        (Some(addr), _) => addr.to_canonical().is_loopback(),
        (None, Some(Host::Unix(_))) => true,
        (None, Some(Host::Tcp(name))) => {
            let name = name.trim_end_matches('.');
            name.eq_ignore_ascii_case("localhost")
                || name.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
        }
        (None, None) => false,
    })
}

/// A rustls configuration whose only trusted roots are the certificates of
/// `path` (not the system's: the hospital's PostgreSQL certificate comes
/// from its own CA, and nothing else should be able to impersonate it).
fn client_tls(path: &Path) -> Result<rustls::ClientConfig, DbSetupError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let invalid = |reason: String| DbSetupError::CaFileInvalid { path: path.to_owned(), reason };
    let pem = std::fs::read(path)
        .map_err(|e| DbSetupError::CaFileUnreadable { path: path.to_owned(), reason: e.kind().to_string() })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not PEM ({e})")))?;
    if certs.is_empty() {
        return Err(invalid("it holds no certificate (-----BEGIN CERTIFICATE-----)".to_owned()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| invalid(format!("a certificate in it cannot be a trust anchor ({e})")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A pool whose connections fail fast (a few seconds), so a request answers
/// 503 with a hint instead of hanging while PostgreSQL is down. Connections
/// are TLS verified against `ca_file` when given; see the module doc.
pub fn pool(url: &str, ca_file: Option<&Path>, size: usize) -> Result<(Pool, String), DbSetupError> {
    let (mut config, transport) = transport(url, ca_file)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(3));
    }
    if config.get_application_name().is_none() {
        config.application_name("wardbook-server");
    }
    let target = describe_target(&config);
    let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
    let inner = match transport {
        Transport::Plain => deadpool_postgres::Manager::from_config(config, NoTls, manager_config),
        Transport::Verified(tls) => deadpool_postgres::Manager::from_config(config, tls, manager_config),
    };
    let manager = LoggingManager { inner, target: target.clone() };
    let pool = Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(2)))
        .build()
        .map_err(|_| DbSetupError::Pool)?;
    Ok((pool, target))
}

/// Whether this client's connection is TLS-encrypted, as PostgreSQL sees it.
pub async fn connection_encrypted(client: &tokio_postgres::Client) -> Result<bool, tokio_postgres::Error> {
    let row = client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await?;
    Ok(row.get(0))
}

/// A safe one-line description of a database error for the log: the SQLSTATE
/// and the server's message, never the DETAIL (which can quote row values,
/// i.e. patient data), never the statement, and for a data exception not
/// even the message.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        // A data exception's message can quote the value refused
        // (`invalid input syntax for type date: "..."`): its code only.
        Some(db) if db.code().code().starts_with("22") => format!("data exception ({})", db.code().code()),
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None if e.is_closed() => "connection closed".to_owned(),
        None => {
            if let Some(tls) = tls_error(e) {
                return match tls {
                    rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                        format!("TLS handshake failed: PostgreSQL's certificate was refused ({tls})")
                    }
                    _ => format!("TLS handshake failed: {tls}"),
                };
            }
            // Connection-level errors (refused, timed out, TLS) carry no row data.
            let mut text = e.to_string();
            if let Some(source) = std::error::Error::source(e) {
                text = format!("{text}: {source}");
            }
            text
        }
    }
}

/// The rustls error under a failed TLS handshake (tokio-rustls wraps it in
/// an `io::Error`), if that is why `e` failed.
fn tls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(error) = source {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        source = error.source();
    }
    None
}

/// What to check when a connection failed in TLS: the CA file and the
/// certificate's names, or whether PostgreSQL offers TLS at all. `None` for
/// other failures.
pub fn tls_hint(e: &tokio_postgres::Error) -> Option<&'static str> {
    match tls_error(e) {
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented) => Some(
            "Check that WARDBOOK_DATABASE_CA_FILE is the CA that signed PostgreSQL's certificate, and that the certificate names the host in WARDBOOK_DATABASE_URL.",
        ),
        Some(_) => Some("Check PostgreSQL's TLS settings (ssl_cert_file, ssl_key_file, ssl_min_protocol_version)."),
        // tokio-postgres's own TLS failures (the server offers no TLS): its
        // error kind is not public, its message is.
        None if e.as_db_error().is_none() && e.to_string() == "error performing TLS handshake" => {
            Some("Check that PostgreSQL has ssl = on: WARDBOOK_DATABASE_CA_FILE makes TLS required.")
        }
        None => None,
    }
}

/// The highest migration this binary carries.
pub fn expected_migration_version() -> i32 {
    embedded::migrations::runner().get_migrations().iter().map(|m| m.version()).max().unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    #[error(transparent)]
    Setup(#[from] DbSetupError),
    #[error("Cannot connect to PostgreSQL at {target}: {reason}. {hint}")]
    Connect { target: String, reason: String, hint: &'static str },
    #[error(
        "This database has migrations this binary does not know (database at version {database}, binary at {binary}): it was migrated by a newer wardbook-server. Upgrade this binary; never downgrade a database."
    )]
    DatabaseNewer { database: i32, binary: i32 },
    #[error("Migration failed: {0}. Nothing of the failed migration was kept; fix the cause and run migrate again.")]
    Failed(String),
}

/// Applies the pending central migrations, each in its own transaction with
/// its checksum row, under an advisory lock so two instances started together
/// do not race. Refuses a database ahead of this binary and an edited
/// migration (refinery's divergent and missing checks). Connects as [`pool`]
/// does: TLS verified against `ca_file`, or plain to loopback only. Returns
/// the versions applied now.
pub async fn migrate(url: &str, ca_file: Option<&Path>) -> Result<Vec<i32>, MigrateError> {
    let (config, transport) = transport(url, ca_file)?;
    let target = describe_target(&config);
    tracing::info!(target = %target, "connecting to PostgreSQL to migrate");
    let connected = match transport {
        Transport::Plain => config.connect(NoTls).await.map(|(client, connection)| (client, tokio::spawn(connection))),
        Transport::Verified(tls) => {
            config.connect(tls).await.map(|(client, connection)| (client, tokio::spawn(connection)))
        }
    };
    let (mut client, task) = connected.map_err(|e| MigrateError::Connect {
        target: target.clone(),
        reason: describe(&e),
        hint: tls_hint(&e).unwrap_or("Is PostgreSQL running, and is WARDBOOK_DATABASE_URL right?"),
    })?;
    let result = migrate_locked(&mut client).await;
    drop(client);
    let _ = task.await;
    result
}

async fn migrate_locked(client: &mut tokio_postgres::Client) -> Result<Vec<i32>, MigrateError> {
    const LOCK: i64 = 0x5761_7264_626f_6f6b; // "Wardbook"
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK]).await.map_err(|e| MigrateError::Failed(describe(&e)))?;
    let binary = expected_migration_version();
    let applied = applied_version(client).await.map_err(|e| MigrateError::Failed(describe(&e)))?;
    let outcome = if applied.is_some_and(|v| v > binary) {
        Err(MigrateError::DatabaseNewer { database: applied.unwrap_or(0), binary })
    } else {
        embedded::migrations::runner()
            .run_async(client)
            .await
            .map(|report| report.applied_migrations().iter().map(|m| m.version()).collect())
            .map_err(|e| MigrateError::Failed(e.to_string()))
    };
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK]).await;
    outcome
}

/// Applies the migrations up to `version` only: the database as an older
/// binary left it, for tests of the migration that follows.
pub async fn migrate_until(client: &mut tokio_postgres::Client, version: i32) -> Result<(), MigrateError> {
    embedded::migrations::runner()
        .set_target(refinery::Target::Version(version))
        .run_async(client)
        .await
        .map(|_| ())
        .map_err(|e| MigrateError::Failed(e.to_string()))
}

/// The highest applied migration, or `None` on a database never migrated.
pub async fn applied_version(client: &tokio_postgres::Client) -> Result<Option<i32>, tokio_postgres::Error> {
    let exists: bool = client.query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[]).await?.get(0);
    if !exists {
        return Ok(None);
    }
    client.query_one("SELECT max(version) FROM refinery_schema_history", &[]).await.map(|r| r.get(0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;

    fn plain(url: &str) -> bool {
        matches!(transport(url, None), Ok((_, Transport::Plain)))
    }

    #[test]
    fn plain_is_allowed_to_loopback_and_unix_sockets_only() {
        for url in [
            "postgres://u@127.0.0.1/w",
            "postgres://u@127.8.9.10:5433/w",
            "postgres://u@[::1]:5432/w",
            "postgres://u@localhost/w",
            "postgres://u@LOCALHOST./w",
            "postgres://u@%2Frun%2Fpostgresql/w",
            "host=/run/postgresql user=u dbname=w",
            "postgres://u@localhost,127.0.0.1/w",
            // The bytes go to hostaddr; the name would only be verified by TLS.
            "postgres://u@db.example/w?hostaddr=127.0.0.1",
        ] {
            assert!(plain(url), "{url} stays on this machine");
        }
        for url in [
            "postgres://u@db.example/w",
            "postgres://u@10.0.0.5/w",
            "postgres://u@[2001:db8::1]/w",
            "postgres://u@localhost.example/w",
            "postgres://u@localhost,db.example/w",
            "postgres://u@localhost/w?hostaddr=10.0.0.5",
            // TLS asked for, with nothing to verify the certificate against.
            "postgres://u@localhost/w?sslmode=require",
        ] {
            assert!(matches!(transport(url, None), Err(DbSetupError::CaFileRequired)), "{url} is refused");
        }
    }

    #[test]
    fn the_pool_refuses_a_remote_host_without_a_ca_file_and_says_what_to_do() {
        let Err(e) = pool("postgres://wb_app:secret-password@db.example/w", None, 1) else {
            panic!("a remote host without a CA file must be refused")
        };
        assert!(matches!(e, DbSetupError::CaFileRequired), "{e:?}");
        let message = e.to_string();
        assert!(
            message.contains("Set WARDBOOK_DATABASE_CA_FILE to the CA that signed PostgreSQL's certificate"),
            "{message}"
        );
        assert!(!message.contains("secret-password") && !format!("{e:?}").contains("secret-password"), "{message}");
    }

    #[test]
    fn a_ca_file_forces_tls_whatever_the_url_says() {
        let ca = rcgen::generate_simple_self_signed(vec!["db.example".to_owned()]).unwrap();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(ca.cert.pem().as_bytes()).unwrap();
        for url in
            ["postgres://u@db.example/w", "postgres://u@db.example/w?sslmode=disable", "postgres://u@localhost/w"]
        {
            let (config, transport) = transport(url, Some(file.path())).unwrap();
            assert_eq!(config.get_ssl_mode(), SslMode::Require, "{url}");
            assert!(matches!(transport, Transport::Verified(_)), "{url}");
        }
        assert!(matches!(
            transport("postgres://u@%2Frun%2Fpostgresql/w", Some(file.path())),
            Err(DbSetupError::CaFileWithSocket)
        ));
    }

    #[test]
    fn a_ca_file_that_is_missing_or_holds_no_certificate_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let url = "postgres://u@db.example/w";

        let missing = dir.path().join("missing-ca.pem");
        let e = transport(url, Some(&missing)).err().unwrap();
        assert!(matches!(e, DbSetupError::CaFileUnreadable { .. }), "{e:?}");
        assert!(e.to_string().contains("missing-ca.pem"), "{e}");

        let empty = dir.path().join("empty-ca.pem");
        std::fs::write(&empty, "").unwrap();
        let e = transport(url, Some(&empty)).err().unwrap();
        assert!(matches!(e, DbSetupError::CaFileInvalid { .. }), "{e:?}");
        assert!(e.to_string().contains("empty-ca.pem") && e.to_string().contains("no certificate"), "{e}");

        // A key is not a certificate.
        let key_only = dir.path().join("key-only.pem");
        std::fs::write(&key_only, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let e = transport(url, Some(&key_only)).err().unwrap();
        assert!(e.to_string().contains("key-only.pem") && e.to_string().contains("no certificate"), "{e}");
    }
}
