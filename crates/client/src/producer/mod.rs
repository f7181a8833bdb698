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
//!
//! Files: `accumulator.rs` (batches per partition, `buffer.memory`), `delivery.rs` (what a
//! record's future waits on), `dispatch.rs` (each broker's requests written in send order),
//! `sender.rs` (the background task: drain, send, retry),
//! this file (the `Producer` handle: partitioning, `send`, `flush`, `close`).

mod accumulator;
mod delivery;
mod dispatch;
mod sender;

pub use accumulator::RecordAccumulator;
pub use delivery::DeliveryFuture;

use crate::cluster::Cluster;
use crate::config::{PartitionerKind, ProducerConfig};
use crate::error::{ClientError, Result};
use crate::partitioner::Partitioner;
use crate::records::{self, ProducerRecord};
use accumulator::ProducerBatch;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    /// -1 with acks=0.
    pub offset: i64,
    pub timestamp: i64,
}

/// A partition of a topic.
type Tp = (String, i32);

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
        let stop = Arc::new(AtomicBool::new(false));
        let sender = sender::start(acc.clone(), cluster.clone(), config, stop.clone());
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
