//! Scanning a segment's `.log` file: recovery on open and index rebuilding.
//!
//! Everything read here comes off a disk that may have been through a crash, so nothing is
//! trusted: every length is checked against the file size before it is used, the base offset
//! (outside the CRC) must increase and fit the index's u32 relative offsets, and the scan stops
//! at the first batch that fails any check. What lies past that point is cut off: appends only
//! ever add whole batches at the end, so the damage a crash can do is a torn or garbage tail.

use crate::batch::{self, BatchError, BatchHeader, HEADER_SIZE_BYTES};
use crate::index::{OffsetIndex, TimeIndex};
use crate::segment::{segment_path, PendingEntries, Segment, INDEX_EXT, LOG_EXT, TIME_INDEX_EXT};
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Checks a stored batch: like [`batch::validate`] but accepts the offset gaps that compaction
/// leaves (`recordsCount <= lastOffsetDelta + 1`), since the cleaner writes such batches itself.
pub(crate) fn validate_stored(bytes: &[u8], header: &BatchHeader) -> Result<(), BatchError> {
    if bytes.len() != header.total_size_bytes() {
        return Err(BatchError::Truncated {
            available_bytes: bytes.len(),
            needed_bytes: header.total_size_bytes(),
        });
    }
    structure_ok(header)?;
    let actual = batch::compute_crc(bytes);
    if actual != header.crc {
        return Err(BatchError::CrcMismatch {
            expected: header.crc,
            actual,
        });
    }
    Ok(())
}

fn structure_ok(header: &BatchHeader) -> Result<(), BatchError> {
    if header.records_count < 0 || header.last_offset_delta < 0 {
        return Err(BatchError::Invalid {
            reason: "negative record count or offset delta",
        });
    }
    if header.records_count as i64 > header.last_offset_delta as i64 + 1 {
        return Err(BatchError::Invalid {
            reason: "more records than offsets",
        });
    }
    Ok(())
}

/// Where a scan stopped early and why (a torn or corrupt batch).
pub(crate) struct ScanStop {
    pub position: u64,
    pub reason: String,
}

impl Segment {
    /// Opens an existing segment. The active (last) segment is scanned completely with CRC
    /// checks and its indexes rebuilt; a closed segment keeps its indexes if they pass the sanity
    /// checks and only the part after the last index entry is scanned (headers only). Either way
    /// the file is truncated at the first torn or corrupt batch found.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        active: bool,
        interval_bytes: usize,
    ) -> io::Result<Segment> {
        let log_path = segment_path(dir, base_offset, LOG_EXT);
        let file = OpenOptions::new().read(true).append(true).open(&log_path)?;
        let size_bytes = file.metadata()?.len();
        let index_path = segment_path(dir, base_offset, INDEX_EXT);
        let time_path = segment_path(dir, base_offset, TIME_INDEX_EXT);
        let loaded = if active {
            None
        } else {
            match (
                OffsetIndex::load(&index_path)?,
                TimeIndex::load(&time_path)?,
            ) {
                (Some(o), Some(t)) if indexes_agree(&o, &t, size_bytes) => Some((o, t)),
                _ => None,
            }
        };
        let rebuild = loaded.is_none();
        let (offset_index, time_index) = match loaded {
            Some(pair) => pair,
            // Placeholders, replaced below once the scan has produced the entries.
            None => (
                OffsetIndex::write_new(&index_path, vec![])?,
                TimeIndex::write_new(&time_path, vec![])?,
            ),
        };
        let mut seg = Segment {
            base_offset,
            dir: dir.to_path_buf(),
            file: std::sync::Arc::new(file),
            size_bytes,
            next_offset: base_offset,
            offset_index,
            time_index,
            max_timestamp_ms: None,
            bytes_since_index: 0,
            first_append_ms: None,
            unflushed: false,
        };
        let mut pending = PendingEntries::default();
        if !rebuild {
            let start = seg.resume_from_last_entry();
            let entry_ok = start == 0
                || matches!(seg.header_at(start), Ok(Some(h)) if h.base_offset == seg.next_offset);
            if !entry_ok {
                tracing::warn!(segment = %log_path.display(), "last index entry does not match the log; rebuilding indexes");
                return Self::rebuild_after_failed_load(dir, base_offset, interval_bytes);
            }
            let stop = seg.scan(start, false, interval_bytes, &mut pending)?;
            match stop {
                Some(s) if s.position == start && start > 0 => {
                    tracing::warn!(segment = %log_path.display(), reason = %s.reason,
                        "last index entry does not point at a batch; rebuilding indexes");
                    return Self::rebuild_after_failed_load(dir, base_offset, interval_bytes);
                }
                Some(s) => seg.cut_tail(&log_path, s)?,
                None => {}
            }
            let mut scratch = Vec::new();
            seg.offset_index.append(&pending.offsets, &mut scratch)?;
            seg.time_index.append(&pending.times, &mut scratch)?;
        } else {
            if !active {
                tracing::warn!(segment = %log_path.display(), "index missing or invalid; rebuilding");
            }
            if let Some(s) = seg.scan(0, active, interval_bytes, &mut pending)? {
                seg.cut_tail(&log_path, s)?;
            }
            seg.offset_index =
                OffsetIndex::write_new(&index_path, std::mem::take(&mut pending.offsets))?;
            seg.time_index = TimeIndex::write_new(&time_path, std::mem::take(&mut pending.times))?;
        }
        // Only the active segment rolls by age. A closed segment's first header is not read:
        // if the disk garbled it, opening must not fail the whole log (reads of it report it).
        if active && seg.size_bytes > 0 {
            seg.first_append_ms = seg.header_at(0)?.map(|h| h.max_timestamp);
        }
        Ok(seg)
    }

    fn rebuild_after_failed_load(
        dir: &Path,
        base_offset: i64,
        interval_bytes: usize,
    ) -> io::Result<Segment> {
        let _ = std::fs::remove_file(segment_path(dir, base_offset, INDEX_EXT));
        Self::open(dir, base_offset, false, interval_bytes)
    }

    fn cut_tail(&mut self, log_path: &Path, stop: ScanStop) -> io::Result<()> {
        tracing::warn!(segment = %log_path.display(), position = stop.position, size_bytes = self.size_bytes,
            reason = %stop.reason, "truncating torn or corrupt tail of segment");
        self.file.set_len(stop.position)?;
        self.file.sync_all()?;
        self.size_bytes = stop.position;
        Ok(())
    }

    /// Resets the running state to what the last index entry says and returns the position to
    /// resume scanning from (0 with no entries).
    pub(crate) fn resume_from_last_entry(&mut self) -> u64 {
        self.bytes_since_index = 0;
        match (
            self.offset_index.entries().last(),
            self.time_index.entries().last(),
        ) {
            (Some(o), Some(t)) => {
                self.next_offset = self.base_offset + o.relative_offset as i64;
                self.max_timestamp_ms = Some(t.timestamp_ms);
                o.position as u64
            }
            _ => {
                self.next_offset = self.base_offset;
                self.max_timestamp_ms = None;
                0
            }
        }
    }

    /// Walks batches from `start` to the end of the file, updating offsets, max timestamp and
    /// index entries. Returns where it had to stop early, if it did.
    pub(crate) fn scan(
        &mut self,
        start: u64,
        verify_crc: bool,
        interval_bytes: usize,
        pending: &mut PendingEntries,
    ) -> io::Result<Option<ScanStop>> {
        let mut pos = start;
        let mut buf = Vec::new();
        let end = self.size_bytes;
        while pos < end {
            let stop = |reason: String| {
                Ok(Some(ScanStop {
                    position: pos,
                    reason,
                }))
            };
            if end - pos < HEADER_SIZE_BYTES as u64 {
                return stop(format!(
                    "{} trailing bytes, less than a batch header",
                    end - pos
                ));
            }
            let mut head = [0u8; HEADER_SIZE_BYTES];
            self.file.read_exact_at(&mut head, pos)?;
            let header = match BatchHeader::parse(&head) {
                Ok(h) => h,
                Err(e) => return stop(e.to_string()),
            };
            let total = header.total_size_bytes() as u64;
            if total > end - pos {
                return stop(format!(
                    "batch of {total} bytes but only {} left in the file",
                    end - pos
                ));
            }
            if let Err(e) = self.check_placement(pos, &header) {
                return stop(e);
            }
            if let Err(e) = structure_ok(&header) {
                return stop(e.to_string());
            }
            if verify_crc {
                buf.resize(total as usize, 0);
                self.file.read_exact_at(&mut buf, pos)?;
                if let Err(e) = validate_stored(&buf, &header) {
                    return stop(e.to_string());
                }
            }
            self.track(pos, &header, interval_bytes, pending);
            pos += total;
        }
        Ok(None)
    }

    /// Offsets must increase and fit the u32 relative offsets of the indexes; positions must fit
    /// the u32 positions. The base offset is outside the CRC, so this is the only check on it.
    fn check_placement(&self, pos: u64, header: &BatchHeader) -> Result<(), String> {
        if header.base_offset < self.next_offset {
            return Err(format!(
                "base offset {} below expected {}",
                header.base_offset, self.next_offset
            ));
        }
        if header.last_offset() - self.base_offset > u32::MAX as i64 || pos > u32::MAX as u64 {
            return Err(format!(
                "batch at offset {} position {pos} does not fit the index",
                header.base_offset
            ));
        }
        Ok(())
    }
}

/// The two indexes are written together, one pair of entries per indexed batch: they must have
/// the same length and relative offsets, non-decreasing timestamps, and sane offset entries.
fn indexes_agree(offsets: &OffsetIndex, times: &TimeIndex, log_size_bytes: u64) -> bool {
    offsets.entries().len() == times.entries().len()
        && offsets.is_sane(log_size_bytes)
        && times.is_sane(u32::MAX)
        && offsets
            .entries()
            .iter()
            .zip(times.entries())
            .all(|(o, t)| o.relative_offset == t.relative_offset)
}
