//! CreatePartitions: grow a topic to a new partition count (never shrink), optionally with a
//! replica assignment for the new partitions, which on a single node must name only this node.
//! The internal `__consumer_offsets` is refused with INVALID_REQUEST (Kafka 4 accepts it and
//! thereby moves groups away from their offsets; Runnel does not let a client do that).

use super::str_bytes;
use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, RequestHeader};
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let duplicates = super::duplicates(req.topics.iter().map(|t| t.name.to_string()));
    let state = state.clone();
    let validate_only = req.validate_only;
    let results = tokio::task::spawn_blocking(move || {
        req.topics
            .iter()
            .map(|t| {
                let mut r = CreatePartitionsTopicResult::default();
                r.name = t.name.clone();
                let outcome = if duplicates.contains(t.name.as_str()) {
                    Err(BrokerError::InvalidRequest(
                        "Duplicate topic in request.".into(),
                    ))
                } else {
                    create_one(&state, t, validate_only)
                };
                if let Err(e) = outcome {
                    r.error_code = e.wire_code();
                    r.error_message = Some(str_bytes(e.to_string()));
                }
                r
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut response = CreatePartitionsResponse::default();
    response.results = results;
    response
}

fn create_one(
    state: &BrokerState,
    t: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), BrokerError> {
    let name = t.name.as_str();
    let topic = state
        .topics
        .get(name)
        .ok_or(BrokerError::UnknownTopicOrPartition)?;
    if topic.internal {
        // Groups are placed by hash modulo the partition count: more partitions would move
        // groups away from their committed offsets.
        return Err(BrokerError::InvalidRequest(format!(
            "The number of partitions of internal topic {name} cannot be changed."
        )));
    }
    let current = topic.partitions.len() as i32;
    if let Some(assignments) = &t.assignments {
        if t.count > current {
            let adding = t.count - current;
            if assignments.len() as i32 != adding {
                return Err(BrokerError::InvalidReplicaAssignment(format!(
                    "Increasing the number of partitions by {adding} but {} assignments provided.",
                    assignments.len()
                )));
            }
            let node = state.config.node_id;
            for (i, a) in assignments.iter().enumerate() {
                if a.broker_ids.len() != 1 || a.broker_ids[0].0 != node {
                    let ids: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
                    return Err(BrokerError::InvalidReplicaAssignment(format!(
                        "replica assignment {ids:?} for new partition {} must be [{node}] on this single-node cluster",
                        current + i as i32
                    )));
                }
            }
        }
    }
    state.topics.add_partitions(name, t.count, validate_only)
}
