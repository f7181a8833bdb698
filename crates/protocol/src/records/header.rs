//! The Kafka record batch (magic v2) header, read and stamped in place as bytes.
//!
//! The broker never re-encodes records on the hot path: it checks the header and CRC, stamps the
//! base offset and leader epoch (both outside the CRC) and appends the producer's bytes as they
//! came. The records behind a header are walked by [`super::BatchRecords`]. Layout
//! (big-endian), from the Kafka protocol guide:
//!
//! ```text
//! baseOffset: int64 | batchLength: int32 | partitionLeaderEpoch: int32 | magic: int8 (2)
//! crc: uint32 (crc32c of everything after it) | attributes: int16 | lastOffsetDelta: int32
//! baseTimestamp: int64 | maxTimestamp: int64 | producerId: int64 | producerEpoch: int16
//! baseSequence: int32 | recordsCount: int32 | records...
//! ```

use thiserror::Error;

/// Byte offsets of the header fields inside a batch.
pub const BASE_OFFSET_AT: usize = 0;
pub const LENGTH_AT: usize = 8;
pub const LEADER_EPOCH_AT: usize = 12;
pub const MAGIC_AT: usize = 16;
pub const CRC_AT: usize = 17;
pub const ATTRIBUTES_AT: usize = 21;
pub const LAST_OFFSET_DELTA_AT: usize = 23;
pub const BASE_TIMESTAMP_AT: usize = 27;
pub const MAX_TIMESTAMP_AT: usize = 35;
pub const PRODUCER_ID_AT: usize = 43;
pub const PRODUCER_EPOCH_AT: usize = 51;
pub const BASE_SEQUENCE_AT: usize = 53;
pub const RECORDS_COUNT_AT: usize = 57;
/// Size of the fixed header; the smallest possible batch (zero records).
pub const HEADER_SIZE_BYTES: usize = 61;
/// `baseOffset` and `batchLength` precede the part that `batchLength` counts.
pub const LOG_OVERHEAD_BYTES: usize = 12;

/// Attribute bits.
pub const COMPRESSION_MASK: i16 = 0x07;
pub const TIMESTAMP_TYPE_LOG_APPEND: i16 = 0x08;
pub const TRANSACTIONAL_FLAG: i16 = 0x10;
pub const CONTROL_FLAG: i16 = 0x20;

/// Why a batch was refused. The broker maps these onto Kafka error codes (CORRUPT_MESSAGE,
/// MESSAGE_TOO_LARGE, INVALID_RECORD...).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    #[error("record batch truncated: {available_bytes} bytes available, {needed_bytes} needed")]
    Truncated {
        available_bytes: usize,
        needed_bytes: usize,
    },
    #[error("unsupported record batch magic {magic} (only v2 is accepted)")]
    UnsupportedMagic { magic: i8 },
    #[error("record batch CRC mismatch: header says {expected:#010x}, bytes give {actual:#010x}")]
    CrcMismatch { expected: u32, actual: u32 },
    #[error("invalid record batch: {reason}")]
    Invalid { reason: &'static str },
    #[error("record batch of {size_bytes} bytes exceeds the limit of {max_bytes} bytes")]
    TooLarge { size_bytes: usize, max_bytes: usize },
}

/// The decoded fixed header of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Value of the `batchLength` field: bytes after the length field itself.
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// Parses the fixed header at the start of `bytes` without checking the CRC.
    /// Fails if fewer than [`HEADER_SIZE_BYTES`] are present or the length field is impossible.
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        if bytes.len() < HEADER_SIZE_BYTES {
            return Err(BatchError::Truncated {
                available_bytes: bytes.len(),
                needed_bytes: HEADER_SIZE_BYTES,
            });
        }
        let magic = bytes[MAGIC_AT] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic { magic });
        }
        let header = BatchHeader {
            base_offset: i64_at(bytes, BASE_OFFSET_AT),
            batch_length: i32_at(bytes, LENGTH_AT),
            partition_leader_epoch: i32_at(bytes, LEADER_EPOCH_AT),
            magic,
            crc: i32_at(bytes, CRC_AT) as u32,
            attributes: i16_at(bytes, ATTRIBUTES_AT),
            last_offset_delta: i32_at(bytes, LAST_OFFSET_DELTA_AT),
            base_timestamp: i64_at(bytes, BASE_TIMESTAMP_AT),
            max_timestamp: i64_at(bytes, MAX_TIMESTAMP_AT),
            producer_id: i64_at(bytes, PRODUCER_ID_AT),
            producer_epoch: i16_at(bytes, PRODUCER_EPOCH_AT),
            base_sequence: i32_at(bytes, BASE_SEQUENCE_AT),
            records_count: i32_at(bytes, RECORDS_COUNT_AT),
        };
        if (header.batch_length as i64) < (HEADER_SIZE_BYTES - LOG_OVERHEAD_BYTES) as i64 {
            return Err(BatchError::Invalid {
                reason: "batch length smaller than the header",
            });
        }
        Ok(header)
    }

    /// Total size of the batch on the wire and on disk, header included.
    pub fn total_size_bytes(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD_BYTES
    }

    /// Offset of the last record in the batch. Both fields are the sender's (or the disk's), so
    /// the sum wraps as Kafka's long arithmetic does; validation refuses the batch, but its
    /// message still names this offset, and with overflow checks a plain `+` panicked.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(self.last_offset_delta as i64)
    }

    /// Sequence number of the last record (wraps at i32::MAX as Kafka's does).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        (last % (i32::MAX as i64 + 1)) as i32
    }

    pub fn compression_codec(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_LOG_APPEND != 0
    }
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
}

/// CRC32-C of the part of a whole batch that the `crc` field covers.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_AT..])
}

/// Checks one whole batch (exactly `header.total_size_bytes()` long): structure and CRC.
pub fn validate(batch: &[u8], header: &BatchHeader) -> Result<(), BatchError> {
    if batch.len() != header.total_size_bytes() {
        return Err(BatchError::Truncated {
            available_bytes: batch.len(),
            needed_bytes: header.total_size_bytes(),
        });
    }
    if header.records_count < 0 || header.last_offset_delta < 0 {
        return Err(BatchError::Invalid {
            reason: "negative record count or offset delta",
        });
    }
    if header.records_count > 0 && header.last_offset_delta + 1 != header.records_count {
        // Producers always send dense batches; only compaction leaves gaps, and the broker
        // writes those itself.
        return Err(BatchError::Invalid {
            reason: "lastOffsetDelta does not match recordsCount",
        });
    }
    validate_crc(batch, header)
}

/// Checks that `batch` is exactly the whole batch its header describes and that its CRC
/// matches (Kafka's `ensureValid`).
pub fn validate_crc(batch: &[u8], header: &BatchHeader) -> Result<(), BatchError> {
    if batch.len() != header.total_size_bytes() {
        return Err(BatchError::Truncated {
            available_bytes: batch.len(),
            needed_bytes: header.total_size_bytes(),
        });
    }
    let actual = compute_crc(batch);
    if actual != header.crc {
        return Err(BatchError::CrcMismatch {
            expected: header.crc,
            actual,
        });
    }
    Ok(())
}

/// Splits a buffer of concatenated batches into (header, whole batch) pairs without copying.
/// Fails on a partial trailing batch: a produce request carries whole batches only.
pub fn split_batches(mut bytes: &[u8]) -> Result<Vec<(BatchHeader, &[u8])>, BatchError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let header = BatchHeader::parse(bytes)?;
        let size = header.total_size_bytes();
        if bytes.len() < size {
            return Err(BatchError::Truncated {
                available_bytes: bytes.len(),
                needed_bytes: size,
            });
        }
        out.push((header, &bytes[..size]));
        bytes = &bytes[size..];
    }
    Ok(out)
}

/// Stamps the broker-owned fields that the CRC does not cover.
pub fn stamp_offset_and_epoch(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    batch[BASE_OFFSET_AT..BASE_OFFSET_AT + 8].copy_from_slice(&base_offset.to_be_bytes());
    batch[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// For `message.timestamp.type=LogAppendTime`: sets the timestamp-type bit and maxTimestamp to
/// the broker's clock, then recomputes the CRC (both fields are covered by it).
pub fn stamp_log_append_time(batch: &mut [u8], now_ms: i64) {
    let (header, body) = batch.split_at_mut(HEADER_SIZE_BYTES);
    stamp_log_append_time_split(header, body, now_ms);
}

/// [`stamp_log_append_time`] for a batch whose fixed header was copied apart from its body, so
/// the body (the producer's bytes) is read but never copied.
pub fn stamp_log_append_time_split(header: &mut [u8], body: &[u8], now_ms: i64) {
    let attrs = i16_at(header, ATTRIBUTES_AT) | TIMESTAMP_TYPE_LOG_APPEND;
    header[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attrs.to_be_bytes());
    header[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&header[ATTRIBUTES_AT..HEADER_SIZE_BYTES]),
        body,
    );
    header[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}
