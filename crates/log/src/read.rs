//! Reading: fetches, timestamp lookups, header scans.
//!
//! Fetches return stored bytes untouched (whole batches, never re-encoded), so a consumer sees
//! exactly what the producer's CRC covers. Finding a batch is: pick the segment by base offset,
//! take the floor entry of its offset index, then walk batch headers with positional reads.
//! Only the timestamp lookups decode records, and then a single batch.

use crate::batch::BatchHeader;
use crate::log::{Log, ReadResult};
use crate::segment::Segment;
use crate::LogError;
use bytes::Bytes;
use runnel_protocol::records::{BatchRecords, ReadLimits, RecordError};

impl Log {
    /// Index of the segment that would hold `offset` (the last with base offset `<= offset`).
    fn segment_index_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1)
    }

    fn check_in_range(&self, offset: i64) -> Result<(), LogError> {
        if offset < self.log_start_offset || offset > self.log_end_offset() {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        Ok(())
    }

    /// Whole batches from one segment, starting with the batch containing `offset` (or the next
    /// one if compaction removed it), stopping before a batch whose base offset is
    /// `>= upper_bound_offset` (the high watermark) and before `max_bytes` would be exceeded —
    /// except that the first batch is always returned whole, however large (KIP-74), so a
    /// consumer can always make progress. [`Log::read_region`] returns the same batches as a
    /// file region instead of bytes.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound_offset: i64,
    ) -> Result<ReadResult, LogError> {
        let Some((seg, start, first)) = self.first_fetch_batch(offset, upper_bound_offset)? else {
            return Ok(ReadResult {
                bytes: Bytes::new(),
            });
        };
        // One positional read covers the first batch and as much as `max_bytes` allows; the
        // following batch headers are then walked in memory, not read one by one.
        let first_size = first.total_size_bytes();
        let want = (max_bytes as u64)
            .max(first_size as u64)
            .min(seg.size_bytes - start) as usize;
        let mut buf = crate::buffer_pool::take(want);
        seg.read_into(&mut buf, start)?;
        let end = whole_batches_end(&buf, first_size, max_bytes, upper_bound_offset);
        buf.truncate(end);
        Ok(ReadResult {
            bytes: crate::buffer_pool::into_bytes(buf),
        })
    }

    /// Where a fetch at `offset` starts: the segment, position and header of the batch
    /// containing `offset` (or the next one if compaction removed it). `None` when there is
    /// nothing to return below `upper_bound_offset`.
    pub(crate) fn first_fetch_batch(
        &self,
        offset: i64,
        upper_bound_offset: i64,
    ) -> Result<Option<(&Segment, u64, BatchHeader)>, LogError> {
        self.check_in_range(offset)?;
        if offset == self.log_end_offset() || offset >= upper_bound_offset {
            return Ok(None);
        }
        for seg in &self.segments[self.segment_index_for(offset)..] {
            let Some((start, first)) = seg.find_batch(offset)? else {
                continue; // `offset` is past this segment's last batch: the next one has it.
            };
            if first.base_offset >= upper_bound_offset {
                return Ok(None);
            }
            return Ok(Some((seg, start, first)));
        }
        Ok(None)
    }

    /// Calls `f` with every batch header whose last offset is `>= from_offset`, in offset order.
    pub fn scan_batch_headers(
        &self,
        from_offset: i64,
        f: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(), LogError> {
        for seg in &self.segments[self.segment_index_for(from_offset)..] {
            let mut pos = seg.scan_start(from_offset);
            while let Some(h) = seg.header_at(pos)? {
                if h.last_offset() >= from_offset {
                    f(&h);
                }
                pos += h.total_size_bytes() as u64;
            }
        }
        Ok(())
    }

    /// What reading the records of one stored batch may cost.
    fn read_limits(&self) -> ReadLimits {
        ReadLimits::for_batch_limit(self.config().max_message_bytes)
    }

    /// `(offset, timestamp)` of the first record (at or after the log start offset) whose
    /// timestamp is `>= timestamp_ms`. The segment is chosen by its max timestamp, the start
    /// position by the time index, the batch by its `maxTimestamp` header, and only that batch
    /// is decoded to find the record.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, LogError> {
        for seg in &self.segments {
            if seg.next_offset <= self.log_start_offset
                || seg.max_timestamp_ms.is_none_or(|m| m < timestamp_ms)
            {
                continue;
            }
            let mut pos = match seg.time_index.last_before(timestamp_ms) {
                Some(entry) => seg
                    .offset_index
                    .lookup(entry.relative_offset)
                    .map_or(0, |e| e.position as u64),
                None => 0,
            };
            while let Some(h) = seg.header_at(pos)? {
                if h.max_timestamp >= timestamp_ms && h.last_offset() >= self.log_start_offset {
                    let found =
                        first_record_where(seg, pos, &h, self.read_limits(), |offset, ts| {
                            offset >= self.log_start_offset && ts >= timestamp_ms
                        })?;
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                pos += h.total_size_bytes() as u64;
            }
        }
        Ok(None)
    }

    /// `(offset, timestamp)` of the record with the largest timestamp (the earliest such offset),
    /// among records at or after the log start offset.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        // Pick the segment by the per-segment maximum. The first segment may hold records below
        // the log start offset, so its maximum is recomputed from the visible batches.
        let mut best: Option<(i64, usize)> = None;
        for (i, seg) in self.segments.iter().enumerate() {
            let max = if seg.base_offset < self.log_start_offset {
                let mut m = None;
                self.visible_headers(seg, &mut |_, h| {
                    m = Some(m.map_or(h.max_timestamp, |x: i64| x.max(h.max_timestamp)))
                })?;
                m
            } else {
                seg.max_timestamp_ms
            };
            if let Some(m) = max {
                if best.is_none_or(|(b, _)| m > b) {
                    best = Some((m, i));
                }
            }
        }
        let Some((max_ts, i)) = best else {
            return Ok(None);
        };
        let seg = &self.segments[i];
        let mut candidate = None;
        self.visible_headers(seg, &mut |pos, h| {
            if candidate.is_none() && h.max_timestamp == max_ts {
                candidate = Some((pos, *h));
            }
        })?;
        let Some((pos, h)) = candidate else {
            return Ok(None);
        };
        let found = first_record_where(seg, pos, &h, self.read_limits(), |offset, ts| {
            offset >= self.log_start_offset && ts == max_ts
        })?;
        // A batch straddling the log start offset may owe its maxTimestamp to a hidden record;
        // then report the batch's first visible record with the batch's timestamp.
        Ok(found.or(Some((h.base_offset.max(self.log_start_offset), max_ts))))
    }

    /// Headers (with positions) of `seg`'s batches that hold offsets `>= log_start_offset`.
    fn visible_headers(
        &self,
        seg: &Segment,
        f: &mut dyn FnMut(u64, &BatchHeader),
    ) -> Result<(), LogError> {
        let mut pos = seg.scan_start(self.log_start_offset);
        while let Some(h) = seg.header_at(pos)? {
            if h.last_offset() >= self.log_start_offset {
                f(pos, &h);
            }
            pos += h.total_size_bytes() as u64;
        }
        Ok(())
    }
}

/// Walks the one batch at `pos` and returns the first record matching `pred(offset, ts)`.
/// Under LogAppendTime every record's timestamp is the batch's `maxTimestamp` (the reader
/// applies that). Records are streamed: a compressed batch is never inflated whole.
fn first_record_where(
    seg: &Segment,
    pos: u64,
    header: &BatchHeader,
    limits: ReadLimits,
    pred: impl Fn(i64, i64) -> bool,
) -> Result<Option<(i64, i64)>, LogError> {
    let mut buf = vec![0u8; header.total_size_bytes()];
    seg.read_into(&mut buf, pos)?;
    match find_record(&buf, header, limits, &pred) {
        Ok(found) => Ok(found),
        Err(e) => {
            // A batch stored before produce validation walked records (or damaged on disk)
            // must not fail every lookup forever: answer from its header, which was checked.
            tracing::warn!(
                segment = seg.base_offset,
                position = pos,
                error = %e,
                "cannot read the records of a stored batch; answering from its header"
            );
            let (offset, ts) = (header.base_offset, header.max_timestamp);
            Ok(pred(offset, ts).then_some((offset, ts)))
        }
    }
}

fn find_record(
    batch: &[u8],
    header: &BatchHeader,
    limits: ReadLimits,
    pred: &impl Fn(i64, i64) -> bool,
) -> Result<Option<(i64, i64)>, RecordError> {
    let mut records = BatchRecords::new(batch, header, limits)?;
    while let Some(r) = records.next_summary()? {
        if pred(r.offset, r.timestamp) {
            return Ok(Some((r.offset, r.timestamp)));
        }
    }
    Ok(None)
}

/// Length of the prefix of `buf` made of whole batches: the first (`first_size_bytes`, always
/// included), then each following batch that lies entirely in `buf`, starts below
/// `upper_bound_offset` and keeps the total within `max_bytes`.
fn whole_batches_end(
    buf: &[u8],
    first_size_bytes: usize,
    max_bytes: usize,
    upper_bound_offset: i64,
) -> usize {
    let mut end = first_size_bytes;
    while let Ok(h) = BatchHeader::parse(&buf[end..]) {
        let next = end + h.total_size_bytes();
        if h.base_offset >= upper_bound_offset || next > max_bytes || next > buf.len() {
            break;
        }
        end = next;
    }
    end
}
