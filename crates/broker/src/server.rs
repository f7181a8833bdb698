//! Starting and stopping a broker: bind the listener, accept connections (at most
//! `max.connections`, and `max.connections.per.ip` or its override per client address; one
//! over a limit is closed at accept, as Kafka does), run background work, and shut down
//! cleanly.

use crate::background;
use crate::config::BrokerConfig;
use crate::connection;
use crate::state::BrokerState;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// How long shutdown waits for connections to finish the request they are processing.
const SHUTDOWN_GRACE_MS: u64 = 10_000;

/// A running broker. Dropping it does not stop it; call [`BrokerHandle::shutdown`].
pub struct BrokerHandle {
    pub local_addr: SocketAddr,
    state: Arc<BrokerState>,
    shutdown_tx: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl BrokerHandle {
    /// `host:port` for clients' `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.local_addr.to_string()
    }

    pub fn state(&self) -> &Arc<BrokerState> {
        &self.state
    }

    /// Stops accepting, lets in-flight requests finish, flushes every log, returns when done.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        let _ = self.task.await;
    }

    /// Resolves when a shutdown has been requested and completed.
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// A sender that requests shutdown (for signal handlers).
    pub fn shutdown_sender(&self) -> watch::Sender<bool> {
        self.shutdown_tx.clone()
    }
}

/// Opens the data directories (recovering every partition), binds the listener and starts
/// serving. Call from within a tokio runtime.
pub async fn start(mut config: BrokerConfig) -> Result<BrokerHandle> {
    let listener =
        bind(&config).with_context(|| format!("binding listener {}", config.listener))?;
    let local_addr = listener.local_addr()?;
    if config.advertised_port == 0 {
        config.advertised_port = local_addr.port() as i32;
    }
    let state = tokio::task::spawn_blocking(move || BrokerState::open(config)).await??;
    let state = Arc::new(state);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tracing::info!(%local_addr, cluster_id = %state.cluster_id, node_id = state.config.node_id, "broker listening");
    let task = tokio::spawn(run(listener, state.clone(), shutdown_rx));
    Ok(BrokerHandle {
        local_addr,
        state,
        shutdown_tx,
        task,
    })
}

fn bind(config: &BrokerConfig) -> Result<TcpListener> {
    let addr = config.listener;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into())?)
}

async fn run(listener: TcpListener, state: Arc<BrokerState>, mut shutdown: watch::Receiver<bool>) {
    let background = tokio::spawn(background::run(state.clone(), shutdown.clone()));
    let coordinator = tokio::spawn(crate::coordinator::run(
        state.groups.clone(),
        shutdown.clone(),
    ));
    let connection_slots = Arc::new(Semaphore::new(state.config.max_connections));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = connection_slots.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, limit = state.config.max_connections, "max.connections reached; closing new connection");
                        continue;
                    };
                    let Some(admitted) = state.network.admit(peer.ip()) else {
                        tracing::info!(%peer, limit = state.config.network.max_connections_from(peer.ip()), "max.connections.per.ip reached; closing new connection");
                        continue;
                    };
                    if let Err(e) = tune(&stream, &state.config) {
                        tracing::debug!(%peer, error = %e, "could not set socket options");
                    }
                    let (state, shutdown) = (state.clone(), shutdown.clone());
                    connections.spawn(async move {
                        connection::serve(stream, peer, state, shutdown).await;
                        drop((slot, admitted));
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    tracing::info!(
        open_connections = connections.len(),
        "shutting down: finishing in-flight requests"
    );
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_millis(SHUTDOWN_GRACE_MS), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
    let _ = background.await;
    let _ = coordinator.await;
    let state2 = state.clone();
    let flushed = tokio::task::spawn_blocking(move || {
        for p in state2.topics.all_partitions() {
            if let Err(e) = p.with_log(|log| log.flush()) {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "flush on shutdown failed");
            }
        }
    })
    .await;
    if flushed.is_err() {
        tracing::error!("flush on shutdown panicked");
    }
    tracing::info!("broker stopped");
}

/// `socket.send.buffer.bytes` / `socket.receive.buffer.bytes` (-1 keeps the OS default), and
/// no Nagle delay: responses are whole frames written at once.
fn tune(stream: &TcpStream, config: &BrokerConfig) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let sock = socket2::SockRef::from(stream);
    if config.socket_send_buffer_bytes > 0 {
        sock.set_send_buffer_size(config.socket_send_buffer_bytes as usize)?;
    }
    if config.socket_receive_buffer_bytes > 0 {
        sock.set_recv_buffer_size(config.socket_receive_buffer_bytes as usize)?;
    }
    Ok(())
}
