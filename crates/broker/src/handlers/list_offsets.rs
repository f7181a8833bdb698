//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3, v7+), earliest local (-4, v8+),
//! latest tiered (-5, v9+) and by timestamp (>= 0), answered as Kafka 4.4 answers them
//! (tests/interop/test_differential_list_offsets.py holds Kafka's measured answers):
//!
//! - a special timestamp newer than the request's version, or one Kafka does not know, is
//!   UNSUPPORTED_VERSION for that partition;
//! - latest tiered is offset -1 (nothing is tiered: Runnel has no remote storage);
//! - a partition named more than once in one request (in one topic entry or in two) gets one
//!   answer, INVALID_REQUEST; entries of one topic are answered in one topic entry;
//! - an isolation level other than 0 and 1 fails every partition with UNKNOWN_SERVER_ERROR,
//!   as Kafka's `IsolationLevel.forId` throws;
//! - a current leader epoch below -1 (the "no epoch" value) is older than any: FENCED.

use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::list_offsets_response::*;
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, RequestHeader};
use std::collections::HashSet;
use std::sync::Arc;

pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL: i64 = -4;
pub const LATEST_TIERED: i64 = -5;

/// "No leader epoch" in a request; anything lower is an epoch older than every real one.
const NO_LEADER_EPOCH: i32 = -1;

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let version = header.request_api_version;
    // Timestamp lookups read the time index and batch headers, and decode a batch: disk work,
    // so the whole request runs on the blocking pool, never on an async worker.
    let state = state.clone();
    tokio::task::spawn_blocking(move || answer(&state, version, req))
        .await
        .unwrap_or_default()
}

/// The (topic, partition) pairs named more than once in the request.
fn duplicate_partitions(req: &ListOffsetsRequest) -> HashSet<(&str, i32)> {
    let mut seen = HashSet::new();
    let mut duplicates = HashSet::new();
    for t in &req.topics {
        for p in &t.partitions {
            if !seen.insert((t.name.as_str(), p.partition_index)) {
                duplicates.insert((t.name.as_str(), p.partition_index));
            }
        }
    }
    duplicates
}

fn answer(state: &BrokerState, version: i16, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let duplicates = duplicate_partitions(&req);
    let mut answered = HashSet::new();
    let mut response = ListOffsetsResponse::default();
    for t in &req.topics {
        let at = match response.topics.iter().position(|r| r.name == t.name) {
            Some(at) => at,
            None => {
                let mut tr = ListOffsetsTopicResponse::default();
                tr.name = t.name.clone();
                response.topics.push(tr);
                response.topics.len() - 1
            }
        };
        for p in &t.partitions {
            let key = (t.name.as_str(), p.partition_index);
            if !answered.insert(key) {
                continue; // the one answer for a duplicate is already there
            }
            let result = if duplicates.contains(&key) {
                Err(BrokerError::InvalidRequest(format!(
                    "partition {}-{} named more than once",
                    t.name.as_str(),
                    p.partition_index
                )))
            } else {
                lookup(state, version, req.isolation_level, t.name.as_str(), p)
            };
            response.topics[at].partitions.push(partition_response(
                p.partition_index,
                version,
                result,
            ));
        }
    }
    response
}

fn partition_response(
    index: i32,
    version: i16,
    result: Result<(i64, i64, i32), BrokerError>,
) -> ListOffsetsPartitionResponse {
    let mut pr = ListOffsetsPartitionResponse::default();
    pr.partition_index = index;
    match result {
        Ok((timestamp, offset, epoch)) => {
            pr.timestamp = timestamp;
            pr.offset = offset;
            // leader_epoch exists from v4 on; older versions must leave it at its null value.
            pr.leader_epoch = if version >= 4 { epoch } else { -1 };
        }
        Err(e) => {
            pr.error_code = e.wire_code();
            pr.timestamp = -1;
            pr.offset = -1;
            pr.leader_epoch = -1;
        }
    }
    pr
}

/// Whether `version` knows the special timestamp `ts` (KIP-734 -3 at v7, KIP-405 -4 at v8,
/// KIP-1005 -5 at v9); Kafka 4.4 answers any other negative value UNSUPPORTED_VERSION.
fn check_timestamp(version: i16, ts: i64) -> Result<(), BrokerError> {
    let since = match ts {
        ts if ts >= 0 => 0,
        LATEST | EARLIEST => 0,
        MAX_TIMESTAMP => 7,
        EARLIEST_LOCAL => 8,
        LATEST_TIERED => 9,
        _ => i16::MAX,
    };
    if version >= since {
        Ok(())
    } else {
        Err(BrokerError::UnsupportedVersion(format!(
            "ListOffsets timestamp {ts} at version {version}"
        )))
    }
}

/// (timestamp, offset, leader epoch) for one partition.
fn lookup(
    state: &BrokerState,
    version: i16,
    isolation_level: i8,
    topic: &str,
    req: &kafka_protocol::messages::list_offsets_request::ListOffsetsPartition,
) -> Result<(i64, i64, i32), BrokerError> {
    let p = state.topics.partition(topic, req.partition_index)?;
    let leader_epoch = if version >= 4 {
        req.current_leader_epoch
    } else {
        NO_LEADER_EPOCH
    };
    if leader_epoch < NO_LEADER_EPOCH {
        return Err(BrokerError::FencedLeaderEpoch {
            got: leader_epoch,
            current: p.leader_epoch,
        });
    }
    p.check_leader_epoch(leader_epoch)?;
    if !matches!(isolation_level, 0 | 1) {
        return Err(BrokerError::UnknownServerError(format!(
            "unknown isolation level {isolation_level}"
        )));
    }
    check_timestamp(version, req.timestamp)?;
    let epoch = p.leader_epoch;
    // READ_COMMITTED reads up to the last stable offset, which without transactions is the
    // high watermark: both isolation levels get the same answers.
    match req.timestamp {
        LATEST => Ok((-1, p.high_watermark(), epoch)),
        EARLIEST | EARLIEST_LOCAL => Ok((-1, p.log_start_offset(), epoch)),
        LATEST_TIERED => Ok((-1, -1, -1)),
        MAX_TIMESTAMP => Ok(match p.with_log(|log| log.max_timestamp())? {
            Some((offset, timestamp)) => (timestamp, offset, epoch),
            None => (-1, -1, -1),
        }),
        ts => Ok(match p.with_log(|log| log.offset_for_timestamp(ts))? {
            Some((offset, timestamp)) if offset < p.high_watermark() => (timestamp, offset, epoch),
            _ => (-1, -1, -1),
        }),
    }
}
