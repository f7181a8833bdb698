//! Moving the front of the log: time/size retention, DeleteRecords, time-based rolling.
//!
//! Space is only ever reclaimed by deleting whole segments from the front, and never the active
//! segment (a producer is writing there). The log start offset is persisted (tmp + rename)
//! *before* any segment file is removed, so a crash in between leaves at worst an extra segment
//! below the log start offset, which is invisible to readers and deleted next time. Segments
//! are taken out by renaming their files to `*.deleted`; the caller deletes those files later
//! ([`Log::take_removed`]), outside whatever lock guards the log.

use crate::log::Log;
use crate::recovery::{self, LOG_START_FILE};
use crate::LogError;

impl Log {
    /// Applies `retention.ms` and `retention.bytes` (only under `cleanup.policy=delete`).
    /// Like Kafka, deletion is a prefix: time retention stops at the first closed segment that
    /// is still young (a later segment with older timestamps waits), because the log start
    /// offset can only move forward over a contiguous range. Returns how many segments were
    /// deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        if !self.config().cleanup_policy.delete {
            return Ok(0);
        }
        let retention_ms = self.config().retention_ms;
        let retention_bytes = self.config().retention_bytes;
        let mut doomed = 0usize;
        let closed = self.segments.len() - 1;
        if retention_ms >= 0 {
            let horizon_ms = now_ms.saturating_sub(retention_ms);
            // An empty closed segment (emptied by compaction) holds nothing worth keeping.
            doomed = self.segments[..closed]
                .iter()
                .take_while(|s| s.max_timestamp_ms.is_none_or(|m| m < horizon_ms))
                .count();
        }
        if retention_bytes >= 0 {
            let mut size_bytes: u64 = self.segments[doomed..].iter().map(|s| s.size_bytes).sum();
            while doomed < closed
                && size_bytes - self.segments[doomed].size_bytes >= retention_bytes as u64
            {
                size_bytes -= self.segments[doomed].size_bytes;
                doomed += 1;
            }
        }
        if doomed > 0 {
            let new_start = self.segments[doomed].base_offset.max(self.log_start_offset);
            self.delete_front_segments(doomed, new_start)?;
        }
        Ok(doomed)
    }

    /// Kafka's DeleteRecords: makes `offset` the log start offset and deletes the segments
    /// entirely below it. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64, LogError> {
        if offset < self.log_start_offset || offset > self.log_end_offset() {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        if offset == self.log_end_offset() {
            // Everything goes: start a fresh segment so the old active one can be deleted too.
            self.roll()?;
        }
        let doomed = self.segments[..self.segments.len() - 1]
            .iter()
            .take_while(|s| s.next_offset <= offset)
            .count();
        self.delete_front_segments(doomed, offset)?;
        Ok(self.log_start_offset)
    }

    /// Rolls the active segment if it is non-empty and older than `segment.ms`.
    pub fn roll_if_due(&mut self, now_ms: i64) -> Result<bool, LogError> {
        if self.roll_is_due(now_ms) {
            self.roll()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Persists `new_start` as the log start offset, then takes the first `count` segments out
    /// (their files are deleted by whoever calls [`Log::take_removed`]).
    fn delete_front_segments(&mut self, count: usize, new_start: i64) -> Result<(), LogError> {
        if new_start != self.log_start_offset {
            recovery::write_offset_file(self.dir(), LOG_START_FILE, new_start)?;
            self.log_start_offset = new_start;
        }
        self.remove_front_segments(count)
    }
}
