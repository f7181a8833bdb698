//! The facade the broker uses, free of openraft types: propose a command, read or watch the
//! committed image, describe the quorum. `crate::raft::RaftQuorum` implements it.

use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::NodeId;
use crate::image::Image;
use crate::records::{Applied, Command, CommandError};

/// What applying one log entry gave (the replicated state machine's response).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome(pub Result<Applied, CommandError>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ProposeError {
    /// Committed and applied, and refused by the compare-and-set checks: the image is unchanged.
    #[error(transparent)]
    Rejected(#[from] CommandError),
    /// Not committed: no leader is known (an election is under way), or it could not be reached.
    #[error("no reachable leader (last known: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// No answer in time: the command may or may not commit later.
    #[error("no commit within {timeout_ms} ms; the outcome is unknown")]
    Timeout { timeout_ms: u64 },
    /// Sent to the leader, but the answer was lost (the leader failed or the link broke): the
    /// command may or may not commit.
    #[error("outcome unknown: {0}")]
    Indeterminate(String),
    /// The quorum node stopped (shut down, or a storage error made it stop).
    #[error("metadata quorum stopped: {0}")]
    Stopped(String),
    #[error("metadata quorum refused the request: {0}")]
    Refused(String),
}

/// One replica as DescribeQuorum reports it. Offsets are Kafka-style: one past the last entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    pub node_id: NodeId,
    /// Known on the leader (and for the node itself).
    pub log_end_offset: Option<u64>,
    /// Milliseconds since the Unix epoch of the last successful append or heartbeat answer.
    pub last_fetch_timestamp_ms: Option<u64>,
    /// Milliseconds since the Unix epoch when it last matched the leader's log end.
    pub last_caught_up_timestamp_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    pub node_id: NodeId,
    pub leader_id: Option<NodeId>,
    /// The Raft term (Kafka's leader epoch of the metadata log).
    pub epoch: u64,
    /// One past the last committed-and-applied entry this node knows of.
    pub high_watermark: u64,
    pub voters: Vec<ReplicaStatus>,
    pub observers: Vec<ReplicaStatus>,
}

impl QuorumStatus {
    pub fn is_leader(&self) -> bool {
        self.leader_id == Some(self.node_id)
    }
}

pub trait MetadataQuorum: Send + Sync {
    /// Commits `command` (forwarded to the leader when this node is not it) and returns what
    /// applying it did.
    fn propose(
        &self,
        command: Command,
    ) -> impl Future<Output = Result<Applied, ProposeError>> + Send;
    /// The newest committed image this node has applied.
    fn image(&self) -> Arc<Image>;
    /// Changes with every applied batch of entries.
    fn watch_image(&self) -> watch::Receiver<Arc<Image>>;
    fn status(&self) -> QuorumStatus;
    /// Adds an observer that follows the log without voting (a broker, say).
    fn add_learner(
        &self,
        node_id: NodeId,
        address: String,
    ) -> impl Future<Output = Result<(), ProposeError>> + Send;
}
