//! `wardbook-server`: the central sync service in front of the hospital's
//! PostgreSQL primary (DESIGN.md sections 2, 6 to 9).
//!
//! The HTTP layer (`routes`) only adapts: it authenticates, parses, and calls
//! the plain functions of the domain modules (`enrolment`, `feed`, `push`,
//! `audit`, `health`, `admin`, `break_glass`), which take a database client and are what
//! the admin CLI and the tests call too. The clinical rows themselves (their
//! SQL, their decoding, the scope check) are `records`, which `feed`, `push`,
//! `break_glass`, `admin` and `routes` share; it depends on none of them.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod break_glass;
pub mod compliance;
pub mod config;
pub mod db;
pub mod enrolment;
pub mod error;
pub mod extract;
pub mod feed;
pub mod fhir;
pub mod health;
pub mod high_alert;
pub mod hl7;
pub mod identity;
pub mod ingest;
pub mod interfaces;
pub mod keys;
pub mod logging;
pub mod openapi;
pub mod privacy;
pub mod push;
mod records;
pub mod replicas;
pub mod routes;
pub mod serve;
pub mod sessions;

use std::sync::Arc;

use wardbook_protocol::Environment;

pub use config::Settings;
pub use error::{Error, Result};
pub use routes::{ApiDoc, app};

/// What every request handler shares. Cheap to clone behind an `Arc`.
#[derive(Debug)]
pub struct AppState {
    pub pool: db::Pool,
    /// `host:port` of PostgreSQL, for hints and logs.
    pub db_target: String,
    pub settings: Settings,
    /// The key-encryption key and the database's data keys.
    pub keys: Arc<keys::Keyring>,
    /// The hospital's identity providers (`identity`).
    pub providers: identity::Providers,
    /// The streaming replicas pulls read from (`replicas`), if any.
    pub replicas: replicas::Replicas,
}

impl AppState {
    pub fn new(settings: Settings) -> std::result::Result<Arc<AppState>, db::DbSetupError> {
        let (pool, db_target) =
            db::pool(&settings.database_url, settings.database_ca_file.as_deref(), settings.policy.pool_size)?;
        let keys = Arc::new(keys::Keyring::new(
            settings.kek_file.as_deref(),
            settings.environment,
            pool.clone(),
            db_target.clone(),
        ));
        let providers = identity::Providers::new(&settings.identity_providers);
        let replicas = replicas::Replicas::new(
            &settings.database_replica_urls,
            settings.database_ca_file.as_deref(),
            settings.policy.pool_size,
            std::time::Duration::from_secs(u64::from(settings.policy.replica_max_lag_seconds)),
        )?;
        Ok(Arc::new(AppState { pool, db_target, settings, keys, providers, replicas }))
    }

    /// A pooled connection, or 503 with a hint when PostgreSQL is unreachable.
    pub async fn db(&self) -> Result<db::Client> {
        self.pool.get().await.map_err(|e| match e {
            // PostgreSQL is fine: every pooled connection is in use.
            deadpool::managed::PoolError::Timeout(deadpool::managed::TimeoutType::Wait) => {
                let status = self.pool.status();
                tracing::warn!(size = status.size, waiting = status.waiting, "every database connection is busy: a request waited too long for one");
                Error::Unavailable {
                    hint: "The service is busy: every database connection is in use. Retry shortly; if this lasts, raise the policy's pool_size or add a service instance.".to_owned(),
                }
            }
            e => {
                tracing::warn!(target = %self.db_target, error = %e, "no database connection for a request");
                Error::unavailable(&self.db_target)
            }
        })
    }

    pub fn environment(&self) -> Environment {
        self.settings.environment
    }
}
