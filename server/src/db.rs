//! The connection pool and the central schema's migrations.
//!
//! Every connection attempt is logged with its target (host:port, never the
//! password), as the hospital's guidelines ask, so an operator can see from
//! the log alone when and why the service lost its database.

use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleResult};
use deadpool_postgres::{ClientWrapper, ManagerConfig, RecyclingMethod};
use tokio_postgres::NoTls;

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
                tracing::warn!(target = %self.target, error = %describe(&e), "connection to PostgreSQL failed");
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
}

/// A pool whose connections fail fast (a few seconds), so a request answers
/// 503 with a hint instead of hanging while PostgreSQL is down.
pub fn pool(url: &str, size: usize) -> Result<(Pool, String), DbSetupError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|_| DbSetupError::BadUrl)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(3));
    }
    if config.get_application_name().is_none() {
        config.application_name("wardbook-server");
    }
    let target = describe_target(&config);
    let inner = deadpool_postgres::Manager::from_config(
        config,
        NoTls,
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
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
            // Connection-level errors (refused, timed out, TLS) carry no row data.
            let mut text = e.to_string();
            if let Some(source) = std::error::Error::source(e) {
                text = format!("{text}: {source}");
            }
            text
        }
    }
}

/// The highest migration this binary carries.
pub fn expected_migration_version() -> i32 {
    embedded::migrations::runner().get_migrations().iter().map(|m| m.version()).max().unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    #[error(
        "Cannot connect to PostgreSQL at {target}: {reason}. Is PostgreSQL running, and is WARDBOOK_DATABASE_URL right?"
    )]
    Connect { target: String, reason: String },
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
/// migration (refinery's divergent and missing checks). Returns the versions applied now.
pub async fn migrate(url: &str) -> Result<Vec<i32>, MigrateError> {
    let config: tokio_postgres::Config =
        url.parse().map_err(|_| MigrateError::Connect { target: "?".into(), reason: "invalid URL".into() })?;
    let target = describe_target(&config);
    tracing::info!(target = %target, "connecting to PostgreSQL to migrate");
    let (mut client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| MigrateError::Connect { target: target.clone(), reason: describe(&e) })?;
    let task = tokio::spawn(connection);
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

/// The highest applied migration, or `None` on a database never migrated.
pub async fn applied_version(client: &tokio_postgres::Client) -> Result<Option<i32>, tokio_postgres::Error> {
    let exists: bool = client.query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[]).await?.get(0);
    if !exists {
        return Ok(None);
    }
    client.query_one("SELECT max(version) FROM refinery_schema_history", &[]).await.map(|r| r.get(0))
}
