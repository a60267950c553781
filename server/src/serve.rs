//! Running the app on a socket: plain HTTP, or TLS with rustls when given a certificate
//! and key, with graceful shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;
use tokio::task::JoinHandle;

use crate::error::{Result, ServerError};

/// Loads a PEM certificate chain and private key for rustls.
pub async fn tls_config(cert: &Path, key: &Path) -> Result<RustlsConfig> {
    RustlsConfig::from_pem_chain_file(cert, key)
        .await
        .map_err(|e| {
            ServerError::Internal(format!(
                "TLS certificate {} / key {}: {e}",
                cert.display(),
                key.display()
            ))
        })
}

/// A server accepting connections in the background.
pub struct RunningServer {
    /// The bound address (useful when listening on port 0).
    pub addr: SocketAddr,
    pub tls: bool,
    handle: Handle<SocketAddr>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, lets open requests finish within `grace`, then waits for the end.
    pub async fn shutdown(self, grace: Duration) -> Result<()> {
        self.handle.graceful_shutdown(Some(grace));
        self.task.await??;
        Ok(())
    }
}

/// Binds `listen` and serves `app` on it, over TLS when `tls` is given.
pub async fn start(
    app: Router,
    listen: SocketAddr,
    tls: Option<RustlsConfig>,
) -> Result<RunningServer> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = Handle::new();
    // The peer address reaches handlers (the login throttle counts per client address).
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let is_tls = tls.is_some();
    let task = match tls {
        Some(config) => {
            let server = axum_server::from_tcp_rustls(listener, config)?.handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
        None => {
            let server = axum_server::from_tcp(listener)?.handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
    };
    Ok(RunningServer {
        addr,
        tls: is_tls,
        handle,
        task,
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
