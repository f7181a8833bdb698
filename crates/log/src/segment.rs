//! One segment: a `.log` file of whole record batches starting at `base_offset`, plus its two
//! sparse indexes (see [`crate::index`]).
//!
//! The in-memory `size_bytes` is authoritative for how much of the file is log: appends are
//! whole batches written in one `write`, and recovery truncates a file back to its last whole,
//! valid batch, so every byte below `size_bytes` belongs to a complete batch. Reads use
//! positional reads (`pread`) on a shared `&File`, so readers never move a cursor that the
//! appender relies on.

use crate::batch::{BatchHeader, HEADER_SIZE_BYTES};
use crate::fault::Faults;
use crate::index::{OffsetEntry, OffsetIndex, TimeEntry, TimeIndex};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) const LOG_EXT: &str = "log";
pub(crate) const INDEX_EXT: &str = "index";
pub(crate) const TIME_INDEX_EXT: &str = "timeindex";
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
pub(crate) const DELETED_SUFFIX: &str = ".deleted";

/// Kafka's naming: the base offset zero-padded to 20 digits, so names sort by offset.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// [`Segment::header_at`] for a segment file of `size_bytes` known bytes.
pub(crate) fn header_at_in(
    file: &File,
    base_offset: i64,
    size_bytes: u64,
    pos: u64,
) -> io::Result<Option<BatchHeader>> {
    if pos >= size_bytes {
        return Ok(None);
    }
    let remaining = size_bytes - pos;
    if remaining < HEADER_SIZE_BYTES as u64 {
        return Err(invalid_data(format!(
            "segment {base_offset} has {remaining} stray bytes at {pos}"
        )));
    }
    let mut head = [0u8; HEADER_SIZE_BYTES];
    file.read_exact_at(&mut head, pos)?;
    let header = BatchHeader::parse(&head)
        .map_err(|e| invalid_data(format!("segment {base_offset} position {pos}: {e}")))?;
    if header.total_size_bytes() as u64 > remaining {
        return Err(invalid_data(format!(
            "segment {base_offset} position {pos}: batch of {} bytes overruns the segment",
            header.total_size_bytes()
        )));
    }
    Ok(Some(header))
}

pub(crate) fn invalid_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    pub(crate) dir: PathBuf,
    /// Shared so that a fetch's [`crate::FileRegion`] keeps the file open (and, on Linux, its
    /// data readable) after retention deletes the segment or compaction replaces it.
    pub(crate) file: Arc<File>,
    /// Bytes of whole batches in the file.
    pub size_bytes: u64,
    /// One past the last offset stored (the base offset while empty).
    pub next_offset: i64,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    /// Largest batch `maxTimestamp` in the segment; `None` while empty.
    pub max_timestamp_ms: Option<i64>,
    /// Bytes appended since the last index entry.
    pub(crate) bytes_since_index: usize,
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
            file: Arc::new(file),
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

    /// Appends already-validated, stamped batches given as `size_bytes` of slices, with as few
    /// `writev` calls as the kernel allows (one, unless it writes partially), then their index
    /// entries.
    pub fn append_vectored(
        &mut self,
        mut slices: &mut [io::IoSlice<'_>],
        size_bytes: u64,
        pending: &PendingEntries,
        scratch: &mut Vec<u8>,
    ) -> io::Result<()> {
        let mut written = 0u64;
        let mut file: &File = &self.file;
        while !slices.is_empty() {
            let n = file.write_vectored(slices)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "segment write returned 0",
                ));
            }
            written += n as u64;
            io::IoSlice::advance_slices(&mut slices, n);
        }
        assert_eq!(
            written, size_bytes,
            "segment {}: wrote {written} bytes, expected {size_bytes}",
            self.base_offset
        );
        self.size_bytes += size_bytes;
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
        header_at_in(&self.file, self.base_offset, self.size_bytes, pos)
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
    /// recomputes the running state from what is left, and fsyncs the result. The index entries
    /// go first: an index with fewer entries is still right (entries are hints), so if a step
    /// fails the segment is still usable, holding either all its batches or only those before
    /// `pos`.
    pub fn truncate_at(
        &mut self,
        pos: u64,
        interval_bytes: usize,
        faults: &mut Faults,
    ) -> io::Result<()> {
        let keep = self
            .offset_index
            .entries()
            .partition_point(|e| (e.position as u64) < pos);
        faults.step("cut the offset index")?;
        self.offset_index.truncate_entries(keep)?;
        faults.step("cut the time index")?;
        self.time_index.truncate_entries(keep)?;
        faults.step("cut the segment file")?;
        self.file.set_len(pos)?;
        self.size_bytes = pos;
        self.unflushed = true;
        self.recompute_tail(interval_bytes)?;
        if self.size_bytes == 0 {
            self.first_append_ms = None;
        }
        faults.step("fsync the truncated segment")?;
        self.file.sync_data()?;
        self.offset_index.sync()?;
        self.time_index.sync()?;
        self.unflushed = false;
        Ok(())
    }

    /// Rebuilds next offset, max timestamp and the index tail by scanning from the last index
    /// entry. If the scan cannot read, the max timestamp stays at its old (higher) value, which
    /// only makes retention and timestamp lookups more conservative.
    fn recompute_tail(&mut self, interval_bytes: usize) -> io::Result<()> {
        let old_max_timestamp_ms = self.max_timestamp_ms;
        let start = self.resume_from_last_entry();
        let mut pending = PendingEntries::default();
        let stop = match self.scan(start, false, interval_bytes, &mut pending) {
            Ok(stop) => stop,
            Err(e) => {
                self.max_timestamp_ms = old_max_timestamp_ms;
                return Err(e);
            }
        };
        if let Some(s) = stop {
            self.max_timestamp_ms = old_max_timestamp_ms;
            return Err(invalid_data(format!(
                "segment {} unreadable after truncation: {}",
                self.base_offset, s.reason
            )));
        }
        let mut scratch = Vec::new();
        self.offset_index.append(&pending.offsets, &mut scratch)?;
        self.time_index.append(&pending.times, &mut scratch)
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

    /// Takes the segment out of the log directory by renaming its files to `*.deleted`; the
    /// `.log` rename is the step that counts (recovery deletes `*.deleted` files, and index files
    /// without a log). The files are removed later, outside the log's lock, by
    /// [`crate::Removed::delete`]. A failed index rename is only logged: a segment created later
    /// with the same base offset replaces those files.
    pub fn rename_to_deleted(&self, faults: &mut Faults) -> io::Result<()> {
        faults.step("rename the segment to .deleted")?;
        std::fs::rename(
            self.log_path(),
            deleted_path(&self.dir, self.base_offset, LOG_EXT),
        )?;
        for ext in [INDEX_EXT, TIME_INDEX_EXT] {
            let from = segment_path(&self.dir, self.base_offset, ext);
            match std::fs::rename(&from, deleted_path(&self.dir, self.base_offset, ext)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    tracing::warn!(file = %from.display(), error = %e, "could not rename index of a deleted segment");
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// `<base>.<ext>.deleted`: a file of a segment taken out of the log, not yet removed.
pub(crate) fn deleted_path(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    let mut p = segment_path(dir, base_offset, ext).into_os_string();
    p.push(DELETED_SUFFIX);
    PathBuf::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{self, BatchError};
    use crate::batch::{LAST_OFFSET_DELTA_AT, RECORDS_COUNT_AT};
    use crate::segment_scan::validate_stored;

    /// A zero-record batch header with a correct CRC, then patched counts.
    fn batch_bytes(records_count: i32, last_offset_delta: i32) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_SIZE_BYTES];
        b[batch::LENGTH_AT..batch::LENGTH_AT + 4].copy_from_slice(
            &((HEADER_SIZE_BYTES - batch::LOG_OVERHEAD_BYTES) as i32).to_be_bytes(),
        );
        b[batch::MAGIC_AT] = 2;
        b[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&last_offset_delta.to_be_bytes());
        b[RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4].copy_from_slice(&records_count.to_be_bytes());
        let crc = batch::compute_crc(&b);
        b[batch::CRC_AT..batch::CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn stored_batches_may_have_compaction_gaps_but_not_more_records_than_offsets() {
        let gap = batch_bytes(2, 5);
        validate_stored(&gap, &BatchHeader::parse(&gap).unwrap()).unwrap();
        let too_many = batch_bytes(7, 5);
        assert!(validate_stored(&too_many, &BatchHeader::parse(&too_many).unwrap()).is_err());
        let mut flipped = batch_bytes(2, 5);
        flipped[HEADER_SIZE_BYTES - 1] ^= 1;
        assert!(matches!(
            validate_stored(&flipped, &BatchHeader::parse(&flipped).unwrap()),
            Err(BatchError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn segment_files_are_named_by_twenty_digit_base_offset() {
        let p = segment_path(Path::new("/d"), 42, LOG_EXT);
        assert_eq!(p, Path::new("/d/00000000000000000042.log"));
    }

    #[test]
    fn header_at_reports_a_batch_overrunning_the_segment_instead_of_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0).unwrap();
        let mut b = batch_bytes(1, 0);
        b[batch::LENGTH_AT..batch::LENGTH_AT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        seg.append_vectored(
            &mut [io::IoSlice::new(&b)],
            b.len() as u64,
            &PendingEntries::default(),
            &mut Vec::new(),
        )
        .unwrap();
        let err = seg.header_at(0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(seg.find_batch(0).is_err());
        drop(seg);
        let reopened = Segment::open(dir.path(), 0, true, 4096).unwrap();
        assert_eq!(
            (reopened.size_bytes, reopened.next_offset),
            (0, 0),
            "recovery cut the bogus batch"
        );
    }
}
