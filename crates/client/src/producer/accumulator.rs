//! The `RecordAccumulator`: per-partition queues of batches, bounded by `batch.size` each and
//! `buffer.memory` in all.

use super::delivery::{BatchOutcome, DeliveryFuture};
use super::Tp;
use crate::config::ProducerConfig;
use crate::error::{ClientError, Result};
use crate::records::{self, ProducerRecord, BATCH_OVERHEAD};
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Instant;
use tokio::sync::{Notify, Semaphore, TryAcquireError};

/// A batch of records for one partition.
pub(super) struct ProducerBatch {
    pub(super) tp: Tp,
    /// The batch as it grows: a reserved header (`BATCH_OVERHEAD` bytes) then the records.
    pub(super) records: BytesMut,
    pub(super) count: i32,
    pub(super) base_timestamp: i64,
    pub(super) max_timestamp: i64,
    /// Bytes reserved from `buffer.memory`.
    pub(super) reserved: usize,
    pub(super) created: Instant,
    pub(super) outcome: Arc<BatchOutcome>,
    /// The finished batch, kept so a retry resends the same bytes and sequence.
    pub(super) built: Option<Bytes>,
    pub(super) base_sequence: i32,
    pub(super) attempts: u32,
    pub(super) retry_at: Option<Instant>,
    pub(super) last_error: Option<ClientError>,
}

impl ProducerBatch {
    pub(super) fn new(tp: Tp, timestamp: i64, capacity: usize) -> ProducerBatch {
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
    pub(super) fn size(&self) -> usize {
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
pub(super) type TopicQueues = Vec<VecDeque<ProducerBatch>>;

#[derive(Default)]
pub(super) struct AccState {
    /// Keyed by topic name so the per-record lookup borrows the record's topic (no copy).
    pub(super) queues: BTreeMap<String, TopicQueues>,
    pub(super) closed: bool,
}

impl AccState {
    pub(super) fn queue(&mut self, topic: &str, partition: i32) -> &mut VecDeque<ProducerBatch> {
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

    pub(super) fn all_queues(&mut self) -> impl Iterator<Item = &mut VecDeque<ProducerBatch>> {
        self.queues.values_mut().flat_map(|parts| parts.iter_mut())
    }
}

/// Per-partition queues of batches, bounded by `batch.size` each and `buffer.memory` in all.
pub struct RecordAccumulator {
    pub(super) config: ProducerConfig,
    pub(super) state: Mutex<AccState>,
    pub(super) memory: Semaphore,
    /// Batches not yet completed (queued or in flight).
    pub(super) incomplete: AtomicUsize,
    pub(super) flushing: AtomicUsize,
    pub(super) wake_sender: Notify,
    pub(super) all_done: Notify,
    pub(super) max_in_flight_seen: AtomicUsize,
    /// Batches put back in their queue to be sent again.
    pub(super) batches_retried: AtomicUsize,
}

impl RecordAccumulator {
    pub(super) fn new(config: ProducerConfig) -> RecordAccumulator {
        RecordAccumulator {
            memory: Semaphore::new(config.buffer_memory.min(Semaphore::MAX_PERMITS)),
            config,
            state: Mutex::default(),
            incomplete: AtomicUsize::new(0),
            flushing: AtomicUsize::new(0),
            wake_sender: Notify::new(),
            all_done: Notify::new(),
            max_in_flight_seen: AtomicUsize::new(0),
            batches_retried: AtomicUsize::new(0),
        }
    }

    /// The most Produce requests ever outstanding to one broker at once.
    pub fn max_in_flight_seen(&self) -> usize {
        self.max_in_flight_seen.load(Ordering::SeqCst)
    }

    /// How many times a batch was put back to be sent again (any error, any partition).
    pub fn batches_retried(&self) -> usize {
        self.batches_retried.load(Ordering::SeqCst)
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

    pub(super) async fn append(
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

    pub(super) fn complete(&self, b: ProducerBatch, result: Result<(i64, i64)>) {
        self.memory.add_permits(b.reserved);
        b.outcome.set(result);
        if self.incomplete.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.all_done.notify_waiters();
        }
    }
}
