//! Segment lifecycle settings: `segment.jitter.ms` (a random early roll per segment),
//! `segment.index.bytes` (a full index rolls the segment), `preallocate` (disk reserved for a
//! new segment) and `file.delete.delay.ms` (deleted segments renamed `.deleted` and removed
//! later, as Kafka's asynchronous segment deletion does).

use crate::log::Log;
use crate::segment::{segment_path, Segment, INDEX_EXT, LOG_EXT, TIME_INDEX_EXT};
use crate::LogError;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Suffix of a deleted segment's files waiting for `file.delete.delay.ms` (Kafka's name).
pub(crate) const DELETED_SUFFIX: &str = ".deleted";

/// Index entry sizes, for `segment.index.bytes`.
const OFFSET_ENTRY_BYTES: usize = 8;
const TIME_ENTRY_BYTES: usize = 12;

/// Files of deleted segments and when they may go.
#[derive(Debug, Default)]
pub(crate) struct RetiredFiles {
    due: Vec<(Instant, PathBuf)>,
}

/// Kafka's `randomSegmentJitter`: uniform in `[0, min(jitter, segment.ms))`, 0 without jitter.
pub(crate) fn random_jitter_ms(segment_jitter_ms: i64, segment_ms: i64) -> i64 {
    let bound = segment_jitter_ms.min(segment_ms);
    if bound <= 0 {
        return 0;
    }
    // RandomState is seeded randomly per instance: enough randomness to spread rolls.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    (h.finish() % bound as u64) as i64
}

/// Reserves `size_bytes` of disk blocks for the file without changing its length, so readers
/// and recovery see only the bytes written; a filesystem without `fallocate` is left as is.
pub(crate) fn preallocate(file: &std::fs::File, size_bytes: u64) {
    let len = size_bytes.min(i64::MAX as u64) as libc::off_t;
    // SAFETY: fallocate on a file descriptor we own; it does not touch our memory.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) };
    if rc != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "preallocate: fallocate failed");
    }
}

impl Log {
    /// Whether the active segment's offset or time index is full (`segment.index.bytes`).
    pub(crate) fn index_full(&self) -> bool {
        let seg = self.active();
        let max = self.config().segment_index_bytes;
        seg.offset_index.entries().len() >= max / OFFSET_ENTRY_BYTES
            || seg.time_index.entries().len() >= max / TIME_ENTRY_BYTES
    }

    /// Settings for a new active segment: its roll jitter, and its disk reservation.
    pub(crate) fn started_segment(&mut self) {
        self.roll_jitter_ms =
            random_jitter_ms(self.config().segment_jitter_ms, self.config().segment_ms);
        if self.config().preallocate {
            preallocate(&self.active().file, self.config().segment_bytes);
        }
    }

    /// Deletes a segment's files now or, with `file.delete.delay.ms`, renames them `.deleted`
    /// for [`Log::remove_retired_files`] to remove later (a reader holding the old name
    /// meanwhile still finds the data, as in Kafka).
    pub(crate) fn retire_segment(&mut self, seg: Segment) -> Result<(), LogError> {
        let delay_ms = self.config().file_delete_delay_ms;
        if delay_ms <= 0 {
            return Ok(seg.delete_files()?);
        }
        let due = Instant::now() + Duration::from_millis(delay_ms as u64);
        for ext in [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT] {
            let path = segment_path(&seg.dir, seg.base_offset, ext);
            let aside = PathBuf::from(format!("{}{DELETED_SUFFIX}", path.display()));
            match std::fs::rename(&path, &aside) {
                Ok(()) => self.retired.due.push((due, aside)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Removes the files of deleted segments whose `file.delete.delay.ms` has passed. Returns
    /// how many files went.
    pub fn remove_retired_files(&mut self) -> Result<usize, LogError> {
        let now = Instant::now();
        let mut removed = 0;
        let mut first_error = None;
        let mut left = Vec::new();
        for (due, path) in std::mem::take(&mut self.retired.due) {
            if due > now {
                left.push((due, path));
                continue;
            }
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    left.push((due, path));
                    first_error.get_or_insert(e);
                }
                _ => removed += 1,
            }
        }
        self.retired.due = left;
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(removed),
        }
    }
}
