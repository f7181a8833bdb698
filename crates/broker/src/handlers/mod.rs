//! Request dispatch: one module per Kafka API, each with
//! `handle(state, header, request) -> response`.
//!
//! Handlers never fail as a whole: per-topic and per-partition problems become error codes in
//! the response (via [`crate::error::BrokerError::code`]). What does fail here, closing the
//! connection as Kafka does, is a request that cannot be understood: unknown API key,
//! unsupported version, or bytes that do not decode.

mod alter_configs;
mod api_versions;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_topic_partitions;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod produce;
mod sync_group;

use crate::state::BrokerState;
use bytes::Bytes;
use kafka_protocol::messages::*;
use runnel_protocol::{decode_body, decode_request_header, encode_response, versions, Chunk};
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum HandleError {
    #[error(transparent)]
    Decode(#[from] runnel_protocol::DecodeError),
    #[error("{api:?} version {version} is not supported")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("encoding the response failed: {0}")]
    Encode(anyhow::Error),
    /// An acks=0 Produce failed for a partition. There is no response to carry the error, so
    /// the connection is closed for the client to notice, as Kafka's KafkaApis does.
    #[error("acks=0 produce failed with error code {error_code}")]
    AcksZeroProduceFailed { error_code: i16 },
}

/// Handles one request frame. The response is a whole frame as one or more chunks (Fetch keeps
/// records as their own chunks: segment file ranges, uncopied); `Ok(None)` means no response is
/// sent (Produce with acks=0). An error closes the connection.
pub async fn handle(
    state: &Arc<BrokerState>,
    frame: Bytes,
) -> Result<Option<Vec<Chunk>>, HandleError> {
    let req = decode_request_header(frame)?;
    let header = req.header;
    let version = header.request_api_version;
    let correlation_id = header.correlation_id;
    if req.api_key == ApiKey::ApiVersions {
        return api_versions::handle(&header, req.body).map(|b| Some(vec![Chunk::Bytes(b)]));
    }
    if !versions::is_supported(req.api_key, version) {
        return Err(HandleError::UnsupportedVersion {
            api: req.api_key,
            version,
        });
    }
    let mut body = req.body;
    macro_rules! dispatch {
        ($module:ident, $request:ty) => {{
            let request: $request = decode_body(&mut body, version)?;
            let response = $module::handle(state, &header, request).await;
            encode_response(correlation_id, version, &response).map_err(HandleError::Encode)?
        }};
    }
    let response = match req.api_key {
        ApiKey::Produce => {
            let request: ProduceRequest = decode_body(&mut body, version)?;
            let acks = request.acks;
            let response = produce::handle(state, &header, request).await;
            if acks == 0 {
                return match first_produce_error(&response) {
                    Some(error_code) => Err(HandleError::AcksZeroProduceFailed { error_code }),
                    None => Ok(None),
                };
            }
            encode_response(correlation_id, version, &response).map_err(HandleError::Encode)?
        }
        ApiKey::Fetch => {
            let request: FetchRequest = decode_body(&mut body, version)?;
            return fetch::handle(state, &header, request).await.map(Some);
        }
        ApiKey::ListOffsets => dispatch!(list_offsets, ListOffsetsRequest),
        ApiKey::Metadata => dispatch!(metadata, MetadataRequest),
        ApiKey::CreateTopics => dispatch!(create_topics, CreateTopicsRequest),
        ApiKey::DeleteTopics => dispatch!(delete_topics, DeleteTopicsRequest),
        ApiKey::InitProducerId => dispatch!(init_producer_id, InitProducerIdRequest),
        ApiKey::FindCoordinator => dispatch!(find_coordinator, FindCoordinatorRequest),
        ApiKey::JoinGroup => dispatch!(join_group, JoinGroupRequest),
        ApiKey::SyncGroup => dispatch!(sync_group, SyncGroupRequest),
        ApiKey::Heartbeat => dispatch!(heartbeat, HeartbeatRequest),
        ApiKey::LeaveGroup => dispatch!(leave_group, LeaveGroupRequest),
        ApiKey::DescribeGroups => dispatch!(describe_groups, DescribeGroupsRequest),
        ApiKey::ListGroups => dispatch!(list_groups, ListGroupsRequest),
        ApiKey::DeleteGroups => dispatch!(delete_groups, DeleteGroupsRequest),
        ApiKey::OffsetCommit => dispatch!(offset_commit, OffsetCommitRequest),
        ApiKey::OffsetFetch => dispatch!(offset_fetch, OffsetFetchRequest),
        ApiKey::OffsetDelete => dispatch!(offset_delete, OffsetDeleteRequest),
        ApiKey::DescribeConfigs => dispatch!(describe_configs, DescribeConfigsRequest),
        ApiKey::AlterConfigs => dispatch!(alter_configs, AlterConfigsRequest),
        ApiKey::IncrementalAlterConfigs => {
            dispatch!(incremental_alter_configs, IncrementalAlterConfigsRequest)
        }
        ApiKey::CreatePartitions => dispatch!(create_partitions, CreatePartitionsRequest),
        ApiKey::DeleteRecords => dispatch!(delete_records, DeleteRecordsRequest),
        ApiKey::DescribeCluster => dispatch!(describe_cluster, DescribeClusterRequest),
        ApiKey::DescribeLogDirs => dispatch!(describe_log_dirs, DescribeLogDirsRequest),
        ApiKey::DescribeTopicPartitions => {
            dispatch!(describe_topic_partitions, DescribeTopicPartitionsRequest)
        }
        other => {
            return Err(HandleError::UnsupportedVersion {
                api: other,
                version,
            })
        }
    };
    Ok(Some(vec![Chunk::Bytes(response)]))
}

/// The items that occur more than once: Kafka refuses every occurrence of a topic or resource
/// named twice in one admin request.
pub(crate) fn duplicates<T: Eq + std::hash::Hash + Clone>(
    items: impl Iterator<Item = T>,
) -> std::collections::HashSet<T> {
    let mut seen = std::collections::HashSet::new();
    items.filter(|i| !seen.insert(i.clone())).collect()
}

/// Shorthand for building `StrBytes` from owned strings.
/// The error code of the next per-partition result (0 when it succeeded or is missing).
pub(crate) fn next_error_code(
    results: &mut impl Iterator<Item = crate::error::BrokerResult<()>>,
) -> i16 {
    results
        .next()
        .and_then(|r| r.err())
        .map_or(0, |e| e.wire_code())
}

pub(crate) fn str_bytes(s: impl Into<String>) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(s.into())
}

/// The client's address as Kafka reports it in group descriptions ("/127.0.0.1").
pub(crate) fn client_host() -> String {
    crate::connection::peer()
        .map(|peer| format!("/{}", peer.ip()))
        .unwrap_or_else(|| "/unknown".to_string())
}

/// The first per-partition error code of a Produce response.
fn first_produce_error(response: &ProduceResponse) -> Option<i16> {
    response
        .responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .map(|p| p.error_code)
        .find(|&code| code != 0)
}

/// A `TopicName` from a string.
pub(crate) fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}
