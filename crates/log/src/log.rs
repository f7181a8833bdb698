//! The [`Log`]: one partition's segments, and the append/flush/truncate paths. Reads live in
//! [`crate::read`], retention and DeleteRecords in [`crate::retention`], compaction in
//! [`crate::cleaner`], loading in [`crate::recovery`].
//!
//! # Durability
//!
//! An append is one `write` to the active segment: once [`Log::append`] returns, the batches
//! are in the OS page cache and survive a crash of this *process*, but not a power loss or
//! kernel crash. They become durable (fsynced, data and indexes) when [`Log::flush`] runs, which
//! happens on its own only when `flush.messages` records have accumulated or, through
//! [`Log::maybe_flush`], when the oldest unflushed append is `flush.ms` old. Kafka's defaults
//! (both `i64::MAX`) never fsync and rely on replication instead; this log does the same.
//! Whatever survives, recovery on [`Log::open`] cuts the active segment back to its last whole
//! batch with a valid CRC, so a log never serves a torn batch. Checkpoints (log start offset,
//! cleaner position) and compaction swaps are always fsynced and renamed into place; a
//! truncation fsyncs the cut segment and the directory before it returns.

use crate::batch::{self, BatchError, HEADER_SIZE_BYTES};
use crate::fault::Faults;
use crate::lifecycle::DelayedRemovals;
use crate::recovery;
use crate::segment::{PendingEntries, Segment};
use crate::{LogConfig, LogError, TimestampType};
use bytes::Bytes;
use std::io::IoSlice;
use std::path::{Path, PathBuf};

/// What the broker decides per append.
#[derive(Debug, Clone, Copy)]
pub struct AppendOptions {
    /// Stamped into every batch's `partitionLeaderEpoch`, so a future follower can truncate to
    /// the leader's history.
    pub leader_epoch: i32,
    /// Broker clock, for LogAppendTime, segment age and flush timing.
    pub now_ms: i64,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record of the first batch.
    pub base_offset: i64,
    /// Offset of the last record of the last batch.
    pub last_offset: i64,
    /// Largest record timestamp appended (the broker clock under LogAppendTime).
    pub max_timestamp: i64,
    /// The broker clock if the log uses LogAppendTime, else -1 (as Produce responses report it).
    pub log_append_time_ms: i64,
    /// Records appended, summed over batches.
    pub record_count: i64,
}

/// Bytes read for a fetch: whole batches exactly as stored.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub bytes: Bytes,
}

pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    /// Sorted by base offset; never empty; the last one is the active segment.
    pub(crate) segments: Vec<Segment>,
    pub(crate) log_start_offset: i64,
    /// The cleaner's first dirty offset: bytes at and after it count as dirty.
    pub(crate) cleaner_checkpoint: i64,
    /// Reused for every append so the hot path does not allocate.
    append_buf: Vec<u8>,
    pending: PendingEntries,
    index_scratch: Vec<u8>,
    pub(crate) unflushed_messages: i64,
    pub(crate) oldest_unflushed_ms: Option<i64>,
    /// Offset below which everything is on disk (see [`crate::flush`]).
    pub(crate) recovery_point: i64,
    pub(crate) flush_count: u64,
    /// Segment files were created or renamed since the directory was last fsynced.
    pub(crate) dir_unsynced: bool,
    /// Segments renamed to `*.deleted`, waiting for [`Log::take_removed`].
    pub(crate) removed: Vec<i64>,
    /// Bumped by every truncation, so a compaction planned before one is not swapped in after.
    pub(crate) truncations: u64,
    pub(crate) faults: Faults,
    /// `segment.jitter.ms` drawn for the active segment.
    pub(crate) roll_jitter_ms: i64,
    /// Removed segments waiting for `file.delete.delay.ms` (see [`crate::lifecycle`]).
    pub(crate) delayed_removals: DelayedRemovals,
}

impl Log {
    /// Opens (creating if missing) the log in `dir`, recovering from an unclean shutdown.
    pub fn open(dir: impl Into<PathBuf>, config: LogConfig) -> Result<Log, LogError> {
        let dir = dir.into();
        let loaded = recovery::load(&dir, &config)?;
        let recovery_point = loaded
            .segments
            .last()
            .map_or(loaded.log_start_offset, |s| s.next_offset);
        let mut log = Log {
            dir,
            config,
            segments: loaded.segments,
            log_start_offset: loaded.log_start_offset,
            cleaner_checkpoint: loaded.cleaner_checkpoint,
            append_buf: Vec::new(),
            pending: PendingEntries::default(),
            index_scratch: Vec::new(),
            unflushed_messages: 0,
            oldest_unflushed_ms: None,
            recovery_point,
            flush_count: 0,
            dir_unsynced: false,
            removed: Vec::new(),
            truncations: 0,
            faults: Faults::default(),
            roll_jitter_ms: 0,
            delayed_removals: DelayedRemovals::default(),
        };
        log.started_segment();
        Ok(log)
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Tells the log that its directory was renamed (topic deletion moves it aside first), so
    /// that files it creates from now on go there.
    pub fn dir_renamed(&mut self, new_dir: PathBuf) {
        for seg in &mut self.segments {
            seg.dir = new_dir.clone();
        }
        self.dir = new_dir;
    }
    pub fn config(&self) -> &LogConfig {
        &self.config
    }
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size_bytes).sum()
    }

    pub(crate) fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a log always has an active segment")
    }

    /// Validates every batch (nothing is written unless all pass), stamps offsets, leader epoch
    /// and (under LogAppendTime) the timestamp, rolls first if the active segment is full or
    /// old, then writes all batches with one `write`.
    pub fn append(&mut self, records: &[u8], opts: AppendOptions) -> Result<AppendInfo, LogError> {
        let batches = batch::split_batches(records)?;
        if batches.is_empty() {
            return Err(BatchError::Invalid {
                reason: "no record batches",
            }
            .into());
        }
        let mut offsets_needed: i64 = 0;
        for (header, bytes) in &batches {
            if bytes.len() > self.config.max_message_bytes {
                return Err(BatchError::TooLarge {
                    size_bytes: bytes.len(),
                    max_bytes: self.config.max_message_bytes,
                }
                .into());
            }
            batch::validate(bytes, header)?;
            if header.records_count == 0 {
                return Err(BatchError::Invalid {
                    reason: "record batch has no records",
                }
                .into());
            }
            offsets_needed += header.last_offset_delta as i64 + 1;
        }
        self.roll_before_append(records.len() as u64, offsets_needed, opts.now_ms)?;

        let log_append_time = self.config.timestamp_type == TimestampType::LogAppendTime;
        let interval = self.config.index_interval_bytes;
        // Only the fixed headers are copied (into `append_buf`) and stamped; the records go to
        // the file straight from the request, headers and bodies interleaved in one writev.
        self.append_buf.clear();
        for (_, bytes) in &batches {
            self.append_buf
                .extend_from_slice(&bytes[..HEADER_SIZE_BYTES]);
        }
        self.pending.clear();
        let seg = self
            .segments
            .last_mut()
            .expect("a log always has an active segment");
        let old_size_bytes = seg.size_bytes;
        let base_offset = seg.next_offset;
        let mut next_offset = base_offset;
        let mut max_timestamp = i64::MIN;
        let mut record_count = 0i64;
        let mut at = 0u64;
        let headers = self.append_buf.chunks_exact_mut(HEADER_SIZE_BYTES);
        for ((header, bytes), stamped_bytes) in batches.iter().zip(headers) {
            batch::stamp_offset_and_epoch(stamped_bytes, next_offset, opts.leader_epoch);
            let mut stamped = *header;
            stamped.base_offset = next_offset;
            stamped.partition_leader_epoch = opts.leader_epoch;
            if log_append_time {
                batch::stamp_log_append_time_split(
                    stamped_bytes,
                    &bytes[HEADER_SIZE_BYTES..],
                    opts.now_ms,
                );
                stamped.max_timestamp = opts.now_ms;
            }
            seg.track(old_size_bytes + at, &stamped, interval, &mut self.pending);
            max_timestamp = max_timestamp.max(stamped.max_timestamp);
            record_count += header.records_count as i64;
            next_offset = stamped.last_offset() + 1;
            at += header.total_size_bytes() as u64;
        }
        let mut slices = Vec::with_capacity(batches.len() * 2);
        for ((_, bytes), stamped) in batches
            .iter()
            .zip(self.append_buf.chunks_exact(HEADER_SIZE_BYTES))
        {
            slices.push(IoSlice::new(stamped));
            slices.push(IoSlice::new(&bytes[HEADER_SIZE_BYTES..]));
        }
        if let Err(e) = seg.append_vectored(&mut slices, at, &self.pending, &mut self.index_scratch)
        {
            // Put the segment back as it was (best effort: the disk is already failing).
            let _ = seg.truncate_at(old_size_bytes, interval, &mut Faults::default());
            return Err(e.into());
        }
        seg.first_append_ms.get_or_insert(opts.now_ms);
        self.unflushed_messages = self.unflushed_messages.saturating_add(record_count);
        self.oldest_unflushed_ms.get_or_insert(opts.now_ms);
        if self.unflushed_messages >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: next_offset - 1,
            max_timestamp,
            log_append_time_ms: if log_append_time { opts.now_ms } else { -1 },
            record_count,
        })
    }

    /// Rolls when the append would overflow `segment.bytes` (or the u32 positions and relative
    /// offsets of the indexes), or the active segment is older than `segment.ms`. An empty
    /// segment is never rolled: a batch larger than `segment.bytes` gets a segment of its own.
    fn roll_before_append(
        &mut self,
        size_bytes: u64,
        offsets_needed: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let seg = self.active();
        if seg.is_empty() {
            return Ok(());
        }
        let too_big = seg.size_bytes + size_bytes > self.config.segment_bytes
            || seg.size_bytes + size_bytes > u32::MAX as u64;
        let offsets_overflow =
            seg.next_offset + offsets_needed - 1 - seg.base_offset > u32::MAX as i64;
        if too_big || offsets_overflow || self.index_full() || self.roll_is_due(now_ms) {
            self.roll()?;
        }
        Ok(())
    }

    pub(crate) fn roll_is_due(&self, now_ms: i64) -> bool {
        let seg = self.active();
        !seg.is_empty()
            && seg.first_append_ms.is_some_and(|t| {
                now_ms.saturating_sub(t) > self.config.segment_ms - self.roll_jitter_ms
            })
    }

    /// Starts a new active segment at the log end offset. The old one is not fsynced here (that
    /// is [`Log::flush`]'s job), so rolling costs no disk wait.
    pub(crate) fn roll(&mut self) -> Result<(), LogError> {
        let base = self.log_end_offset();
        if self.active().is_empty() {
            return Ok(());
        }
        let seg = Segment::create(&self.dir, base)?;
        tracing::debug!(dir = %self.dir.display(), base_offset = base, "rolled new segment");
        self.segments.push(seg);
        self.dir_unsynced = true;
        self.started_segment();
        Ok(())
    }

    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(|s| s.base_offset).collect()
    }

    /// Removes the log and its directory.
    pub fn delete(self) -> Result<(), LogError> {
        let dir = self.dir.clone();
        drop(self);
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}
