//! The metadata log on disk: append-only segment files `<base index, 20 digits>.log`, each a
//! run of entries `[len u32 LE][crc32c u32 LE][index u64 LE][payload]` with the checksum over
//! index and payload. Payloads are opaque bytes here (the raft glue encodes them).
//!
//! The entries above the last purge are also held in memory: the metadata log is small and
//! snapshots plus purges bound it, so reads never touch the disk.
//!
//! Recovery: a short or damaged entry at the end of the last segment is a torn write and is cut
//! off; anywhere else it is corruption and opening fails.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};

use super::atomic_file::{corrupt, sync_dir};

const HEADER_SIZE_BYTES: u64 = 16;
/// No metadata entry is near this; a larger declared length is damage, not data.
pub const ENTRY_MAX_SIZE_BYTES: u64 = 16 * 1024 * 1024;
const SUFFIX: &str = ".log";

#[derive(Debug)]
struct Segment {
    base: u64,
    path: PathBuf,
    len_bytes: u64,
    /// The last index written to this file (purged or not).
    last: Option<u64>,
}

/// What recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub entries: usize,
    /// Bytes cut off the end of the last segment (a torn tail).
    pub truncated_bytes: u64,
}

#[derive(Debug)]
pub struct SegmentLog {
    dir: PathBuf,
    segment_size_bytes: u64,
    segments: Vec<Segment>,
    /// Entries above the purge point: index -> payload.
    entries: BTreeMap<u64, Vec<u8>>,
    /// Index -> (segment base, byte offset of its header), for truncation.
    locations: BTreeMap<u64, (u64, u64)>,
    /// The last index ever written (kept across purges) and the last purged one.
    last_index: Option<u64>,
    purged: Option<u64>,
    active: Option<File>,
    /// Set by any failed write or sync: the store fails closed from then on.
    failed: bool,
}

impl SegmentLog {
    /// Opens (creating) the log in `dir`, dropping entries at or below `purged`.
    pub fn open(
        dir: &Path,
        segment_size_bytes: u64,
        purged: Option<u64>,
    ) -> io::Result<(Self, Recovery)> {
        fs::create_dir_all(dir)?;
        let mut bases = Vec::new();
        for item in fs::read_dir(dir)? {
            let name = item?.file_name().to_string_lossy().into_owned();
            if let Some(base) = name
                .strip_suffix(SUFFIX)
                .and_then(|b| b.parse::<u64>().ok())
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut log = SegmentLog {
            dir: dir.to_path_buf(),
            segment_size_bytes,
            segments: Vec::new(),
            entries: BTreeMap::new(),
            locations: BTreeMap::new(),
            last_index: purged,
            purged,
            active: None,
            failed: false,
        };
        let mut recovery = Recovery::default();
        for (i, base) in bases.iter().enumerate() {
            let is_last = i + 1 == bases.len();
            recovery.truncated_bytes += log.recover_segment(*base, is_last)?;
        }
        recovery.entries = log.entries.len();
        if let Some(last) = log.segments.last() {
            let mut file = OpenOptions::new().append(true).open(&last.path)?;
            file.seek(SeekFrom::End(0))?;
            log.active = Some(file);
        }
        Ok((log, recovery))
    }

    /// Reads one segment; returns the bytes cut off a torn tail.
    fn recover_segment(&mut self, base: u64, is_last: bool) -> io::Result<u64> {
        let path = self.dir.join(segment_name(base));
        let file_len = fs::metadata(&path)?.len();
        let mut reader = BufReader::new(File::open(&path)?);
        let mut pos = 0u64;
        let mut expected = base;
        loop {
            match read_entry(&mut reader, file_len - pos)? {
                EntryRead::End => break,
                EntryRead::Entry { index, payload } if index == expected => {
                    let size = HEADER_SIZE_BYTES + payload.len() as u64;
                    self.insert_recovered(index, payload, base, pos)?;
                    pos += size;
                    expected += 1;
                }
                EntryRead::Entry { index, .. } => {
                    return Err(corrupt(format!(
                        "{}: entry {index} where {expected} was expected",
                        path.display()
                    )))
                }
                EntryRead::Damaged(why) if is_last => {
                    tracing::warn!(segment = %path.display(), offset = pos, why, "cutting a torn tail off the metadata log");
                    let file = OpenOptions::new().write(true).open(&path)?;
                    file.set_len(pos)?;
                    file.sync_all()?;
                    break;
                }
                EntryRead::Damaged(why) => {
                    return Err(corrupt(format!(
                        "{}: damaged entry at byte {pos}: {why}",
                        path.display()
                    )))
                }
            }
        }
        let last = (pos > 0).then(|| expected - 1);
        self.segments.push(Segment {
            base,
            path,
            len_bytes: pos,
            last,
        });
        Ok(file_len - pos)
    }

    fn insert_recovered(
        &mut self,
        index: u64,
        payload: Vec<u8>,
        base: u64,
        pos: u64,
    ) -> io::Result<()> {
        if self.purged.is_some_and(|p| index <= p) {
            return Ok(());
        }
        let expected = self.last_index.map_or(index, |l| l + 1);
        if index != expected {
            return Err(corrupt(format!(
                "metadata log gap: entry {index} after {:?}",
                self.last_index
            )));
        }
        self.entries.insert(index, payload);
        self.locations.insert(index, (base, pos));
        self.last_index = Some(index);
        Ok(())
    }

    pub fn last_index(&self) -> Option<u64> {
        self.last_index
    }
    pub fn purged(&self) -> Option<u64> {
        self.purged
    }
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
    pub fn get(&self, index: u64) -> Option<&[u8]> {
        self.entries.get(&index).map(Vec::as_slice)
    }
    pub fn range(&self, range: impl RangeBounds<u64>) -> impl Iterator<Item = (u64, &[u8])> {
        self.entries.range(range).map(|(i, p)| (*i, p.as_slice()))
    }

    fn check_usable(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(
                "metadata log failed an earlier write or sync; refusing further I/O",
            ));
        }
        Ok(())
    }

    /// Appends entries (indexes must follow the last one) and fdatasyncs before returning.
    pub fn append(&mut self, entries: &[(u64, Vec<u8>)]) -> io::Result<()> {
        self.check_usable()?;
        let result = self.append_inner(entries);
        self.failed |= result.is_err();
        result
    }

    fn append_inner(&mut self, entries: &[(u64, Vec<u8>)]) -> io::Result<()> {
        let mut created = false;
        for (index, payload) in entries {
            let expected = self.last_index.map_or(*index, |l| l + 1);
            if *index != expected {
                return Err(io::Error::other(format!(
                    "append of entry {index}, expected {expected}"
                )));
            }
            if payload.len() as u64 + HEADER_SIZE_BYTES > ENTRY_MAX_SIZE_BYTES {
                return Err(io::Error::other(format!(
                    "entry {index} is {} bytes, limit {ENTRY_MAX_SIZE_BYTES} bytes",
                    payload.len()
                )));
            }
            // A new segment when the active one is full, or when the first entry of a segment
            // would not directly follow the disk's last (after a purge past the log's end).
            let follows = |s: &Segment| s.last.map_or(s.base == *index, |l| l + 1 == *index);
            let active = self.segments.last();
            if active.is_none_or(|s| s.len_bytes >= self.segment_size_bytes || !follows(s)) {
                self.roll(*index)?;
                created = true;
            }
            let segment = self.segments.last_mut().expect("rolled");
            let mut frame = Vec::with_capacity(HEADER_SIZE_BYTES as usize + payload.len());
            frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            frame.extend_from_slice(&entry_crc(*index, payload).to_le_bytes());
            frame.extend_from_slice(&index.to_le_bytes());
            frame.extend_from_slice(payload);
            self.active
                .as_mut()
                .expect("active segment")
                .write_all(&frame)?;
            self.locations
                .insert(*index, (segment.base, segment.len_bytes));
            segment.len_bytes += frame.len() as u64;
            segment.last = Some(*index);
            self.entries.insert(*index, payload.clone());
            self.last_index = Some(*index);
        }
        if let Some(file) = self.active.as_mut() {
            file.sync_data()?;
        }
        if created {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn roll(&mut self, base: u64) -> io::Result<()> {
        if let Some(file) = self.active.as_mut() {
            file.sync_data()?;
        }
        let path = self.dir.join(segment_name(base));
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        self.segments.push(Segment {
            base,
            path,
            len_bytes: 0,
            last: None,
        });
        self.active = Some(
            OpenOptions::new()
                .append(true)
                .open(&self.segments.last().expect("pushed").path)?,
        );
        drop(file);
        Ok(())
    }

    /// Removes every entry at or above `index` (a conflicting uncommitted suffix), durably.
    pub fn truncate_from(&mut self, index: u64) -> io::Result<()> {
        self.check_usable()?;
        let result = self.truncate_inner(index);
        self.failed |= result.is_err();
        result
    }

    fn truncate_inner(&mut self, index: u64) -> io::Result<()> {
        let Some(&(base, offset)) = self.locations.get(&index) else {
            return Ok(()); // nothing at or above it in this log
        };
        while self.segments.last().is_some_and(|s| s.base > base) {
            let segment = self.segments.pop().expect("checked");
            fs::remove_file(&segment.path)?;
        }
        let segment = self.segments.last_mut().expect("segment holding the entry");
        let file = OpenOptions::new().write(true).open(&segment.path)?;
        file.set_len(offset)?;
        file.sync_all()?;
        segment.len_bytes = offset;
        segment.last = (offset > 0).then(|| index - 1);
        self.active = Some(OpenOptions::new().append(true).open(&segment.path)?);
        sync_dir(&self.dir)?;
        self.entries.split_off(&index);
        self.locations.split_off(&index);
        self.last_index = match index.checked_sub(1) {
            Some(prev) if self.purged.is_none_or(|p| prev > p) => Some(prev),
            _ => self.purged,
        };
        Ok(())
    }

    /// Forgets entries at or below `index` and deletes segments holding nothing newer. The
    /// caller has durably recorded the purge point first, so a crash here only leaves files
    /// that the next open skips.
    pub fn purge_upto(&mut self, index: u64) -> io::Result<()> {
        self.check_usable()?;
        if self.purged.is_some_and(|p| p >= index) {
            return Ok(());
        }
        self.purged = Some(index);
        self.entries = self.entries.split_off(&(index + 1));
        self.locations = self.locations.split_off(&(index + 1));
        if self.last_index.is_none_or(|l| l < index) {
            self.last_index = Some(index);
        }
        let mut removed = false;
        while self.segments.len() > 1 && self.segments[1].base <= index + 1 {
            let segment = self.segments.remove(0);
            fs::remove_file(&segment.path)?;
            removed = true;
        }
        if removed {
            sync_dir(&self.dir).inspect_err(|_| self.failed = true)?;
        }
        Ok(())
    }
}

enum EntryRead {
    End,
    Entry { index: u64, payload: Vec<u8> },
    Damaged(&'static str),
}

/// Reads one entry; `remaining` is the bytes left in the file, checked before allocating.
fn read_entry(reader: &mut impl Read, remaining: u64) -> io::Result<EntryRead> {
    if remaining == 0 {
        return Ok(EntryRead::End);
    }
    if remaining < HEADER_SIZE_BYTES {
        return Ok(EntryRead::Damaged("short header"));
    }
    let mut header = [0u8; HEADER_SIZE_BYTES as usize];
    reader.read_exact(&mut header)?;
    let len = u64::from(u32::from_le_bytes(
        header[0..4].try_into().expect("4 bytes"),
    ));
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let index = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    if len + HEADER_SIZE_BYTES > ENTRY_MAX_SIZE_BYTES {
        return Ok(EntryRead::Damaged("declared length above the limit"));
    }
    if len > remaining - HEADER_SIZE_BYTES {
        return Ok(EntryRead::Damaged(
            "declared length beyond the end of the file",
        ));
    }
    let mut payload = vec![0u8; len as usize];
    reader.read_exact(&mut payload)?;
    if entry_crc(index, &payload) != crc {
        return Ok(EntryRead::Damaged("checksum mismatch"));
    }
    Ok(EntryRead::Entry { index, payload })
}

fn entry_crc(index: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&index.to_le_bytes()), payload)
}

fn segment_name(base: u64) -> String {
    format!("{base:020}{SUFFIX}")
}
