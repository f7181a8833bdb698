//! The consumer-group coordinator (Kafka's classic group protocol). This broker coordinates
//! every group; a group's durable state lives in its `__consumer_offsets` partition
//! ([`records::partition_for`]).
//!
//! - [`group`]: the state machine and members of one group.
//! - [`records`]: Kafka's record layouts in `__consumer_offsets`.
//! - This module: the configuration and the group map behind one lock.
//! - `join`: JoinGroup and rebalancing, static members, and the timers (session expiry,
//!   rebalance timeout, `group.initial.rebalance.delay.ms`) driven by [`run`].
//! - `sync`: SyncGroup, Heartbeat, LeaveGroup.
//! - `offsets`: OffsetCommit, OffsetFetch, OffsetDelete, offset retention.
//! - `admin`: DescribeGroups, ListGroups, DeleteGroups.
//! - `persist`: every commit and group change is appended to `__consumer_offsets` before the
//!   client is answered; replay at start-up (COORDINATOR_LOAD_IN_PROGRESS until done).

mod admin;
pub mod group;
mod join;
mod offsets;
mod persist;
pub mod records;
mod sync;

/// Member helpers shared by the submodules (through their `use super::*`).
use join::refresh;
pub use join::run;

use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::error::{BrokerError, BrokerResult};
use crate::state::partition::Partition;
use bytes::{Bytes, BytesMut};
use group::{Group, GroupState, JoinResult, JoinedMember, Member, OffsetEntry, SyncResult};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use parking_lot::Mutex;
use records::{GroupValue, MemberValue, OffsetValue, RecordKey};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How often timers are checked.
const TICK_MS: u64 = 50;

/// The group settings, from the broker configuration.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub initial_rebalance_delay_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: usize,
    pub offset_metadata_max_bytes: usize,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval_ms: i64,
}

impl GroupConfig {
    pub fn from_broker(c: &BrokerConfig) -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: c.group_initial_rebalance_delay_ms,
            min_session_timeout_ms: c.group_min_session_timeout_ms,
            max_session_timeout_ms: c.group_max_session_timeout_ms,
            max_size: c.group_max_size,
            offset_metadata_max_bytes: c.offset_metadata_max_bytes,
            offsets_retention_ms: c.offsets_retention_ms,
            offsets_retention_check_interval_ms: c.offsets_retention_check_interval_ms,
        }
    }
}

/// A JoinGroup request, version differences resolved by the handler.
#[derive(Debug, Clone)]
pub struct JoinParams {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a dynamic member's first join gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

/// One partition of an OffsetCommit, with the handler's topic/metadata checks already done.
#[derive(Debug)]
pub struct CommitPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    /// Set when the partition itself is refused (unknown topic, metadata too large).
    pub error: Option<BrokerError>,
}

/// A snapshot of a group for DescribeGroups.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberSummary>,
}

#[derive(Debug, Clone)]
pub struct MemberSummary {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A committed offset as OffsetFetch reports it (`None` = nothing committed).
pub type FetchedOffset = (String, i32, Option<OffsetEntry>);

pub struct GroupCoordinator {
    pub config: GroupConfig,
    partitions: Vec<Arc<Partition>>,
    groups: Mutex<HashMap<String, Group>>,
    loaded: AtomicBool,
}

/// A record to append: key, and value (`None` = tombstone).
type KeyValue = (Bytes, Option<Bytes>);

impl GroupCoordinator {
    pub fn new(config: GroupConfig, partitions: Vec<Arc<Partition>>) -> GroupCoordinator {
        GroupCoordinator {
            config,
            partitions,
            groups: Mutex::new(HashMap::new()),
            loaded: AtomicBool::new(false),
        }
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    fn check_loaded(&self) -> BrokerResult<()> {
        if self.is_loaded() {
            Ok(())
        } else {
            Err(BrokerError::CoordinatorLoadInProgress)
        }
    }

    fn partition_of(&self, group: &str) -> &Arc<Partition> {
        &self.partitions[records::partition_for(group, self.partitions.len() as i32) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GroupConfig {
        GroupConfig::from_broker(&BrokerConfig::with(&[]).unwrap())
    }

    #[test]
    fn every_group_operation_answers_coordinator_load_in_progress_until_loaded() {
        let c = GroupCoordinator::new(config(), vec![]);
        assert!(matches!(
            c.heartbeat("g", 1, "m", None),
            Err(BrokerError::CoordinatorLoadInProgress)
        ));
        assert!(matches!(
            c.fetch_offsets("g", None),
            Err(BrokerError::CoordinatorLoadInProgress)
        ));
        assert!(matches!(
            c.list(),
            Err(BrokerError::CoordinatorLoadInProgress)
        ));
        assert!(matches!(
            c.delete_group("g"),
            Err(BrokerError::CoordinatorLoadInProgress)
        ));
        let commit = c.commit(
            "g",
            -1,
            "",
            None,
            vec![CommitPartition {
                topic: "t".into(),
                partition: 0,
                offset: 1,
                leader_epoch: -1,
                metadata: String::new(),
                error: None,
            }],
        );
        assert!(matches!(
            commit[0],
            Err(BrokerError::CoordinatorLoadInProgress)
        ));
    }
}
