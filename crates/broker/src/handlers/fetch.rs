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
//!
//! Finding the batches reads index entries and batch headers from disk (`pread`), so each
//! look, together with the encoding (which reads ranges under 4 KiB), runs in
//! `block_in_place`: the runtime hands this worker's other tasks to another thread meanwhile.
//! Measured against `spawn_blocking` (docs/benchmarks.md), it costs less broker CPU per fetch
//! and never queues a fetch behind other work on the blocking pool.
//! A long poll waits on the partitions it reads, woken only by appends to them, and holds no
//! `queued.max.requests` slot while it waits ([`crate::connection::park`]).

use super::{topic_name, HandleError};
use crate::error::BrokerError;
use crate::state::partition::Partition;
use crate::state::BrokerState;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, RequestHeader};
use runnel_protocol::fetch_encode::encode_fetch_response;
use runnel_protocol::{Chunk, FileChunk};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::sync::futures::Notified;

/// Upper bound on a long poll, whatever the client asks for.
const MAX_WAIT_CAP_MS: u64 = 60_000;

/// A Fetch response and its records as file ranges, one slot per partition in response order.
struct Fetched {
    response: FetchResponse,
    files: Vec<Option<FileChunk>>,
}

pub async fn handle(
    state: &Arc<BrokerState>,
    header: &RequestHeader,
    req: FetchRequest,
) -> Result<Vec<Chunk>, HandleError> {
    let max_wait_ms = (req.max_wait_ms.max(0) as u64).min(MAX_WAIT_CAP_MS);
    let deadline = Instant::now() + Duration::from_millis(max_wait_ms);
    let (correlation_id, version) = (header.correlation_id, header.request_api_version);
    let watched = watched_partitions(state, &req);
    loop {
        // Register for appends before reading, so one between the read and the wait wakes us.
        let mut appended: Vec<Pin<Box<Notified<'_>>>> =
            watched.iter().map(|p| Box::pin(p.appended())).collect();
        for a in &mut appended {
            a.as_mut().enable();
        }
        let look = || -> Result<Option<Vec<Chunk>>, HandleError> {
            let (fetched, total_bytes, has_error) = read_once(state, &req);
            let enough = total_bytes >= req.min_bytes.max(0) as usize;
            if !(enough || has_error || Instant::now() >= deadline) {
                return Ok(None);
            }
            encode_fetch_response(correlation_id, version, &fetched.response, &fetched.files)
                .map(Some)
                .map_err(HandleError::Encode)
        };
        let done = off_the_runtime(look)?;
        if let Some(response) = done {
            return Ok(response);
        }
        crate::connection::park();
        tokio::select! {
            _ = any_ready(&mut appended) => state.network.record_wakeup(),
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
}

/// Runs `f` where blocking does not stall other tasks: with `block_in_place` the runtime moves
/// this worker's other tasks to another thread while `f` runs here. A current-thread runtime
/// (some tests) has no other worker, so `f` simply runs.
fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// The partitions of the request that exist (the others are answered with an error at once).
fn watched_partitions(state: &BrokerState, req: &FetchRequest) -> Vec<Arc<Partition>> {
    let mut out = Vec::new();
    for t in &req.topics {
        let name = if t.topic.is_empty() {
            state.topics.get_by_id(t.topic_id).map(|t| t.name.clone())
        } else {
            Some(t.topic.to_string())
        };
        let Some(name) = name else { continue };
        out.extend(
            t.partitions
                .iter()
                .filter_map(|fp| state.topics.partition(&name, fp.partition).ok()),
        );
    }
    out
}

/// Resolves when any of `waits` does (never when there are none).
fn any_ready<'a, 'p>(
    waits: &'a mut [Pin<Box<Notified<'p>>>],
) -> impl Future<Output = ()> + use<'a, 'p> {
    std::future::poll_fn(move |cx| {
        for w in waits.iter_mut() {
            if w.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
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
