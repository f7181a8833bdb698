//! The consumer-group coordinator (Kafka's classic group protocol). This broker coordinates
//! every group; a group's durable state lives in its `__consumer_offsets` partition
//! ([`records::partition_for`]).
//!
//! - [`group`]: the state machine and members of one group.
//! - [`records`]: Kafka's record layouts in `__consumer_offsets`.
//! - This module: the configuration, and the shards: one per `__consumer_offsets` partition,
//!   each with its own lock, load state and writer (`shard`), so that a slow or failed partition
//!   holds up only its own groups.
//! - `join`: JoinGroup and rebalancing, static members, and the timers (session expiry,
//!   rebalance timeout, `group.initial.rebalance.delay.ms`) driven by [`run`].
//! - `sync`: SyncGroup, Heartbeat, LeaveGroup.
//! - `offsets`: OffsetCommit, OffsetFetch, OffsetDelete, offset retention.
//! - `admin`: DescribeGroups, ListGroups, DeleteGroups.
//! - `persist`: record encoding, the append, and replay at start-up, per partition
//!   (COORDINATOR_LOAD_IN_PROGRESS until that partition is done, NOT_COORDINATOR if it failed).
//!
//! Bounds on what clients can make the coordinator hold: `group.max.size` members (and pending
//! member ids) per group, `runnel.max.groups` groups and `runnel.max.group.members` members
//! plus pending member ids over all groups; beyond them a join (or a commit creating a group)
//! gets GROUP_MAX_SIZE_REACHED. Pending member ids expire after the session timeout they were
//! asked with, as in Kafka.

mod admin;
pub mod group;
mod join;
mod offsets;
mod persist;
pub mod records;
mod shard;
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
use records::{GroupValue, MemberValue, OffsetValue, RecordKey};
pub use shard::LoadState;
use shard::{Shard, ShardState, Totals};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
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
    /// `runnel.max.groups`.
    pub max_groups: usize,
    /// `runnel.max.group.members`.
    pub max_group_members: usize,
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
            max_groups: c.max_groups,
            max_group_members: c.max_group_members,
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
    /// v9+: the answer can carry `skip_assignment` (KIP-814).
    pub supports_skip_assignment: bool,
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
    shards: Vec<Shard>,
    totals: Arc<Totals>,
}

/// A record to append: key, and value (`None` = tombstone).
type KeyValue = (Bytes, Option<Bytes>);

impl GroupCoordinator {
    /// A coordinator over these `__consumer_offsets` partitions, every shard still loading
    /// (see [`run`]).
    pub fn new(config: GroupConfig, partitions: Vec<Arc<Partition>>) -> GroupCoordinator {
        let totals = Arc::new(Totals::default());
        GroupCoordinator {
            config,
            shards: partitions
                .into_iter()
                .map(|p| Shard::new(p, totals.clone()))
                .collect(),
            totals,
        }
    }

    /// Whether every `__consumer_offsets` partition has been replayed successfully.
    pub fn is_loaded(&self) -> bool {
        self.shards
            .iter()
            .all(|s| s.load_state() == LoadState::Loaded)
    }

    /// The load state of each `__consumer_offsets` partition, by partition index.
    pub fn load_states(&self) -> Vec<LoadState> {
        self.shards.iter().map(|s| s.load_state()).collect()
    }

    /// Writes of `group`'s shard queued or being appended (for tests that hold a partition up).
    pub fn writes_in_flight(&self, group: &str) -> usize {
        self.shards
            .get(self.shard_index(group))
            .map_or(0, |s| s.writes_in_flight.load(Ordering::Acquire))
    }

    /// Groups held, over all shards.
    pub fn group_count(&self) -> usize {
        self.totals.groups.load(Ordering::Acquire)
    }

    /// The shard holding `group`'s state.
    fn shard_index(&self, group: &str) -> usize {
        records::partition_for(group, self.shards.len() as i32) as usize
    }

    /// The shard of `group`, if it may be served now (loaded).
    fn shard_of(&self, group: &str) -> BrokerResult<&Shard> {
        let shard = self
            .shards
            .get(self.shard_index(group))
            .ok_or(BrokerError::CoordinatorNotAvailable)?;
        shard.check()?;
        Ok(shard)
    }

    /// For FindCoordinator: COORDINATOR_LOAD_IN_PROGRESS while `group`'s partition is replayed.
    pub fn check_loading(&self, group: &str) -> BrokerResult<()> {
        match self
            .shards
            .get(self.shard_index(group))
            .map(|s| s.load_state())
        {
            Some(LoadState::Loading) => Err(BrokerError::CoordinatorLoadInProgress),
            Some(_) => Ok(()),
            None => Err(BrokerError::CoordinatorNotAvailable),
        }
    }

    /// Admits one more member or pending member id into a shard, within
    /// `runnel.max.group.members` over all shards (an upper estimate between recounts).
    /// `counted` and `admitted` are the shard's `members_counted` and `members_admitted`.
    fn admit_member(
        &self,
        shard: &Shard,
        counted: usize,
        admitted: &mut usize,
    ) -> BrokerResult<()> {
        let total: usize = self
            .shards
            .iter()
            .map(|s| s.members_estimate.load(Ordering::Acquire))
            .sum();
        if total >= self.config.max_group_members {
            tracing::warn!(
                total,
                max = self.config.max_group_members,
                "runnel.max.group.members reached; refusing a new member"
            );
            return Err(BrokerError::GroupMaxSizeReached);
        }
        *admitted += 1;
        shard
            .members_estimate
            .store(counted + *admitted, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GroupConfig {
        GroupConfig::from_broker(&BrokerConfig::with(&[]).unwrap())
    }

    #[tokio::test]
    async fn every_group_operation_answers_coordinator_load_in_progress_until_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = Arc::new(
            Partition::open(
                OFFSETS_TOPIC,
                0,
                dir.path(),
                runnel_log::LogConfig::default(),
                0,
                10,
            )
            .unwrap(),
        );
        let c = GroupCoordinator::new(config(), vec![p]);
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
            c.delete_group("g").await,
            Err(BrokerError::CoordinatorLoadInProgress)
        ));
        let commit = c
            .commit(
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
            )
            .await;
        assert!(matches!(
            commit[0],
            Err(BrokerError::CoordinatorLoadInProgress)
        ));
    }
}
