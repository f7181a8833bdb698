//! DescribeTopicPartitions (API 75, KIP-966): topics with their partitions, leaders, replicas,
//! ISRs and eligible leader replicas, paged by a partition limit and a cursor. Kafka 4.x's
//! tools (`kafka-topics --describe`) read partitions with it; Metadata is their fallback.
//!
//! As Kafka 4.4 answers (`DescribeTopicPartitionsRequestHandler`, measured in
//! tests/interop/test_differential_topic_partitions.py):
//! - topics are answered sorted by name, each once; an empty topic list means every topic;
//! - at most `response_partition_limit` partitions (clamped to 1..=2000, Kafka's
//!   `max.request.partition.size.limit`) are answered; a topic cut short gets a next cursor at
//!   its next partition, and a topic not reached at all a cursor at its partition 0;
//! - a cursor starts at its topic and partition: topics sorting before it are left out;
//! - a cursor with a negative partition or naming a topic not in the request fails the whole
//!   request (INVALID_REQUEST for every topic named), as does an empty topic name
//!   (UNKNOWN_SERVER_ERROR: Kafka's authorizer throws on it);
//! - unknown topics are UNKNOWN_TOPIC_OR_PARTITION and invalid names INVALID_TOPIC_EXCEPTION,
//!   unless every topic was asked for;
//! - a single broker: ELR and last known ELR are empty, no replica is offline.

use super::topic_name;
use crate::error::BrokerError;
use crate::state::topics::{validate_topic_name, Topic};
use crate::state::BrokerState;
use kafka_protocol::messages::describe_topic_partitions_response::*;
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, RequestHeader,
};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Kafka's `max.request.partition.size.limit` default: the most partitions one answer holds.
const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

/// Kafka's `AclOperation` codes a topic supports (READ, WRITE, CREATE, DELETE, ALTER,
/// DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS): with no authorizer, all are allowed.
const TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    match check(&req) {
        Ok(()) => answer(state, &req),
        Err(e) => error_response(&req, &e),
    }
}

fn check(req: &DescribeTopicPartitionsRequest) -> Result<(), BrokerError> {
    if req.topics.iter().any(|t| t.name.is_empty()) {
        return Err(BrokerError::UnknownServerError(
            "an empty topic name".into(),
        ));
    }
    if let Some(c) = &req.cursor {
        if c.partition_index < 0 {
            return Err(BrokerError::InvalidRequest(format!(
                "partitionIndex should be >= 0, but got {}",
                c.partition_index
            )));
        }
        if !req.topics.is_empty() && !req.topics.iter().any(|t| t.name == c.topic_name) {
            return Err(BrokerError::InvalidRequest(format!(
                "DescribeTopicPartitionsRequest cursor topic {} is not in the request",
                c.topic_name.as_str()
            )));
        }
    }
    Ok(())
}

/// Kafka's answer to a request it refuses as a whole: every topic named, with the error.
fn error_response(
    req: &DescribeTopicPartitionsRequest,
    e: &BrokerError,
) -> DescribeTopicPartitionsResponse {
    let mut response = DescribeTopicPartitionsResponse::default();
    response.topics = req
        .topics
        .iter()
        .map(|t| {
            let mut out = DescribeTopicPartitionsResponseTopic::default();
            out.error_code = e.wire_code();
            out.name = Some(t.name.clone());
            out.topic_authorized_operations = i32::MIN;
            out
        })
        .collect();
    response
}

fn answer(
    state: &BrokerState,
    req: &DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let every_topic = req.topics.is_empty();
    let (cursor_topic, cursor_partition) = match &req.cursor {
        Some(c) => (c.topic_name.to_string(), c.partition_index),
        None => (String::new(), 0),
    };
    let names: BTreeSet<String> = if every_topic {
        state.topics.list().iter().map(|t| t.name.clone()).collect()
    } else {
        req.topics.iter().map(|t| t.name.to_string()).collect()
    };
    let mut remaining = req
        .response_partition_limit
        .clamp(1, MAX_PARTITIONS_PER_RESPONSE);
    let mut response = DescribeTopicPartitionsResponse::default();
    for name in names.range(cursor_topic.clone()..) {
        if remaining == 0 {
            response.next_cursor = Some(cursor(name, 0));
            break;
        }
        let first = if *name == cursor_topic {
            cursor_partition
        } else {
            0
        };
        match find(state, name) {
            Ok(topic) => {
                let t = describe(state, &topic, first, remaining);
                let next = first.saturating_add(t.partitions.len() as i32);
                let cut_short = (next as usize) < topic.partitions.len();
                remaining -= t.partitions.len() as i32;
                response.topics.push(t);
                if cut_short {
                    response.next_cursor = Some(cursor(name, next));
                    break;
                }
            }
            Err(_) if every_topic => {}
            Err(e) => {
                let mut t = DescribeTopicPartitionsResponseTopic::default();
                t.error_code = e.wire_code();
                t.name = Some(topic_name(name));
                t.topic_authorized_operations = TOPIC_OPERATIONS;
                response.topics.push(t);
            }
        }
    }
    response
}

fn find(state: &BrokerState, name: &str) -> Result<Arc<Topic>, BrokerError> {
    match state.topics.get(name) {
        Some(t) => Ok(t),
        None => {
            validate_topic_name(name)?;
            Err(BrokerError::UnknownTopicOrPartition)
        }
    }
}

fn cursor(topic: &str, partition_index: i32) -> Cursor {
    let mut c = Cursor::default();
    c.topic_name = topic_name(topic);
    c.partition_index = partition_index;
    c
}

/// `topic` from partition `first` on, at most `limit` partitions.
fn describe(
    state: &BrokerState,
    topic: &Topic,
    first: i32,
    limit: i32,
) -> DescribeTopicPartitionsResponseTopic {
    let node = BrokerId(state.config.node_id);
    let mut t = DescribeTopicPartitionsResponseTopic::default();
    t.name = Some(topic_name(&topic.name));
    t.topic_id = topic.id;
    t.is_internal = topic.internal;
    t.topic_authorized_operations = TOPIC_OPERATIONS;
    t.partitions = topic
        .partitions
        .iter()
        .skip(first.max(0) as usize)
        .take(limit.max(0) as usize)
        .map(|p| {
            let mut out = DescribeTopicPartitionsResponsePartition::default();
            out.partition_index = p.index;
            out.leader_id = node;
            out.leader_epoch = p.leader_epoch;
            out.replica_nodes = vec![node];
            out.isr_nodes = vec![node];
            out.eligible_leader_replicas = Some(vec![]);
            out.last_known_elr = Some(vec![]);
            out.offline_replicas = vec![];
            out
        })
        .collect();
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_operations_are_kafkas_3576() {
        assert_eq!(TOPIC_OPERATIONS, 3576);
    }

    #[test]
    fn a_cursor_with_a_negative_partition_is_refused() {
        let mut req = DescribeTopicPartitionsRequest::default();
        let mut c = kafka_protocol::messages::describe_topic_partitions_request::Cursor::default();
        c.topic_name = topic_name("a");
        c.partition_index = -1;
        req.cursor = Some(c);
        assert!(matches!(check(&req), Err(BrokerError::InvalidRequest(_))));
    }
}
