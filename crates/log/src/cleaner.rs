//! Log compaction (`cleanup.policy=compact`): keep only the newest record per key.
//!
//! One pass: build `key -> newest offset` over the whole log (the active segment included, so a
//! newer value there supersedes older ones), then rewrite each *closed* segment keeping a record
//! only if it is the newest for its key. Tombstones (null values) are dropped too once their
//! segment's newest timestamp is older than `delete.retention.ms`, giving consumers that long to
//! see the delete. The active segment is never rewritten.
//!
//! Offsets never change: a batch that loses records is re-encoded from its remaining records
//! with their original offsets, producer id/epoch, sequence, compression and timestamps (so it
//! may have gaps; see [`crate::segment_scan::validate_stored`]); an untouched batch is copied byte
//! for byte; an emptied batch disappears.
//!
//! The swap is crash-safe: write `<base>.log.cleaned` and fsync it, delete the segment's index
//! files, rename the cleaned file over `<base>.log`, fsync the directory, rebuild the indexes. A
//! crash before the rename leaves the original log plus a stray `.cleaned` (deleted on open); a
//! crash after leaves the cleaned log without indexes (rebuilt on open). Either way no record
//! that compaction meant to keep is lost.
//!
//! The cleaner checkpoint (first dirty offset) is persisted after a pass; bytes at or after it
//! in closed segments are "dirty", and a pass runs only when dirty / total closed bytes reaches
//! `min.cleanable.dirty.ratio`.

use crate::batch::{self, BatchHeader, BASE_SEQUENCE_AT};
use crate::log::Log;
use crate::recovery::{self, CLEANER_CHECKPOINT_FILE};
use crate::segment::{
    invalid_data, segment_path, Segment, CLEANED_SUFFIX, INDEX_EXT, LOG_EXT, TIME_INDEX_EXT,
};
use crate::LogError;
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;

impl Log {
    /// Runs one compaction pass if the dirty ratio calls for it; returns whether it did.
    pub fn compact(&mut self, now_ms: i64) -> Result<bool, LogError> {
        if !self.config().cleanup_policy.compact || self.segments.len() < 2 {
            return Ok(false);
        }
        let closed = self.segments.len() - 1;
        let (dirty_bytes, total_bytes) = self.dirty_and_total_bytes(closed)?;
        if dirty_bytes == 0
            || (dirty_bytes as f64) / (total_bytes as f64) < self.config().min_cleanable_dirty_ratio
        {
            return Ok(false);
        }
        let latest = self.build_offset_map()?;
        let tombstone_horizon_ms = now_ms.saturating_sub(self.config().delete_retention_ms);
        let interval = self.config().index_interval_bytes;
        for i in 0..closed {
            let seg = &self.segments[i];
            let drop_tombstones = seg
                .max_timestamp_ms
                .is_none_or(|m| m < tombstone_horizon_ms);
            if let Some(cleaned) = clean_segment(seg, &latest, drop_tombstones)? {
                let base = seg.base_offset;
                swap_in_cleaned(self.dir(), base, &cleaned)?;
                self.segments[i] = Segment::open(self.dir(), base, false, interval)?;
            }
        }
        self.cleaner_checkpoint = self.active().base_offset;
        recovery::write_offset_file(self.dir(), CLEANER_CHECKPOINT_FILE, self.cleaner_checkpoint)?;
        Ok(true)
    }

    /// Bytes at or after the cleaner checkpoint, and all bytes, in the first `closed` segments.
    fn dirty_and_total_bytes(&self, closed: usize) -> Result<(u64, u64), LogError> {
        let checkpoint = self.cleaner_checkpoint;
        let (mut dirty, mut total) = (0u64, 0u64);
        for seg in &self.segments[..closed] {
            total += seg.size_bytes;
            if seg.base_offset >= checkpoint {
                dirty += seg.size_bytes;
            } else if seg.next_offset > checkpoint {
                if let Some((pos, _)) = seg.find_batch(checkpoint)? {
                    dirty += seg.size_bytes - pos;
                }
            }
        }
        Ok((dirty, total))
    }

    /// `key -> newest offset` over every segment, the active one included.
    fn build_offset_map(&self) -> Result<HashMap<Bytes, i64>, LogError> {
        let mut latest = HashMap::new();
        for seg in &self.segments {
            for_each_batch(seg, |header, bytes| {
                if header.is_control() {
                    return Ok(());
                }
                for r in decode(seg, bytes)? {
                    if let Some(k) = &r.key {
                        latest.insert(Bytes::copy_from_slice(k), r.offset);
                    }
                }
                Ok(())
            })?;
        }
        Ok(latest)
    }
}

/// Calls `f(header, whole batch bytes)` for every batch of `seg`.
fn for_each_batch<F>(seg: &Segment, mut f: F) -> Result<(), LogError>
where
    F: FnMut(&BatchHeader, &[u8]) -> Result<(), LogError>,
{
    let mut pos = 0u64;
    let mut buf = Vec::new();
    while let Some(h) = seg.header_at(pos)? {
        buf.resize(h.total_size_bytes(), 0);
        seg.read_into(&mut buf, pos)?;
        f(&h, &buf)?;
        pos += h.total_size_bytes() as u64;
    }
    Ok(())
}

fn decode(seg: &Segment, bytes: &[u8]) -> Result<Vec<Record>, LogError> {
    let mut slice = bytes;
    RecordBatchDecoder::decode(&mut slice)
        .map(|set| set.records)
        .map_err(|e| {
            invalid_data(format!(
                "segment {}: cannot decode batch for compaction: {e}",
                seg.base_offset
            ))
            .into()
        })
}

/// The segment's compacted bytes, or `None` if compaction would change nothing.
fn clean_segment(
    seg: &Segment,
    latest: &HashMap<Bytes, i64>,
    drop_tombstones: bool,
) -> Result<Option<Vec<u8>>, LogError> {
    let mut out = Vec::with_capacity(seg.size_bytes as usize);
    let mut changed = false;
    for_each_batch(seg, |header, bytes| {
        if header.is_control() {
            out.extend_from_slice(bytes);
            return Ok(());
        }
        let records = decode(seg, bytes)?;
        let keep = |r: &Record| match &r.key {
            None => true,
            Some(k) => latest.get(k) == Some(&r.offset) && !(drop_tombstones && r.value.is_none()),
        };
        let kept: Vec<Record> = records.iter().filter(|r| keep(r)).cloned().collect();
        if kept.len() == records.len() {
            out.extend_from_slice(bytes);
        } else {
            changed = true;
            if !kept.is_empty() {
                reencode(seg, header, bytes, &kept, &mut out)?;
            }
        }
        Ok(())
    })?;
    Ok(changed.then_some(out))
}

/// Re-encodes the kept records of one batch, then restores what the encoder does not carry
/// over from the original header: a missing base sequence (-1), the LogAppendTime flag and the
/// batch's append time. The CRC is recomputed after patching.
fn reencode(
    seg: &Segment,
    original: &BatchHeader,
    original_bytes: &[u8],
    kept: &[Record],
    out: &mut Vec<u8>,
) -> Result<(), LogError> {
    let mut slice = original_bytes;
    let compression = RecordBatchDecoder::decode(&mut slice)
        .map_err(|e| invalid_data(format!("segment {}: {e}", seg.base_offset)))?
        .compression;
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        kept.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(|e| {
        invalid_data(format!(
            "segment {}: cannot re-encode compacted batch: {e}",
            seg.base_offset
        ))
    })?;
    let header = BatchHeader::parse(&buf).map_err(|e| invalid_data(e.to_string()))?;
    if header.total_size_bytes() != buf.len() {
        return Err(invalid_data(format!(
            "re-encoding batch at offset {} gave {} bytes for a batch of {}",
            original.base_offset,
            buf.len(),
            header.total_size_bytes()
        ))
        .into());
    }
    if original.base_sequence < 0 {
        buf[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&(-1i32).to_be_bytes());
    }
    if original.is_log_append_time() {
        // Sets the flag and maxTimestamp and recomputes the CRC.
        batch::stamp_log_append_time(&mut buf, original.max_timestamp);
    } else {
        let crc = batch::compute_crc(&buf);
        buf[batch::CRC_AT..batch::CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }
    out.extend_from_slice(&buf);
    Ok(())
}

/// Replaces `<base>.log` with `cleaned` crash-safely (see the module doc).
fn swap_in_cleaned(
    dir: &std::path::Path,
    base_offset: i64,
    cleaned: &[u8],
) -> Result<(), LogError> {
    let log_path = segment_path(dir, base_offset, LOG_EXT);
    let mut cleaned_path = log_path.clone().into_os_string();
    cleaned_path.push(CLEANED_SUFFIX);
    let mut f = File::create(&cleaned_path)?;
    f.write_all(cleaned)?;
    f.sync_all()?;
    drop(f);
    for ext in [INDEX_EXT, TIME_INDEX_EXT] {
        match fs::remove_file(segment_path(dir, base_offset, ext)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    fs::rename(&cleaned_path, &log_path)?;
    recovery::sync_dir(dir)?;
    Ok(())
}
