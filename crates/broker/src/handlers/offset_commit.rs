//! OffsetCommit: stores committed offsets (with metadata) for a group, after the group and
//! member checks; each partition is checked for an existing topic/partition and
//! `offset.metadata.max.bytes`.

use crate::coordinator::CommitPartition;
use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let max_metadata = state.groups.config.offset_metadata_max_bytes;
    let mut parts = Vec::new();
    for t in &req.topics {
        let topic = state.topics.get(&t.name.0);
        for p in &t.partitions {
            let metadata = p
                .committed_metadata
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default();
            let error = match &topic {
                Some(topic)
                    if p.partition_index >= 0
                        && (p.partition_index as usize) < topic.partitions.len() =>
                {
                    (metadata.len() > max_metadata)
                        .then_some(BrokerError::OffsetMetadataTooLarge(metadata.len()))
                }
                _ => Some(BrokerError::UnknownTopicOrPartition),
            };
            parts.push(CommitPartition {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata,
                error,
            });
        }
    }
    let mut results = state
        .groups
        .commit(
            &req.group_id.0,
            req.generation_id_or_member_epoch,
            &req.member_id,
            req.group_instance_id.as_deref(),
            parts,
        )
        .await
        .into_iter();
    let mut resp = OffsetCommitResponse::default();
    for t in req.topics {
        let mut rt = OffsetCommitResponseTopic::default();
        for p in t.partitions {
            let mut rp = OffsetCommitResponsePartition::default();
            rp.partition_index = p.partition_index;
            rp.error_code = super::next_error_code(&mut results);
            rt.partitions.push(rp);
        }
        rt.name = t.name;
        resp.topics.push(rt);
    }
    resp
}
