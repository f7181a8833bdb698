//! openraft's `RaftNetwork` over TCP between controller listeners, and the listener side.
//!
//! One connection per peer, one request at a time (openraft awaits each call). Every call runs
//! under openraft's hard TTL, connecting under a shorter timeout, so a dead peer costs a
//! timeout and a reconnect, never a hung call. A failed call drops the connection.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::TypeConfig;
use crate::config::NodeId;
use crate::quorum::{CommandOutcome, ProposeError};
use crate::records::Command;
use crate::transport::{read_frame, write_frame};

#[derive(Debug, Serialize, Deserialize)]
pub enum WireRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A proposal forwarded by a follower to the leader.
    Propose(Command),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum WireResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    Propose(Result<CommandOutcome, ProposeError>),
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// When each peer last answered an append (DescribeQuorum's last fetch time).
#[derive(Debug, Default)]
pub struct PeerTimes {
    pub last_fetch_ms: Mutex<BTreeMap<NodeId, u64>>,
    pub last_caught_up_ms: Mutex<BTreeMap<NodeId, u64>>,
}

#[derive(Debug)]
pub enum CallError {
    Connect(io::Error),
    Io(io::Error),
    Timeout(Duration),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connect(e) => write!(f, "connect: {e}"),
            CallError::Io(e) => write!(f, "{e}"),
            CallError::Timeout(t) => write!(f, "no answer within {} ms", t.as_millis()),
        }
    }
}

impl std::error::Error for CallError {}

/// A connection to one peer, opened on first use and after any failure.
pub struct PeerClient {
    target: NodeId,
    address: String,
    connect_timeout: Duration,
    conn: Option<TcpStream>,
    times: Arc<PeerTimes>,
}

impl PeerClient {
    pub fn new(
        target: NodeId,
        address: String,
        connect_timeout: Duration,
        times: Arc<PeerTimes>,
    ) -> Self {
        PeerClient {
            target,
            address,
            connect_timeout,
            conn: None,
            times,
        }
    }

    pub async fn call(
        &mut self,
        request: &WireRequest,
        ttl: Duration,
    ) -> Result<WireResponse, CallError> {
        // The connection is taken out for the call and put back only after a whole answer: a
        // call dropped half-way (openraft's own timeout) must not leave a stale answer behind.
        let mut conn = self.conn.take();
        let result = match tokio::time::timeout(
            ttl,
            Self::exchange(&mut conn, &self.address, self.connect_timeout, request),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout(ttl)),
        };
        if result.is_ok() {
            self.conn = conn;
        }
        result
    }

    async fn exchange(
        conn: &mut Option<TcpStream>,
        address: &str,
        connect_timeout: Duration,
        request: &WireRequest,
    ) -> Result<WireResponse, CallError> {
        if conn.is_none() {
            let connect = TcpStream::connect(address);
            let stream = match tokio::time::timeout(connect_timeout, connect).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return Err(CallError::Connect(e)),
                Err(_) => {
                    return Err(CallError::Connect(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connect timed out",
                    )))
                }
            };
            stream.set_nodelay(true).map_err(CallError::Connect)?;
            *conn = Some(stream);
        }
        let stream = conn.as_mut().expect("connected");
        let bytes = serde_json::to_vec(request).map_err(|e| CallError::Io(io::Error::other(e)))?;
        write_frame(stream, &bytes).await.map_err(CallError::Io)?;
        let frame = read_frame(stream)
            .await
            .map_err(CallError::Io)?
            .ok_or_else(|| {
                CallError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed the connection",
                ))
            })?;
        serde_json::from_slice(&frame)
            .map_err(|e| CallError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
    }

    fn rpc_error<E: std::error::Error>(&self, e: CallError) -> RPCError<NodeId, BasicNode, E> {
        match e {
            // A peer that does not answer is backed off (openraft retries after its backoff).
            CallError::Connect(_) | CallError::Timeout(_) => {
                RPCError::Unreachable(Unreachable::new(&e))
            }
            CallError::Io(_) => RPCError::Network(NetworkError::new(&e)),
        }
    }

    fn unexpected<E: std::error::Error>(&self) -> RPCError<NodeId, BasicNode, E> {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected response from node {}", self.target),
        );
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let response = self
            .call(&WireRequest::AppendEntries(rpc), option.soft_ttl())
            .await;
        match response.map_err(|e| self.rpc_error(e))? {
            WireResponse::AppendEntries(result) => {
                self.times
                    .last_fetch_ms
                    .lock()
                    .insert(self.target, now_ms());
                result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(self.unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let response = self
            .call(&WireRequest::InstallSnapshot(rpc), option.soft_ttl())
            .await;
        match response.map_err(|e| self.rpc_error(e))? {
            WireResponse::InstallSnapshot(result) => {
                result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(self.unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let response = self.call(&WireRequest::Vote(rpc), option.soft_ttl()).await;
        match response.map_err(|e| self.rpc_error(e))? {
            WireResponse::Vote(result) => {
                result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(self.unexpected()),
        }
    }
}

/// Makes clients; peer addresses come from this node's `controller.quorum.voters`.
pub struct NetworkFactory {
    pub voters: BTreeMap<NodeId, String>,
    pub connect_timeout: Duration,
    pub times: Arc<PeerTimes>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        let address = self
            .voters
            .get(&target)
            .cloned()
            .unwrap_or_else(|| node.addr.clone());
        PeerClient::new(target, address, self.connect_timeout, self.times.clone())
    }
}

/// Serves peers until the task is aborted (dropping the set aborts every connection task).
pub async fn serve(listener: TcpListener, raft: Raft<TypeConfig>, propose_timeout: Duration) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, raft.clone(), propose_timeout));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "controller listener accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await; // back off a failing accept (EMFILE)
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    raft: Raft<TypeConfig>,
    propose_timeout: Duration,
) {
    loop {
        let frame = match read_frame(&mut stream).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "controller connection closed");
                return;
            }
        };
        let request: WireRequest = match serde_json::from_slice(&frame) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(error = %e, "undecodable controller request; closing the connection");
                return;
            }
        };
        let response = match request {
            WireRequest::AppendEntries(rpc) => {
                WireResponse::AppendEntries(raft.append_entries(rpc).await)
            }
            WireRequest::Vote(rpc) => WireResponse::Vote(raft.vote(rpc).await),
            WireRequest::InstallSnapshot(rpc) => {
                WireResponse::InstallSnapshot(raft.install_snapshot(rpc).await)
            }
            WireRequest::Propose(command) => {
                WireResponse::Propose(super::propose_local(&raft, command, propose_timeout).await)
            }
        };
        let bytes = match serde_json::to_vec(&response) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a controller response");
                return;
            }
        };
        if write_frame(&mut stream, &bytes).await.is_err() {
            return;
        }
    }
}
