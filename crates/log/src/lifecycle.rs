//! Segment lifecycle settings: `segment.jitter.ms` (a random early roll per segment),
//! `segment.index.bytes` (a full index rolls the segment), `preallocate` (disk reserved for a
//! new segment) and `file.delete.delay.ms` (a segment taken out of the log keeps its
//! `*.deleted` files this long before [`Log::take_removed`] hands them over for deletion, as
//! Kafka's asynchronous segment deletion does; recovery removes any left at a restart).

use crate::log::Log;
use std::hash::{BuildHasher, Hasher};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Index entry sizes, for `segment.index.bytes`.
const OFFSET_ENTRY_BYTES: usize = 8;
const TIME_ENTRY_BYTES: usize = 12;

/// Base offsets of removed segments and when their files may go.
#[derive(Debug, Default)]
pub(crate) struct DelayedRemovals {
    due: Vec<(Instant, i64)>,
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
        tracing::debug!(error = %std::io::Error::last_os_error(), "preallocate: fallocate failed");
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

    /// The removed segments whose `file.delete.delay.ms` has passed; the others wait.
    pub(crate) fn due_removals(&mut self) -> Vec<i64> {
        let now = Instant::now();
        let delay = Duration::from_millis(self.config().file_delete_delay_ms.max(0) as u64);
        let fresh = std::mem::take(&mut self.removed);
        let pending = &mut self.delayed_removals.due;
        pending.extend(fresh.into_iter().map(|b| (now + delay, b)));
        let (due, later): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(t, _)| *t <= now);
        *pending = later;
        due.into_iter().map(|(_, b)| b).collect()
    }

    /// Whether removed segments are waiting for `file.delete.delay.ms`.
    pub fn has_delayed_removals(&self) -> bool {
        !self.delayed_removals.due.is_empty() || !self.removed.is_empty()
    }
}
