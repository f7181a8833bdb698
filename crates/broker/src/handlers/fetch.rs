//! Fetch: return stored batch bytes as they are on disk, long-polling until `min_bytes` are
//! available or `max_wait_ms` passes.
//!
//! Limits, as in Kafka (KIP-74): `partition_max_bytes` per partition and `max_bytes` per
//! response, except that the first batch of the first non-empty partition is returned whole
//! even if larger, so a consumer can always make progress.
//!
//! Records are not read here: each partition's batches come back from the log as a range of a
//! segment file, which the connection sends with `sendfile(2)` (see [`crate::connection`]). The
//! response carries `records: None` for those partitions and the ranges travel alongside, one
//! slot per partition in response order, for [`runnel_protocol::fetch_encode`].

use super::topic_name;
use crate::error::BrokerError;
use crate::state::BrokerState;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, RequestHeader};
use runnel_protocol::FileChunk;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upper bound on a long poll, whatever the client asks for.
const MAX_WAIT_CAP_MS: u64 = 60_000;

/// A Fetch response and its records as file ranges, one slot per partition in response order.
pub struct Fetched {
    pub response: FetchResponse,
    pub files: Vec<Option<FileChunk>>,
}

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: FetchRequest,
) -> Fetched {
    let max_wait_ms = (req.max_wait_ms.max(0) as u64).min(MAX_WAIT_CAP_MS);
    let deadline = Instant::now() + Duration::from_millis(max_wait_ms);
    loop {
        // Register for wake-ups before reading, so an append between read and wait is not lost.
        let notified = state.data_arrived.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (response, total_bytes, has_error) = read_once(state, &req);
        if total_bytes >= req.min_bytes.max(0) as usize || has_error || Instant::now() >= deadline {
            return response;
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
}

fn read_once(state: &BrokerState, req: &FetchRequest) -> (Fetched, usize, bool) {
    let mut response = FetchResponse::default();
    let mut files = Vec::new();
    let mut budget = if req.max_bytes <= 0 {
        i32::MAX as usize
    } else {
        req.max_bytes as usize
    };
    let mut total = 0usize;
    let mut has_error = false;
    for t in &req.topics {
        let mut tr = FetchableTopicResponse::default();
        tr.topic = t.topic.clone();
        tr.topic_id = t.topic_id;
        let name = if t.topic.is_empty() {
            state.topics.get_by_id(t.topic_id).map(|t| t.name.clone())
        } else {
            Some(t.topic.to_string())
        };
        if tr.topic.is_empty() {
            tr.topic = topic_name(name.as_deref().unwrap_or_default());
        }
        for fp in &t.partitions {
            let mut pd = PartitionData::default();
            let mut file = None;
            pd.partition_index = fp.partition;
            pd.aborted_transactions = Some(Vec::new());
            pd.preferred_read_replica = BrokerId(-1);
            pd.records = Some(bytes::Bytes::new());
            let partition = match &name {
                Some(n) => state.topics.partition(n, fp.partition),
                None => Err(BrokerError::UnknownTopicId),
            };
            let result = partition.and_then(|p| {
                p.check_leader_epoch(fp.current_leader_epoch)?;
                let limit = (fp.partition_max_bytes.max(0) as usize).min(budget);
                let hw = p.high_watermark();
                pd.high_watermark = hw;
                pd.last_stable_offset = hw;
                pd.log_start_offset = p.log_start_offset();
                if limit == 0 && total > 0 {
                    return Ok(());
                }
                let fetched = p.read_region(fp.fetch_offset, limit.max(1))?;
                pd.high_watermark = fetched.high_watermark;
                pd.last_stable_offset = fetched.high_watermark;
                pd.log_start_offset = fetched.log_start_offset;
                let Some(region) = fetched.region else {
                    return Ok(());
                };
                let n = region.len;
                // Over the limit is allowed only for the first data in the response (KIP-74).
                if n <= limit || total == 0 {
                    total += n;
                    budget = budget.saturating_sub(n);
                    pd.records = None;
                    file = Some(FileChunk {
                        file: region.file,
                        position: region.position,
                        len: n,
                    });
                }
                Ok(())
            });
            if let Err(e) = result {
                has_error = true;
                pd.error_code = e.wire_code();
                if matches!(
                    e,
                    BrokerError::UnknownTopicOrPartition | BrokerError::UnknownTopicId
                ) {
                    pd.high_watermark = -1;
                    pd.last_stable_offset = -1;
                    pd.log_start_offset = -1;
                }
            }
            tr.partitions.push(pd);
            files.push(file);
        }
        response.responses.push(tr);
    }
    (Fetched { response, files }, total, has_error)
}
