//! Metadata: brokers, controller and topics with their partitions; creates unknown topics when
//! `auto.create.topics.enable` is on and the client allows it.

use super::{str_bytes, topic_name};
use crate::error::BrokerError;
use crate::state::topics::{validate_topic_name, Topic};
use crate::state::BrokerState;
use kafka_protocol::messages::metadata_response::*;
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, RequestHeader};
use std::collections::BTreeMap;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: MetadataRequest,
) -> MetadataResponse {
    let version = header.request_api_version;
    let node = BrokerId(state.config.node_id);
    let mut response = MetadataResponse::default();
    let mut broker = MetadataResponseBroker::default();
    broker.node_id = node;
    broker.host = str_bytes(state.config.advertised_host.clone());
    broker.port = state.config.advertised_port;
    response.brokers = vec![broker];
    response.cluster_id = Some(str_bytes(state.cluster_id.clone()));
    response.controller_id = node;

    // v0: an empty list means every topic; v1+: null means every topic.
    let all = match &req.topics {
        None => true,
        Some(t) => t.is_empty() && version == 0,
    };
    if all {
        response.topics = state
            .topics
            .list()
            .iter()
            .map(|t| describe(state, t))
            .collect();
        return response;
    }
    let allow_create =
        state.config.auto_create_topics_enable && (version < 4 || req.allow_auto_topic_creation);
    for requested in req.topics.unwrap_or_default() {
        let topic = match &requested.name {
            Some(name) => lookup_or_create(state, name.as_str(), allow_create).await,
            None => state
                .topics
                .get_by_id(requested.topic_id)
                .ok_or(BrokerError::UnknownTopicId),
        };
        response.topics.push(match topic {
            Ok(t) => describe(state, &t),
            Err(e) => {
                let mut t = MetadataResponseTopic::default();
                t.error_code = e.wire_code();
                t.name = requested.name.clone();
                t.topic_id = requested.topic_id;
                t
            }
        });
    }
    response
}

async fn lookup_or_create(
    state: &Arc<BrokerState>,
    name: &str,
    allow_create: bool,
) -> Result<Arc<Topic>, BrokerError> {
    if let Some(t) = state.topics.get(name) {
        return Ok(t);
    }
    validate_topic_name(name)?;
    if !allow_create {
        return Err(BrokerError::UnknownTopicOrPartition);
    }
    let (state, name) = (state.clone(), name.to_string());
    tokio::task::spawn_blocking(move || {
        match state
            .topics
            .create(&name, state.config.num_partitions, BTreeMap::new(), false)
        {
            // Another request created it first: fine.
            Err(BrokerError::TopicAlreadyExists(_)) => state
                .topics
                .get(&name)
                .ok_or(BrokerError::UnknownTopicOrPartition),
            other => other,
        }
    })
    .await
    .unwrap_or_else(|e| {
        Err(BrokerError::InvalidRequest(format!(
            "topic creation task failed: {e}"
        )))
    })
}

fn describe(state: &BrokerState, topic: &Topic) -> MetadataResponseTopic {
    let node = BrokerId(state.config.node_id);
    let mut t = MetadataResponseTopic::default();
    t.name = Some(topic_name(&topic.name));
    t.topic_id = topic.id;
    t.is_internal = topic.internal;
    t.partitions = topic
        .partitions
        .iter()
        .map(|p| {
            let mut mp = MetadataResponsePartition::default();
            mp.partition_index = p.index;
            mp.leader_id = node;
            mp.leader_epoch = p.leader_epoch;
            mp.replica_nodes = vec![node];
            mp.isr_nodes = vec![node];
            mp
        })
        .collect();
    t
}
