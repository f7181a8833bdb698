//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest local (-4), earliest
//! tiered (-5, the same as earliest: no tiered storage) and by timestamp (>= 0).

use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::list_offsets_response::*;
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, RequestHeader};
use std::sync::Arc;

pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL: i64 = -4;
pub const EARLIEST_TIERED: i64 = -5;

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    // leader_epoch exists from v4 on; older versions must leave it at its null value.
    let has_epoch = header.request_api_version >= 4;
    // Timestamp lookups read the time index and batch headers, and decode a batch: disk work,
    // so the whole request runs on the blocking pool, never on an async worker.
    let state = state.clone();
    tokio::task::spawn_blocking(move || answer(&state, has_epoch, req))
        .await
        .unwrap_or_default()
}

fn answer(state: &BrokerState, has_epoch: bool, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let mut response = ListOffsetsResponse::default();
    for t in req.topics {
        let mut tr = ListOffsetsTopicResponse::default();
        tr.name = t.name.clone();
        for p in t.partitions {
            let mut pr = ListOffsetsPartitionResponse::default();
            pr.partition_index = p.partition_index;
            match lookup(
                state,
                t.name.as_str(),
                p.partition_index,
                p.current_leader_epoch,
                p.timestamp,
            ) {
                Ok((timestamp, offset, epoch)) => {
                    pr.timestamp = timestamp;
                    pr.offset = offset;
                    pr.leader_epoch = if has_epoch { epoch } else { -1 };
                }
                Err(e) => {
                    pr.error_code = e.wire_code();
                    pr.timestamp = -1;
                    pr.offset = -1;
                    pr.leader_epoch = -1;
                }
            }
            tr.partitions.push(pr);
        }
        response.topics.push(tr);
    }
    response
}

/// (timestamp, offset, leader epoch) for one partition.
fn lookup(
    state: &BrokerState,
    topic: &str,
    index: i32,
    leader_epoch: i32,
    ts: i64,
) -> Result<(i64, i64, i32), BrokerError> {
    let p = state.topics.partition(topic, index)?;
    p.check_leader_epoch(leader_epoch)?;
    let epoch = p.leader_epoch;
    match ts {
        LATEST => Ok((-1, p.high_watermark(), epoch)),
        EARLIEST | EARLIEST_LOCAL | EARLIEST_TIERED => Ok((-1, p.log_start_offset(), epoch)),
        MAX_TIMESTAMP => Ok(match p.with_log(|log| log.max_timestamp())? {
            Some((offset, timestamp)) => (timestamp, offset, epoch),
            None => (-1, -1, -1),
        }),
        ts if ts >= 0 => Ok(match p.with_log(|log| log.offset_for_timestamp(ts))? {
            Some((offset, timestamp)) if offset < p.high_watermark() => (timestamp, offset, epoch),
            _ => (-1, -1, -1),
        }),
        other => Err(BrokerError::InvalidRequest(format!(
            "invalid ListOffsets timestamp {other}"
        ))),
    }
}
