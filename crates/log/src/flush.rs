//! Fsyncing a log: `flush.messages` (inside [`Log::append`]), `flush.ms` ([`Log::maybe_flush`])
//! and explicit flushes.
//!
//! A flush is split in three so that the caller can run the slow part, the fsyncs, without
//! holding whatever lock guards the [`Log`]: [`Log::begin_flush`] (under the lock, no I/O)
//! collects the files written since the last flush, [`FlushJob::run`] (no lock) fsyncs them,
//! and [`Log::finish_flush`] (under the lock) advances the recovery point, or, if an fsync
//! failed, marks everything unflushed again so the next flush retries. [`Log::flush`] does all
//! three in one call.
//!
//! The recovery point is the offset below which every batch is known to be on disk: fsynced by
//! this process, or found on disk when the log was opened. It only moves forward on a completed
//! flush, and moves back with a truncation.

use crate::log::Log;
use crate::recovery;
use crate::LogError;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// The files one flush fsyncs; built under the log's lock, run without it.
#[derive(Debug)]
pub struct FlushJob {
    files: Vec<(i64, Arc<File>)>,
    /// Set when segments were created or removed since the last flush: their directory entries
    /// need an fsync of the directory too.
    dir: Option<PathBuf>,
    /// The log end offset when the job was built: the recovery point once it has run.
    upto_offset: i64,
    messages: i64,
    oldest_ms: Option<i64>,
}

impl FlushJob {
    /// Fsyncs every collected file (data only: sizes are covered by `fdatasync`), then the
    /// directory if segments came or went.
    pub fn run(&self) -> io::Result<()> {
        for (_, f) in &self.files {
            f.sync_data()?;
        }
        if let Some(dir) = &self.dir {
            recovery::sync_dir(dir)?;
        }
        Ok(())
    }
}

impl Log {
    /// Offset below which every batch is known to be on disk.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// Collects what a flush must fsync, or `None` when nothing was written since the last one.
    /// The unflushed counters restart at zero now; [`Log::finish_flush`] restores them if the
    /// fsyncs fail.
    pub fn begin_flush(&mut self) -> Option<FlushJob> {
        let dirty: Vec<usize> = (0..self.segments.len())
            .filter(|&i| self.segments[i].unflushed)
            .collect();
        if dirty.is_empty() && !self.dir_unsynced {
            self.recovery_point = self.recovery_point.max(self.log_end_offset());
            return None;
        }
        let mut files = Vec::with_capacity(dirty.len() * 3);
        for i in dirty {
            let seg = &mut self.segments[i];
            seg.unflushed = false;
            files.push((seg.base_offset, Arc::clone(&seg.file)));
            files.push((seg.base_offset, seg.offset_index.shared_file()));
            files.push((seg.base_offset, seg.time_index.shared_file()));
        }
        let dir = std::mem::take(&mut self.dir_unsynced).then(|| self.dir().to_path_buf());
        Some(FlushJob {
            files,
            dir,
            upto_offset: self.log_end_offset(),
            messages: std::mem::take(&mut self.unflushed_messages),
            oldest_ms: self.oldest_unflushed_ms.take(),
        })
    }

    /// Records the outcome of a [`FlushJob::run`].
    pub fn finish_flush(&mut self, job: FlushJob, outcome: &io::Result<()>) {
        if outcome.is_ok() {
            // A truncation while the job ran may have cut the log below what was synced.
            let upto = job.upto_offset.min(self.log_end_offset());
            self.recovery_point = self.recovery_point.max(upto);
            self.flush_count += 1;
            return;
        }
        for (base, _) in &job.files {
            if let Some(seg) = self.segments.iter_mut().find(|s| s.base_offset == *base) {
                seg.unflushed = true;
            }
        }
        self.dir_unsynced |= job.dir.is_some();
        self.unflushed_messages = self.unflushed_messages.saturating_add(job.messages);
        self.oldest_unflushed_ms = match (self.oldest_unflushed_ms, job.oldest_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Fsyncs every segment with unflushed writes, and the directory if segments came or went.
    pub fn flush(&mut self) -> Result<(), LogError> {
        let Some(job) = self.begin_flush() else {
            return Ok(());
        };
        let outcome = job.run();
        self.finish_flush(job, &outcome);
        Ok(outcome?)
    }

    /// Whether the oldest unflushed append is at least `flush.ms` old.
    pub fn flush_is_due(&self, now_ms: i64) -> bool {
        self.oldest_unflushed_ms
            .is_some_and(|t| now_ms.saturating_sub(t) >= self.config().flush_ms)
    }

    /// [`Log::begin_flush`] if `flush.ms` has passed since the oldest unflushed append.
    pub fn begin_flush_if_due(&mut self, now_ms: i64) -> Option<FlushJob> {
        if self.flush_is_due(now_ms) {
            self.begin_flush()
        } else {
            None
        }
    }

    /// Fsyncs if the oldest unflushed append is at least `flush.ms` old.
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<bool, LogError> {
        if !self.flush_is_due(now_ms) {
            return Ok(false);
        }
        self.flush()?;
        Ok(true)
    }

    /// Completed flushes that fsynced something, since the log was opened.
    pub fn flush_count(&self) -> u64 {
        self.flush_count
    }
}
