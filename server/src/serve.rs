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
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub handle: Handle<SocketAddr>,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish (up to 10 s), and waits.
    pub async fn shutdown(self) -> Result<(), ServeError> {
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
    let state = AppState::new(settings)?;
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
            Ok(Running { addr, handle, task })
        }
        None => {
            let reason = match task.await {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(())) => "stopped at once".to_owned(),
                Err(e) => e.to_string(),
            };
            Err(ServeError::Bind { addr: listen, reason })
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
