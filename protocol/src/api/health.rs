//! `GET /v1/health`: the service's own health and its database's, for load
//! balancers, monitoring and `wardbook-server health`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum HealthStatus {
    Ok,
    /// Serving, with a critical finding.
    Critical,
    /// Not serving: the database is unreachable.
    Unavailable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum DatabaseRole {
    Primary,
    Replica,
}

/// A streaming replica connected to the primary (`pg_stat_replication`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ReplicaStatus {
    pub application_name: String,
    pub client_addr: Option<String>,
    pub state: String,
    /// WAL bytes the replica has yet to replay.
    #[ts(type = "number | null")]
    pub replay_lag_bytes: Option<i64>,
    /// PostgreSQL's replay lag; `null` once an idle replica has caught up.
    pub replay_lag_seconds: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct DatabaseHealth {
    pub reachable: bool,
    /// The highest central migration applied.
    pub migration_version: Option<i32>,
    /// The highest migration this binary knows.
    pub expected_migration_version: i32,
    pub role: Option<DatabaseRole>,
    pub replicas: Vec<ReplicaStatus>,
    /// Whether this service's connection to PostgreSQL is TLS-encrypted
    /// (`pg_stat_ssl`); `null` when the database is unreachable.
    #[serde(default)]
    pub connection_encrypted: Option<bool>,
    /// Rows of identifiers under each data key and in clear text; `null`
    /// when the database is unreachable.
    #[serde(default)]
    pub encryption: Option<EncryptionStatus>,
    /// The oldest open write transaction on the cluster: the change feed's
    /// horizon (every workstation's pull) waits for it to end. `null` when
    /// none is open or the database is unreachable.
    #[serde(default)]
    pub feed_horizon: Option<FeedHorizon>,
    /// Where the change feed's pulls are read: the configured streaming
    /// replicas (`WARDBOOK_DATABASE_REPLICA_URLS`) fit to serve, or the primary.
    #[serde(default)]
    pub reads: ReadRouting,
}

/// Where reads go, and what the service found of each configured replica.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ReadRouting {
    /// `replicas` while at least one replica is in use; `primary` otherwise
    /// (none configured, or none fit to serve).
    pub pulls_to: ReadTarget,
    /// The lag past which a replica is not read from, in seconds.
    pub max_lag_seconds: f64,
    pub replicas: Vec<ReplicaReads>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ReadTarget {
    #[default]
    Primary,
    Replicas,
}

/// A configured replica as this service instance sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ReplicaReads {
    /// `host:port`, never the URL's password.
    pub target: String,
    pub state: ReplicaReadState,
    /// How far behind the primary it was at the last check, in seconds.
    pub lag_seconds: Option<f64>,
    /// Why it is not in use, when it is not: never a secret.
    pub problem: Option<String>,
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Pull pages it answered since this instance started.
    #[ts(type = "number")]
    pub pulls_served: u64,
    /// Pull pages sent to the primary instead (it was behind the cursor, or failed).
    #[ts(type = "number")]
    pub fallbacks: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ReplicaReadState {
    /// Not checked yet: not read from.
    Unchecked,
    /// Answering, a standby, within the lag limit: reads go to it.
    InUse,
    /// Further behind the primary than the limit.
    Lagging,
    /// Not answering.
    Down,
    /// Answering but not in recovery (promoted, or not a replica): never read from.
    NotAStandby,
}

/// What holds the change feed's horizon back: one transaction, named by
/// its process, application and state; never its query text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct FeedHorizon {
    /// How long it has been open, in seconds: how far behind every feed can be.
    pub held_back_seconds: f64,
    /// The backend's process id (`pg_stat_activity.pid`); none for a prepared transaction.
    pub pid: Option<i32>,
    /// Its application name (the `wardbook-server` service sets its own), or the prepared transaction's gid.
    pub application_name: String,
    /// `active`, `idle in transaction`, or `prepared`.
    pub state: String,
}

/// The envelope encryption of identifiers: which data key is current and
/// how many rows each key (or none: clear text) seals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct EncryptionStatus {
    /// The data key that seals new values.
    pub current_key_id: Option<i32>,
    /// Rows per data key, over every encrypted table.
    pub keys: Vec<KeyRows>,
    /// Rows still in clear text (a database from before encryption, being converted).
    #[ts(type = "number")]
    pub clear_rows: i64,
    /// Rows not yet under the current key (clear ones included): 0 when no
    /// rotation or conversion is in progress.
    #[ts(type = "number")]
    pub pending_rows: i64,
    /// Whether the key-encryption key is a throwaway one (never in production).
    pub throwaway_kek: bool,
}

/// One data key and how many rows it seals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct KeyRows {
    pub key_id: i32,
    /// current, active (still sealing rows) or retired (no row uses it; destroyed).
    pub state: String,
    #[ts(type = "number")]
    pub rows: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Severity {
    Warning,
    Critical,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct HealthFinding {
    pub severity: Severity,
    pub code: String,
    pub message: String,
}

/// `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Health {
    pub status: HealthStatus,
    pub version: String,
    pub environment: String,
    pub database: DatabaseHealth,
    pub findings: Vec<HealthFinding>,
    /// When the database is unreachable: what to check.
    pub hint: Option<String>,
    /// Each configured identity provider: can the service reach it (the
    /// discovery document and keys; the directory and its service bind)?
    #[serde(default)]
    pub identity_providers: Vec<ProviderHealth>,
}

/// One identity provider's reachability, checked at most once a minute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ProviderHealth {
    pub id: String,
    pub name: String,
    pub kind: super::ProviderKind,
    pub reachable: bool,
    /// Why not, when not: the host and the failure, never a secret.
    #[ts(optional)]
    pub problem: Option<String>,
    pub checked_at: chrono::DateTime<chrono::Utc>,
}
