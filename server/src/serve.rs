//! Serving the router on a socket: TLS (rustls) from PEM files, or plain
//! HTTP on loopback outside production; graceful shutdown on SIGTERM/Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::{AppState, app};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Database(#[from] crate::db::DbSetupError),
    #[error(
        "Cannot read the TLS certificate or key ({0}). Check WARDBOOK_TLS_CERT and WARDBOOK_TLS_KEY point to PEM files this service can read."
    )]
    Tls(String),
    #[error("Cannot listen on {addr}: {reason}. Is another service using that port?")]
    Bind { addr: SocketAddr, reason: String },
    #[error("The server stopped: {0}")]
    Stopped(String),
    #[error(
        "Cannot use the CA certificates for outbound HL7 over TLS ({0}). Point ca_file in the configuration file at PEM certificates this service can read, or remove it to trust the system's roots."
    )]
    CaFile(String),
    #[error(transparent)]
    Keys(crate::keys::KeyError),
    #[error("{0} Fix [[identity_providers]] in the configuration file (see the IT guide, \"Hospital sign-in\").")]
    IdentityProvider(String),
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub handle: Handle<SocketAddr>,
    pub task: JoinHandle<std::io::Result<()>>,
    /// The HL7 v2 listener, when `mllp_listen` is set.
    pub mllp: Option<crate::hl7::mllp::Running>,
    /// Removes expired HL7 messages (the retention) every hour, and old
    /// sign-in attempt counts every minute.
    pub housekeeping: JoinHandle<()>,
    /// Sends queued outbound HL7 messages (RAS^O17) to the interfaces' receivers.
    pub outbound: crate::hl7::outbound::Running,
    /// Moves rows to the current data key (after a rotation, or from clear text).
    pub reencrypt: JoinHandle<()>,
    /// Disables directory users their LDAP directory no longer vouches for.
    pub directory_check: Option<JoinHandle<()>>,
    /// Checks the streaming replicas pulls read from, when any is configured.
    pub replica_monitor: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish (up to 10 s), and waits.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        if let Some(mllp) = self.mllp {
            mllp.stop();
        }
        self.housekeeping.abort();
        self.outbound.stop();
        self.reencrypt.abort();
        if let Some(check) = &self.directory_check {
            check.abort();
        }
        if let Some(monitor) = &self.replica_monitor {
            monitor.abort();
        }
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        self.task.await.map_err(|e| ServeError::Stopped(e.to_string()))?.map_err(|e| ServeError::Stopped(e.to_string()))
    }
}

/// Binds and starts serving; returns once the socket is listening.
pub async fn start(settings: Settings) -> Result<Running, ServeError> {
    settings.check_transport()?;
    let listen = settings.listen;
    let tls = match &settings.tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            Some(RustlsConfig::from_pem_file(cert, key).await.map_err(|e| ServeError::Tls(e.kind().to_string()))?)
        }
        None => None,
    };
    let retention_days = settings.policy.hl7_retention_days;
    let sender = outbound_sender(&settings)?;
    let state = AppState::new(settings)?;
    if let Some(why) = state.providers.misconfigured() {
        return Err(ServeError::IdentityProvider(why.to_owned()));
    }
    let settings = &state.settings;
    open_keys(&state).await?;
    let mllp_config = settings.mllp_listen.map(|listen| crate::hl7::mllp::Listener {
        listen,
        keys: state.keys.clone(),
        tls: if settings.mllp_plain() { None } else { tls.as_ref().map(|t| t.get_inner()) },
        max_message_bytes: settings.policy.mllp_max_message_bytes,
        read_timeout: Duration::from_secs(u64::from(settings.policy.mllp_read_timeout_seconds)),
        idle_timeout: Duration::from_secs(u64::from(settings.policy.mllp_idle_timeout_seconds)),
        max_connections: settings.policy.mllp_max_connections,
    });
    let mllp = match mllp_config {
        Some(config) => {
            let listen = config.listen;
            Some(
                crate::hl7::mllp::start(state.pool.clone(), config)
                    .await
                    .map_err(|e| ServeError::Bind { addr: listen, reason: e.to_string() })?,
            )
        }
        None => None,
    };
    let housekeeping = tokio::spawn(housekeeping(state.pool.clone(), retention_days));
    let outbound = crate::hl7::outbound::start(state.pool.clone(), state.keys.clone(), sender);
    let reencrypt = crate::keys::reencrypt::spawn(state.clone());
    let directory_check = crate::identity::check::spawn(state.clone());
    let replica_monitor = crate::replicas::spawn_monitor(state.clone());
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let handle = Handle::new();
    let task = match tls {
        Some(config) => {
            let server = axum_server::bind_rustls(listen, config).handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
        None => {
            let server = axum_server::bind(listen).handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
    };
    match handle.listening().await {
        Some(addr) => {
            tracing::info!(%addr, "listening");
            Ok(Running {
                addr,
                handle,
                task,
                mllp,
                housekeeping,
                outbound,
                reencrypt,
                directory_check,
                replica_monitor,
            })
        }
        None => {
            if let Some(mllp) = mllp {
                mllp.stop();
            }
            housekeeping.abort();
            outbound.stop();
            reencrypt.abort();
            if let Some(check) = directory_check {
                check.abort();
            }
            if let Some(monitor) = replica_monitor {
                monitor.abort();
            }
            let reason = match task.await {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(())) => "stopped at once".to_owned(),
                Err(e) => e.to_string(),
            };
            Err(ServeError::Bind { addr: listen, reason })
        }
    }
}

/// The keys before anything is served: a missing, unreadable or wrong
/// key-encryption key, or a production database without keys, stops the
/// start (nothing is read or written). A database that is down only
/// delays loading to the first request, as every other query.
async fn open_keys(state: &AppState) -> Result<(), ServeError> {
    let kek = state.keys.kek().map_err(ServeError::Keys)?;
    if kek.is_throwaway() {
        tracing::warn!(file = %kek.path().display(), "no WARDBOOK_KEK_FILE: identifiers are sealed with a throwaway key (never in production)");
    }
    match state.keys.get().await {
        Ok(keys) => {
            tracing::info!(current_key = keys.current(), kek = %kek.fingerprint(), "encryption keys loaded");
            Ok(())
        }
        Err(crate::Error::Keys(e)) => Err(ServeError::Keys(e)),
        Err(e) => {
            tracing::warn!(error = %e, "the encryption keys will be loaded once the database is reachable");
            Ok(())
        }
    }
}

/// How queued outbound HL7 messages are sent: the policy's timeouts, and
/// the CA file's trust (else the system's) for receivers reached over TLS.
fn outbound_sender(settings: &Settings) -> Result<crate::hl7::outbound::Sender, ServeError> {
    let policy = &settings.policy;
    Ok(crate::hl7::outbound::Sender {
        poll: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(10),
        ack_timeout: Duration::from_secs(u64::from(policy.hl7_send_ack_timeout_seconds.max(1))),
        retry_min: Duration::from_secs(5),
        retry_max: Duration::from_secs(u64::from(policy.hl7_send_retry_max_seconds.max(5))),
        tls: crate::hl7::outbound::client_tls(settings.ca_file.as_deref()).map_err(ServeError::CaFile)?,
    })
}

/// Every hour: processed HL7 messages past their retention are removed.
/// Every minute: sign-in attempt counts no check reads any more.
async fn housekeeping(pool: crate::db::Pool, retention_days: u32) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    let mut minutely = tokio::time::interval(Duration::from_secs(60));
    minutely.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = hourly.tick() => {
                let Ok(db) = pool.get().await else { continue };
                match crate::hl7::messages::remove_expired(&db, retention_days).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, retention_days, "expired HL7 messages removed"),
                    Err(e) => tracing::warn!(error = %e, "expired HL7 messages could not be removed"),
                }
            }
            _ = minutely.tick() => {
                let Ok(db) = pool.get().await else { continue };
                if let Err(e) = crate::auth::remove_old_attempts(&db).await {
                    tracing::warn!(error = %e, "old sign-in attempt counts could not be removed");
                }
            }
        }
    }
}

/// Serves until SIGTERM or Ctrl-C.
pub async fn run(settings: Settings) -> Result<(), ServeError> {
    let running = start(settings).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
