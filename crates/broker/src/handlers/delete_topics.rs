//! DeleteTopics: by name (v1-v5) or by name or id (v6). Refused when `delete.topic.enable` is
//! off. Deleting removes the topic's data (see [`crate::state::topics`] for the crash-safe
//! order). The internal `__consumer_offsets` is refused with INVALID_REQUEST: Kafka 4 deletes
//! it, losing every group's offsets; Runnel does not let a client do that.

use super::str_bytes;
use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    DeleteTopicsRequest, DeleteTopicsResponse, RequestHeader, TopicName,
};
use std::sync::Arc;
use uuid::Uuid;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let mut targets: Vec<(Option<TopicName>, Uuid)> = req
        .topic_names
        .into_iter()
        .map(|n| (Some(n), Uuid::nil()))
        .collect();
    targets.extend(req.topics.into_iter().map(|t| (t.name, t.topic_id)));
    let state = state.clone();
    let responses = tokio::task::spawn_blocking(move || {
        targets
            .into_iter()
            .map(|(name, id)| delete_one(&state, name, id))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut response = DeleteTopicsResponse::default();
    response.responses = responses;
    response
}

fn delete_one(state: &BrokerState, name: Option<TopicName>, id: Uuid) -> DeletableTopicResult {
    let mut r = DeletableTopicResult::default();
    r.name = name.clone();
    r.topic_id = id;
    let resolved = match &name {
        Some(n) => state
            .topics
            .get(n.as_str())
            .ok_or(BrokerError::UnknownTopicOrPartition),
        None => state
            .topics
            .get_by_id(id)
            .ok_or(BrokerError::UnknownTopicId),
    };
    let outcome = resolved.and_then(|t| {
        r.name = Some(super::topic_name(&t.name));
        r.topic_id = t.id;
        if !state.config.delete_topic_enable {
            return Err(BrokerError::TopicDeletionDisabled);
        }
        if t.internal {
            return Err(BrokerError::InvalidRequest(format!(
                "Deletion of internal topic {} is prohibited.",
                t.name
            )));
        }
        state.topics.delete(&t.name)?;
        // As Kafka: committed offsets of a deleted topic go too (tombstones).
        state.groups.remove_topic_offsets(&t.name);
        Ok(())
    });
    if let Err(e) = outcome {
        r.error_code = e.wire_code();
        r.error_message = Some(str_bytes(e.to_string()));
    }
    r
}
