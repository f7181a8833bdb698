//! Writing the batch that replaces one compacted batch: the kept records, encoded one by one as
//! the reader hands them out (so a compressed batch is never inflated whole), under a header
//! that keeps everything the original said about them.
//!
//! Offsets, timestamps, attributes and the producer fields never change: the new batch starts
//! at its first kept record's offset (its base sequence moves with it), keeps each record's
//! timestamp delta against the original base timestamp, keeps the original attributes (codec,
//! timestamp type, flags) and leader epoch, and takes its max timestamp from the kept records
//! (under LogAppendTime, the original's). Offset gaps inside the batch are allowed: see
//! [`crate::segment_scan::validate_stored`]. Records and headers are re-encoded byte for byte,
//! repeated header keys included.

use crate::batch::{self, BatchHeader, HEADER_SIZE_BYTES, LOG_OVERHEAD_BYTES};
use crate::segment::invalid_data;
use crate::LogError;
use bytes::BytesMut;
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use runnel_protocol::records::Record;

fn put_varint(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_field(field: Option<&[u8]>, out: &mut Vec<u8>) {
    match field {
        None => put_varint(-1, out),
        Some(b) => {
            put_varint(b.len() as i64, out);
            out.extend_from_slice(b);
        }
    }
}

/// The kept records of one batch, encoded as they come.
pub(super) struct KeptRecords {
    records: Vec<u8>,
    body: Vec<u8>,
    first_offset: Option<i64>,
    last_offset: i64,
    count: i32,
    max_timestamp: i64,
}

impl KeptRecords {
    pub fn new() -> KeptRecords {
        KeptRecords {
            records: Vec::new(),
            body: Vec::new(),
            first_offset: None,
            last_offset: -1,
            count: 0,
            max_timestamp: i64::MIN,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends one record (records come in offset order).
    pub fn push(&mut self, r: &Record<'_>) {
        let first = *self.first_offset.get_or_insert(r.offset);
        self.body.clear();
        self.body.push(r.attributes as u8);
        put_varint(r.timestamp_delta, &mut self.body);
        put_varint(r.offset - first, &mut self.body);
        put_field(r.key, &mut self.body);
        put_field(r.value, &mut self.body);
        put_varint(r.header_count() as i64, &mut self.body);
        for h in r.headers() {
            put_field(Some(h.key), &mut self.body);
            put_field(h.value, &mut self.body);
        }
        put_varint(self.body.len() as i64, &mut self.records);
        self.records.extend_from_slice(&self.body);
        self.last_offset = r.offset;
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(r.timestamp);
    }

    /// The whole new batch, compressed with the original's codec, CRC computed.
    pub fn into_batch(self, original: &BatchHeader) -> Result<Vec<u8>, LogError> {
        let first = self
            .first_offset
            .ok_or_else(|| invalid_data("no kept records to rebuild a batch from".into()))?;
        let payload = compress(original.compression_codec(), &self.records)?;
        let mut b = vec![0u8; HEADER_SIZE_BYTES];
        b.extend_from_slice(&payload);
        let batch_length = i32::try_from(b.len() - LOG_OVERHEAD_BYTES)
            .map_err(|_| invalid_data("rebuilt batch too large".into()))?;
        let max_timestamp = if original.is_log_append_time() {
            original.max_timestamp
        } else {
            self.max_timestamp
        };
        let base_sequence = if original.base_sequence < 0 {
            -1
        } else {
            let moved = original.base_sequence as i64 + (first - original.base_offset);
            (moved % (i32::MAX as i64 + 1)) as i32
        };
        let put = |b: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            b[at..at + bytes.len()].copy_from_slice(bytes)
        };
        put(&mut b, batch::BASE_OFFSET_AT, &first.to_be_bytes());
        put(&mut b, batch::LENGTH_AT, &batch_length.to_be_bytes());
        put(
            &mut b,
            batch::LEADER_EPOCH_AT,
            &original.partition_leader_epoch.to_be_bytes(),
        );
        b[batch::MAGIC_AT] = 2;
        put(
            &mut b,
            batch::ATTRIBUTES_AT,
            &original.attributes.to_be_bytes(),
        );
        let last_delta = (self.last_offset - first) as i32;
        put(
            &mut b,
            batch::LAST_OFFSET_DELTA_AT,
            &last_delta.to_be_bytes(),
        );
        put(
            &mut b,
            batch::BASE_TIMESTAMP_AT,
            &original.base_timestamp.to_be_bytes(),
        );
        put(
            &mut b,
            batch::MAX_TIMESTAMP_AT,
            &max_timestamp.to_be_bytes(),
        );
        put(
            &mut b,
            batch::PRODUCER_ID_AT,
            &original.producer_id.to_be_bytes(),
        );
        put(
            &mut b,
            batch::PRODUCER_EPOCH_AT,
            &original.producer_epoch.to_be_bytes(),
        );
        put(
            &mut b,
            batch::BASE_SEQUENCE_AT,
            &base_sequence.to_be_bytes(),
        );
        put(&mut b, batch::RECORDS_COUNT_AT, &self.count.to_be_bytes());
        let crc = batch::compute_crc(&b);
        put(&mut b, batch::CRC_AT, &crc.to_be_bytes());
        Ok(b)
    }
}

/// `records` compressed as Kafka's codec `codec` (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
fn compress(codec: i16, records: &[u8]) -> Result<Vec<u8>, LogError> {
    let mut out = BytesMut::new();
    let fill = |tmp: &mut BytesMut| {
        tmp.extend_from_slice(records);
        Ok(())
    };
    let result = match codec {
        0 => return Ok(records.to_vec()),
        1 => Gzip::compress(&mut out, fill),
        2 => Snappy::compress(&mut out, fill),
        3 => Lz4::compress(&mut out, fill),
        4 => Zstd::compress(&mut out, fill),
        other => return Err(invalid_data(format!("unknown compression codec {other}")).into()),
    };
    result.map_err(|e| invalid_data(format!("compressing a compacted batch: {e}")))?;
    Ok(out.to_vec())
}
