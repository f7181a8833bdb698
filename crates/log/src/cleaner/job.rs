//! Phase 2 of a compaction (see [`super`]): reading the snapshot, building the key map and
//! writing the rewritten segments, all without the log's lock. Reads are positional reads on
//! the shared file handles, one batch at a time; rewritten segments are streamed to files, so
//! memory holds one batch and the key map, never a whole segment.

use super::offset_map::{CleanerBudget, OffsetMap};
use super::rebuild::KeptRecords;
use super::CLEANING_DIR;
use crate::batch::BatchHeader;
use crate::recovery;
use crate::segment::{header_at_in, segment_path, Segment, LOG_EXT};
use crate::LogError;
use runnel_protocol::records::{BatchRecords, ReadLimits, Record, RecordError};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// One segment as it was when the pass was planned.
pub(crate) struct SegmentView {
    pub base_offset: i64,
    pub file: Arc<File>,
    pub size_bytes: u64,
    pub max_timestamp_ms: Option<i64>,
}

impl SegmentView {
    pub fn of(seg: &Segment) -> SegmentView {
        SegmentView {
            base_offset: seg.base_offset,
            file: Arc::clone(&seg.file),
            size_bytes: seg.size_bytes,
            max_timestamp_ms: seg.max_timestamp_ms,
        }
    }

    /// Calls `f(header, whole batch bytes)` for every batch, reading one batch at a time.
    fn for_each_batch<F>(&self, mut f: F) -> Result<(), LogError>
    where
        F: FnMut(&BatchHeader, &[u8]) -> Result<(), LogError>,
    {
        let mut pos = 0u64;
        let mut buf = Vec::new();
        while let Some(h) = header_at_in(&self.file, self.base_offset, self.size_bytes, pos)? {
            buf.resize(h.total_size_bytes(), 0);
            self.file.read_exact_at(&mut buf, pos)?;
            f(&h, &buf)?;
            pos += h.total_size_bytes() as u64;
        }
        Ok(())
    }
}

/// A compaction planned by [`crate::Log::plan_compaction`]; run it with [`CompactionJob::run`]
/// (no lock needed) and hand the result to [`crate::Log::finish_compaction`].
pub struct CompactionJob {
    pub(crate) dir: PathBuf,
    pub(crate) index_interval_bytes: usize,
    /// `max.message.bytes`, which bounds what one batch may decompress to.
    pub(crate) max_message_bytes: usize,
    /// Every segment, the active one last.
    pub(crate) segments: Vec<SegmentView>,
    /// How many of `segments` are closed (all but the active one).
    pub(crate) closed: usize,
    pub(crate) dirty_start_offset: i64,
    pub(crate) tombstone_horizon_ms: i64,
    pub(crate) truncations: u64,
}

/// A rewritten segment, built in the cleaning directory.
pub(crate) struct CleanedSegment {
    pub base_offset: i64,
    pub segment: Segment,
    pub original_file: Arc<File>,
    pub original_size_bytes: u64,
}

/// What a [`CompactionJob`] produced, for [`crate::Log::finish_compaction`].
pub struct CompactionOutput {
    pub(crate) cleaning_dir: PathBuf,
    pub(crate) cleaned: Vec<CleanedSegment>,
    /// One past the last offset the key map covered: the new cleaner checkpoint.
    pub(crate) end_offset: i64,
    pub(crate) truncations: u64,
    /// Keys in the map (for tests and logging).
    pub map_entries: usize,
}

impl CompactionJob {
    /// Builds the key map within `budget`, then rewrites the closed segments it covers.
    pub fn run(self, budget: CleanerBudget) -> Result<CompactionOutput, LogError> {
        let (map, end_offset) = self.build_offset_map(budget)?;
        let cleaning_dir = self.dir.join(CLEANING_DIR);
        if let Err(e) = fs::remove_dir_all(&cleaning_dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(e.into());
            }
        }
        fs::create_dir(&cleaning_dir)?;
        let mut cleaned = Vec::new();
        for seg in &self.segments[..self.closed] {
            if seg.base_offset >= end_offset {
                break;
            }
            if let Some(c) = self.clean_segment(seg, &map, end_offset, &cleaning_dir)? {
                cleaned.push(c);
            }
        }
        if !cleaned.is_empty() {
            recovery::sync_dir(&cleaning_dir)?;
        }
        tracing::debug!(dir = %self.dir.display(), keys = map.len(), map_bytes = map.memory_bytes(),
            end_offset, rewritten = cleaned.len(), "compaction pass built");
        Ok(CompactionOutput {
            cleaning_dir,
            cleaned,
            end_offset,
            truncations: self.truncations,
            map_entries: map.len(),
        })
    }

    /// `key -> newest offset` over records at or after the dirty start, in offset order, until
    /// the map is full. Returns the map and one past the last offset it covers. A batch whose
    /// records cannot be read (stored before produce validation walked records) adds what it
    /// could before the fault; the cleaning pass then keeps it whole.
    fn build_offset_map(&self, budget: CleanerBudget) -> Result<(OffsetMap, i64), LogError> {
        let mut map = OffsetMap::new(budget);
        let mut end_offset = self.dirty_start_offset;
        let mut full = false;
        for seg in &self.segments {
            seg.for_each_batch(|header, bytes| {
                if full || header.last_offset() < self.dirty_start_offset {
                    return Ok(());
                }
                if !header.is_control() {
                    let walked = self.map_batch(header, bytes, &mut map, &mut end_offset);
                    match walked {
                        Ok(true) => {}
                        Ok(false) => {
                            full = true;
                            return Ok(());
                        }
                        Err(e) => tracing::warn!(segment = seg.base_offset, offset = header.base_offset,
                            error = %e, "cannot read the records of a stored batch; compaction keeps it as it is"),
                    }
                }
                end_offset = end_offset.max(header.last_offset() + 1);
                Ok(())
            })?;
            if full {
                break;
            }
        }
        Ok((map, end_offset))
    }

    /// Adds one batch's keys to the map; `Ok(false)` when the map filled up part way.
    fn map_batch(
        &self,
        header: &BatchHeader,
        bytes: &[u8],
        map: &mut OffsetMap,
        end_offset: &mut i64,
    ) -> Result<bool, RecordError> {
        let mut records = BatchRecords::new(bytes, header, self.read_limits(bytes))?;
        while let Some(r) = records.next()? {
            if r.offset < self.dirty_start_offset {
                continue;
            }
            if let Some(k) = r.key {
                if !map.put(k, r.offset) {
                    return Ok(false);
                }
            }
            *end_offset = r.offset + 1;
        }
        Ok(true)
    }

    fn read_limits(&self, batch: &[u8]) -> ReadLimits {
        ReadLimits::for_batch_limit(self.max_message_bytes.max(batch.len()))
    }

    /// Streams the kept batches of `seg` to `<cleaning>/<base>.log`, then opens that file as a
    /// segment (CRC-checking it and writing its indexes). `None` when nothing would change.
    fn clean_segment(
        &self,
        seg: &SegmentView,
        map: &OffsetMap,
        end_offset: i64,
        cleaning_dir: &std::path::Path,
    ) -> Result<Option<CleanedSegment>, LogError> {
        let drop_tombstones = seg
            .max_timestamp_ms
            .is_none_or(|m| m < self.tombstone_horizon_ms);
        let path = segment_path(cleaning_dir, seg.base_offset, LOG_EXT);
        let mut out = BufWriter::new(File::create(&path)?);
        let mut changed = false;
        seg.for_each_batch(|header, bytes| {
            if header.is_control() {
                out.write_all(bytes)?;
                return Ok(());
            }
            let keep = |r: &Record<'_>| match r.key {
                None => true,
                Some(_) if r.offset >= end_offset => true,
                Some(k) => {
                    map.get(k).is_none_or(|newest| r.offset >= newest)
                        && !(drop_tombstones && r.value.is_none())
                }
            };
            match self.filter_batch(header, bytes, keep) {
                Ok(None) => out.write_all(bytes)?,
                Ok(Some(kept)) => {
                    changed = true;
                    if !kept.is_empty() {
                        out.write_all(&kept.into_batch(header)?)?;
                    }
                }
                Err(e) => {
                    tracing::warn!(segment = seg.base_offset, offset = header.base_offset, error = %e,
                        "cannot read the records of a stored batch; compaction keeps it as it is");
                    out.write_all(bytes)?;
                }
            }
            Ok(())
        })?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if !changed {
            drop(file);
            fs::remove_file(&path)?;
            return Ok(None);
        }
        file.sync_all()?;
        drop(file);
        // Opened as an active segment: every batch CRC-checked and the indexes built from it.
        let segment = Segment::open(
            cleaning_dir,
            seg.base_offset,
            true,
            self.index_interval_bytes,
        )?;
        segment.offset_index.sync()?;
        segment.time_index.sync()?;
        Ok(Some(CleanedSegment {
            base_offset: seg.base_offset,
            segment,
            original_file: Arc::clone(&seg.file),
            original_size_bytes: seg.size_bytes,
        }))
    }
}

impl CompactionJob {
    /// The kept records of one batch, or `None` when every record is kept (the batch is then
    /// copied byte for byte).
    fn filter_batch(
        &self,
        header: &BatchHeader,
        bytes: &[u8],
        keep: impl Fn(&Record<'_>) -> bool,
    ) -> Result<Option<KeptRecords>, RecordError> {
        let mut records = BatchRecords::new(bytes, header, self.read_limits(bytes))?;
        let mut kept = KeptRecords::new();
        let mut dropped = false;
        while let Some(r) = records.next()? {
            if keep(&r) {
                kept.push(&r);
            } else {
                dropped = true;
            }
        }
        Ok(dropped.then_some(kept))
    }
}
