//! TLS from the service to PostgreSQL against a real cluster started with
//! `ssl = on` and a certificate from a test CA (rcgen): the right CA file
//! connects, encrypted, and health says so; a certificate from another CA,
//! or one naming another host, is refused as a certificate failure, in the
//! log too; a server without TLS is refused rather than used in plain.
//! Synthetic data only (none at all, in fact).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tempfile::NamedTempFile;
use wardbook_protocol::Environment;
use wardbook_protocol::api::Severity;
use wardbook_server::config::Settings;
use wardbook_server::db::{self, MigrateError};
use wardbook_server::{AppState, health};
use wardbook_test_support::PgCluster;

/// A test CA: its certificate (PEM, what `WARDBOOK_DATABASE_CA_FILE` holds)
/// and the issuer that signs server certificates.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        TestCa { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// A server certificate for `names` (host names or IP addresses) and its key, both PEM.
    fn server_certificate(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = CertificateParams::new(names).unwrap().signed_by(&key, &*self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// The CA certificate in a file, as an operator would configure it.
    fn file(&self) -> NamedTempFile {
        let mut file = NamedTempFile::new().unwrap();
        file.write_all(self.issuer.pem().as_bytes()).unwrap();
        file
    }
}

/// A cluster with `ssl = on` whose certificate, from `ca`, names `localhost`
/// and `127.0.0.1` (where it listens), and a fresh database on it.
fn tls_cluster(ca: &TestCa) -> (PgCluster, String) {
    let (cert, key) = ca.server_certificate(&["localhost", "127.0.0.1"]);
    let cluster = PgCluster::start_with_ssl(&cert, &key).expect("a PostgreSQL cluster with ssl = on");
    let database = cluster.create_database().unwrap();
    (cluster, database)
}

fn settings(url: String, ca_file: Option<&Path>, environment: Environment) -> Settings {
    let mut settings = Settings::for_tests(url);
    settings.database_ca_file = ca_file.map(Path::to_owned);
    settings.environment = environment;
    settings
}

/// What the service logs on this thread while the guard lives (a
/// current-thread runtime keeps the pool's connection attempts on it).
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

thread_local! {
    static CAPTURE: RefCell<Option<CapturedLog>> = const { RefCell::new(None) };
}

/// Writes an event to this thread's capture, if one is open; drops it otherwise.
struct ThisThread;

impl Write for ThisThread {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with_borrow(|capture| {
            if let Some(log) = capture {
                log.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One process-wide subscriber, installed before any test of this binary
/// logs anything. A scoped subscriber (`set_default`) raced with callsites
/// first hit on other tests' threads: a callsite registered while no
/// subscriber wanted it kept "never" as its cached interest, and the warning
/// this test reads was filtered out before it was seen (a CI run did that).
fn install_log() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThisThread)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
    });
}

/// Closes this thread's capture when dropped.
struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with_borrow_mut(|capture| *capture = None);
    }
}

fn capture_log() -> (CapturedLog, CaptureGuard) {
    install_log();
    let log = CapturedLog::default();
    CAPTURE.with_borrow_mut(|capture| *capture = Some(log.clone()));
    (log, CaptureGuard)
}

/// The error of a first connection through a new pool (there must be one).
async fn pool_failure(url: &str, ca_file: &Path) -> tokio_postgres::Error {
    let (pool, _) = db::pool(url, Some(ca_file), 1).expect("the pool is built; connecting is what fails");
    match pool.get().await {
        Err(deadpool::managed::PoolError::Backend(e)) => e,
        Err(other) => panic!("expected a connection failure from PostgreSQL, got {other}"),
        Ok(_) => panic!("the connection must be refused"),
    }
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused_as_a_certificate_failure() {
    install_log();
    let (ca, stranger) = (TestCa::new("Synthetic Hospital CA"), TestCa::new("Synthetic Stranger CA"));
    let (cluster, database) = tls_cluster(&ca);
    let url = cluster.url(&database);
    let wrong_ca = stranger.file();

    let (log, _guard) = capture_log();
    let e = pool_failure(&url, wrong_ca.path()).await;
    let described = db::describe(&e);
    assert!(described.contains("certificate was refused"), "{described}");
    assert!(described.contains("UnknownIssuer"), "{described}");
    let hint = db::tls_hint(&e).expect("a hint for a TLS failure");
    assert!(hint.contains("WARDBOOK_DATABASE_CA_FILE"), "{hint}");
    let logged = log.text();
    assert!(
        logged.contains("connection to PostgreSQL failed") && logged.contains("certificate was refused"),
        "the log must say why: {logged}"
    );

    match db::migrate(&url, Some(wrong_ca.path())).await {
        Err(e @ MigrateError::Connect { .. }) => {
            let message = e.to_string();
            assert!(message.contains("certificate was refused"), "{message}");
            assert!(message.contains("WARDBOOK_DATABASE_CA_FILE"), "{message}");
        }
        other => panic!("migrate must refuse the certificate, got {other:?}"),
    }
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused_even_from_the_right_ca() {
    install_log();
    let ca = TestCa::new("Synthetic Hospital CA");
    let (cluster, database) = tls_cluster(&ca);
    let ca_file = ca.file();
    // The bytes go to the cluster (hostaddr), but the name to verify is
    // db.invalid, which the certificate does not name: verify-full, not verify-ca.
    let url = format!("postgres://postgres@db.invalid:{}/{database}?hostaddr=127.0.0.1", cluster.port());

    let e = pool_failure(&url, ca_file.path()).await;
    let described = db::describe(&e);
    assert!(described.contains("certificate was refused"), "{described}");
    assert!(described.contains("db.invalid"), "names the host it expected: {described}");

    // The address itself, which the certificate names, connects.
    let url = cluster.url(&database);
    let (pool, _) = db::pool(&url, Some(ca_file.path()), 1).unwrap();
    let client = pool.get().await.expect("a connection verified against the right CA");
    assert!(db::connection_encrypted(&client).await.unwrap());
}

#[tokio::test]
async fn the_right_ca_connects_encrypted_and_health_reports_it() {
    install_log();
    let ca = TestCa::new("Synthetic Hospital CA");
    let (cluster, database) = tls_cluster(&ca);
    let url = cluster.url(&database);
    let ca_file = ca.file();

    let applied = db::migrate(&url, Some(ca_file.path())).await.expect("migrations over TLS");
    assert_eq!(applied.iter().max().copied(), Some(db::expected_migration_version()));

    let state = AppState::new(settings(url.clone(), Some(ca_file.path()), Environment::Production)).unwrap();
    let client = state.db().await.expect("a pooled connection over TLS");
    assert!(db::connection_encrypted(&client).await.unwrap(), "pg_stat_ssl says the connection is TLS");
    let version: String =
        client.query_one("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0);
    assert!(version.starts_with("TLSv1."), "{version}");
    drop(client);

    let report = health::check(&state).await;
    assert!(report.database.reachable, "{report:?}");
    assert_eq!(report.database.connection_encrypted, Some(true), "{report:?}");
    assert!(!report.findings.iter().any(|f| f.code == "database_plain"), "{report:?}");

    // The same server in plain, allowed on loopback without a CA file: health
    // says so, and production warns.
    let plain = AppState::new(settings(url.clone(), None, Environment::Production)).unwrap();
    let report = health::check(&plain).await;
    assert!(report.database.reachable, "{report:?}");
    assert_eq!(report.database.connection_encrypted, Some(false), "{report:?}");
    let finding = report.findings.iter().find(|f| f.code == "database_plain").expect("a database_plain finding");
    assert_eq!(finding.severity, Severity::Warning);
    let test_instance = AppState::new(settings(url, None, Environment::Test)).unwrap();
    let report = health::check(&test_instance).await;
    assert_eq!(report.database.connection_encrypted, Some(false), "{report:?}");
    assert!(!report.findings.iter().any(|f| f.code == "database_plain"), "only production warns: {report:?}");
}

#[tokio::test]
async fn a_server_without_tls_is_refused_not_used_in_plain() {
    install_log();
    let ca = TestCa::new("Synthetic Hospital CA");
    let ca_file = ca.file();
    let cluster = PgCluster::start().expect("a PostgreSQL cluster without ssl");
    let database = cluster.create_database().unwrap();
    // Even a URL that asks for no TLS: the CA file makes it required.
    let url = format!("{}?sslmode=disable", cluster.url(&database));

    let e = pool_failure(&url, ca_file.path()).await;
    let described = db::describe(&e);
    assert!(described.contains("TLS"), "{described}");
    let hint = db::tls_hint(&e).expect("a hint for a server without TLS");
    assert!(hint.contains("ssl = on"), "{hint}");

    match db::migrate(&url, Some(ca_file.path())).await {
        Err(e @ MigrateError::Connect { .. }) => assert!(e.to_string().contains("ssl = on"), "{e}"),
        other => panic!("migrate must refuse a server without TLS, got {other:?}"),
    }
}
