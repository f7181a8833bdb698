//! Log compaction (`cleanup.policy=compact`): keep only the newest record per key.
//!
//! A pass has three phases, so that the log's lock is held only for the first and the last:
//! 1. [`Log::plan_compaction`] (under the lock, no data read): if the dirty ratio calls for it,
//!    takes a snapshot of the segments (shared file handles and sizes).
//! 2. [`CompactionJob::run`] (no lock): builds a bounded map `key hash -> newest offset` over
//!    the dirty records, those at or after the cleaner checkpoint, the active segment included
//!    (so a newer value there supersedes older ones), stopping when the map is full
//!    (`log.cleaner.dedupe.buffer.size`, see [`offset_map`]). Then it rewrites each closed
//!    segment that starts below the end of the mapped range into a temporary directory, batch
//!    by batch, keeping a record unless a newer record of its key is in the map; records past
//!    the mapped range are always kept, as in Kafka. Tombstones (null values) go too once
//!    their segment's newest timestamp is older than `delete.retention.ms`.
//! 3. [`Log::finish_compaction`] (under the lock): swaps each rewritten segment in, unless the
//!    log changed under it (segment gone or replaced, or any truncation since the plan), and
//!    moves the cleaner checkpoint to the end of the mapped range (at most the active
//!    segment's base). Only one job per log may run at a time.
//!
//! Records are read with the workspace's streaming record reader (`runnel_protocol::records`),
//! bounded by `max.message.bytes`; a stored batch whose records cannot be read is kept as it is.
//! Offsets never change: a batch that loses records is rebuilt from its remaining records with
//! their original offsets, producer id/epoch, sequence, compression and timestamps (so it may
//! have gaps; see [`rebuild`]); an untouched batch is copied byte for byte; an emptied batch
//! disappears. The active segment is never rewritten.
//!
//! The swap is crash-safe: the rewritten `.log` and its indexes are written and fsynced in
//! `<dir>/cleaning/` first. Under the lock the old index files are deleted, the new `.log` is
//! renamed over the old one and the directory fsynced; only then are the new indexes renamed
//! in and the directory fsynced again. A crash before the `.log` rename leaves the original
//! segment (the `cleaning` directory is deleted on open); a crash after leaves the cleaned log,
//! with its indexes or without them (rebuilt on open); never an old log with new indexes.
//!
//! The cleaner checkpoint (first dirty offset) is persisted after a pass; bytes at or after it
//! in closed segments are "dirty", and a pass runs only when dirty / total closed bytes reaches
//! `min.cleanable.dirty.ratio`.

mod job;
pub mod offset_map;
mod rebuild;

use crate::log::Log;
use crate::recovery::{self, CLEANER_CHECKPOINT_FILE};
use crate::segment::{segment_path, INDEX_EXT, LOG_EXT, TIME_INDEX_EXT};
use crate::LogError;
use job::{CleanedSegment, SegmentView};
pub use job::{CompactionJob, CompactionOutput};
pub use offset_map::CleanerBudget;
use std::fs;
use std::path::Path;
use std::sync::Arc;

/// Subdirectory of a log where rewritten segments are built.
pub(crate) const CLEANING_DIR: &str = "cleaning";

impl Log {
    /// Runs one whole compaction pass (plan, run, finish) with Kafka's default budget, if the
    /// dirty ratio calls for it; returns whether it did.
    pub fn compact(&mut self, now_ms: i64) -> Result<bool, LogError> {
        self.compact_with(now_ms, CleanerBudget::default())
    }

    /// [`Log::compact`] with a given key-map budget.
    pub fn compact_with(&mut self, now_ms: i64, budget: CleanerBudget) -> Result<bool, LogError> {
        let Some(job) = self.plan_compaction(now_ms)? else {
            return Ok(false);
        };
        let out = job.run(budget)?;
        self.finish_compaction(out)
    }

    /// Phase 1: a snapshot of the segments to compact, or `None` when the policy or the dirty
    /// ratio says there is nothing to do.
    pub fn plan_compaction(&self, now_ms: i64) -> Result<Option<CompactionJob>, LogError> {
        if !self.config().cleanup_policy.compact || self.segments.len() < 2 {
            return Ok(None);
        }
        let closed = self.segments.len() - 1;
        let (dirty_bytes, total_bytes) = self.dirty_and_total_bytes(closed)?;
        if dirty_bytes == 0
            || (dirty_bytes as f64) / (total_bytes as f64) < self.config().min_cleanable_dirty_ratio
        {
            return Ok(None);
        }
        Ok(Some(CompactionJob {
            dir: self.dir().to_path_buf(),
            index_interval_bytes: self.config().index_interval_bytes,
            max_message_bytes: self.config().max_message_bytes,
            segments: self.segments.iter().map(SegmentView::of).collect(),
            closed,
            dirty_start_offset: self.cleaner_checkpoint.max(self.log_start_offset),
            tombstone_horizon_ms: now_ms.saturating_sub(self.config().delete_retention_ms),
            truncations: self.truncations,
        }))
    }

    /// Phase 3: swaps in what [`CompactionJob::run`] rewrote and moves the checkpoint. Returns
    /// whether the pass took effect (it does not if the log was truncated meanwhile).
    pub fn finish_compaction(&mut self, out: CompactionOutput) -> Result<bool, LogError> {
        let cleaning = out.cleaning_dir.clone();
        let result = self.swap_in(out);
        if let Err(e) = fs::remove_dir_all(&cleaning) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %cleaning.display(), error = %e, "could not remove the cleaner's temporary directory");
            }
        }
        result
    }

    fn swap_in(&mut self, out: CompactionOutput) -> Result<bool, LogError> {
        if out.truncations != self.truncations {
            tracing::info!(dir = %self.dir().display(), "log truncated during compaction; discarding the pass");
            return Ok(false);
        }
        let closed = self.segments.len() - 1;
        let mut swaps = Vec::new();
        for cleaned in out.cleaned {
            let still_there = self.segments[..closed].iter().position(|s| {
                s.base_offset == cleaned.base_offset
                    && Arc::ptr_eq(&s.file, &cleaned.original_file)
                    && s.size_bytes == cleaned.original_size_bytes
            });
            match still_there {
                Some(i) => swaps.push((i, cleaned)),
                None => tracing::debug!(
                    base_offset = cleaned.base_offset,
                    "segment changed during compaction; not swapped"
                ),
            }
        }
        let dir = self.dir().to_path_buf();
        // The `.log` renames first (the commit), made durable before any new index appears.
        for (_, c) in &swaps {
            for ext in [INDEX_EXT, TIME_INDEX_EXT] {
                remove_if_present(&segment_path(&dir, c.base_offset, ext))?;
            }
            fs::rename(
                segment_path(&out.cleaning_dir, c.base_offset, LOG_EXT),
                segment_path(&dir, c.base_offset, LOG_EXT),
            )?;
        }
        recovery::sync_dir(&dir)?;
        for (i, c) in swaps {
            let CleanedSegment { mut segment, .. } = c;
            for ext in [INDEX_EXT, TIME_INDEX_EXT] {
                fs::rename(
                    segment_path(&out.cleaning_dir, segment.base_offset, ext),
                    segment_path(&dir, segment.base_offset, ext),
                )?;
            }
            segment.dir = dir.clone();
            self.segments[i] = segment;
        }
        recovery::sync_dir(&dir)?;
        let active_base = self.active().base_offset;
        let checkpoint = out.end_offset.min(active_base).max(self.cleaner_checkpoint);
        if checkpoint != self.cleaner_checkpoint {
            self.cleaner_checkpoint = checkpoint;
            recovery::write_offset_file(&dir, CLEANER_CHECKPOINT_FILE, checkpoint)?;
        }
        Ok(true)
    }

    /// Bytes at or after the cleaner checkpoint, and all bytes, in the first `closed` segments.
    fn dirty_and_total_bytes(&self, closed: usize) -> Result<(u64, u64), LogError> {
        let checkpoint = self.cleaner_checkpoint;
        let (mut dirty, mut total) = (0u64, 0u64);
        for seg in &self.segments[..closed] {
            total += seg.size_bytes;
            if seg.base_offset >= checkpoint {
                dirty += seg.size_bytes;
            } else if seg.next_offset > checkpoint {
                if let Some((pos, _)) = seg.find_batch(checkpoint)? {
                    dirty += seg.size_bytes - pos;
                }
            }
        }
        Ok((dirty, total))
    }
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
