//! One segment: a `.log` file of whole record batches starting at `base_offset`, plus its two
//! sparse indexes (see [`crate::index`]).
//!
//! The in-memory `size_bytes` is authoritative for how much of the file is log: appends are
//! whole batches written in one `write`, and recovery truncates a file back to its last whole,
//! valid batch, so every byte below `size_bytes` belongs to a complete batch. Reads use
//! positional reads (`pread`) on a shared `&File`, so readers never move a cursor that the
//! appender relies on.

use crate::batch::{self, BatchError, BatchHeader, HEADER_SIZE_BYTES};
use crate::index::{OffsetEntry, OffsetIndex, TimeEntry, TimeIndex};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub(crate) const LOG_EXT: &str = "log";
pub(crate) const INDEX_EXT: &str = "index";
pub(crate) const TIME_INDEX_EXT: &str = "timeindex";
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";

/// Kafka's naming: the base offset zero-padded to 20 digits, so names sort by offset.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

pub(crate) fn invalid_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

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

#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    dir: PathBuf,
    file: File,
    /// Bytes of whole batches in the file.
    pub size_bytes: u64,
    /// One past the last offset stored (the base offset while empty).
    pub next_offset: i64,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    /// Largest batch `maxTimestamp` in the segment; `None` while empty.
    pub max_timestamp_ms: Option<i64>,
    /// Bytes appended since the last index entry.
    bytes_since_index: usize,
    /// Broker clock at the first append (or, after reopening, the first batch's maxTimestamp),
    /// for `segment.ms`.
    pub first_append_ms: Option<i64>,
    /// Written since the last fsync.
    pub unflushed: bool,
}

/// Index entries produced while appending or scanning, written to the index files in one go.
#[derive(Default)]
pub(crate) struct PendingEntries {
    pub offsets: Vec<OffsetEntry>,
    pub times: Vec<TimeEntry>,
}

impl PendingEntries {
    pub fn clear(&mut self) {
        self.offsets.clear();
        self.times.clear();
    }
}

/// Where a scan stopped early and why (a torn or corrupt batch).
pub(crate) struct ScanStop {
    pub position: u64,
    pub reason: String,
}

impl Segment {
    /// Creates an empty segment, replacing any files of the same name.
    pub fn create(dir: &Path, base_offset: i64) -> io::Result<Segment> {
        let log_path = segment_path(dir, base_offset, LOG_EXT);
        OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&log_path)?;
        let file = OpenOptions::new().read(true).append(true).open(&log_path)?;
        Ok(Segment {
            base_offset,
            dir: dir.to_path_buf(),
            file,
            size_bytes: 0,
            next_offset: base_offset,
            offset_index: OffsetIndex::write_new(
                &segment_path(dir, base_offset, INDEX_EXT),
                vec![],
            )?,
            time_index: TimeIndex::write_new(
                &segment_path(dir, base_offset, TIME_INDEX_EXT),
                vec![],
            )?,
            max_timestamp_ms: None,
            bytes_since_index: 0,
            first_append_ms: None,
            unflushed: false,
        })
    }

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
            file,
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
        if seg.size_bytes > 0 {
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
    fn resume_from_last_entry(&mut self) -> u64 {
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
    fn scan(
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

    /// Accounts one batch at `pos` (appended or scanned): index entries every
    /// `interval_bytes`, running max timestamp, next offset.
    pub fn track(
        &mut self,
        pos: u64,
        header: &BatchHeader,
        interval_bytes: usize,
        pending: &mut PendingEntries,
    ) {
        if let Some(max_ts) = self.max_timestamp_ms {
            if pos > 0 && self.bytes_since_index >= interval_bytes {
                let relative_offset = (header.base_offset - self.base_offset) as u32;
                pending.offsets.push(OffsetEntry {
                    relative_offset,
                    position: pos as u32,
                });
                pending.times.push(TimeEntry {
                    timestamp_ms: max_ts,
                    relative_offset,
                });
                self.bytes_since_index = 0;
            }
        }
        self.bytes_since_index += header.total_size_bytes();
        self.max_timestamp_ms = Some(
            self.max_timestamp_ms
                .map_or(header.max_timestamp, |m| m.max(header.max_timestamp)),
        );
        self.next_offset = header.last_offset() + 1;
    }

    /// Appends already-validated, stamped batches with one write, then their index entries.
    pub fn append(
        &mut self,
        bytes: &[u8],
        pending: &PendingEntries,
        scratch: &mut Vec<u8>,
    ) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.size_bytes += bytes.len() as u64;
        self.unflushed = true;
        self.offset_index.append(&pending.offsets, scratch)?;
        self.time_index.append(&pending.times, scratch)?;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }

    /// The batch header at `pos`, `None` at the end of the segment. Errors (instead of
    /// panicking) if the stored bytes are not a plausible batch inside the file.
    pub fn header_at(&self, pos: u64) -> io::Result<Option<BatchHeader>> {
        if pos >= self.size_bytes {
            return Ok(None);
        }
        let remaining = self.size_bytes - pos;
        if remaining < HEADER_SIZE_BYTES as u64 {
            return Err(invalid_data(format!(
                "segment {} has {remaining} stray bytes at {pos}",
                self.base_offset
            )));
        }
        let mut head = [0u8; HEADER_SIZE_BYTES];
        self.file.read_exact_at(&mut head, pos)?;
        let header = BatchHeader::parse(&head).map_err(|e| {
            invalid_data(format!("segment {} position {pos}: {e}", self.base_offset))
        })?;
        if header.total_size_bytes() as u64 > remaining {
            return Err(invalid_data(format!(
                "segment {} position {pos}: batch of {} bytes overruns the segment",
                self.base_offset,
                header.total_size_bytes()
            )));
        }
        Ok(Some(header))
    }

    /// Where a header scan for `offset` may start: the floor entry of the offset index.
    pub fn scan_start(&self, offset: i64) -> u64 {
        let relative = (offset - self.base_offset).clamp(0, u32::MAX as i64) as u32;
        self.offset_index
            .lookup(relative)
            .map_or(0, |e| e.position as u64)
    }

    /// The first batch whose last offset is `>= offset`, and its position.
    pub fn find_batch(&self, offset: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        let mut pos = self.scan_start(offset);
        while let Some(h) = self.header_at(pos)? {
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.total_size_bytes() as u64;
        }
        Ok(None)
    }

    /// Positional read of `len` bytes at `pos` (both inside the segment).
    pub fn read_into(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        assert!(
            pos + buf.len() as u64 <= self.size_bytes,
            "read of {} bytes at {pos} beyond segment {} of {} bytes",
            buf.len(),
            self.base_offset,
            self.size_bytes
        );
        self.file.read_exact_at(buf, pos)
    }

    /// Drops every batch from `pos` on (a batch boundary) and the index entries pointing there,
    /// then recomputes the running state from what is left.
    pub fn truncate_at(&mut self, pos: u64, interval_bytes: usize) -> io::Result<()> {
        self.file.set_len(pos)?;
        self.size_bytes = pos;
        self.unflushed = true;
        let keep = self
            .offset_index
            .entries()
            .partition_point(|e| (e.position as u64) < pos);
        self.offset_index.truncate_entries(keep)?;
        self.time_index.truncate_entries(keep)?;
        let start = self.resume_from_last_entry();
        let mut pending = PendingEntries::default();
        if let Some(s) = self.scan(start, false, interval_bytes, &mut pending)? {
            return Err(invalid_data(format!(
                "segment {} unreadable after truncation: {}",
                self.base_offset, s.reason
            )));
        }
        let mut scratch = Vec::new();
        self.offset_index.append(&pending.offsets, &mut scratch)?;
        self.time_index.append(&pending.times, &mut scratch)?;
        if self.size_bytes == 0 {
            self.first_append_ms = None;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        if self.unflushed {
            self.file.sync_data()?;
            self.offset_index.sync()?;
            self.time_index.sync()?;
            self.unflushed = false;
        }
        Ok(())
    }

    pub fn log_path(&self) -> PathBuf {
        segment_path(&self.dir, self.base_offset, LOG_EXT)
    }

    /// Removes the segment's files.
    pub fn delete_files(self) -> io::Result<()> {
        for ext in [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT] {
            match std::fs::remove_file(segment_path(&self.dir, self.base_offset, ext)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
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
