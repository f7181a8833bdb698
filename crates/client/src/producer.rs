//! The producer: [`RecordAccumulator`] + a background `Sender` task, as in the Java client.
//!
//! `enqueue` picks a partition, appends the record to that partition's open batch (a new one
//! when the last is past `batch.size`) after reserving its bytes from `buffer.memory` (waiting
//! up to `max.block.ms`), and returns a [`DeliveryFuture`]. The sender wakes when a batch is
//! full, when the oldest batch has lingered `linger.ms`, on flush and on completions; it
//! drains ready batches into one Produce request per leader, at most
//! `max.in.flight.requests.per.connection` outstanding per broker. Failed batches go back to
//! the front of their queue in sequence order and are retried after an exponential backoff
//! (`retry.backoff.ms` .. `retry.backoff.max.ms`) until `retries` or `delivery.timeout.ms`
//! runs out. With idempotence (the default) the producer gets an id from InitProducerId and
//! numbers each partition's batches, so the broker drops duplicates and refuses gaps, and a
//! retried batch is only resent once nothing of its partition is in flight: order holds
//! through retries with 5 in flight.

use crate::cluster::{name, Cluster};
use crate::config::{Acks, PartitionerKind, ProducerConfig};
use crate::error::{ClientError, Result};
use crate::partitioner::Partitioner;
use crate::records::{self, BatchHeader, ProducerRecord, BATCH_OVERHEAD};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProduceResponse};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify, Semaphore, TryAcquireError};

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    /// -1 with acks=0.
    pub offset: i64,
    pub timestamp: i64,
}

type Tp = (String, i32);

/// How a batch ended: its base offset and LogAppendTime (-1 for CreateTime), or the error.
struct Done {
    result: Result<(i64, i64)>,
    at: Instant,
}

/// A batch's outcome, shared by the batch and the [`DeliveryFuture`]s of all its records:
/// a record costs one reference count here instead of a channel of its own, and completing
/// a batch is one store and one wake-up per waiting task, whatever its record count.
struct BatchOutcome {
    tp: Tp,
    done: OnceLock<Done>,
    /// Tasks waiting on a record of this batch (usually one: futures are awaited in order).
    wakers: Mutex<Vec<Waker>>,
}

impl BatchOutcome {
    fn set(&self, result: Result<(i64, i64)>) {
        let _ = self.done.set(Done {
            result,
            at: Instant::now(),
        });
        // Taken after the store: a poll that registered before it is woken here, and one
        // that comes after sees the store (it re-checks under this lock).
        let wakers = std::mem::take(&mut *self.wakers.lock());
        for w in wakers {
            w.wake();
        }
    }
}

/// Resolves when the record is acknowledged (or failed).
pub struct DeliveryFuture {
    outcome: Arc<BatchOutcome>,
    offset_delta: i32,
    timestamp: i64,
    /// This future's entry in `outcome.wakers`, once it has waited.
    waker_slot: Option<usize>,
}

impl DeliveryFuture {
    fn metadata(&self, done: &Done) -> Result<RecordMetadata> {
        let (base, log_append_time) = done.result.clone()?;
        Ok(RecordMetadata {
            topic: self.outcome.tp.0.clone(),
            partition: self.outcome.tp.1,
            offset: if base < 0 {
                -1
            } else {
                base + self.offset_delta as i64
            },
            timestamp: if log_append_time >= 0 {
                log_append_time
            } else {
                self.timestamp
            },
        })
    }

    /// The outcome without waiting; `None` while the record is queued or in flight.
    pub fn try_result(&self) -> Option<Result<RecordMetadata>> {
        self.outcome.done.get().map(|d| self.metadata(d))
    }

    /// When the record's batch completed (acknowledged or failed), without building its
    /// metadata; `None` while pending. For latency measurements such as `runnel perf`.
    pub fn completed_at(&self) -> Option<(Instant, bool)> {
        self.outcome.done.get().map(|d| (d.at, d.result.is_ok()))
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(d) = self.outcome.done.get() {
            return Poll::Ready(self.metadata(d));
        }
        let mut wakers = self.outcome.wakers.lock();
        if let Some(d) = self.outcome.done.get() {
            drop(wakers);
            return Poll::Ready(self.metadata(d));
        }
        // Each future keeps its own slot: many tasks awaiting records of one batch cost one
        // entry each, and a task polled again replaces its entry instead of adding one.
        match self.waker_slot {
            Some(i) if wakers[i].will_wake(cx.waker()) => {}
            Some(i) => wakers[i] = cx.waker().clone(),
            None => {
                wakers.push(cx.waker().clone());
                let slot = wakers.len() - 1;
                drop(wakers);
                self.waker_slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

/// A batch of records for one partition.
struct ProducerBatch {
    tp: Tp,
    /// The batch as it grows: a reserved header (`BATCH_OVERHEAD` bytes) then the records.
    records: BytesMut,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    /// Bytes reserved from `buffer.memory`.
    reserved: usize,
    created: Instant,
    outcome: Arc<BatchOutcome>,
    /// The finished batch, kept so a retry resends the same bytes and sequence.
    built: Option<Bytes>,
    base_sequence: i32,
    attempts: u32,
    retry_at: Option<Instant>,
    last_error: Option<ClientError>,
}

impl ProducerBatch {
    fn new(tp: Tp, timestamp: i64, capacity: usize) -> ProducerBatch {
        ProducerBatch {
            outcome: Arc::new(BatchOutcome {
                tp: tp.clone(),
                done: OnceLock::new(),
                wakers: Mutex::new(Vec::new()),
            }),
            tp,
            records: records::new_batch_buffer(capacity),
            count: 0,
            base_timestamp: timestamp,
            max_timestamp: timestamp,
            reserved: 0,
            created: Instant::now(),
            built: None,
            base_sequence: -1,
            attempts: 0,
            retry_at: None,
            last_error: None,
        }
    }

    /// Bytes on the wire, header included.
    fn size(&self) -> usize {
        self.built.as_ref().map_or(self.records.len(), Bytes::len)
    }
}

impl Drop for ProducerBatch {
    /// A batch dropped without an outcome (the producer torn down) fails its records rather
    /// than leaving their futures pending forever.
    fn drop(&mut self) {
        if self.outcome.done.get().is_none() {
            self.outcome.set(Err(ClientError::Closed));
        }
    }
}

/// Batches of one topic, indexed by partition.
type TopicQueues = Vec<VecDeque<ProducerBatch>>;

#[derive(Default)]
struct AccState {
    /// Keyed by topic name so the per-record lookup borrows the record's topic (no copy).
    queues: BTreeMap<String, TopicQueues>,
    closed: bool,
}

impl AccState {
    fn queue(&mut self, topic: &str, partition: i32) -> &mut VecDeque<ProducerBatch> {
        if !self.queues.contains_key(topic) {
            self.queues.insert(topic.to_string(), Vec::new());
        }
        let parts = self.queues.get_mut(topic).expect("inserted above");
        let i = partition as usize;
        if parts.len() <= i {
            parts.resize_with(i + 1, VecDeque::new);
        }
        &mut parts[i]
    }

    fn all_queues(&mut self) -> impl Iterator<Item = &mut VecDeque<ProducerBatch>> {
        self.queues.values_mut().flat_map(|parts| parts.iter_mut())
    }
}

/// Per-partition queues of batches, bounded by `batch.size` each and `buffer.memory` in all.
pub struct RecordAccumulator {
    config: ProducerConfig,
    state: Mutex<AccState>,
    memory: Semaphore,
    /// Batches not yet completed (queued or in flight).
    incomplete: AtomicUsize,
    flushing: AtomicUsize,
    wake_sender: Notify,
    all_done: Notify,
    max_in_flight_seen: AtomicUsize,
}

impl RecordAccumulator {
    fn new(config: ProducerConfig) -> RecordAccumulator {
        RecordAccumulator {
            memory: Semaphore::new(config.buffer_memory.min(Semaphore::MAX_PERMITS)),
            config,
            state: Mutex::default(),
            incomplete: AtomicUsize::new(0),
            flushing: AtomicUsize::new(0),
            wake_sender: Notify::new(),
            all_done: Notify::new(),
            max_in_flight_seen: AtomicUsize::new(0),
        }
    }

    /// The most Produce requests ever outstanding to one broker at once.
    pub fn max_in_flight_seen(&self) -> usize {
        self.max_in_flight_seen.load(Ordering::SeqCst)
    }

    /// Bytes of `buffer.memory` currently free.
    pub fn available_memory(&self) -> usize {
        self.memory.available_permits()
    }

    /// Takes `size` bytes of `buffer.memory`, waiting up to `max.block.ms` when it is full.
    async fn reserve(&self, size: usize) -> Result<()> {
        if size > self.config.buffer_memory {
            return Err(ClientError::RecordTooLarge {
                size,
                key: "buffer.memory",
                limit: self.config.buffer_memory,
            });
        }
        let permit = match self.memory.try_acquire_many(size as u32) {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(ClientError::Closed),
            Err(TryAcquireError::NoPermits) => {
                tokio::time::timeout(self.config.max_block, self.memory.acquire_many(size as u32))
                    .await
                    .map_err(|_| ClientError::BufferExhausted {
                        buffer_memory: self.config.buffer_memory,
                        size,
                        max_block_ms: self.config.max_block.as_millis() as u64,
                    })?
                    .map_err(|_| ClientError::Closed)?
            }
        };
        permit.forget();
        Ok(())
    }

    async fn append(
        &self,
        topic: &str,
        partition: i32,
        rec: &ProducerRecord,
        timestamp: i64,
        est: usize,
    ) -> Result<DeliveryFuture> {
        if est + BATCH_OVERHEAD > self.config.max_request_size {
            return Err(ClientError::RecordTooLarge {
                size: est,
                key: "max.request.size",
                limit: self.config.max_request_size,
            });
        }
        self.reserve(est).await?;
        let mut st = self.state.lock();
        if st.closed {
            drop(st);
            self.memory.add_permits(est);
            return Err(ClientError::Closed);
        }
        let batch_size = self.config.batch_size;
        let q = st.queue(topic, partition);
        let fits =
            |b: &ProducerBatch| b.built.is_none() && (b.count == 0 || b.size() + est <= batch_size);
        // A new batch behind an open one makes that one ready: the sender hears of it once,
        // here, not again for every later record (a backlog would wake it per record).
        let mut ready = false;
        if !q.back().is_some_and(fits) {
            let tp = (topic.to_string(), partition);
            q.push_back(ProducerBatch::new(tp, timestamp, batch_size.min(1 << 20)));
            self.incomplete.fetch_add(1, Ordering::SeqCst);
            ready = q.len() > 1;
        }
        let b = q.back_mut().expect("just pushed");
        let offset_delta = b.count;
        records::encode_record(
            &mut b.records,
            offset_delta,
            timestamp - b.base_timestamp,
            rec.key.as_deref(),
            rec.value.as_deref(),
            &rec.headers,
        );
        b.count += 1;
        b.reserved += est;
        b.max_timestamp = b.max_timestamp.max(timestamp);
        let ready = ready || b.size() >= batch_size;
        let outcome = b.outcome.clone();
        drop(st);
        if ready || self.config.linger.is_zero() {
            self.wake_sender.notify_one();
        }
        Ok(DeliveryFuture {
            outcome,
            offset_delta,
            timestamp,
            waker_slot: None,
        })
    }

    fn complete(&self, b: ProducerBatch, result: Result<(i64, i64)>) {
        self.memory.add_permits(b.reserved);
        b.outcome.set(result);
        if self.incomplete.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.all_done.notify_waiters();
        }
    }
}

struct SenderState {
    acc: Arc<RecordAccumulator>,
    cluster: Arc<Cluster>,
    config: ProducerConfig,
    producer_id: i64,
    producer_epoch: i16,
    next_sequence: HashMap<Tp, i32>,
    in_flight_per_node: HashMap<i32, usize>,
    in_flight_per_tp: HashMap<Tp, usize>,
    done_tx: mpsc::UnboundedSender<(i32, Vec<ProducerBatch>, Result<ProduceResponse>)>,
}

impl SenderState {
    fn backoff(&self, attempts: u32) -> Duration {
        let base = self.config.common.retry_backoff.as_millis() as u64;
        let max = self.config.common.retry_backoff_max.as_millis() as u64;
        let exp = base.saturating_mul(1u64 << attempts.saturating_sub(1).min(20));
        Duration::from_millis(exp.min(max.max(base)))
    }

    /// Fails queued batches older than `delivery.timeout.ms`.
    fn expire(&self, now: Instant) {
        let mut expired = Vec::new();
        {
            let mut st = self.acc.state.lock();
            for q in st.all_queues() {
                while let Some(b) = q.front() {
                    if now.duration_since(b.created) >= self.config.delivery_timeout {
                        expired.push(q.pop_front().expect("front"));
                    } else {
                        break;
                    }
                }
            }
        }
        for b in expired {
            let err = ClientError::DeliveryTimeout {
                topic: b.tp.0.clone(),
                partition: b.tp.1,
                delivery_timeout_ms: self.config.delivery_timeout.as_millis() as u64,
                last_error: b.last_error.as_ref().map(|e| e.to_string()),
            };
            self.acc.complete(b, Err(err));
        }
    }

    /// Ready batches by leader, and when to look again.
    async fn drain(
        &mut self,
        now: Instant,
    ) -> (BTreeMap<i32, Vec<ProducerBatch>>, Option<Instant>) {
        let flushing = self.acc.flushing.load(Ordering::SeqCst) > 0 || self.acc.state.lock().closed;
        let linger = self.config.linger;
        let mut next: Option<Instant> = None;
        let mut soon = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        let topics: Vec<String> = {
            let st = self.acc.state.lock();
            st.queues
                .iter()
                .filter(|(_, parts)| parts.iter().any(|q| !q.is_empty()))
                .map(|(t, _)| t.clone())
                .collect()
        };
        // Leader of each partition, by topic then partition index; -1 when unknown.
        let mut leaders: HashMap<String, Vec<i32>> = HashMap::new();
        for t in topics {
            match self.cluster.topic(&t).await {
                Ok(info) => {
                    let mut by_index = Vec::new();
                    for p in info.partitions.iter().filter(|p| p.partition >= 0) {
                        let i = p.partition as usize;
                        if by_index.len() <= i {
                            by_index.resize(i + 1, -1);
                        }
                        by_index[i] = p.leader;
                    }
                    leaders.insert(t, by_index);
                }
                Err(e) => {
                    tracing::debug!(topic = t, error = %e, "no metadata for a topic with queued records");
                    soon(now + self.config.common.retry_backoff);
                }
            }
        }
        let mut out: BTreeMap<i32, Vec<ProducerBatch>> = BTreeMap::new();
        let mut request_bytes: HashMap<i32, usize> = HashMap::new();
        let mut st = self.acc.state.lock();
        let queues = st.queues.iter_mut().flat_map(|(topic, parts)| {
            let leaders = leaders.get(topic.as_str());
            parts.iter_mut().enumerate().map(move |(i, q)| {
                let leader = leaders.and_then(|l| l.get(i)).copied().unwrap_or(-1);
                (leader, q)
            })
        });
        for (leader, q) in queues {
            if leader < 0 {
                continue;
            }
            let Some(front) = q.front() else { continue };
            let tp = &front.tp;
            if let Some(at) = front.retry_at {
                if at > now {
                    soon(at);
                    continue;
                }
                // A retried batch waits until nothing of its partition is in flight.
                if self.in_flight_per_tp.get(tp).copied().unwrap_or(0) > 0 {
                    continue;
                }
            }
            let full = q.len() > 1 || front.size() >= self.config.batch_size;
            let lingered = now.duration_since(front.created) >= linger;
            if !(full || lingered || flushing || front.attempts > 0) {
                soon(front.created + linger);
                continue;
            }
            if self.in_flight_per_node.get(&leader).copied().unwrap_or(0)
                + usize::from(out.contains_key(&leader))
                >= self.config.max_in_flight
            {
                continue;
            }
            let used = request_bytes.entry(leader).or_default();
            if *used > 0 && *used + front.size() > self.config.max_request_size {
                // Ready but over this request's size: go again at once for the next request.
                soon(now);
                continue;
            }
            let mut b = q.pop_front().expect("front");
            *used += b.size();
            if b.built.is_none() && self.producer_id >= 0 {
                let seq = self.next_sequence.entry(b.tp.clone()).or_insert(0);
                b.base_sequence = *seq;
                *seq = seq.wrapping_add(b.count) & i32::MAX;
            }
            out.entry(leader).or_default().push(b);
        }
        (out, next)
    }

    fn build(&self, b: &mut ProducerBatch) -> Result<Bytes> {
        if let Some(bytes) = &b.built {
            return Ok(bytes.clone());
        }
        let h = BatchHeader {
            base_timestamp: b.base_timestamp,
            max_timestamp: b.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: if self.producer_id >= 0 {
                self.producer_epoch
            } else {
                -1
            },
            base_sequence: if self.producer_id >= 0 {
                b.base_sequence
            } else {
                -1
            },
            record_count: b.count,
            compression: self.config.compression,
            levels: self.config.compression_levels,
        };
        let bytes = records::finish_batch(&h, std::mem::take(&mut b.records))?;
        b.built = Some(bytes.clone());
        Ok(bytes)
    }

    fn send(&mut self, node: i32, mut batches: Vec<ProducerBatch>) {
        let mut by_topic: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
        let mut ok = Vec::new();
        for mut b in batches.drain(..) {
            match self.build(&mut b) {
                Ok(bytes) => {
                    let mut p = PartitionProduceData::default();
                    p.index = b.tp.1;
                    p.records = Some(bytes);
                    by_topic.entry(b.tp.0.clone()).or_default().push(p);
                    b.attempts += 1;
                    ok.push(b);
                }
                Err(e) => self.acc.complete(b, Err(e)),
            }
        }
        if ok.is_empty() {
            return;
        }
        let mut req = ProduceRequest::default();
        req.acks = self.config.acks as i16;
        req.timeout_ms = self.config.common.request_timeout.as_millis() as i32;
        req.topic_data = by_topic
            .into_iter()
            .map(|(t, parts)| {
                let mut td = TopicProduceData::default();
                td.name = name(&t);
                td.partition_data = parts;
                td
            })
            .collect();
        let n = self.in_flight_per_node.entry(node).or_default();
        *n += 1;
        self.acc.max_in_flight_seen.fetch_max(*n, Ordering::SeqCst);
        for b in &ok {
            *self.in_flight_per_tp.entry(b.tp.clone()).or_default() += 1;
        }
        let (cluster, done, acks) = (self.cluster.clone(), self.done_tx.clone(), self.config.acks);
        tokio::spawn(async move {
            let result = async {
                let conn = cluster.node(node).await?;
                if acks == Acks::None {
                    conn.send_produce_no_response(&req).await?;
                    Ok(ProduceResponse::default())
                } else {
                    conn.send_produce(&req).await
                }
            }
            .await;
            let _ = done.send((node, ok, result));
        });
    }

    fn handle(&mut self, node: i32, batches: Vec<ProducerBatch>, result: Result<ProduceResponse>) {
        if let Some(n) = self.in_flight_per_node.get_mut(&node) {
            *n = n.saturating_sub(1);
        }
        for b in &batches {
            if let Some(n) = self.in_flight_per_tp.get_mut(&b.tp) {
                *n = n.saturating_sub(1);
            }
        }
        let mut per_partition: HashMap<Tp, (i16, Option<String>, i64, i64)> = HashMap::new();
        if let Ok(resp) = &result {
            for t in &resp.responses {
                for p in &t.partition_responses {
                    per_partition.insert(
                        (t.name.0.to_string(), p.index),
                        (
                            p.error_code,
                            p.error_message.as_ref().map(|m| m.to_string()),
                            p.base_offset,
                            p.log_append_time_ms,
                        ),
                    );
                }
            }
        }
        let mut retry = Vec::new();
        for b in batches {
            let outcome: Result<(i64, i64)> = match &result {
                Err(e) => Err(e.clone()),
                Ok(_) if self.config.acks == Acks::None => Ok((-1, -1)),
                Ok(_) => match per_partition.get(&b.tp) {
                    None => Err(ClientError::Protocol(format!(
                        "no response for {}-{}",
                        b.tp.0, b.tp.1
                    ))),
                    Some((0, _, base, lat)) => Ok((*base, *lat)),
                    Some((code, msg, _, _)) => Err(ClientError::kafka(*code, msg.clone())),
                },
            };
            match outcome {
                Ok(r) => self.acc.complete(b, Ok(r)),
                Err(e) => {
                    if e.needs_metadata_refresh() {
                        self.cluster.invalidate(&b.tp.0);
                    }
                    // With idempotence, OUT_OF_ORDER_SEQUENCE follows an earlier batch's failure.
                    let retriable =
                        e.is_retriable() || (self.producer_id >= 0 && e.code() == Some(45));
                    let expired = b.created.elapsed() >= self.config.delivery_timeout;
                    if retriable && !expired && b.attempts <= self.config.retries {
                        retry.push((b, e));
                    } else if retriable && expired {
                        let err = ClientError::DeliveryTimeout {
                            topic: b.tp.0.clone(),
                            partition: b.tp.1,
                            delivery_timeout_ms: self.config.delivery_timeout.as_millis() as u64,
                            last_error: Some(e.to_string()),
                        };
                        self.acc.complete(b, Err(err));
                    } else {
                        self.acc.complete(b, Err(e));
                    }
                }
            }
        }
        if !retry.is_empty() {
            let mut st = self.acc.state.lock();
            for (mut b, e) in retry {
                tracing::debug!(topic = b.tp.0, partition = b.tp.1, attempt = b.attempts, error = %e, "retrying a batch");
                b.retry_at = Some(Instant::now() + self.backoff(b.attempts));
                b.last_error = Some(e);
                let q = st.queue(&b.tp.0, b.tp.1);
                // Back in front, ahead of newer batches, in sequence order.
                let pos = q
                    .iter()
                    .position(|x| {
                        x.built.is_none()
                            || (x.base_sequence > b.base_sequence && b.base_sequence >= 0)
                    })
                    .unwrap_or(q.len());
                q.insert(pos, b);
            }
        }
    }

    async fn init_producer_id(&mut self) -> Result<()> {
        let mut req = InitProducerIdRequest::default();
        req.transactional_id = None;
        req.transaction_timeout_ms = -1;
        req.producer_id = kafka_protocol::messages::ProducerId(-1);
        req.producer_epoch = -1;
        let resp = self.cluster.send_any(&req).await?;
        ClientError::check(resp.error_code, None)?;
        self.producer_id = resp.producer_id.0;
        self.producer_epoch = resp.producer_epoch;
        Ok(())
    }
}

async fn run_sender(
    mut s: SenderState,
    mut done_rx: mpsc::UnboundedReceiver<(i32, Vec<ProducerBatch>, Result<ProduceResponse>)>,
    stop: Arc<AtomicBool>,
) {
    let acc = s.acc.clone();
    loop {
        if s.config.enable_idempotence && s.producer_id < 0 {
            if let Err(e) = s.init_producer_id().await {
                tracing::debug!(error = %e, "InitProducerId failed; retrying");
                s.expire(Instant::now());
                tokio::time::sleep(s.config.common.retry_backoff).await;
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                continue;
            }
        }
        let now = Instant::now();
        s.expire(now);
        let (ready, next) = s.drain(now).await;
        for (node, batches) in ready {
            s.send(node, batches);
        }
        let in_flight: usize = s.in_flight_per_node.values().sum();
        if stop.load(Ordering::SeqCst)
            && in_flight == 0
            && acc.incomplete.load(Ordering::SeqCst) == 0
        {
            break;
        }
        let wait = next
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100));
        tokio::select! {
            Some((node, batches, result)) = done_rx.recv() => {
                s.handle(node, batches, result);
                while let Ok((node, batches, result)) = done_rx.try_recv() {
                    s.handle(node, batches, result);
                }
            }
            _ = acc.wake_sender.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The producer handle; cheap to share behind an `Arc`.
pub struct Producer {
    acc: Arc<RecordAccumulator>,
    cluster: Arc<Cluster>,
    partitioner: Partitioner,
    stop: Arc<AtomicBool>,
    sender: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Producer {
    /// Connects and starts the sender task.
    pub async fn connect(config: ProducerConfig) -> Result<Producer> {
        let partitioner = match config.partitioner {
            PartitionerKind::Default => Partitioner::default_sticky(),
            PartitionerKind::RoundRobin => Partitioner::round_robin(),
        };
        Producer::with_partitioner(config, partitioner).await
    }

    /// Like [`Producer::connect`] with an explicit (e.g. custom) partitioner.
    pub async fn with_partitioner(
        config: ProducerConfig,
        partitioner: Partitioner,
    ) -> Result<Producer> {
        let cluster = Cluster::connect(config.common.clone()).await?;
        let acc = Arc::new(RecordAccumulator::new(config.clone()));
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let state = SenderState {
            acc: acc.clone(),
            cluster: cluster.clone(),
            config,
            producer_id: -1,
            producer_epoch: -1,
            next_sequence: HashMap::new(),
            in_flight_per_node: HashMap::new(),
            in_flight_per_tp: HashMap::new(),
            done_tx,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let sender = tokio::spawn(run_sender(state, done_rx, stop.clone()));
        Ok(Producer {
            acc,
            cluster,
            partitioner,
            stop,
            sender: Mutex::new(Some(sender)),
        })
    }

    /// The accumulator (for inspecting free `buffer.memory`).
    pub fn accumulator(&self) -> &RecordAccumulator {
        &self.acc
    }

    /// The shared cluster state (request counters live in `cluster().metrics`).
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Queues a record and returns a future of its metadata, like the Java client's `send`:
    /// this waits only for metadata and for room in `buffer.memory` (up to `max.block.ms`).
    pub async fn enqueue(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(ClientError::Closed);
        }
        // A partition beyond the cached count may be new: ask again, as the Java client does.
        let cached = self.cluster.cached_partition_count(&record.topic);
        let cached = match (cached, record.partition) {
            (Some(n), Some(p)) if p >= n => {
                self.cluster.invalidate(&record.topic);
                None
            }
            _ => cached,
        };
        let n = match cached {
            Some(n) => n,
            None => {
                let max_block = self.acc.config.max_block;
                tokio::time::timeout(max_block, self.cluster.partition_count(&record.topic))
                    .await
                    .map_err(|_| ClientError::MetadataTimeout {
                        topic: record.topic.clone(),
                        max_block_ms: max_block.as_millis() as u64,
                    })??
            }
        };
        let size = records::estimate_record_size(
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
        let partition = match record.partition {
            Some(p) if p < 0 || p >= n => {
                return Err(ClientError::kafka(
                    3,
                    Some(format!(
                        "partition {p} of topic {} ({n} partitions)",
                        record.topic
                    )),
                ))
            }
            Some(p) => p,
            None => self.partitioner.partition(
                &record.topic,
                record.key.as_deref(),
                record.value.as_deref(),
                n,
                size,
                self.acc.config.batch_size,
            ),
        };
        let ts = record.timestamp.unwrap_or_else(now_ms);
        self.acc
            .append(&record.topic, partition, &record, ts, size)
            .await
    }

    /// Sends a record and waits for its acknowledgement.
    pub async fn send(&self, record: ProducerRecord) -> Result<RecordMetadata> {
        self.enqueue(record).await?.await
    }

    /// Makes every queued record ready now and waits until all have completed.
    pub async fn flush(&self) {
        self.acc.flushing.fetch_add(1, Ordering::SeqCst);
        self.acc.wake_sender.notify_one();
        loop {
            let notified = self.acc.all_done.notified();
            if self.acc.incomplete.load(Ordering::SeqCst) == 0 {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
        self.acc.flushing.fetch_sub(1, Ordering::SeqCst);
    }

    /// Sends what is queued, waiting up to `timeout`; then fails what is left with `Closed`.
    pub async fn close(&self, timeout: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = tokio::time::timeout(timeout, self.flush()).await;
        let leftover: Vec<ProducerBatch> = {
            let mut st = self.acc.state.lock();
            st.closed = true;
            st.all_queues().flat_map(|q| q.drain(..)).collect()
        };
        for b in leftover {
            self.acc.complete(b, Err(ClientError::Closed));
        }
        if let Some(h) = self.sender.lock().take() {
            h.abort();
        }
        self.cluster.close().await;
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if let Some(h) = self.sender.lock().take() {
            h.abort();
        }
    }
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_with_records(n: i32) -> (ProducerBatch, Vec<DeliveryFuture>) {
        let b = ProducerBatch::new(("t".to_string(), 3), 1_000, 1024);
        let futures = (0..n)
            .map(|i| DeliveryFuture {
                outcome: b.outcome.clone(),
                offset_delta: i,
                timestamp: 1_000 + i as i64,
                waker_slot: None,
            })
            .collect();
        (b, futures)
    }

    #[tokio::test]
    async fn a_future_awaited_before_its_batch_completes_is_woken_with_its_own_offset() {
        let (b, mut futures) = batch_with_records(3);
        let last = futures.pop().expect("three futures");
        let waiter = tokio::spawn(last);
        tokio::task::yield_now().await;
        assert!(
            futures[0].try_result().is_none(),
            "pending before completion"
        );
        b.outcome.set(Ok((100, -1)));
        let md = waiter.await.expect("task").expect("acknowledged");
        assert_eq!((md.topic.as_str(), md.partition, md.offset), ("t", 3, 102));
        assert_eq!(
            md.timestamp, 1_002,
            "CreateTime is the record's own timestamp"
        );
        let first = futures[0].try_result().expect("done").expect("ok");
        assert_eq!(first.offset, 100);
    }

    #[tokio::test]
    async fn every_task_awaiting_a_record_of_the_batch_is_woken_once_it_completes() {
        let (b, futures) = batch_with_records(1000);
        let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        while b.outcome.wakers.lock().len() < 1000 {
            tokio::task::yield_now().await;
        }
        b.outcome.set(Ok((0, -1)));
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.expect("task").expect("ok").offset, i as i64);
        }
    }

    #[test]
    fn a_future_polled_again_and_again_keeps_a_single_waker_entry() {
        let (b, mut futures) = batch_with_records(1);
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..100 {
            assert!(Pin::new(&mut futures[0]).poll(&mut cx).is_pending());
        }
        assert_eq!(b.outcome.wakers.lock().len(), 1);
    }

    #[tokio::test]
    async fn log_append_time_from_the_broker_replaces_every_records_timestamp() {
        let (b, futures) = batch_with_records(2);
        b.outcome.set(Ok((7, 55_555)));
        for f in futures {
            assert_eq!(f.await.expect("ok").timestamp, 55_555);
        }
    }

    #[tokio::test]
    async fn a_batch_dropped_without_an_outcome_fails_its_records_as_closed() {
        let (b, futures) = batch_with_records(2);
        drop(b);
        for f in futures {
            assert!(matches!(f.await, Err(ClientError::Closed)));
        }
    }

    #[tokio::test]
    async fn a_failed_batch_reports_the_failure_and_its_completion_time() {
        let (b, futures) = batch_with_records(1);
        b.outcome.set(Err(ClientError::kafka(6, None)));
        let (_, ok) = futures[0].completed_at().expect("completed");
        assert!(!ok);
        assert_eq!(
            futures[0].try_result().expect("done").unwrap_err().code(),
            Some(6)
        );
    }
}
