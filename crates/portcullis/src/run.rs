//! Starting a gateway: build the state, bind the listeners, serve.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::gateway::{Gateway, StartError};
use crate::server;

/// A gateway that is serving.
pub struct Running {
    pub gateway: Arc<Gateway>,
    /// Address of the plain-HTTP listener, if any.
    pub http_addr: Option<SocketAddr>,
    /// Address of the TLS listener, if any.
    pub https_addr: Option<SocketAddr>,
    /// Address of the separate admin API listener, if configured.
    pub admin_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Waits until a listener fails.
    pub async fn wait(mut self) -> std::io::Result<()> {
        if self.tasks.is_empty() {
            return Ok(());
        }
        let (first, _, rest) = futures_util::future::select_all(self.tasks.drain(..)).await;
        for t in rest {
            t.abort();
        }
        first.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Builds the gateway and binds the configured listeners.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let plain = match config.server.listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|e| StartError::Other(format!("cannot listen on {addr}: {e}")))?,
        ),
        None => None,
    };
    start_on(config, plain).await
}

/// Like [`start`], serving plain HTTP on an already bound listener (tests bind port 0 first so
/// that the team URL can name the port).
pub async fn start_on(config: Config, plain: Option<TcpListener>) -> Result<Running, StartError> {
    let tls = match &config.server.tls {
        Some(t) => {
            let acceptor = server::tls_acceptor(&t.cert, &t.key).map_err(StartError::Other)?;
            let listener = TcpListener::bind(t.listen)
                .await
                .map_err(|e| StartError::Other(format!("cannot listen on {}: {e}", t.listen)))?;
            Some((listener, acceptor))
        }
        None => None,
    };
    let admin = match config.server.admin_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|e| StartError::Other(format!("cannot listen on {addr}: {e}")))?,
        ),
        None => None,
    };
    let gateway = Gateway::build(config).await?;
    gateway.spawn_background();
    let mut tasks = Vec::new();
    let http_addr = match plain {
        Some(l) => {
            let addr = l.local_addr().ok();
            tasks.push(tokio::spawn(server::serve(
                gateway.clone(),
                l,
                None,
                server::Role::Public,
            )));
            addr
        }
        None => None,
    };
    let https_addr = match tls {
        Some((l, acceptor)) => {
            let addr = l.local_addr().ok();
            tasks.push(tokio::spawn(server::serve(
                gateway.clone(),
                l,
                Some(acceptor),
                server::Role::Public,
            )));
            addr
        }
        None => None,
    };
    let admin_addr = match admin {
        Some(l) => {
            let addr = l.local_addr().ok();
            tasks.push(tokio::spawn(server::serve(
                gateway.clone(),
                l,
                None,
                server::Role::Admin,
            )));
            addr
        }
        None => None,
    };
    tracing::info!(
        team_url = %gateway.server.team_url,
        http = ?http_addr,
        https = ?https_addr,
        admin_api = ?admin_addr,
        "portcullis is serving"
    );
    Ok(Running {
        gateway,
        http_addr,
        https_addr,
        admin_addr,
        tasks,
    })
}
