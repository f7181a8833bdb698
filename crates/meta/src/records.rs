//! The metadata records (what the image holds) and the commands proposed to the quorum.
//!
//! In the spirit of KRaft's records: a command is what a controller proposes; it carries the
//! epochs its author saw (compare-and-set) and is checked again when it is applied, in log
//! order, on every node, so two racing proposals cannot both win.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Kafka's broker / node id type.
pub type BrokerId = i32;

/// Kafka's AllocateProducerIds block length (`ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: i32 = 1000;

/// A listener a broker registered (name, host, port, security protocol as Kafka's names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: String,
}

/// A broker's registration (KRaft's `RegisterBrokerRecord` plus fencing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub broker_id: BrokerId,
    /// Changes every time the broker process starts.
    pub incarnation_id: Uuid,
    /// The log index of the entry that registered this incarnation (Kafka: the offset).
    pub broker_epoch: i64,
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    /// A new registration is fenced until the broker is unfenced (by its heartbeat).
    pub fenced: bool,
}

/// A topic (KRaft's `TopicRecord`) with its own configs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub topic_id: Uuid,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<crate::partition::PartitionRecord>,
}

/// Where a config lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConfigResource {
    Topic(String),
    Broker(BrokerId),
    /// Kafka's cluster-wide default (the broker resource with an empty name).
    ClusterDefault,
}

/// A block of producer ids handed to one broker (KRaft's `ProducerIdsRecord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerIdBlock {
    pub broker_id: BrokerId,
    pub first_producer_id: i64,
    pub size: i32,
}

impl ProducerIdBlock {
    /// One past the last id of the block.
    pub fn end(&self) -> i64 {
        self.first_producer_id + i64::from(self.size)
    }
}

/// A change proposed to the metadata quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Set once; proposing a different id later is rejected.
    SetClusterId {
        cluster_id: String,
    },
    RegisterBroker {
        broker_id: BrokerId,
        incarnation_id: Uuid,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
    },
    /// A heartbeat's effect: the broker may lead and be in ISRs again.
    UnfenceBroker {
        broker_id: BrokerId,
        expected_broker_epoch: i64,
    },
    /// A missed session: the broker's epoch stays, it is fenced.
    FenceBroker {
        broker_id: BrokerId,
        expected_broker_epoch: i64,
    },
    UnregisterBroker {
        broker_id: BrokerId,
        expected_broker_epoch: i64,
    },
    /// Each inner list is one partition's replicas; the first is the preferred leader.
    CreateTopic {
        name: String,
        topic_id: Uuid,
        configs: BTreeMap<String, String>,
        assignments: Vec<Vec<BrokerId>>,
    },
    DeleteTopic {
        topic_id: Uuid,
    },
    CreatePartitions {
        topic_id: Uuid,
        assignments: Vec<Vec<BrokerId>>,
    },
    /// KRaft's `PartitionChangeRecord` behind AlterPartition / elections.
    ChangePartition {
        topic_id: Uuid,
        partition: i32,
        expected_partition_epoch: i32,
        expected_leader_epoch: i32,
        change: crate::partition::PartitionChange,
    },
    /// `value: None` deletes the key.
    SetConfig {
        resource: ConfigResource,
        key: String,
        value: Option<String>,
    },
    /// AllocateProducerIds from a registered broker with its current epoch.
    AllocateProducerIds {
        broker_id: BrokerId,
        expected_broker_epoch: i64,
    },
}

/// What an applied command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// Entries with no command (openraft's blank and membership entries).
    Nothing,
    ClusterIdSet,
    BrokerRegistered {
        broker_epoch: i64,
    },
    BrokerFenced,
    BrokerUnfenced,
    BrokerUnregistered,
    TopicCreated {
        topic_id: Uuid,
    },
    TopicDeleted,
    PartitionsCreated {
        partition_count: i32,
    },
    PartitionChanged {
        leader_epoch: i32,
        partition_epoch: i32,
    },
    ConfigSet,
    ProducerIds(ProducerIdBlock),
}

/// Why a command was refused when it was applied (the image is unchanged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CommandError {
    #[error("cluster id is already {existing:?}, not {proposed:?}")]
    ClusterIdMismatch { existing: String, proposed: String },
    #[error("topic {0:?} already exists")]
    TopicExists(String),
    #[error("topic id {0} already exists")]
    TopicIdExists(Uuid),
    #[error("unknown topic id {0}")]
    UnknownTopic(Uuid),
    #[error("unknown topic {0:?}")]
    UnknownTopicName(String),
    #[error("invalid topic name {0:?}")]
    InvalidTopicName(String),
    #[error("unknown partition {partition} of topic {topic_id}")]
    UnknownPartition { topic_id: Uuid, partition: i32 },
    #[error("invalid replica assignment: {0}")]
    InvalidReplicas(String),
    #[error("stale partition epoch: expected {expected}, current {current}")]
    StalePartitionEpoch { expected: i32, current: i32 },
    #[error("stale leader epoch: expected {expected}, current {current}")]
    StaleLeaderEpoch { expected: i32, current: i32 },
    #[error("invalid partition change: {0}")]
    InvalidPartitionChange(String),
    #[error("unknown broker {0}")]
    UnknownBroker(BrokerId),
    #[error("stale broker epoch for broker {broker_id}: expected {expected}, current {current}")]
    StaleBrokerEpoch {
        broker_id: BrokerId,
        expected: i64,
        current: i64,
    },
    #[error("broker {0} is fenced")]
    BrokerFenced(BrokerId),
    #[error("producer ids exhausted")]
    ProducerIdsExhausted,
}
