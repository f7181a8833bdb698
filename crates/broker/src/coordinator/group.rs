//! One consumer group: Kafka's classic group state machine, members and committed offsets.
//!
//! States: `Empty` (no members; offsets may exist), `PreparingRebalance` (waiting for members
//! to (re)join), `CompletingRebalance` (joined; waiting for the leader's assignment in
//! SyncGroup), `Stable` (assignment handed out; heartbeats flow), `Dead` (deleted).
//!
//! Everything here runs under its shard's lock; waiting requests hold a oneshot receiver that
//! the transition which answers them fires.

use crate::error::BrokerError;
use bytes::Bytes;
use indexmap::IndexMap;
use std::collections::{BTreeMap, HashMap};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name DescribeGroups and ListGroups report.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// What a JoinGroup request is answered with.
#[derive(Debug)]
pub struct JoinResult {
    pub error: Option<BrokerError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only for the leader: every member's metadata for the chosen protocol.
    pub members: Vec<JoinedMember>,
    /// JoinGroup v9+ (KIP-814): the leader is a restarted static member of a Stable group and
    /// must not compute a new assignment.
    pub skip_assignment: bool,
}

#[derive(Debug, Clone)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

impl JoinResult {
    pub fn failed(error: BrokerError, member_id: &str) -> JoinResult {
        JoinResult {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: vec![],
            skip_assignment: false,
        }
    }
}

/// What a SyncGroup request is answered with.
#[derive(Debug)]
pub struct SyncResult {
    pub error: Option<BrokerError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn failed(error: BrokerError) -> SyncResult {
        SyncResult {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// Supported protocols in the member's preference order: (name, metadata).
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub join_waiter: Option<oneshot::Sender<JoinResult>>,
    pub sync_waiter: Option<oneshot::Sender<SyncResult>>,
    /// Wall-clock ms after which the member is removed unless it heartbeats.
    pub session_deadline: i64,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Members waiting in a join or sync are not expired (Kafka's `hasSatisfiedHeartbeat`).
    pub fn awaiting(&self) -> bool {
        self.join_waiter.is_some() || self.sync_waiter.is_some()
    }

    pub fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetEntry {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// Members in join order.
    pub members: IndexMap<String, Member>,
    /// group.instance.id -> member id.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined -> expiry (ms).
    pub pending: HashMap<String, i64>,
    pub offsets: BTreeMap<(String, i32), OffsetEntry>,
    pub state_timestamp: i64,
    /// PreparingRebalance: when the join phase ends even if members are missing.
    pub rebalance_deadline: i64,
    /// PreparingRebalance from Empty: `group.initial.rebalance.delay.ms` end (0 = none) and
    /// the latest it may be extended to.
    pub initial_delay_until: i64,
    pub initial_delay_limit: i64,
    /// Records of state changes not yet on the shard's write queue: the state machine fills it,
    /// the operation that ran it moves it to the queue before releasing the shard lock.
    pub outbox: Vec<(Bytes, Option<Bytes>)>,
}

impl Group {
    pub fn new(id: &str, now: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending: HashMap::new(),
            offsets: BTreeMap::new(),
            state_timestamp: now,
            rebalance_deadline: 0,
            initial_delay_until: 0,
            initial_delay_limit: 0,
            outbox: Vec::new(),
        }
    }

    pub fn transition(&mut self, state: GroupState, now: i64) {
        self.state = state;
        self.state_timestamp = now;
    }

    /// Protocols every member supports, in the first member's preference order.
    pub fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return vec![];
        };
        let rest: Vec<&Member> = members.collect();
        first
            .protocols
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| rest.iter().all(|m| m.protocols.iter().any(|(p, _)| p == n)))
            .collect()
    }

    /// Whether a member with these protocols may join (Kafka's `supportsProtocols`).
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// Kafka's protocol selection: each member votes for its most preferred protocol among
    /// those all members support; the most votes wins (ties: first member's preference).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<usize> = vec![0; candidates.len()];
        for m in self.members.values() {
            if let Some(i) = m
                .protocols
                .iter()
                .find_map(|(n, _)| candidates.iter().position(|c| c == n))
            {
                votes[i] += 1;
            }
        }
        let mut best: Option<usize> = None;
        for (i, v) in votes.iter().enumerate() {
            if best.is_none_or(|b| *v > votes[b]) {
                best = Some(i);
            }
        }
        best.map(|i| candidates[i].clone())
    }

    /// Topics the group's consumers subscribe to (from the chosen protocol's metadata, the
    /// consumer protocol's Subscription: version, then an array of topic names).
    pub fn subscribed_topics(&self) -> Option<Vec<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol.as_deref()?;
        let mut topics = Vec::new();
        for m in self.members.values() {
            topics.extend(parse_subscription_topics(&m.metadata_for(protocol))?);
        }
        Some(topics)
    }

    pub fn is_full(&self, max: usize) -> bool {
        self.members.len() >= max
    }
}

/// The topic names in a consumer-protocol Subscription (any version: they come first).
pub fn parse_subscription_topics(b: &[u8]) -> Option<Vec<String>> {
    let mut pos = 2usize; // version
    let read_i32 = |pos: &mut usize| -> Option<i32> {
        let v = i32::from_be_bytes(b.get(*pos..*pos + 4)?.try_into().ok()?);
        *pos += 4;
        Some(v)
    };
    let count = read_i32(&mut pos)?;
    let mut out = Vec::new();
    for _ in 0..count.max(0) {
        let len = i16::from_be_bytes(b.get(pos..pos + 2)?.try_into().ok()?);
        pos += 2;
        if len < 0 {
            return None;
        }
        let s = b.get(pos..pos + len as usize)?;
        pos += len as usize;
        out.push(String::from_utf8_lossy(s).into_owned());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout_ms: 1000,
            session_timeout_ms: 1000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::new()))
                .collect(),
            assignment: Bytes::new(),
            join_waiter: None,
            sync_waiter: None,
            session_deadline: 0,
        }
    }

    #[test]
    fn protocol_selection_picks_the_most_preferred_protocol_every_member_supports() {
        let mut g = Group::new("g", 0);
        g.protocol_type = Some("consumer".into());
        g.members
            .insert("a".into(), member("a", &["cooperative-sticky", "range"]));
        g.members
            .insert("b".into(), member("b", &["range", "cooperative-sticky"]));
        g.members.insert("c".into(), member("c", &["range"]));
        assert_eq!(g.candidate_protocols(), vec!["range".to_string()]);
        assert_eq!(g.select_protocol().as_deref(), Some("range"));
        let newcomer = [("roundrobin".to_string(), Bytes::new())];
        assert!(!g.supports("consumer", &newcomer));
    }

    #[test]
    fn subscription_topics_are_read_from_consumer_protocol_metadata() {
        let mut b = vec![0, 1, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c'];
        b.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            parse_subscription_topics(&b),
            Some(vec!["a".to_string(), "bc".to_string()])
        );
        assert_eq!(
            parse_subscription_topics(&[0, 1, 0x7f, 0xff, 0xff, 0xff]),
            None
        );
    }
}
