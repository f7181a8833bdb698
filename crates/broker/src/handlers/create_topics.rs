//! CreateTopics: validate names, partition counts, replication and configs; create, or with
//! `validate_only` only check. Each topic succeeds or fails on its own.

use super::str_bytes;
use crate::config::describe::topic_entries;
use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, RequestHeader};
use std::collections::BTreeMap;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let duplicates = super::duplicates(req.topics.iter().map(|t| t.name.to_string()));
    let state2 = state.clone();
    let validate_only = req.validate_only;
    let results = tokio::task::spawn_blocking(move || {
        req.topics
            .into_iter()
            .map(|t| {
                let mut r = CreatableTopicResult::default();
                r.name = t.name.clone();
                // Kafka answers null, not "", when there is no error.
                r.error_message = None;
                let outcome = if duplicates.contains(t.name.as_str()) {
                    Err(BrokerError::InvalidRequest(format!(
                        "topic '{}' appears more than once in the request",
                        t.name.as_str()
                    )))
                } else {
                    create_one(&state2, &t, validate_only)
                };
                match outcome {
                    Ok((partitions, id)) => {
                        r.num_partitions = partitions;
                        r.replication_factor = 1;
                        r.topic_id = id;
                        let topic = state2.topics.get(t.name.as_str());
                        r.configs = Some(match topic {
                            Some(topic) => topic_entries(&state2, &topic)
                                .into_iter()
                                .map(|e| {
                                    let mut c = CreatableTopicConfigs::default();
                                    c.name = str_bytes(e.name);
                                    c.value = e.value.map(str_bytes);
                                    c.read_only = e.read_only;
                                    c.config_source = e.source as i8;
                                    c.is_sensitive = e.sensitive;
                                    c
                                })
                                .collect(),
                            None => Vec::new(),
                        });
                    }
                    Err(e) => {
                        r.error_code = e.wire_code();
                        r.error_message = Some(str_bytes(e.to_string()));
                        r.num_partitions = -1;
                        r.replication_factor = -1;
                    }
                }
                r
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut response = CreateTopicsResponse::default();
    response.topics = results;
    response
}

fn create_one(
    state: &BrokerState,
    t: &CreatableTopic,
    validate_only: bool,
) -> Result<(i32, uuid::Uuid), BrokerError> {
    let name = t.name.as_str();
    let node = state.config.node_id;
    let partitions = if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(BrokerError::InvalidRequest(
                "both a replica assignment and a partition count or replication factor were given"
                    .into(),
            ));
        }
        for (i, a) in t.assignments.iter().enumerate() {
            if a.partition_index != i as i32
                || a.broker_ids.iter().any(|b| b.0 != node)
                || a.broker_ids.len() != 1
            {
                return Err(BrokerError::InvalidReplicationFactor(format!(
                    "replica assignment for partition {} must be [{node}] on this single-node cluster",
                    a.partition_index
                )));
            }
        }
        t.assignments.len() as i32
    } else if t.num_partitions == -1 {
        state.config.num_partitions
    } else {
        t.num_partitions
    };
    let rf = if t.replication_factor == -1 {
        state.config.default_replication_factor
    } else {
        t.replication_factor
    };
    if rf < 1 {
        return Err(BrokerError::InvalidReplicationFactor(format!(
            "replication factor must be larger than 0, got {rf}"
        )));
    }
    if rf > 1 {
        return Err(BrokerError::InvalidReplicationFactor(format!(
            "Replication factor: {rf} larger than available brokers: 1."
        )));
    }
    let mut overrides = BTreeMap::new();
    for c in &t.configs {
        match &c.value {
            Some(v) => {
                overrides.insert(c.name.to_string(), v.to_string());
            }
            None => {
                return Err(BrokerError::InvalidConfig(format!(
                    "config '{}' has a null value",
                    c.name.as_str()
                )))
            }
        }
    }
    if validate_only {
        state.topics.check_create(name, partitions, &overrides)?;
        return Ok((partitions, uuid::Uuid::nil()));
    }
    let topic = state.topics.create(name, partitions, overrides, false)?;
    Ok((partitions, topic.id))
}
