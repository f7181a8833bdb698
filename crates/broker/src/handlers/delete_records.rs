//! DeleteRecords: move a partition's log start offset forward, deleting whole segments below
//! it. Offset -1 means the high watermark; an offset above the high watermark is
//! OFFSET_OUT_OF_RANGE; one at or below the current log start changes nothing. As in Kafka, a
//! topic whose `cleanup.policy` lacks `delete` (compact only) refuses with POLICY_VIOLATION, and
//! an internal topic (`__consumer_offsets`) with INVALID_TOPIC_EXCEPTION.

use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, RequestHeader};
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let state = state.clone();
    let topics = tokio::task::spawn_blocking(move || {
        req.topics
            .iter()
            .map(|t| {
                let mut tr = DeleteRecordsTopicResult::default();
                tr.name = t.name.clone();
                tr.partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut pr = DeleteRecordsPartitionResult::default();
                        pr.partition_index = p.partition_index;
                        match delete_one(&state, t.name.as_str(), p.partition_index, p.offset) {
                            Ok(low) => pr.low_watermark = low,
                            Err(e) => {
                                pr.error_code = e.wire_code();
                                pr.low_watermark = -1;
                            }
                        }
                        pr
                    })
                    .collect();
                tr
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut response = DeleteRecordsResponse::default();
    response.topics = topics;
    response
}

fn delete_one(
    state: &BrokerState,
    topic: &str,
    index: i32,
    offset: i64,
) -> Result<i64, BrokerError> {
    if state.topics.get(topic).is_some_and(|t| t.internal) {
        // As Kafka: the coordinator's records are not the client's to delete.
        return Err(BrokerError::InvalidTopic(format!(
            "Cannot delete records of internal topic {topic}"
        )));
    }
    let partition = state.topics.partition(topic, index)?;
    partition.with_log(|log| {
        if !log.config().cleanup_policy.delete {
            return Err(BrokerError::PolicyViolation(format!(
                "Records of partition {topic}-{index} can not be deleted due to the configured policy"
            )));
        }
        // Read under the log lock, so no append moves it between the check and the delete.
        let hw = partition.high_watermark();
        let target = if offset == -1 { hw } else { offset };
        if target < 0 || target > hw {
            return Err(BrokerError::OffsetOutOfRange(offset));
        }
        if target <= log.log_start_offset() {
            return Ok(log.log_start_offset());
        }
        Ok(log.delete_records_before(target)?)
    })
}
