//! The metadata image: the state that applying the committed log in order yields.
//!
//! [`Image::apply`] checks a command completely before it changes anything, so a refused
//! command leaves the image exactly as it was, and every node refuses it the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::partition::{validate_replicas, PartitionChange, PartitionRecord};
use crate::records::{
    Applied, BrokerId, BrokerRegistration, Command, CommandError, ConfigResource, Endpoint,
    ProducerIdBlock, TopicRecord, PRODUCER_ID_BLOCK_SIZE,
};

/// Kafka's topic name limit (`Topic.MAX_NAME_LENGTH`).
const TOPIC_NAME_MAX_LENGTH: usize = 249;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    cluster_id: Option<String>,
    topics: BTreeMap<Uuid, TopicRecord>,
    topic_names: BTreeMap<String, Uuid>,
    brokers: BTreeMap<BrokerId, BrokerRegistration>,
    broker_configs: BTreeMap<BrokerId, BTreeMap<String, String>>,
    cluster_configs: BTreeMap<String, String>,
    next_producer_id: i64,
    /// The newest block each broker was given.
    producer_id_blocks: BTreeMap<BrokerId, ProducerIdBlock>,
    /// The log index of the last entry applied (openraft's first entry has index 0).
    last_applied_index: Option<u64>,
}

impl Image {
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }
    pub fn topics(&self) -> impl Iterator<Item = &TopicRecord> {
        self.topics.values()
    }
    pub fn topic(&self, topic_id: &Uuid) -> Option<&TopicRecord> {
        self.topics.get(topic_id)
    }
    pub fn topic_by_name(&self, name: &str) -> Option<&TopicRecord> {
        self.topic_names
            .get(name)
            .and_then(|id| self.topics.get(id))
    }
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values()
    }
    pub fn broker(&self, broker_id: BrokerId) -> Option<&BrokerRegistration> {
        self.brokers.get(&broker_id)
    }
    /// The configs set on a resource (topic configs live with the topic).
    pub fn configs(&self, resource: &ConfigResource) -> Option<&BTreeMap<String, String>> {
        match resource {
            ConfigResource::Topic(name) => self.topic_by_name(name).map(|t| &t.configs),
            ConfigResource::Broker(id) => self.broker_configs.get(id),
            ConfigResource::ClusterDefault => Some(&self.cluster_configs),
        }
    }
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }
    pub fn producer_id_block(&self, broker_id: BrokerId) -> Option<&ProducerIdBlock> {
        self.producer_id_blocks.get(&broker_id)
    }
    pub fn last_applied_index(&self) -> Option<u64> {
        self.last_applied_index
    }

    /// Records that the entry at `index` was applied (also for entries with no command).
    pub fn advance(&mut self, index: u64) {
        assert!(
            self.last_applied_index.is_none_or(|last| index > last),
            "log index must grow: applying {index} after {:?}",
            self.last_applied_index
        );
        self.last_applied_index = Some(index);
    }

    /// Applies the command in the log entry at `index`. On error the image is unchanged
    /// except for `last_applied_index`, which moves past the entry either way.
    pub fn apply(&mut self, index: u64, command: &Command) -> Result<Applied, CommandError> {
        self.advance(index);
        match command {
            Command::SetClusterId { cluster_id } => self.set_cluster_id(cluster_id),
            Command::RegisterBroker {
                broker_id,
                incarnation_id,
                endpoints,
                rack,
            } => Ok(self.register_broker(index, *broker_id, *incarnation_id, endpoints, rack)),
            Command::UnfenceBroker {
                broker_id,
                expected_broker_epoch,
            } => {
                self.check_broker_epoch(*broker_id, *expected_broker_epoch)?;
                self.brokers.get_mut(broker_id).expect("checked").fenced = false;
                Ok(Applied::BrokerUnfenced)
            }
            Command::FenceBroker {
                broker_id,
                expected_broker_epoch,
            } => {
                self.check_broker_epoch(*broker_id, *expected_broker_epoch)?;
                self.brokers.get_mut(broker_id).expect("checked").fenced = true;
                Ok(Applied::BrokerFenced)
            }
            Command::UnregisterBroker {
                broker_id,
                expected_broker_epoch,
            } => {
                self.check_broker_epoch(*broker_id, *expected_broker_epoch)?;
                self.brokers.remove(broker_id);
                self.broker_configs.remove(broker_id);
                Ok(Applied::BrokerUnregistered)
            }
            Command::CreateTopic {
                name,
                topic_id,
                configs,
                assignments,
            } => self.create_topic(name, *topic_id, configs, assignments),
            Command::DeleteTopic { topic_id } => {
                let topic = self
                    .topics
                    .remove(topic_id)
                    .ok_or(CommandError::UnknownTopic(*topic_id))?;
                self.topic_names.remove(&topic.name);
                Ok(Applied::TopicDeleted)
            }
            Command::CreatePartitions {
                topic_id,
                assignments,
            } => self.create_partitions(*topic_id, assignments),
            Command::ChangePartition {
                topic_id,
                partition,
                expected_partition_epoch,
                expected_leader_epoch,
                change,
            } => self.change_partition(
                *topic_id,
                *partition,
                *expected_partition_epoch,
                *expected_leader_epoch,
                change,
            ),
            Command::SetConfig {
                resource,
                key,
                value,
            } => self.set_config(resource, key, value),
            Command::AllocateProducerIds {
                broker_id,
                expected_broker_epoch,
            } => self.allocate_producer_ids(*broker_id, *expected_broker_epoch),
        }
    }

    fn set_cluster_id(&mut self, cluster_id: &str) -> Result<Applied, CommandError> {
        match &self.cluster_id {
            Some(existing) if existing != cluster_id => Err(CommandError::ClusterIdMismatch {
                existing: existing.clone(),
                proposed: cluster_id.to_string(),
            }),
            _ => {
                self.cluster_id = Some(cluster_id.to_string());
                Ok(Applied::ClusterIdSet)
            }
        }
    }

    fn register_broker(
        &mut self,
        index: u64,
        broker_id: BrokerId,
        incarnation_id: Uuid,
        endpoints: &[Endpoint],
        rack: &Option<String>,
    ) -> Applied {
        // A retried registration of the same incarnation keeps its epoch (Kafka does too).
        if let Some(existing) = self.brokers.get(&broker_id) {
            if existing.incarnation_id == incarnation_id {
                return Applied::BrokerRegistered {
                    broker_epoch: existing.broker_epoch,
                };
            }
        }
        let broker_epoch = i64::try_from(index).expect("log index fits i64");
        if let Some(old) = self.brokers.get(&broker_id) {
            assert!(
                broker_epoch > old.broker_epoch,
                "broker {broker_id} epoch must grow: {} -> {broker_epoch}",
                old.broker_epoch
            );
        }
        let registration = BrokerRegistration {
            broker_id,
            incarnation_id,
            broker_epoch,
            endpoints: endpoints.to_vec(),
            rack: rack.clone(),
            fenced: true,
        };
        self.brokers.insert(broker_id, registration);
        Applied::BrokerRegistered { broker_epoch }
    }

    fn check_broker_epoch(&self, broker_id: BrokerId, expected: i64) -> Result<(), CommandError> {
        let broker = self
            .brokers
            .get(&broker_id)
            .ok_or(CommandError::UnknownBroker(broker_id))?;
        if broker.broker_epoch != expected {
            return Err(CommandError::StaleBrokerEpoch {
                broker_id,
                expected,
                current: broker.broker_epoch,
            });
        }
        Ok(())
    }

    fn create_topic(
        &mut self,
        name: &str,
        topic_id: Uuid,
        configs: &BTreeMap<String, String>,
        assignments: &[Vec<BrokerId>],
    ) -> Result<Applied, CommandError> {
        validate_topic_name(name)?;
        if self.topic_names.contains_key(name) {
            return Err(CommandError::TopicExists(name.to_string()));
        }
        if topic_id.is_nil() || self.topics.contains_key(&topic_id) {
            return Err(CommandError::TopicIdExists(topic_id));
        }
        let partitions = new_partitions(0, assignments)?;
        self.topic_names.insert(name.to_string(), topic_id);
        let topic = TopicRecord {
            name: name.to_string(),
            topic_id,
            configs: configs.clone(),
            partitions,
        };
        self.topics.insert(topic_id, topic);
        Ok(Applied::TopicCreated { topic_id })
    }

    fn create_partitions(
        &mut self,
        topic_id: Uuid,
        assignments: &[Vec<BrokerId>],
    ) -> Result<Applied, CommandError> {
        let topic = self
            .topics
            .get_mut(&topic_id)
            .ok_or(CommandError::UnknownTopic(topic_id))?;
        let first = i32::try_from(topic.partitions.len()).expect("partition count fits i32");
        let added = new_partitions(first, assignments)?;
        topic.partitions.extend(added);
        let partition_count =
            i32::try_from(topic.partitions.len()).expect("partition count fits i32");
        Ok(Applied::PartitionsCreated { partition_count })
    }

    fn change_partition(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        expected_partition_epoch: i32,
        expected_leader_epoch: i32,
        change: &PartitionChange,
    ) -> Result<Applied, CommandError> {
        let topic = self
            .topics
            .get_mut(&topic_id)
            .ok_or(CommandError::UnknownTopic(topic_id))?;
        let record = usize::try_from(partition)
            .ok()
            .and_then(|p| topic.partitions.get_mut(p))
            .ok_or(CommandError::UnknownPartition {
                topic_id,
                partition,
            })?;
        record.apply_change(expected_partition_epoch, expected_leader_epoch, change)?;
        Ok(Applied::PartitionChanged {
            leader_epoch: record.leader_epoch(),
            partition_epoch: record.partition_epoch(),
        })
    }

    fn set_config(
        &mut self,
        resource: &ConfigResource,
        key: &str,
        value: &Option<String>,
    ) -> Result<Applied, CommandError> {
        let configs = match resource {
            ConfigResource::Topic(name) => {
                let id = self
                    .topic_names
                    .get(name)
                    .ok_or_else(|| CommandError::UnknownTopicName(name.clone()))?;
                &mut self
                    .topics
                    .get_mut(id)
                    .expect("name index matches topics")
                    .configs
            }
            ConfigResource::Broker(id) => self.broker_configs.entry(*id).or_default(),
            ConfigResource::ClusterDefault => &mut self.cluster_configs,
        };
        match value {
            Some(value) => configs.insert(key.to_string(), value.clone()),
            None => configs.remove(key),
        };
        if let ConfigResource::Broker(id) = resource {
            if self.broker_configs.get(id).is_some_and(|c| c.is_empty()) {
                self.broker_configs.remove(id);
            }
        }
        Ok(Applied::ConfigSet)
    }

    fn allocate_producer_ids(
        &mut self,
        broker_id: BrokerId,
        expected: i64,
    ) -> Result<Applied, CommandError> {
        self.check_broker_epoch(broker_id, expected)?;
        let first = self.next_producer_id;
        let next = first
            .checked_add(i64::from(PRODUCER_ID_BLOCK_SIZE))
            .ok_or(CommandError::ProducerIdsExhausted)?;
        let block = ProducerIdBlock {
            broker_id,
            first_producer_id: first,
            size: PRODUCER_ID_BLOCK_SIZE,
        };
        assert!(
            next > first,
            "next producer id must grow: {first} -> {next}"
        );
        self.next_producer_id = next;
        self.producer_id_blocks.insert(broker_id, block);
        Ok(Applied::ProducerIds(block))
    }
}

fn new_partitions(
    first: i32,
    assignments: &[Vec<BrokerId>],
) -> Result<Vec<PartitionRecord>, CommandError> {
    if assignments.is_empty() {
        return Err(CommandError::InvalidReplicas("no partitions".into()));
    }
    for replicas in assignments {
        validate_replicas(replicas)?;
    }
    (first..)
        .zip(assignments)
        .map(|(partition, replicas)| PartitionRecord::new(partition, replicas.clone()))
        .collect()
}

/// Kafka's `Topic.validate`: 1..=249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn validate_topic_name(name: &str) -> Result<(), CommandError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty()
        || name.len() > TOPIC_NAME_MAX_LENGTH
        || name == "."
        || name == ".."
        || !name.chars().all(legal)
    {
        return Err(CommandError::InvalidTopicName(name.to_string()));
    }
    Ok(())
}
