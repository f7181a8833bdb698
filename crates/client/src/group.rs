//! Consumer-group membership for [`crate::Consumer`]: FindCoordinator, JoinGroup (the leader
//! runs the assignor), SyncGroup, background heartbeats, offset commits and fetches, and
//! LeaveGroup. Eager strategies (range, roundrobin, sticky) revoke everything before joining;
//! cooperative-sticky revokes only what moves and rejoins at once to receive it elsewhere.

use crate::assignor::{self, Member, TopicPartition};
use crate::cluster::{name, sb, Cluster};
use crate::conn::Connection;
use crate::error::{ClientError, Result};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Told when partitions move, so an application can commit what it processed.
pub trait RebalanceListener: Send {
    /// Before `revoked` partitions go to another member; offsets returned are committed
    /// (with their metadata) before the rebalance proceeds.
    fn on_partitions_revoked(
        &mut self,
        revoked: &[TopicPartition],
    ) -> Vec<(TopicPartition, i64, Option<String>)> {
        let _ = revoked;
        Vec::new()
    }
    /// After `assigned` partitions became this member's.
    fn on_partitions_assigned(&mut self, assigned: &[TopicPartition]) {
        let _ = assigned;
    }
    /// The partitions were already taken away (session or poll timeout): nothing can be
    /// committed for them any more.
    fn on_partitions_lost(&mut self, lost: &[TopicPartition]) {
        let _ = lost;
    }
}

pub(crate) fn gid(s: &str) -> GroupId {
    GroupId(sb(s))
}

/// What the heartbeat task and the consumer share.
#[derive(Default)]
pub(crate) struct Shared {
    pub rejoin: AtomicBool,
    pub lost: AtomicBool,
    pub stop: AtomicBool,
    pub last_poll: Mutex<Option<Instant>>,
    /// (generation, member id)
    pub ident: Mutex<(i32, String)>,
}

/// The consumer's group membership.
pub(crate) struct Membership {
    pub group_id: String,
    pub instance_id: Option<String>,
    pub topics: Vec<String>,
    /// A regex subscription: `topics` is what it matched at the last metadata check.
    pub pattern: Option<regex::Regex>,
    pub pattern_checked: Option<Instant>,
    pub strategies: Vec<String>,
    pub member_id: String,
    pub generation: i32,
    /// The last assignment received and its generation: eager `sticky` sends them as user
    /// data (it revokes everything before joining, so the leader learns ownership only
    /// there), `cooperative-sticky` sends the generation.
    pub last_assignment: Option<(Vec<TopicPartition>, i32)>,
    pub protocol: Option<String>,
    pub coordinator: Option<Arc<Connection>>,
    pub shared: Arc<Shared>,
    pub heartbeat: Option<tokio::task::JoinHandle<()>>,
    pub joined: bool,
    pub listener: Option<Box<dyn RebalanceListener>>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

pub(crate) async fn find_coordinator(cluster: &Cluster, group: &str) -> Result<Arc<Connection>> {
    let mut last = None;
    for _ in 0..20 {
        let mut req = FindCoordinatorRequest::default();
        req.key = sb(group);
        req.key_type = 0;
        match cluster.send_any(&req).await {
            Ok(resp) if resp.error_code == 0 => {
                return cluster
                    .conn_to(&format!("{}:{}", resp.host, resp.port))
                    .await;
            }
            Ok(resp) => {
                last = Some(ClientError::kafka(
                    resp.error_code,
                    resp.error_message.map(|m| m.to_string()),
                ))
            }
            Err(e) => last = Some(e),
        }
        if last.as_ref().is_some_and(|e| !e.is_retriable()) {
            break;
        }
        tokio::time::sleep(cluster.config.retry_backoff).await;
    }
    Err(last.unwrap_or_else(|| ClientError::State("no coordinator".into())))
}

impl Membership {
    pub async fn coordinator(&mut self, cluster: &Cluster) -> Result<Arc<Connection>> {
        if let Some(c) = &self.coordinator {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let c = find_coordinator(cluster, &self.group_id).await?;
        self.coordinator = Some(c.clone());
        Ok(c)
    }

    /// For a regex subscription: re-lists topics when `metadata.max.age.ms` has passed (or
    /// never listed) and asks for a rejoin when the matching set changed.
    pub async fn check_pattern(
        &mut self,
        cluster: &Cluster,
        max_age: Duration,
        force: bool,
    ) -> Result<()> {
        let Some(re) = &self.pattern else {
            return Ok(());
        };
        if !force && self.pattern_checked.is_some_and(|t| t.elapsed() < max_age) {
            return Ok(());
        }
        let md = cluster.refresh_all().await?;
        let mut matched: Vec<String> = md
            .topics
            .values()
            .filter(|t| !t.internal && t.partitions.first().is_some_and(|p| p.partition >= 0))
            .map(|t| t.name.clone())
            .filter(|n| {
                re.find(n)
                    .is_some_and(|m| m.start() == 0 && m.end() == n.len())
            })
            .collect();
        matched.sort();
        self.pattern_checked = Some(Instant::now());
        if matched != self.topics {
            self.topics = matched;
            self.shared.rejoin.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    /// What this member sends for `strategy`, with the user data Java's assignor of that
    /// name sends, so Java and librdkafka leaders read it as their own.
    fn subscription(&self, strategy: &str, owned: &[TopicPartition]) -> assignor::Subscription {
        let user_data = match (strategy, &self.last_assignment) {
            ("sticky", Some((tps, generation))) => {
                Some(assignor::sticky_user_data(tps, *generation))
            }
            ("cooperative-sticky", last) => Some(assignor::cooperative_user_data(
                last.as_ref().map_or(-1, |(_, g)| *g),
            )),
            _ => None,
        };
        assignor::Subscription {
            topics: self.topics.clone(),
            user_data,
            owned: owned.to_vec(),
            generation: self.generation,
        }
    }

    fn cooperative(&self) -> bool {
        self.protocol.as_deref() == Some("cooperative-sticky")
    }

    /// Joins (or rejoins) and returns the new assignment.
    pub async fn join(
        &mut self,
        cluster: &Cluster,
        owned: &[TopicPartition],
        session_timeout: Duration,
        rebalance_timeout: Duration,
    ) -> Result<Vec<TopicPartition>> {
        let owned_claim: Vec<TopicPartition> = if self.cooperative() {
            owned.to_vec()
        } else {
            Vec::new()
        };
        for _attempt in 0..50 {
            let coord = self.coordinator(cluster).await?;
            let mut req = JoinGroupRequest::default();
            req.group_id = gid(&self.group_id);
            req.session_timeout_ms = session_timeout.as_millis() as i32;
            req.rebalance_timeout_ms = rebalance_timeout.as_millis() as i32;
            req.member_id = sb(&self.member_id);
            req.group_instance_id = self.instance_id.as_deref().map(sb);
            req.protocol_type = sb("consumer");
            req.protocols = self
                .strategies
                .iter()
                .map(|s| {
                    let mut p = JoinGroupRequestProtocol::default();
                    p.name = sb(s);
                    p.metadata = assignor::encode_subscription(&self.subscription(s, &owned_claim));
                    p
                })
                .collect();
            let resp = match coord
                .send_timeout(&req, rebalance_timeout + Duration::from_secs(5))
                .await
            {
                Ok(r) => r,
                Err(e) if e.is_retriable() => {
                    self.coordinator = None;
                    tokio::time::sleep(cluster.config.retry_backoff).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match resp.error_code {
                0 => {}
                79 => {
                    // MEMBER_ID_REQUIRED: join again with the id the coordinator chose.
                    self.member_id = resp.member_id.to_string();
                    continue;
                }
                25 => {
                    self.member_id.clear();
                    self.generation = -1;
                    continue;
                }
                14..=16 => {
                    self.coordinator = None;
                    tokio::time::sleep(cluster.config.retry_backoff).await;
                    continue;
                }
                27 => continue,
                code => {
                    return Err(ClientError::kafka(
                        code,
                        Some(format!("JoinGroup {}", self.group_id)),
                    ))
                }
            }
            self.member_id = resp.member_id.to_string();
            self.generation = resp.generation_id;
            self.protocol = resp.protocol_name.as_ref().map(|p| p.to_string());
            let protocol = self.protocol.clone().unwrap_or_else(|| "range".into());
            let mut assignments = Vec::new();
            if resp.leader == resp.member_id {
                let mut members = Vec::new();
                for m in &resp.members {
                    let s = assignor::decode_subscription(m.metadata.clone())?;
                    members.push(Member::from_subscription(
                        &protocol,
                        &m.member_id,
                        m.group_instance_id.as_deref(),
                        &s,
                    ));
                }
                let mut partitions = BTreeMap::new();
                for t in members
                    .iter()
                    .flat_map(|m| m.topics.iter())
                    .collect::<std::collections::BTreeSet<_>>()
                {
                    if let Ok(info) = cluster.topic(t).await {
                        partitions.insert(t.clone(), info.partitions.len() as i32);
                    }
                }
                let plan = assignor::assign(&protocol, &members, &partitions)?;
                assignments = plan
                    .into_iter()
                    .map(|(m, tps)| {
                        let mut a = SyncGroupRequestAssignment::default();
                        a.member_id = sb(&m);
                        a.assignment = assignor::encode_assignment(&tps);
                        a
                    })
                    .collect();
            }
            let mut sync = SyncGroupRequest::default();
            sync.group_id = gid(&self.group_id);
            sync.generation_id = self.generation;
            sync.member_id = sb(&self.member_id);
            sync.group_instance_id = self.instance_id.as_deref().map(sb);
            sync.protocol_type = Some(sb("consumer"));
            sync.protocol_name = Some(sb(&protocol));
            sync.assignments = assignments;
            let resp = match coord
                .send_timeout(&sync, rebalance_timeout + Duration::from_secs(5))
                .await
            {
                Ok(r) => r,
                Err(e) if e.is_retriable() => {
                    self.coordinator = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match resp.error_code {
                0 => {}
                27 => continue,
                25 | 22 => {
                    if resp.error_code == 25 {
                        self.member_id.clear();
                    }
                    self.generation = -1;
                    continue;
                }
                14..=16 => {
                    self.coordinator = None;
                    continue;
                }
                code => {
                    return Err(ClientError::kafka(
                        code,
                        Some(format!("SyncGroup {}", self.group_id)),
                    ))
                }
            }
            self.joined = true;
            self.shared.rejoin.store(false, Ordering::SeqCst);
            self.shared.lost.store(false, Ordering::SeqCst);
            *self.shared.ident.lock() = (self.generation, self.member_id.clone());
            let assigned = assignor::decode_assignment(resp.assignment)?;
            self.last_assignment = Some((assigned.clone(), self.generation));
            return Ok(assigned);
        }
        Err(ClientError::State(format!(
            "could not join group {} after 50 attempts",
            self.group_id
        )))
    }

    /// Starts heartbeats every `interval`; also leaves the group when `poll` was not called
    /// for `max_poll_interval`.
    pub fn start_heartbeat(&mut self, interval: Duration, max_poll_interval: Duration) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        let Some(coord) = self.coordinator.clone() else {
            return;
        };
        let (shared, group, instance) = (
            self.shared.clone(),
            self.group_id.clone(),
            self.instance_id.clone(),
        );
        self.heartbeat = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                let (generation, member) = shared.ident.lock().clone();
                let idle = shared
                    .last_poll
                    .lock()
                    .map(|t| t.elapsed())
                    .unwrap_or_default();
                if idle > max_poll_interval {
                    tracing::warn!(group, "max.poll.interval.ms exceeded: leaving the group");
                    let _ = leave(&coord, &group, &member, instance.as_deref()).await;
                    shared.lost.store(true, Ordering::SeqCst);
                    shared.rejoin.store(true, Ordering::SeqCst);
                    return;
                }
                let mut req = HeartbeatRequest::default();
                req.group_id = gid(&group);
                req.generation_id = generation;
                req.member_id = sb(&member);
                req.group_instance_id = instance.as_deref().map(sb);
                match coord.send(&req).await {
                    Ok(r) if r.error_code == 0 => {}
                    Ok(r) if r.error_code == 27 => {
                        shared.rejoin.store(true, Ordering::SeqCst);
                        return;
                    }
                    Ok(r) => {
                        tracing::debug!(group, code = r.error_code, "heartbeat refused: rejoining");
                        shared.lost.store(true, Ordering::SeqCst);
                        shared.rejoin.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(_) => {
                        shared.rejoin.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }));
    }
}

pub(crate) async fn leave(
    coord: &Connection,
    group: &str,
    member: &str,
    instance: Option<&str>,
) -> Result<()> {
    let mut req = LeaveGroupRequest::default();
    req.group_id = gid(group);
    let mut m = MemberIdentity::default();
    m.member_id = sb(member);
    m.group_instance_id = instance.map(sb);
    req.members = vec![m];
    let resp = coord.send(&req).await?;
    ClientError::check(resp.error_code, None)
}

/// OffsetCommit for a group (generation -1 and an empty member id outside membership).
pub(crate) async fn commit(
    coord: &Connection,
    group: &str,
    generation: i32,
    member: &str,
    instance: Option<&str>,
    offsets: &[(TopicPartition, i64, Option<String>)],
) -> Result<()> {
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for ((t, p), o, md) in offsets {
        let mut x = OffsetCommitRequestPartition::default();
        x.partition_index = *p;
        x.committed_offset = *o;
        x.committed_leader_epoch = -1;
        x.committed_metadata = Some(sb(md.as_deref().unwrap_or("")));
        by_topic.entry(t).or_default().push(x);
    }
    let mut req = OffsetCommitRequest::default();
    req.group_id = gid(group);
    req.generation_id_or_member_epoch = generation;
    req.member_id = sb(member);
    req.group_instance_id = instance.map(sb);
    req.retention_time_ms = -1;
    req.topics = by_topic
        .into_iter()
        .map(|(t, ps)| {
            let mut x = OffsetCommitRequestTopic::default();
            x.name = name(t);
            x.partitions = ps;
            x
        })
        .collect();
    let resp = coord.send(&req).await?;
    for t in resp.topics {
        for p in t.partitions {
            ClientError::check(
                p.error_code,
                Some(&format!("commit {}-{}", t.name.0, p.partition_index)),
            )?;
        }
    }
    Ok(())
}

/// Committed offsets (and metadata) of a group; `None` for all partitions it has.
pub(crate) async fn fetch_committed(
    coord: &Connection,
    group: &str,
    tps: Option<&[TopicPartition]>,
) -> Result<BTreeMap<TopicPartition, (i64, Option<String>)>> {
    let mut req = OffsetFetchRequest::default();
    req.group_id = gid(group);
    req.topics = tps.map(|tps| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in tps {
            by_topic.entry(t).or_default().push(*p);
        }
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                let mut x = OffsetFetchRequestTopic::default();
                x.name = name(t);
                x.partition_indexes = ps;
                x
            })
            .collect()
    });
    let resp = coord.send(&req).await?;
    ClientError::check(resp.error_code, None)?;
    let mut out = BTreeMap::new();
    for t in resp.topics {
        for p in t.partitions {
            ClientError::check(p.error_code, None)?;
            if p.committed_offset >= 0 {
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    (p.committed_offset, p.metadata.map(|m| m.to_string())),
                );
            }
        }
    }
    Ok(out)
}
