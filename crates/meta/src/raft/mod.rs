//! Everything that knows openraft (pinned `=0.9.25`, standard one-leader-per-term mode): the
//! type config, the storage and network adapters, and [`RaftQuorum`], which implements the
//! openraft-free [`MetadataQuorum`] facade. An openraft upgrade touches this module only.

// openraft's trait signatures fix StorageError as the error type; boxing it here would only add
// conversions at every call.
#![allow(clippy::result_large_err)]

mod log_store;
mod network;
mod state_machine;

use std::collections::BTreeMap;
use std::io::{self, Cursor};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use log_store::LogStore;
pub use state_machine::StateMachine;

use crate::config::{MetaConfig, NodeId};
use crate::image::Image;
use crate::quorum::{CommandOutcome, MetadataQuorum, ProposeError, QuorumStatus, ReplicaStatus};
use crate::records::{Applied, Command};
use network::{
    now_ms, CallError, NetworkFactory, PeerClient, PeerTimes, WireRequest, WireResponse,
};

openraft::declare_raft_types!(
    /// openraft's types for the metadata quorum.
    pub TypeConfig:
        D = Command,
        R = CommandOutcome,
        NodeId = NodeId,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("metadata log in {dir}: {source}")]
    Storage { dir: String, source: io::Error },
    #[error("cannot listen on controller address {address}: {source}")]
    Bind { address: String, source: io::Error },
    #[error("node {0} is neither in controller.quorum.voters nor given a listener")]
    NoListener(NodeId),
    #[error("invalid quorum timing: {0}")]
    Timing(String),
    #[error("consensus engine failed to start: {0}")]
    Engine(String),
}

/// One node of the metadata quorum: openraft plus its controller listener.
pub struct RaftQuorum {
    node_id: NodeId,
    raft: Raft<TypeConfig>,
    config: MetaConfig,
    images: watch::Receiver<Arc<Image>>,
    times: Arc<PeerTimes>,
    local_address: std::net::SocketAddr,
    tasks: parking_lot::Mutex<Vec<JoinHandle<()>>>,
    log_store: LogStore,
    state_machine: StateMachine,
}

impl RaftQuorum {
    /// Opens the metadata log in `metadata.log.dir`, listens, and joins the quorum. A voter
    /// with an empty log initializes the membership from `controller.quorum.voters` (every
    /// voter does the same, which openraft allows).
    pub async fn start(config: MetaConfig) -> Result<RaftQuorum, StartError> {
        let storage_error = |source| StartError::Storage {
            dir: config.log_dir.display().to_string(),
            source,
        };
        let (log_store, recovery) =
            LogStore::open(&config.log_dir, config.segment_size_bytes).map_err(storage_error)?;
        if recovery.truncated_bytes > 0 {
            tracing::warn!(
                bytes = recovery.truncated_bytes,
                "metadata log: cut a torn tail at start-up"
            );
        }
        let (state_machine, images) = StateMachine::open(&config.log_dir).map_err(storage_error)?;
        let address = config
            .listen_address()
            .ok_or(StartError::NoListener(config.node_id))?
            .to_string();
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| StartError::Bind {
                address: address.clone(),
                source,
            })?;
        let local_address = listener
            .local_addr()
            .map_err(|source| StartError::Bind { address, source })?;

        let heartbeat_ms = (config.election_timeout_ms / 4).max(1);
        let raft_config = Config {
            cluster_name: "runnel-metadata".to_string(),
            election_timeout_min: config.election_timeout_ms,
            election_timeout_max: config.fetch_timeout_ms,
            heartbeat_interval: heartbeat_ms,
            install_snapshot_timeout: config.fetch_timeout_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_interval_entries),
            max_in_snapshot_log_to_keep: config.snapshot_interval_entries,
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::Timing(e.to_string()))?;
        let times = Arc::new(PeerTimes::default());
        let network = NetworkFactory {
            voters: config.voters.clone(),
            connect_timeout: Duration::from_millis(heartbeat_ms),
            times: times.clone(),
        };
        let (store_handle, machine_handle) = (log_store.clone(), state_machine.clone());
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            network,
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| StartError::Engine(e.to_string()))?;
        if config.voters.contains_key(&config.node_id)
            && !raft
                .is_initialized()
                .await
                .map_err(|e| StartError::Engine(e.to_string()))?
        {
            let members: BTreeMap<NodeId, BasicNode> = config
                .voters
                .iter()
                .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
                .collect();
            if let Err(e) = raft.initialize(members).await {
                // Another voter got there first and this node already heard from it: fine.
                tracing::info!(error = %e, "metadata quorum already initialized");
            }
        }
        let propose_timeout = Duration::from_millis(config.propose_timeout_ms);
        let tasks = parking_lot::Mutex::new(vec![
            tokio::spawn(network::serve(listener, raft.clone(), propose_timeout)),
            tokio::spawn(track_caught_up(raft.clone(), times.clone())),
        ]);
        Ok(RaftQuorum {
            node_id: config.node_id,
            raft,
            config,
            images,
            times,
            local_address,
            tasks,
            log_store: store_handle,
            state_machine: machine_handle,
        })
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The address the controller listener is bound to.
    pub fn local_address(&self) -> std::net::SocketAddr {
        self.local_address
    }

    /// Waits (on the engine's metrics, no polling) until `done` holds for the status.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&QuorumStatus) -> bool,
    ) -> Result<QuorumStatus, QuorumStatus> {
        let mut metrics = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.status();
            if done(&status) {
                return Ok(status);
            }
            match tokio::time::timeout_at(deadline, metrics.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(self.status()),
            }
        }
    }

    /// Stops the engine and the listener; connections to peers close.
    pub async fn shutdown(&self) {
        let tasks: Vec<_> = self.tasks.lock().drain(..).collect();
        for task in tasks {
            task.abort();
            // Awaited so the listener is closed (its port free) when this returns.
            let _ = task.await;
        }
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "metadata quorum shutdown");
        }
        // openraft may leave a snapshot build running; after these nothing writes here.
        self.log_store.close();
        self.state_machine.close();
    }

    fn peer_address(&self, leader: NodeId) -> Option<String> {
        self.config.voters.get(&leader).cloned().or_else(|| {
            let metrics = self.raft.metrics();
            let membership = metrics.borrow().membership_config.clone();
            membership
                .membership()
                .get_node(&leader)
                .map(|n| n.addr.clone())
        })
    }

    async fn forward(
        &self,
        leader: NodeId,
        command: &Command,
        timeout: Duration,
    ) -> Result<CommandOutcome, ProposeError> {
        let address = self.peer_address(leader).ok_or(ProposeError::NotLeader {
            leader: Some(leader),
        })?;
        let mut client = PeerClient::new(leader, address, timeout / 2, self.times.clone());
        match client
            .call(&WireRequest::Propose(command.clone()), timeout)
            .await
        {
            Ok(WireResponse::Propose(result)) => result,
            Ok(_) => Err(ProposeError::Refused(format!(
                "unexpected answer from node {leader}"
            ))),
            // Never sent: safe to retry once the leader is known again.
            Err(CallError::Connect(_)) => Err(ProposeError::NotLeader {
                leader: Some(leader),
            }),
            // Sent, answer lost: retrying could apply it twice, so the caller decides.
            Err(e) => Err(ProposeError::Indeterminate(format!(
                "forwarded to node {leader}: {e}"
            ))),
        }
    }
}

impl Drop for RaftQuorum {
    fn drop(&mut self) {
        for task in self.tasks.lock().iter() {
            task.abort();
        }
        self.log_store.close();
        self.state_machine.close();
    }
}

/// Proposes on this node's engine; a follower answers NotLeader with the leader it knows.
async fn propose_local(
    raft: &Raft<TypeConfig>,
    command: Command,
    timeout: Duration,
) -> Result<CommandOutcome, ProposeError> {
    match tokio::time::timeout(timeout, raft.client_write(command)).await {
        Err(_) => Err(ProposeError::Timeout {
            timeout_ms: timeout.as_millis() as u64,
        }),
        Ok(Ok(response)) => Ok(response.data),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            Err(ProposeError::NotLeader {
                leader: f.leader_id,
            })
        }
        Ok(Err(RaftError::APIError(e))) => Err(ProposeError::Refused(e.to_string())),
        Ok(Err(RaftError::Fatal(e))) => Err(ProposeError::Stopped(e.to_string())),
    }
}

/// Records when each follower's matched log reaches the leader's log end.
async fn track_caught_up(raft: Raft<TypeConfig>, times: Arc<PeerTimes>) {
    let mut metrics = raft.metrics();
    loop {
        {
            let m = metrics.borrow_and_update();
            if let (Some(replication), Some(last)) = (&m.replication, m.last_log_index) {
                let now = now_ms();
                let mut caught_up = times.last_caught_up_ms.lock();
                for (id, matched) in replication {
                    if matched.is_some_and(|l| l.index >= last) {
                        caught_up.insert(*id, now);
                    }
                }
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

impl MetadataQuorum for RaftQuorum {
    async fn propose(&self, command: Command) -> Result<Applied, ProposeError> {
        let timeout = Duration::from_millis(self.config.propose_timeout_ms);
        let deadline = Instant::now() + timeout;
        let mut metrics = self.raft.metrics();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let result = match propose_local(&self.raft, command.clone(), left).await {
                Err(ProposeError::NotLeader {
                    leader: Some(leader),
                }) if leader != self.node_id => self.forward(leader, &command, left).await,
                other => other,
            };
            match result {
                Ok(outcome) => return outcome.0.map_err(ProposeError::Rejected),
                // No leader yet, or it moved: retry when the engine's view changes (or shortly,
                // for a leader that is known but unreachable), until the deadline.
                Err(ProposeError::NotLeader { .. }) if Instant::now() < deadline => {
                    let wait = deadline
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(100));
                    let _ = tokio::time::timeout(wait, metrics.changed()).await;
                }
                Err(ProposeError::NotLeader { .. }) => {
                    return Err(ProposeError::Timeout {
                        timeout_ms: timeout.as_millis() as u64,
                    })
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn image(&self) -> Arc<Image> {
        self.images.borrow().clone()
    }

    fn watch_image(&self) -> watch::Receiver<Arc<Image>> {
        self.images.clone()
    }

    fn status(&self) -> QuorumStatus {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let fetch = self.times.last_fetch_ms.lock().clone();
        let caught_up = self.times.last_caught_up_ms.lock().clone();
        let now = now_ms();
        let replica = |id: NodeId| {
            if id == self.node_id {
                return ReplicaStatus {
                    node_id: id,
                    log_end_offset: Some(m.last_log_index.map_or(0, |i| i + 1)),
                    last_fetch_timestamp_ms: Some(now),
                    last_caught_up_timestamp_ms: Some(now),
                };
            }
            let matched = m.replication.as_ref().and_then(|r| r.get(&id).cloned());
            ReplicaStatus {
                node_id: id,
                log_end_offset: matched.map(|l| l.map_or(0, |l| l.index + 1)),
                last_fetch_timestamp_ms: fetch.get(&id).copied(),
                last_caught_up_timestamp_ms: caught_up.get(&id).copied(),
            }
        };
        QuorumStatus {
            node_id: self.node_id,
            leader_id: m.current_leader,
            epoch: m.current_term,
            high_watermark: m.last_applied.map_or(0, |l| l.index + 1),
            voters: membership.voter_ids().map(replica).collect(),
            observers: membership.learner_ids().map(replica).collect(),
        }
    }

    async fn add_learner(&self, node_id: NodeId, address: String) -> Result<(), ProposeError> {
        let timeout = Duration::from_millis(self.config.propose_timeout_ms);
        let add = self
            .raft
            .add_learner(node_id, BasicNode { addr: address }, true);
        match tokio::time::timeout(timeout, add).await {
            Err(_) => Err(ProposeError::Timeout {
                timeout_ms: timeout.as_millis() as u64,
            }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(ProposeError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Ok(Err(RaftError::APIError(e))) => Err(ProposeError::Refused(e.to_string())),
            Ok(Err(RaftError::Fatal(e))) => Err(ProposeError::Stopped(e.to_string())),
        }
    }
}
