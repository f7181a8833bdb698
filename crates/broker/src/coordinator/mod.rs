//! The consumer-group coordinator (Kafka's classic group protocol). This broker coordinates
//! every group; a group's durable state lives in its `__consumer_offsets` partition
//! ([`records::partition_for`]).
//!
//! - [`group`]: the state machine and members of one group.
//! - [`records`]: Kafka's record layouts in `__consumer_offsets`.
//! - This module: the group map behind one lock, the API operations, persistence (every commit
//!   and every group change is appended before the client is answered), replay at start-up
//!   (COORDINATOR_LOAD_IN_PROGRESS until done) and the timers (session expiry, rebalance
//!   timeout, `group.initial.rebalance.delay.ms`, offset retention) driven by [`run`].

pub mod group;
pub mod records;

use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::error::{BrokerError, BrokerResult};
use crate::state::partition::Partition;
use bytes::{Bytes, BytesMut};
use group::{Group, GroupState, JoinResult, JoinedMember, Member, OffsetEntry, SyncResult};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
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

    /// Appends records for `group` to its `__consumer_offsets` partition as one batch.
    fn persist(&self, group: &str, kvs: &[KeyValue]) -> BrokerResult<()> {
        if kvs.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let recs: Vec<Record> = kvs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: -1,
                timestamp: now,
                key: Some(k.clone()),
                value: v.clone(),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            recs.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .map_err(|e| BrokerError::InvalidRequest(format!("encoding group records: {e}")))?;
        self.partition_of(group).append(&buf, now).map(|_| ())
    }

    fn group_record(g: &Group) -> KeyValue {
        let protocol = g.protocol.as_deref();
        let value = GroupValue {
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            generation: g.generation,
            protocol: g.protocol.clone(),
            leader: g.leader.clone(),
            current_state_timestamp: g.state_timestamp,
            members: g
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: protocol.map(|p| m.metadata_for(p)).unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        };
        (
            records::encode_group_key(&g.id),
            Some(records::encode_group_value(&value)),
        )
    }

    /// Persists the group's metadata; failures are logged (the state in memory stands, as a
    /// later change writes the whole group again).
    fn persist_group(&self, g: &Group) {
        if let Err(e) = self.persist(&g.id, &[Self::group_record(g)]) {
            tracing::warn!(group = %g.id, error = %e, "writing group metadata failed");
        }
    }

    // ---------------------------------------------------------------- rebalancing

    fn prepare_rebalance(&self, g: &mut Group, now: i64) {
        if g.state == GroupState::CompletingRebalance {
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(SyncResult::failed(BrokerError::RebalanceInProgress));
                }
            }
        }
        let max_rebalance = g
            .members
            .values()
            .map(|m| m.rebalance_timeout_ms as i64)
            .max()
            .unwrap_or(0);
        if g.state == GroupState::Empty && self.config.initial_rebalance_delay_ms > 0 {
            g.initial_delay_until = now + self.config.initial_rebalance_delay_ms;
            g.initial_delay_limit = now + max_rebalance.max(self.config.initial_rebalance_delay_ms);
        } else {
            g.initial_delay_until = 0;
        }
        g.rebalance_deadline = now + max_rebalance;
        g.transition(GroupState::PreparingRebalance, now);
        tracing::debug!(group = %g.id, generation = g.generation, "preparing rebalance");
    }

    /// Completes the join phase when every member has rejoined (after the initial delay), or
    /// when the rebalance timeout has passed.
    fn try_complete_join(&self, g: &mut Group, now: i64) {
        if g.state != GroupState::PreparingRebalance {
            return;
        }
        let ready = if g.initial_delay_until > 0 {
            now >= g.initial_delay_until
        } else {
            let all_joined =
                g.members.values().all(|m| m.join_waiter.is_some()) && g.pending.is_empty();
            all_joined || now >= g.rebalance_deadline
        };
        if ready {
            self.complete_join(g, now);
        }
    }

    fn complete_join(&self, g: &mut Group, now: i64) {
        let missing: Vec<String> = g
            .members
            .values()
            .filter(|m| m.join_waiter.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in missing {
            tracing::info!(group = %g.id, member = %id, "member did not rejoin in time; removed");
            remove_member(g, &id);
        }
        g.pending.clear();
        g.initial_delay_until = 0;
        g.generation += 1;
        if g.members.is_empty() {
            g.protocol = None;
            g.leader = None;
            g.transition(GroupState::Empty, now);
            self.persist_group(g);
            return;
        }
        g.protocol = g.select_protocol();
        if g.leader.as_ref().is_none_or(|l| !g.members.contains_key(l)) {
            g.leader = g.members.keys().next().cloned();
        }
        g.transition(GroupState::CompletingRebalance, now);
        let protocol = g.protocol.clone().unwrap_or_default();
        let leader = g.leader.clone().unwrap_or_default();
        let all: Vec<JoinedMember> = g
            .members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect();
        tracing::info!(group = %g.id, generation = g.generation, protocol = %protocol, members = all.len(), "join phase complete");
        for m in g.members.values_mut() {
            m.session_deadline = now + m.session_timeout_ms as i64;
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(JoinResult {
                    error: None,
                    generation: g.generation,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: Some(protocol.clone()),
                    leader: leader.clone(),
                    member_id: m.member_id.clone(),
                    members: if m.member_id == leader {
                        all.clone()
                    } else {
                        vec![]
                    },
                });
            }
        }
    }

    /// Removes a member and moves the group on (rebalance, or completes a pending join).
    fn remove_member_and_update(&self, g: &mut Group, member_id: &str, now: i64) {
        remove_member(g, member_id);
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(g, now),
            _ => {}
        }
        self.try_complete_join(g, now);
    }

    fn current_join_result(g: &Group, member_id: &str) -> JoinResult {
        let protocol = g.protocol.clone().unwrap_or_default();
        let leader = g.leader.clone().unwrap_or_default();
        JoinResult {
            error: None,
            generation: g.generation,
            protocol_type: g.protocol_type.clone(),
            protocol_name: Some(protocol.clone()),
            leader: leader.clone(),
            member_id: member_id.to_string(),
            members: if member_id == leader {
                g.members
                    .values()
                    .map(|m| JoinedMember {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        metadata: m.metadata_for(&protocol),
                    })
                    .collect()
            } else {
                vec![]
            },
        }
    }

    // ---------------------------------------------------------------- JoinGroup

    pub async fn join(&self, p: JoinParams) -> JoinResult {
        let member_id = p.member_id.clone();
        let rx = {
            let mut groups = self.groups.lock();
            match self.join_locked(&mut groups, p, now_ms()) {
                Ok(Ok(result)) => return result,
                Ok(Err(rx)) => rx,
                Err((e, id)) => return JoinResult::failed(e, &id),
            }
        };
        rx.await
            .unwrap_or_else(|_| JoinResult::failed(BrokerError::UnknownMemberId, &member_id))
    }

    #[allow(clippy::type_complexity)]
    fn join_locked(
        &self,
        groups: &mut HashMap<String, Group>,
        p: JoinParams,
        now: i64,
    ) -> Result<Result<JoinResult, oneshot::Receiver<JoinResult>>, (BrokerError, String)> {
        let fail = |e: BrokerError| Err((e, p.member_id.clone()));
        if let Err(e) = self.check_loaded() {
            return fail(e);
        }
        if p.group_id.is_empty() {
            return fail(BrokerError::InvalidGroupId);
        }
        if p.session_timeout_ms < self.config.min_session_timeout_ms
            || p.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return fail(BrokerError::InvalidSessionTimeout(p.session_timeout_ms));
        }
        let unknown = p.member_id.is_empty();
        if !unknown && !groups.contains_key(&p.group_id) {
            return fail(BrokerError::UnknownMemberId);
        }
        let g = groups
            .entry(p.group_id.clone())
            .or_insert_with(|| Group::new(&p.group_id, now));
        if g.state == GroupState::Dead {
            return fail(BrokerError::CoordinatorNotAvailable);
        }
        if !g.supports(&p.protocol_type, &p.protocols) {
            return fail(BrokerError::InconsistentGroupProtocol);
        }
        let (tx, rx) = oneshot::channel();
        if unknown {
            let new_id = format!("{}-{}", p.client_id, uuid::Uuid::new_v4());
            if let Some(instance) = &p.group_instance_id {
                if let Some(old_id) = g.static_members.get(instance).cloned() {
                    return Ok(self.replace_static_member(g, &old_id, new_id, p, tx, rx, now));
                }
            } else if p.require_known_member_id {
                if g.is_full(self.config.max_size) {
                    return fail(BrokerError::GroupMaxSizeReached);
                }
                g.pending
                    .insert(new_id.clone(), now + p.session_timeout_ms as i64);
                return Err((BrokerError::MemberIdRequired(new_id.clone()), new_id));
            }
            if g.is_full(self.config.max_size) {
                return fail(BrokerError::GroupMaxSizeReached);
            }
            self.add_member_and_rebalance(g, new_id, p, tx, now);
            return Ok(Err(rx));
        }
        // A known member id.
        if let Some(instance) = &p.group_instance_id {
            match g.static_members.get(instance) {
                Some(id) if *id != p.member_id => return fail(BrokerError::FencedInstanceId),
                _ => {}
            }
        }
        if g.pending.remove(&p.member_id).is_some() {
            if g.is_full(self.config.max_size) {
                return fail(BrokerError::GroupMaxSizeReached);
            }
            let id = p.member_id.clone();
            self.add_member_and_rebalance(g, id, p, tx, now);
            return Ok(Err(rx));
        }
        let Some(member) = g.members.get(&p.member_id) else {
            return fail(BrokerError::UnknownMemberId);
        };
        let same = member.same_protocols(&p.protocols);
        let is_leader = g.leader.as_deref() == Some(p.member_id.as_str());
        match g.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(g, p, tx, now);
                Ok(Err(rx))
            }
            GroupState::CompletingRebalance if same => {
                refresh(g, &p.member_id, now);
                Ok(Ok(Self::current_join_result(g, &p.member_id)))
            }
            GroupState::Stable if same && !is_leader => {
                refresh(g, &p.member_id, now);
                Ok(Ok(Self::current_join_result(g, &p.member_id)))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(g, p, tx, now);
                Ok(Err(rx))
            }
            GroupState::Empty | GroupState::Dead => fail(BrokerError::UnknownMemberId),
        }
    }

    fn add_member_and_rebalance(
        &self,
        g: &mut Group,
        member_id: String,
        p: JoinParams,
        tx: oneshot::Sender<JoinResult>,
        now: i64,
    ) {
        if g.members.is_empty() {
            g.protocol_type = Some(p.protocol_type.clone());
        }
        if let Some(instance) = &p.group_instance_id {
            g.static_members.insert(instance.clone(), member_id.clone());
        }
        if g.leader.is_none() {
            g.leader = Some(member_id.clone());
        }
        g.members.insert(
            member_id.clone(),
            Member {
                member_id,
                group_instance_id: p.group_instance_id,
                client_id: p.client_id,
                client_host: p.client_host,
                rebalance_timeout_ms: p.rebalance_timeout_ms,
                session_timeout_ms: p.session_timeout_ms,
                protocol_type: p.protocol_type,
                protocols: p.protocols,
                assignment: Bytes::new(),
                join_waiter: Some(tx),
                sync_waiter: None,
                session_deadline: now + p.session_timeout_ms as i64,
            },
        );
        if g.state == GroupState::PreparingRebalance && g.initial_delay_until > 0 {
            // A new member during the initial delay extends it, up to the rebalance timeout.
            g.initial_delay_until =
                (now + self.config.initial_rebalance_delay_ms).min(g.initial_delay_limit);
        }
        if g.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(g, now);
        } else {
            let timeout = p.rebalance_timeout_ms as i64;
            g.rebalance_deadline = g.rebalance_deadline.max(now + timeout);
        }
        self.try_complete_join(g, now);
    }

    fn update_member_and_rebalance(
        &self,
        g: &mut Group,
        p: JoinParams,
        tx: oneshot::Sender<JoinResult>,
        now: i64,
    ) {
        if let Some(m) = g.members.get_mut(&p.member_id) {
            m.protocols = p.protocols;
            m.rebalance_timeout_ms = p.rebalance_timeout_ms;
            m.session_timeout_ms = p.session_timeout_ms;
            m.client_id = p.client_id;
            m.client_host = p.client_host;
            m.session_deadline = now + p.session_timeout_ms as i64;
            m.join_waiter = Some(tx);
        }
        if g.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(g, now);
        }
        self.try_complete_join(g, now);
    }

    /// A known group.instance.id joins with no member id (a restarted static member): it takes
    /// the old member's place. In a Stable group with unchanged metadata it gets the current
    /// generation back and its old assignment from SyncGroup, without a rebalance.
    #[allow(clippy::too_many_arguments)]
    fn replace_static_member(
        &self,
        g: &mut Group,
        old_id: &str,
        new_id: String,
        p: JoinParams,
        tx: oneshot::Sender<JoinResult>,
        rx: oneshot::Receiver<JoinResult>,
        now: i64,
    ) -> Result<JoinResult, oneshot::Receiver<JoinResult>> {
        let Some(mut old) = g.members.shift_remove(old_id) else {
            self.add_member_and_rebalance(g, new_id, p, tx, now);
            return Err(rx);
        };
        // The old instance's waiting requests are fenced.
        if let Some(w) = old.join_waiter.take() {
            let _ = w.send(JoinResult::failed(BrokerError::FencedInstanceId, old_id));
        }
        if let Some(w) = old.sync_waiter.take() {
            let _ = w.send(SyncResult::failed(BrokerError::FencedInstanceId));
        }
        let same = old.same_protocols(&p.protocols);
        old.member_id = new_id.clone();
        old.client_id = p.client_id.clone();
        old.client_host = p.client_host.clone();
        old.session_timeout_ms = p.session_timeout_ms;
        old.rebalance_timeout_ms = p.rebalance_timeout_ms;
        old.session_deadline = now + p.session_timeout_ms as i64;
        if let Some(instance) = &p.group_instance_id {
            g.static_members.insert(instance.clone(), new_id.clone());
        }
        if g.leader.as_deref() == Some(old_id) {
            g.leader = Some(new_id.clone());
        }
        g.members.insert(new_id.clone(), old);
        match g.state {
            GroupState::Stable if same => {
                self.persist_group(g);
                Ok(Self::current_join_result(g, &new_id))
            }
            _ => {
                let params = JoinParams {
                    member_id: new_id,
                    ..p
                };
                self.update_member_and_rebalance(g, params, tx, now);
                Err(rx)
            }
        }
    }

    // ---------------------------------------------------------------- SyncGroup

    #[allow(clippy::too_many_arguments)]
    pub async fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncResult {
        let rx = {
            let mut groups = self.groups.lock();
            let now = now_ms();
            let result = (|| {
                self.check_loaded()?;
                let g = groups
                    .get_mut(group_id)
                    .ok_or(BrokerError::UnknownMemberId)?;
                validate_member(g, member_id, group_instance_id, generation)?;
                if protocol_type.is_some_and(|t| Some(t) != g.protocol_type.as_deref())
                    || protocol_name.is_some_and(|n| Some(n) != g.protocol.as_deref())
                {
                    return Err(BrokerError::InconsistentGroupProtocol);
                }
                match g.state {
                    GroupState::Empty | GroupState::Dead => Err(BrokerError::UnknownMemberId),
                    GroupState::PreparingRebalance => Err(BrokerError::RebalanceInProgress),
                    GroupState::Stable => {
                        refresh(g, member_id, now);
                        Ok(Ok(sync_ok(g, member_id)))
                    }
                    GroupState::CompletingRebalance => {
                        let (tx, rx) = oneshot::channel();
                        if let Some(m) = g.members.get_mut(member_id) {
                            m.sync_waiter = Some(tx);
                            m.session_deadline = now + m.session_timeout_ms as i64;
                        }
                        if g.leader.as_deref() == Some(member_id) {
                            let map: HashMap<String, Bytes> = assignments.into_iter().collect();
                            for m in g.members.values_mut() {
                                m.assignment = map.get(&m.member_id).cloned().unwrap_or_default();
                            }
                            if let Err(e) = self.persist(&g.id, &[Self::group_record(g)]) {
                                tracing::warn!(group = %g.id, error = %e, "storing the assignment failed");
                                for m in g.members.values_mut() {
                                    m.assignment = Bytes::new();
                                    if let Some(tx) = m.sync_waiter.take() {
                                        let _ = tx.send(SyncResult::failed(
                                            BrokerError::CoordinatorNotAvailable,
                                        ));
                                    }
                                }
                                self.prepare_rebalance(g, now);
                                return Ok(Err(rx));
                            }
                            g.transition(GroupState::Stable, now);
                            let ids: Vec<String> = g.members.keys().cloned().collect();
                            for id in ids {
                                let result = sync_ok(g, &id);
                                let m = g.members.get_mut(&id).expect("member");
                                m.session_deadline = now + m.session_timeout_ms as i64;
                                if let Some(tx) = m.sync_waiter.take() {
                                    let _ = tx.send(result);
                                }
                            }
                        }
                        Ok(Err(rx))
                    }
                }
            })();
            match result {
                Ok(Ok(r)) => return r,
                Ok(Err(rx)) => rx,
                Err(e) => return SyncResult::failed(e),
            }
        };
        rx.await
            .unwrap_or_else(|_| SyncResult::failed(BrokerError::UnknownMemberId))
    }

    // ---------------------------------------------------------------- Heartbeat / LeaveGroup

    pub fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> BrokerResult<()> {
        self.check_loaded()?;
        let mut groups = self.groups.lock();
        let g = groups
            .get_mut(group_id)
            .ok_or(BrokerError::UnknownMemberId)?;
        match g.state {
            GroupState::Dead => return Err(BrokerError::CoordinatorNotAvailable),
            GroupState::Empty => return Err(BrokerError::UnknownMemberId),
            _ => {}
        }
        validate_member(g, member_id, group_instance_id, generation)?;
        refresh(g, member_id, now_ms());
        if g.state == GroupState::PreparingRebalance {
            return Err(BrokerError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Removes members (member id, group instance id); one result per member.
    pub fn leave(
        &self,
        group_id: &str,
        members: Vec<(String, Option<String>)>,
    ) -> BrokerResult<Vec<BrokerResult<()>>> {
        self.check_loaded()?;
        let mut groups = self.groups.lock();
        let Some(g) = groups.get_mut(group_id) else {
            return Ok(members
                .iter()
                .map(|_| Err(BrokerError::UnknownMemberId))
                .collect());
        };
        let now = now_ms();
        let mut out = Vec::new();
        for (member_id, instance) in members {
            let target = match &instance {
                Some(instance) => match g.static_members.get(instance) {
                    None => Err(BrokerError::UnknownMemberId),
                    Some(id) if !member_id.is_empty() && *id != member_id => {
                        Err(BrokerError::FencedInstanceId)
                    }
                    Some(id) => Ok(id.clone()),
                },
                None if g.pending.remove(&member_id).is_some() => {
                    self.try_complete_join(g, now);
                    out.push(Ok(()));
                    continue;
                }
                None if g.members.contains_key(&member_id) => Ok(member_id.clone()),
                None => Err(BrokerError::UnknownMemberId),
            };
            match target {
                Ok(id) => {
                    tracing::info!(group = %g.id, member = %id, "member left");
                    self.remove_member_and_update(g, &id, now);
                    out.push(Ok(()));
                }
                Err(e) => out.push(Err(e)),
            }
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- Describe / List / Delete

    pub fn describe(&self, group_id: &str) -> BrokerResult<Option<GroupSummary>> {
        self.check_loaded()?;
        let groups = self.groups.lock();
        let Some(g) = groups.get(group_id) else {
            return Ok(None);
        };
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        Ok(Some(GroupSummary {
            group_id: g.id.clone(),
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| MemberSummary {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }))
    }

    /// (group id, protocol type, state) of every group.
    pub fn list(&self) -> BrokerResult<Vec<(String, String, GroupState)>> {
        self.check_loaded()?;
        let groups = self.groups.lock();
        let mut out: Vec<_> = groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| {
                (
                    g.id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state,
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Deletes an Empty group with its offsets (tombstones first).
    pub fn delete_group(&self, group_id: &str) -> BrokerResult<()> {
        self.check_loaded()?;
        let mut groups = self.groups.lock();
        let g = groups.get(group_id).ok_or(BrokerError::GroupIdNotFound)?;
        match g.state {
            GroupState::Empty => {}
            GroupState::Dead => return Err(BrokerError::GroupIdNotFound),
            _ => return Err(BrokerError::NonEmptyGroup),
        }
        let mut kvs: Vec<KeyValue> = g
            .offsets
            .keys()
            .map(|(t, p)| (records::encode_offset_key(group_id, t, *p), None))
            .collect();
        kvs.push((records::encode_group_key(group_id), None));
        self.persist(group_id, &kvs)?;
        groups.remove(group_id);
        tracing::info!(group = group_id, "group deleted");
        Ok(())
    }

    // ---------------------------------------------------------------- offsets

    /// Commits offsets; returns one result per partition, in order.
    pub fn commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        partitions: Vec<CommitPartition>,
    ) -> Vec<BrokerResult<()>> {
        let all = |e: &dyn Fn() -> BrokerError| partitions.iter().map(|_| Err(e())).collect();
        if self.check_loaded().is_err() {
            return all(&|| BrokerError::CoordinatorLoadInProgress);
        }
        if group_id.is_empty() {
            return all(&|| BrokerError::InvalidGroupId);
        }
        let mut groups = self.groups.lock();
        let now = now_ms();
        if !groups.contains_key(group_id) {
            if generation >= 0 {
                return all(&|| BrokerError::IllegalGeneration {
                    got: generation,
                    current: -1,
                });
            }
            groups.insert(group_id.to_string(), Group::new(group_id, now));
        }
        let g = groups.get_mut(group_id).expect("group present");
        let check = || -> BrokerResult<()> {
            if g.state == GroupState::Dead {
                return Err(BrokerError::CoordinatorNotAvailable);
            }
            if generation < 0 && g.state == GroupState::Empty {
                return Ok(());
            }
            if let Some(instance) = group_instance_id {
                match g.static_members.get(instance) {
                    Some(id) if id != member_id => return Err(BrokerError::FencedInstanceId),
                    _ => {}
                }
            }
            if g.state == GroupState::CompletingRebalance {
                return Err(BrokerError::RebalanceInProgress);
            }
            if !g.members.contains_key(member_id) {
                return Err(BrokerError::UnknownMemberId);
            }
            if generation != g.generation {
                return Err(BrokerError::IllegalGeneration {
                    got: generation,
                    current: g.generation,
                });
            }
            Ok(())
        };
        if let Err(e) = check() {
            return partitions.iter().map(|_| Err(same_error(&e))).collect();
        }
        refresh(g, member_id, now);
        let mut kvs = Vec::new();
        let mut accepted = Vec::new();
        for p in &partitions {
            if p.error.is_none() {
                let entry = OffsetEntry {
                    offset: p.offset,
                    leader_epoch: p.leader_epoch,
                    metadata: p.metadata.clone(),
                    commit_timestamp: now,
                };
                kvs.push((
                    records::encode_offset_key(group_id, &p.topic, p.partition),
                    Some(records::encode_offset_value(&OffsetValue {
                        offset: entry.offset,
                        leader_epoch: entry.leader_epoch,
                        metadata: entry.metadata.clone(),
                        commit_timestamp: entry.commit_timestamp,
                    })),
                ));
                accepted.push(((p.topic.clone(), p.partition), entry));
            }
        }
        let stored = self.persist(group_id, &kvs);
        if stored.is_ok() {
            for (k, v) in accepted {
                g.offsets.insert(k, v);
            }
        }
        partitions
            .into_iter()
            .map(|p| match (p.error, &stored) {
                (Some(e), _) => Err(e),
                (None, Ok(())) => Ok(()),
                (None, Err(_)) => Err(BrokerError::CoordinatorNotAvailable),
            })
            .collect()
    }

    /// Committed offsets of `group_id`: the listed partitions, or all (`None`).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> BrokerResult<Vec<FetchedOffset>> {
        self.check_loaded()?;
        let groups = self.groups.lock();
        let g = groups.get(group_id);
        Ok(match topics {
            Some(topics) => topics
                .into_iter()
                .flat_map(|(t, ps)| {
                    ps.into_iter()
                        .map(|p| {
                            let e = g.and_then(|g| g.offsets.get(&(t.clone(), p)).cloned());
                            (t.clone(), p, e)
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
            None => g
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|((t, p), e)| (t.clone(), *p, Some(e.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// OffsetDelete: removes committed offsets unless the (non-empty) group subscribes to the
    /// topic. Outer error for the group; inner per partition.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> BrokerResult<Vec<BrokerResult<()>>> {
        self.check_loaded()?;
        let mut groups = self.groups.lock();
        let g = groups
            .get_mut(group_id)
            .ok_or(BrokerError::GroupIdNotFound)?;
        let subscribed: Vec<String> = match g.state {
            GroupState::Dead => return Err(BrokerError::GroupIdNotFound),
            GroupState::Empty => vec![],
            _ => match g.subscribed_topics() {
                Some(t) => t,
                None => return Err(BrokerError::NonEmptyGroup),
            },
        };
        let mut kvs = Vec::new();
        let mut results = Vec::new();
        for (t, p) in &partitions {
            if subscribed.contains(t) {
                results.push(Err(BrokerError::GroupSubscribedToTopic));
            } else {
                if g.offsets.contains_key(&(t.clone(), *p)) {
                    kvs.push((records::encode_offset_key(group_id, t, *p), None));
                }
                results.push(Ok(()));
            }
        }
        self.persist(group_id, &kvs)?;
        for ((t, p), r) in partitions.into_iter().zip(&results) {
            if r.is_ok() {
                g.offsets.remove(&(t, p));
            }
        }
        Ok(results)
    }

    /// Removes every group's committed offsets for a deleted topic (tombstones).
    pub fn remove_topic_offsets(&self, topic: &str) {
        let mut groups = self.groups.lock();
        for g in groups.values_mut() {
            let keys: Vec<(String, i32)> = g
                .offsets
                .keys()
                .filter(|(t, _)| t == topic)
                .cloned()
                .collect();
            if keys.is_empty() {
                continue;
            }
            let kvs: Vec<KeyValue> = keys
                .iter()
                .map(|(t, p)| (records::encode_offset_key(&g.id, t, *p), None))
                .collect();
            match self.persist(&g.id, &kvs) {
                Ok(()) => {
                    for k in &keys {
                        g.offsets.remove(k);
                    }
                }
                Err(e) => {
                    tracing::warn!(group = %g.id, topic, error = %e, "removing offsets of a deleted topic failed")
                }
            }
        }
    }

    // ---------------------------------------------------------------- timers

    /// Session expiry, pending-member expiry, and join-phase deadlines.
    pub fn tick(&self, now: i64) {
        let mut groups = self.groups.lock();
        for g in groups.values_mut() {
            let expired: Vec<String> = g
                .members
                .values()
                .filter(|m| !m.awaiting() && now > m.session_deadline)
                .map(|m| m.member_id.clone())
                .collect();
            for id in expired {
                tracing::info!(group = %g.id, member = %id, "session expired; member removed");
                self.remove_member_and_update(g, &id, now);
            }
            let before = g.pending.len();
            g.pending.retain(|_, deadline| *deadline >= now);
            if g.pending.len() != before {
                self.try_complete_join(g, now);
            }
            self.try_complete_join(g, now);
        }
    }

    /// Removes offsets older than `offsets.retention.minutes` (tombstones): all of an Empty
    /// group's, and a Stable consumer group's for topics it no longer subscribes to. Empty
    /// groups without offsets are removed.
    pub fn expire_offsets(&self, now: i64) {
        let retention = self.config.offsets_retention_ms;
        let mut groups = self.groups.lock();
        let mut dead = Vec::new();
        for g in groups.values_mut() {
            // Empty groups: every offset, counted from when the group became empty (or the
            // commit, if later). Consumer groups with members (KIP-496): offsets of topics no
            // member subscribes to any more, counted from the commit.
            let expired: Vec<(String, i32)> = match g.state {
                GroupState::Empty => g
                    .offsets
                    .iter()
                    .filter(|(_, e)| e.commit_timestamp.max(g.state_timestamp) + retention <= now)
                    .map(|(k, _)| k.clone())
                    .collect(),
                GroupState::Stable => match g.subscribed_topics() {
                    Some(subscribed) => g
                        .offsets
                        .iter()
                        .filter(|((t, _), e)| {
                            !subscribed.contains(t) && e.commit_timestamp + retention <= now
                        })
                        .map(|(k, _)| k.clone())
                        .collect(),
                    None => vec![],
                },
                _ => vec![],
            };
            if g.state == GroupState::Empty && g.offsets.is_empty() && g.pending.is_empty() {
                // Nothing left to keep (e.g. every member left, or a failed first join): the
                // group goes, as Kafka's cleanup does, with a tombstone for its metadata.
                match self.persist(&g.id, &[(records::encode_group_key(&g.id), None)]) {
                    Ok(()) => {
                        g.transition(GroupState::Dead, now);
                        dead.push(g.id.clone());
                    }
                    Err(e) => {
                        tracing::warn!(group = %g.id, error = %e, "removing an empty group failed")
                    }
                }
                continue;
            }
            if expired.is_empty() {
                continue;
            }
            let mut kvs: Vec<KeyValue> = expired
                .iter()
                .map(|(t, p)| (records::encode_offset_key(&g.id, t, *p), None))
                .collect();
            let emptied = g.state == GroupState::Empty && expired.len() == g.offsets.len();
            if emptied {
                kvs.push((records::encode_group_key(&g.id), None));
            }
            match self.persist(&g.id, &kvs) {
                Ok(()) => {
                    for k in &expired {
                        g.offsets.remove(k);
                    }
                    tracing::info!(group = %g.id, expired = expired.len(), "expired offsets");
                    if emptied {
                        g.transition(GroupState::Dead, now);
                        dead.push(g.id.clone());
                    }
                }
                Err(e) => tracing::warn!(group = %g.id, error = %e, "expiring offsets failed"),
            }
        }
        for id in dead {
            groups.remove(&id);
        }
    }

    // ---------------------------------------------------------------- loading

    /// Replays every `__consumer_offsets` partition to rebuild groups and offsets.
    pub fn load(&self) -> BrokerResult<()> {
        let mut metas: HashMap<String, Option<GroupValue>> = HashMap::new();
        let mut offsets: HashMap<String, BTreeMap<(String, i32), OffsetEntry>> = HashMap::new();
        let mut count = 0usize;
        for p in &self.partitions {
            let mut offset = p.log_start_offset();
            let end = p.high_watermark();
            while offset < end {
                let fetched = p.read(offset, 4 * 1024 * 1024)?;
                if fetched.records.is_empty() {
                    break;
                }
                let batches = runnel_log::batch::split_batches(&fetched.records)
                    .map_err(runnel_log::LogError::from)?;
                if batches.is_empty() {
                    break;
                }
                for (h, bytes) in batches {
                    offset = h.last_offset() + 1;
                    let mut slice = Bytes::copy_from_slice(bytes);
                    let set = match RecordBatchDecoder::decode(&mut slice) {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(partition = p.index, error = %e, "skipping undecodable batch in __consumer_offsets");
                            continue;
                        }
                    };
                    if set.records.first().is_some_and(|r| r.control) {
                        continue;
                    }
                    for r in set.records {
                        let Some(key) = r.key.as_deref() else {
                            continue;
                        };
                        count += 1;
                        match records::decode_key(key) {
                            Ok(RecordKey::Offset {
                                group,
                                topic,
                                partition,
                            }) => {
                                let entries = offsets.entry(group).or_default();
                                match r.value.as_deref().map(records::decode_offset_value) {
                                    None => {
                                        entries.remove(&(topic, partition));
                                    }
                                    Some(Ok(v)) => {
                                        entries.insert(
                                            (topic, partition),
                                            OffsetEntry {
                                                offset: v.offset,
                                                leader_epoch: v.leader_epoch,
                                                metadata: v.metadata,
                                                commit_timestamp: v.commit_timestamp,
                                            },
                                        );
                                    }
                                    Some(Err(e)) => tracing::warn!(error = %e, "skipping record"),
                                }
                            }
                            Ok(RecordKey::Group { group }) => {
                                match r.value.as_deref().map(records::decode_group_value) {
                                    None => {
                                        metas.insert(group, None);
                                    }
                                    Some(Ok(v)) => {
                                        metas.insert(group, Some(v));
                                    }
                                    Some(Err(e)) => tracing::warn!(error = %e, "skipping record"),
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "skipping record"),
                        }
                    }
                }
            }
        }
        let now = now_ms();
        let mut groups = self.groups.lock();
        let mut ids: Vec<String> = metas.keys().cloned().collect();
        ids.extend(offsets.keys().cloned());
        ids.sort();
        ids.dedup();
        for id in ids {
            let meta = metas.remove(&id).flatten();
            let offs = offsets.remove(&id).unwrap_or_default();
            if meta.is_none() && offs.is_empty() {
                continue;
            }
            let mut g = Group::new(&id, now);
            g.offsets = offs;
            if let Some(v) = meta {
                g.generation = v.generation;
                g.protocol_type = Some(v.protocol_type).filter(|s| !s.is_empty());
                g.protocol = v.protocol;
                g.leader = v.leader;
                if v.current_state_timestamp > 0 {
                    g.state_timestamp = v.current_state_timestamp;
                }
                let protocol = g.protocol.clone().unwrap_or_default();
                for m in v.members {
                    if let Some(i) = &m.group_instance_id {
                        g.static_members.insert(i.clone(), m.member_id.clone());
                    }
                    g.members.insert(
                        m.member_id.clone(),
                        Member {
                            member_id: m.member_id,
                            group_instance_id: m.group_instance_id,
                            client_id: m.client_id,
                            client_host: m.client_host,
                            rebalance_timeout_ms: m.rebalance_timeout_ms,
                            session_timeout_ms: m.session_timeout_ms,
                            protocol_type: g.protocol_type.clone().unwrap_or_default(),
                            protocols: vec![(protocol.clone(), m.subscription)],
                            assignment: m.assignment,
                            join_waiter: None,
                            sync_waiter: None,
                            session_deadline: now + m.session_timeout_ms as i64,
                        },
                    );
                }
                g.state = if g.members.is_empty() {
                    GroupState::Empty
                } else {
                    GroupState::Stable
                };
            }
            groups.insert(id, g);
        }
        tracing::info!(
            groups = groups.len(),
            records = count,
            "group coordinator loaded __consumer_offsets"
        );
        self.loaded.store(true, Ordering::Release);
        Ok(())
    }
}

/// A copy of a group-level commit error, for each partition of the request.
fn same_error(e: &BrokerError) -> BrokerError {
    use BrokerError::*;
    match e {
        CoordinatorNotAvailable => CoordinatorNotAvailable,
        FencedInstanceId => FencedInstanceId,
        RebalanceInProgress => RebalanceInProgress,
        UnknownMemberId => UnknownMemberId,
        IllegalGeneration { got, current } => IllegalGeneration {
            got: *got,
            current: *current,
        },
        _ => CoordinatorNotAvailable,
    }
}

fn remove_member(g: &mut Group, member_id: &str) {
    if let Some(mut m) = g.members.shift_remove(member_id) {
        if let Some(i) = &m.group_instance_id {
            if g.static_members.get(i).map(String::as_str) == Some(member_id) {
                g.static_members.remove(i);
            }
        }
        if let Some(tx) = m.join_waiter.take() {
            let _ = tx.send(JoinResult::failed(BrokerError::UnknownMemberId, member_id));
        }
        if let Some(tx) = m.sync_waiter.take() {
            let _ = tx.send(SyncResult::failed(BrokerError::UnknownMemberId));
        }
    }
    if g.leader.as_deref() == Some(member_id) {
        g.leader = g.members.keys().next().cloned();
    }
}

fn refresh(g: &mut Group, member_id: &str, now: i64) {
    if let Some(m) = g.members.get_mut(member_id) {
        m.session_deadline = now + m.session_timeout_ms as i64;
    }
}

fn validate_member(
    g: &Group,
    member_id: &str,
    group_instance_id: Option<&str>,
    generation: i32,
) -> BrokerResult<()> {
    if let Some(instance) = group_instance_id {
        if let Some(id) = g.static_members.get(instance) {
            if id != member_id {
                return Err(BrokerError::FencedInstanceId);
            }
        }
    }
    if !g.members.contains_key(member_id) {
        return Err(BrokerError::UnknownMemberId);
    }
    if generation != g.generation {
        return Err(BrokerError::IllegalGeneration {
            got: generation,
            current: g.generation,
        });
    }
    Ok(())
}

fn sync_ok(g: &Group, member_id: &str) -> SyncResult {
    SyncResult {
        error: None,
        protocol_type: g.protocol_type.clone(),
        protocol_name: g.protocol.clone(),
        assignment: g
            .members
            .get(member_id)
            .map(|m| m.assignment.clone())
            .unwrap_or_default(),
    }
}

/// Loads the coordinator, then runs its timers until shutdown.
pub async fn run(coordinator: Arc<GroupCoordinator>, mut shutdown: watch::Receiver<bool>) {
    let c = coordinator.clone();
    match tokio::task::spawn_blocking(move || c.load()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "loading __consumer_offsets failed; starting with what was read");
            coordinator.loaded.store(true, Ordering::Release);
        }
        Err(e) => {
            tracing::error!(error = %e, "loading __consumer_offsets panicked");
            coordinator.loaded.store(true, Ordering::Release);
        }
    }
    let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut expiry = tokio::time::interval(Duration::from_millis(
        coordinator
            .config
            .offsets_retention_check_interval_ms
            .max(1) as u64,
    ));
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => coordinator.tick(now_ms()),
            _ = expiry.tick() => coordinator.expire_offsets(now_ms()),
            _ = shutdown.changed() => break,
        }
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
