//! Sparse per-segment indexes: the offset index (`.index`) and the time index (`.timeindex`).
//!
//! Both are append-only files of fixed-size big-endian entries, mirrored in a `Vec` so lookups
//! are a binary search in memory. They are *hints*: every entry is added at the same moment, for
//! the same batch, every `index.interval.bytes`, so a lookup only narrows down where a header
//! scan of the `.log` file starts. Because of that they never need to be fsynced before the log
//! data: recovery checks them (size, monotonicity, bounds) and rebuilds them from the log if they
//! look wrong, which is always possible.
//!
//! - Offset index entry: `relative offset: u32 | file position: u32` (8 bytes): the batch whose
//!   base offset is `segment base + relative offset` starts at `file position`.
//! - Time index entry: `timestamp: i64 | relative offset: u32` (12 bytes): every record in a batch
//!   *before* the batch with base offset `segment base + relative offset` has a timestamp
//!   `<= timestamp`. Timestamps never decrease (each is a running maximum), so the first entry with a timestamp `>= t` is
//!   a safe place to stop looking for the first record with a timestamp `>= t`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

pub(crate) const OFFSET_ENTRY_BYTES: usize = 8;
pub(crate) const TIME_ENTRY_BYTES: usize = 12;

/// An index file plus its entries in memory.
#[derive(Debug)]
pub(crate) struct Index<E> {
    /// Shared so a flush can fsync it without holding the log (see [`crate::flush`]).
    file: Arc<File>,
    entries: Vec<E>,
}

/// One fixed-size entry kind.
pub(crate) trait Entry: Copy + std::fmt::Debug {
    const SIZE_BYTES: usize;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8]) -> Self;
}

/// `(relative offset, file position)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// `(timestamp, relative offset)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp_ms: i64,
    pub relative_offset: u32,
}

impl Entry for OffsetEntry {
    const SIZE_BYTES: usize = OFFSET_ENTRY_BYTES;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

impl Entry for TimeEntry {
    const SIZE_BYTES: usize = TIME_ENTRY_BYTES;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        TimeEntry {
            timestamp_ms: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
}

pub(crate) type OffsetIndex = Index<OffsetEntry>;
pub(crate) type TimeIndex = Index<TimeEntry>;

impl<E: Entry> Index<E> {
    /// Loads an existing index file. Returns `Ok(None)` when the file is missing or its size is
    /// not a whole number of entries; the caller then rebuilds it. Content checks (monotonicity,
    /// bounds) are the caller's, via [`Index::entries`].
    pub fn load(path: &Path) -> io::Result<Option<Self>> {
        let mut file = match OpenOptions::new().read(true).append(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        if bytes.len() % E::SIZE_BYTES != 0 {
            return Ok(None);
        }
        let entries = bytes.chunks_exact(E::SIZE_BYTES).map(E::decode).collect();
        Ok(Some(Index {
            file: Arc::new(file),
            entries,
        }))
    }

    /// Creates (or overwrites) the index file with exactly `entries`.
    pub fn write_new(path: &Path, entries: Vec<E>) -> io::Result<Self> {
        let mut bytes = Vec::with_capacity(entries.len() * E::SIZE_BYTES);
        for e in &entries {
            e.encode(&mut bytes);
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(path)?;
        file.write_all(&bytes)?;
        drop(file);
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        Ok(Index {
            file: Arc::new(file),
            entries,
        })
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    /// Appends entries (to memory and file) with one write.
    pub fn append(&mut self, new: &[E], scratch: &mut Vec<u8>) -> io::Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        scratch.clear();
        for e in new {
            e.encode(scratch);
        }
        (&*self.file).write_all(scratch)?;
        self.entries.extend_from_slice(new);
        Ok(())
    }

    /// Keeps the first `count` entries. The file is cut first: if that fails, memory and file
    /// still agree.
    pub fn truncate_entries(&mut self, count: usize) -> io::Result<()> {
        if count >= self.entries.len() {
            return Ok(());
        }
        self.file.set_len((count * E::SIZE_BYTES) as u64)?;
        self.entries.truncate(count);
        Ok(())
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    pub fn shared_file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }
}

impl OffsetIndex {
    /// The last entry whose relative offset is `<= relative_offset`.
    pub fn lookup(&self, relative_offset: u32) -> Option<OffsetEntry> {
        let n = self
            .entries
            .partition_point(|e| e.relative_offset <= relative_offset);
        n.checked_sub(1).map(|i| self.entries[i])
    }

    /// Checks what recovery can check cheaply: strictly increasing offsets and positions, all
    /// positions inside a log of `log_size_bytes`.
    pub fn is_sane(&self, log_size_bytes: u64) -> bool {
        self.entries
            .windows(2)
            .all(|w| w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position)
            && self
                .entries
                .iter()
                .all(|e| (e.position as u64) < log_size_bytes)
    }
}

impl TimeIndex {
    /// The last entry whose timestamp is `< timestamp_ms`: every record before its batch is
    /// older than `timestamp_ms`, so a search for the first record `>= timestamp_ms` can start
    /// at that batch.
    pub fn last_before(&self, timestamp_ms: i64) -> Option<TimeEntry> {
        let n = self
            .entries
            .partition_point(|e| e.timestamp_ms < timestamp_ms);
        n.checked_sub(1).map(|i| self.entries[i])
    }

    /// Non-decreasing timestamps (a running maximum), strictly increasing offsets, offsets at
    /// most `max_relative_offset`.
    pub fn is_sane(&self, max_relative_offset: u32) -> bool {
        self.entries.windows(2).all(|w| {
            w[0].timestamp_ms <= w[1].timestamp_ms && w[0].relative_offset < w[1].relative_offset
        }) && self
            .entries
            .iter()
            .all(|e| e.relative_offset <= max_relative_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_round_trips_through_its_file_and_finds_the_floor_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let mut idx = OffsetIndex::write_new(&path, vec![]).unwrap();
        let mut scratch = Vec::new();
        let new = [
            OffsetEntry {
                relative_offset: 10,
                position: 100,
            },
            OffsetEntry {
                relative_offset: 20,
                position: 200,
            },
        ];
        idx.append(&new, &mut scratch).unwrap();
        let loaded = OffsetIndex::load(&path).unwrap().unwrap();
        assert_eq!(loaded.entries(), &new);
        assert_eq!(loaded.lookup(5), None);
        assert_eq!(loaded.lookup(15), Some(new[0]));
        assert_eq!(loaded.lookup(20), Some(new[1]));
        assert!(loaded.is_sane(201));
        assert!(!loaded.is_sane(200));
    }

    #[test]
    fn index_with_partial_entry_is_reported_for_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.timeindex");
        std::fs::write(&path, [0u8; 13]).unwrap();
        assert!(TimeIndex::load(&path).unwrap().is_none());
        assert!(TimeIndex::load(&dir.path().join("missing"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn time_index_finds_last_entry_strictly_before_a_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let e = |t, o| TimeEntry {
            timestamp_ms: t,
            relative_offset: o,
        };
        let idx = TimeIndex::write_new(&dir.path().join("t"), vec![e(10, 1), e(20, 5)]).unwrap();
        assert_eq!(idx.last_before(10), None);
        assert_eq!(idx.last_before(11), Some(e(10, 1)));
        assert_eq!(idx.last_before(25), Some(e(20, 5)));
        assert!(idx.is_sane(5));
        assert!(!idx.is_sane(4));
    }
}
