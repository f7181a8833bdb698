//! Cutting the log back ([`Log::truncate_to`], for a follower that must match its leader) and
//! taking segments out of the directory.
//!
//! Every step is one file operation, and after each the log in memory matches what a reopen of
//! the directory would find, so an I/O error at any step leaves a usable log: whole segments go
//! newest first (each by renaming its files to `*.deleted`, see
//! [`crate::segment::Segment::rename_to_deleted`]), then the segment holding the cut is cut (index
//! entries first, then the file), then file and directory are fsynced. A log that failed part
//! way holds a prefix of what it held before, never less than the truncation asked to keep.
//!
//! Renamed segments are removed from disk later by [`Removed::delete`], so the caller can do
//! that without holding the log's lock; recovery removes any left behind.

use crate::log::Log;
use crate::recovery::{self, CLEANER_CHECKPOINT_FILE, LOG_START_FILE};
use crate::segment::{deleted_path, Segment, INDEX_EXT, LOG_EXT, TIME_INDEX_EXT};
use crate::LogError;
use std::io;
use std::path::PathBuf;

/// Segments taken out of a log whose files are still on disk as `*.deleted`.
#[derive(Debug, Default)]
pub struct Removed {
    dir: PathBuf,
    base_offsets: Vec<i64>,
}

impl Removed {
    pub fn is_empty(&self) -> bool {
        self.base_offsets.is_empty()
    }

    /// Deletes the files and fsyncs the directory.
    pub fn delete(self) -> io::Result<()> {
        if self.base_offsets.is_empty() {
            return Ok(());
        }
        for base in &self.base_offsets {
            for ext in [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT] {
                match std::fs::remove_file(deleted_path(&self.dir, *base, ext)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        recovery::sync_dir(&self.dir)
    }
}

impl Log {
    /// Drops every record at and after `offset`. Batches are atomic: if `offset` falls inside a
    /// batch, that whole batch goes and the log end offset becomes its base offset (or the log
    /// start offset, if that is higher: the log end never drops below the log start). Truncating
    /// below the log start offset empties the log and restarts it at `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        self.truncations += 1;
        let result = if offset < self.log_start_offset {
            self.truncate_below_start(offset)
        } else {
            self.truncate_within(offset)
        };
        self.recovery_point = self.recovery_point.min(self.log_end_offset());
        result?;
        if self.cleaner_checkpoint > self.log_end_offset() {
            self.cleaner_checkpoint = self.log_end_offset();
            recovery::write_offset_file(
                self.dir(),
                CLEANER_CHECKPOINT_FILE,
                self.cleaner_checkpoint,
            )?;
        }
        Ok(())
    }

    /// `offset` is at or above the log start offset.
    fn truncate_within(&mut self, offset: i64) -> Result<(), LogError> {
        while self.segments.len() > 1 && self.active().base_offset >= offset {
            self.remove_active_segment()?;
        }
        let interval = self.config().index_interval_bytes;
        let log_start_offset = self.log_start_offset;
        let seg = self
            .segments
            .last_mut()
            .expect("a log always has an active segment");
        let Some((pos, header)) = seg.find_batch(offset)? else {
            seg.next_offset = offset;
            return self.sync_dir_after_removals();
        };
        let cut = seg.truncate_at(pos, interval, &mut self.faults);
        if seg.size_bytes == pos {
            // The file was cut. `offset` itself if it was a batch boundary (or in a compaction
            // gap), else the dropped batch's base; never below the log start offset (recovery
            // applies the same floor, so a reopen agrees).
            seg.next_offset = offset.min(header.base_offset).max(log_start_offset);
        }
        cut?;
        self.sync_dir_after_removals()
    }

    /// `offset` is below the log start offset: nothing stays. The log is first cut to its log
    /// start (so what is left is invisible), then restarted at `offset` with an empty segment,
    /// and only then is the lower log start offset persisted.
    fn truncate_below_start(&mut self, offset: i64) -> Result<(), LogError> {
        let old_start = self.log_start_offset;
        self.truncate_within(old_start)?;
        while self.segments.len() > 1 {
            self.remove_active_segment()?;
        }
        let first = &self.segments[0];
        if first.base_offset == offset {
            let interval = self.config().index_interval_bytes;
            let seg = &mut self.segments[0];
            seg.truncate_at(0, interval, &mut self.faults)?;
            seg.next_offset = old_start.max(seg.base_offset);
        } else {
            self.faults.step("create the restarted segment")?;
            let mut fresh = Segment::create(self.dir(), offset)?;
            // As a reopen would see it until the new log start offset is persisted.
            fresh.next_offset = old_start;
            if let Err(e) = self.segments[0].rename_to_deleted(&mut self.faults) {
                let _ = fresh.delete_files();
                return Err(e.into());
            }
            let old = std::mem::replace(&mut self.segments[0], fresh);
            self.removed.push(old.base_offset);
            self.dir_unsynced = true;
        }
        self.faults.step("persist the log start offset")?;
        recovery::write_offset_file(self.dir(), LOG_START_FILE, offset)?;
        self.log_start_offset = offset;
        self.segments[0].next_offset = offset;
        Ok(())
    }

    /// Takes the active segment out (there is another one to become active).
    fn remove_active_segment(&mut self) -> Result<(), LogError> {
        let active = self
            .segments
            .last()
            .expect("a log always has an active segment");
        active.rename_to_deleted(&mut self.faults)?;
        let seg = self.segments.pop().expect("more than one segment");
        self.removed.push(seg.base_offset);
        self.dir_unsynced = true;
        Ok(())
    }

    /// Makes the renames of removed segments durable, so a crash cannot bring back data a
    /// truncation dropped.
    fn sync_dir_after_removals(&mut self) -> Result<(), LogError> {
        if self.dir_unsynced {
            self.faults.step("fsync the log directory")?;
            recovery::sync_dir(self.dir())?;
            self.dir_unsynced = false;
        }
        Ok(())
    }

    /// Takes the first `count` segments out of the directory (retention, DeleteRecords). The
    /// caller has persisted a log start offset at or above their end, so a failure part way only
    /// leaves segments that recovery deletes anyway.
    pub(crate) fn remove_front_segments(&mut self, count: usize) -> Result<(), LogError> {
        assert!(
            count < self.segments.len(),
            "removing {count} of {} segments would remove the active one",
            self.segments.len()
        );
        for _ in 0..count {
            let seg = &self.segments[0];
            tracing::info!(segment = %seg.log_path().display(), "deleting segment below the log start offset");
            seg.rename_to_deleted(&mut self.faults)?;
            let seg = self.segments.remove(0);
            self.removed.push(seg.base_offset);
            self.dir_unsynced = true;
        }
        Ok(())
    }

    /// Segments taken out whose `file.delete.delay.ms` has passed, for the caller to
    /// [`Removed::delete`] (without holding the log's lock).
    pub fn take_removed(&mut self) -> Removed {
        Removed {
            dir: self.dir().to_path_buf(),
            // Held back until `file.delete.delay.ms` has passed (see crate::lifecycle).
            base_offsets: self.due_removals(),
        }
    }

    /// Makes the next file operations of a truncation or segment removal fail after
    /// `succeed_steps` succeeded. For tests of the failure paths only.
    #[doc(hidden)]
    pub fn inject_io_failure_after(&mut self, succeed_steps: u32) {
        self.faults.arm(succeed_steps);
    }

    /// Whether an injected failure is still waiting to happen. For tests only.
    #[doc(hidden)]
    pub fn injected_io_failure_pending(&self) -> bool {
        self.faults.is_armed()
    }
}
