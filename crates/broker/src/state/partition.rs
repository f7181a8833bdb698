//! One partition led by this broker: its log, idempotent-producer state and high watermark.
//!
//! The log end offset (LEO) and the high watermark (HW) are kept apart even on a single node:
//! the HW is what consumers may read and what acks=all waits for. With no followers the in-sync
//! replica set is this broker alone, so the HW moves to the LEO right after each append; a
//! future replication layer moves it only when followers catch up.

use super::producers::{ProducerStates, SequenceCheck};
use crate::error::{BrokerError, BrokerResult};
use bytes::Bytes;
use parking_lot::Mutex;
use runnel_log::recompress::recompress;
use runnel_log::validate::{validate_produce, ValidationRules};
use runnel_log::{AppendOptions, FileRegion, Log, LogConfig};
use runnel_protocol::records::ReadLimits;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// Result of a produce to this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

/// Result of a fetch from this partition.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// Result of a fetch from this partition as a range of a segment file, for `sendfile`.
#[derive(Debug, Clone)]
pub struct FetchedRegion {
    /// `None` when there is nothing to return.
    pub region: Option<FileRegion>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

struct Inner {
    log: Log,
    producers: ProducerStates,
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    /// Stamped into every batch appended; bumps when leadership changes (replication).
    pub leader_epoch: i32,
    inner: Mutex<Inner>,
    high_watermark: AtomicI64,
    log_start_offset: AtomicI64,
    /// Wakes the fetches parked on this partition (and only those) after an append.
    appended: Notify,
}

impl Partition {
    /// Opens the partition's log (recovering it) and rebuilds producer state from its newest
    /// segments, which hold the last batches of every producer still writing. At most
    /// `max_producer_states` producers are remembered (`runnel.max.producer.states.per.partition`).
    pub fn open(
        topic: &str,
        index: i32,
        dir: &Path,
        config: LogConfig,
        now_ms: i64,
        max_producer_states: usize,
    ) -> BrokerResult<Partition> {
        let log = Log::open(dir, config)?;
        let mut producers = ProducerStates::with_limit(max_producer_states);
        let bases = log.segment_base_offsets();
        let from = bases
            .len()
            .checked_sub(2)
            .map_or(log.log_start_offset(), |i| bases[i]);
        log.scan_batch_headers(from.max(log.log_start_offset()), &mut |h| {
            producers.record(h, h.base_offset, now_ms)
        })?;
        let leo = log.log_end_offset();
        let start = log.log_start_offset();
        Ok(Partition {
            topic: topic.to_string(),
            index,
            leader_epoch: 0,
            inner: Mutex::new(Inner { log, producers }),
            high_watermark: AtomicI64::new(leo),
            log_start_offset: AtomicI64::new(start),
            appended: Notify::new(),
        })
    }

    /// Wakes the fetches waiting in [`Partition::appended`]. Called after the high watermark
    /// moved (the produce handler, after each successful append).
    pub fn notify_appended(&self) {
        self.appended.notify_waiters();
    }

    /// Resolves at the next [`Partition::notify_appended`]. A long poll creates and `enable`s
    /// this before reading, so an append between its read and its wait is not missed.
    pub fn appended(&self) -> Notified<'_> {
        self.appended.notified()
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Checks a client's view of the leader epoch (-1 = no check), as Fetch and ListOffsets do.
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> BrokerResult<()> {
        let current = self.leader_epoch;
        if current_leader_epoch > current {
            return Err(BrokerError::UnknownLeaderEpoch {
                got: current_leader_epoch,
                current,
            });
        }
        if current_leader_epoch >= 0 && current_leader_epoch < current {
            return Err(BrokerError::FencedLeaderEpoch {
                got: current_leader_epoch,
                current,
            });
        }
        Ok(())
    }

    pub fn log_end_offset(&self) -> i64 {
        self.inner.lock().log.log_end_offset()
    }

    /// Appends the one record batch a produce request carries for this partition.
    ///
    /// The batch is validated first (Kafka's produce-time checks, walking every record), with
    /// the partition unlocked: decompression can take a while and must not hold up other
    /// producers of this partition. The idempotence check and the write then happen under one
    /// lock, so they are one step. A duplicate is answered with its original base offset and
    /// not written again. Does disk I/O: call from the blocking pool.
    pub fn append(&self, records: &[u8], now_ms: i64) -> BrokerResult<Appended> {
        let config = self.inner.lock().log.config().clone();
        let topic_partition = format!("{}-{}", self.topic, self.index);
        let rules = ValidationRules {
            topic_partition: &topic_partition,
            compacted: config.cleanup_policy.compact,
            max_message_bytes: config.max_message_bytes,
            timestamp_type: config.timestamp_type,
            timestamp_before_max_ms: config.timestamp_before_max_ms,
            timestamp_after_max_ms: config.timestamp_after_max_ms,
            now_ms,
            limits: ReadLimits::for_batch_limit(config.max_message_bytes),
        };
        let header = validate_produce(records, &rules)?;
        if header.is_transactional() {
            return Err(BrokerError::TransactionsUnsupported);
        }
        // `compression.type` naming a codec: the batch is stored in it, as Kafka does.
        let recompressed = match &config.compression {
            Some(target) => recompress(
                records,
                &header,
                target,
                rules.limits,
                config.max_message_bytes,
                &topic_partition,
            )?,
            None => None,
        };
        let records = recompressed.as_deref().unwrap_or(records);
        let mut inner = self.inner.lock();
        if let SequenceCheck::Duplicate(dup) = inner.producers.check(&header)? {
            return Ok(Appended {
                base_offset: dup.base_offset,
                log_append_time_ms: -1,
                log_start_offset: inner.log.log_start_offset(),
            });
        }
        let info = inner.log.append(
            records,
            AppendOptions {
                leader_epoch: self.leader_epoch,
                now_ms,
            },
        )?;
        inner.producers.record(&header, info.base_offset, now_ms);
        // Single node: the in-sync replica set is this broker, so the HW follows the LEO.
        self.high_watermark
            .store(inner.log.log_end_offset(), Ordering::Release);
        Ok(Appended {
            base_offset: info.base_offset,
            log_append_time_ms: info.log_append_time_ms,
            log_start_offset: inner.log.log_start_offset(),
        })
    }

    /// Reads whole batches from `offset`, bounded by the high watermark and `max_bytes`.
    pub fn read(&self, offset: i64, max_bytes: usize) -> BrokerResult<Fetched> {
        let inner = self.inner.lock();
        let hw = self.high_watermark();
        let result = inner.log.read(offset, max_bytes, hw)?;
        Ok(Fetched {
            records: result.bytes,
            high_watermark: hw,
            log_start_offset: inner.log.log_start_offset(),
        })
    }

    /// Like [`Partition::read`], but the batches come back as a file region instead of bytes:
    /// the caller sends them without reading them (Fetch responses).
    pub fn read_region(&self, offset: i64, max_bytes: usize) -> BrokerResult<FetchedRegion> {
        let inner = self.inner.lock();
        let hw = self.high_watermark();
        let region = inner.log.read_region(offset, max_bytes, hw)?;
        Ok(FetchedRegion {
            region,
            high_watermark: hw,
            log_start_offset: inner.log.log_start_offset(),
        })
    }

    /// Runs `f` with the log locked (for admin operations and background work). Segment files
    /// that `f` took out of the log are deleted after the lock is released.
    pub fn with_log<T>(&self, f: impl FnOnce(&mut Log) -> T) -> T {
        let (out, removed) = {
            let mut inner = self.inner.lock();
            let out = f(&mut inner.log);
            self.log_start_offset
                .store(inner.log.log_start_offset(), Ordering::Release);
            let leo = inner.log.log_end_offset();
            if self.high_watermark() > leo {
                self.high_watermark.store(leo, Ordering::Release);
            }
            (out, inner.log.take_removed())
        };
        if let Err(e) = removed.delete() {
            tracing::warn!(topic = %self.topic, partition = self.index, error = %e,
                "deleting removed segment files failed; the next start-up deletes them");
        }
        out
    }

    /// Fsyncs the log if `flush.ms` has passed since its oldest unflushed append. The fsyncs
    /// run without the partition lock, so appends and fetches go on meanwhile.
    pub fn flush_if_due(&self, now_ms: i64) -> Result<(), runnel_log::LogError> {
        let Some(job) = self.inner.lock().log.begin_flush_if_due(now_ms) else {
            return Ok(());
        };
        let outcome = job.run();
        self.inner.lock().log.finish_flush(job, &outcome);
        Ok(outcome?)
    }

    /// One compaction pass if the dirty ratio calls for it. The key map and the rewritten
    /// segments are built without the partition lock; only the plan and the swap take it.
    pub fn compact(
        &self,
        now_ms: i64,
        budget: runnel_log::CleanerBudget,
    ) -> Result<bool, runnel_log::LogError> {
        let Some(job) = self.inner.lock().log.plan_compaction(now_ms)? else {
            return Ok(false);
        };
        let out = job.run(budget)?;
        self.with_log(|log| log.finish_compaction(out))
    }

    /// Idempotent producers this partition remembers.
    pub fn producer_count(&self) -> usize {
        self.inner.lock().producers.len()
    }

    /// Drops idle producers' state.
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) {
        self.inner.lock().producers.expire(now_ms, expiration_ms);
    }
}
