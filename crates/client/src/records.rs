//! Records and the v2 record-batch format, written here rather than with
//! `kafka_protocol::records` because that crate keeps headers in a map: Kafka headers are a
//! list and may repeat a key. Compression uses `kafka_protocol::compression`.

use crate::config::CompressionType;
use crate::error::{ClientError, Result};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Snappy};
use runnel_protocol::records::header::validate_crc;
use runnel_protocol::records::{BatchHeader as WireBatchHeader, BatchRecords, ReadLimits};
use std::io::Write;

/// `compression.gzip.level` (-1: the codec's default), `compression.lz4.level`,
/// `compression.zstd.level`, with Kafka's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionLevels {
    pub gzip: i32,
    pub lz4: u32,
    pub zstd: i32,
}

impl Default for CompressionLevels {
    fn default() -> Self {
        CompressionLevels {
            gzip: -1,
            lz4: 9,
            zstd: 3,
        }
    }
}

fn compress(
    c: CompressionType,
    levels: &CompressionLevels,
    raw: &[u8],
    out: &mut BytesMut,
) -> anyhow::Result<()> {
    match c {
        CompressionType::None => out.put_slice(raw),
        CompressionType::Gzip => {
            let level = if levels.gzip < 0 {
                flate2::Compression::default()
            } else {
                flate2::Compression::new(levels.gzip as u32)
            };
            let mut e = flate2::write::GzEncoder::new(out.writer(), level);
            e.write_all(raw)?;
            e.finish()?;
        }
        CompressionType::Snappy => {
            <Snappy as Compressor<BytesMut>>::compress(out, |tmp: &mut BytesMut| {
                tmp.put_slice(raw);
                Ok(())
            })?;
        }
        CompressionType::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .level(levels.lz4)
                .block_mode(lz4::BlockMode::Independent)
                .build(out.writer())?;
            e.write_all(raw)?;
            let (_, r) = e.finish();
            r?;
        }
        CompressionType::Zstd => zstd::stream::copy_encode(raw, out.writer(), levels.zstd)?,
    }
    Ok(())
}

/// One record header. Keys may repeat within a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Bytes>,
}

/// A record to send.
#[derive(Debug, Clone, Default)]
pub struct ProducerRecord {
    pub topic: String,
    /// An explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    /// CreateTime in ms; `None` means now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    pub fn new(topic: impl Into<String>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into(),
            ..Default::default()
        }
    }
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
    pub fn timestamp(mut self, ts: i64) -> Self {
        self.timestamp = Some(ts);
        self
    }
    /// Adds a header; a key may be added more than once.
    pub fn header(mut self, key: impl Into<String>, value: Option<impl Into<Bytes>>) -> Self {
        self.headers.push(Header {
            key: key.into(),
            value: value.map(Into::into),
        });
        self
    }
}

/// `CreateTime` or `LogAppendTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// Fixed size of a v2 batch header.
pub const BATCH_OVERHEAD: usize = 61;

fn put_varint(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

fn put_bytes(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i64);
            buf.put_slice(b);
        }
    }
}

/// The encoded size of a record body without its length prefix.
fn varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

/// Encodes one record (with its length prefix) at the given deltas, straight into `buf`.
pub fn encode_record(
    buf: &mut BytesMut,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) {
    let field = |b: Option<&[u8]>| match b {
        None => varint_len(-1),
        Some(b) => varint_len(b.len() as i64) + b.len(),
    };
    let mut body = 1
        + varint_len(timestamp_delta)
        + varint_len(offset_delta as i64)
        + field(key)
        + field(value)
        + varint_len(headers.len() as i64);
    for h in headers {
        body += field(Some(h.key.as_bytes())) + field(h.value.as_deref());
    }
    buf.reserve(body + 5);
    put_varint(buf, body as i64);
    buf.put_i8(0);
    put_varint(buf, timestamp_delta);
    put_varint(buf, offset_delta as i64);
    put_bytes(buf, key);
    put_bytes(buf, value);
    put_varint(buf, headers.len() as i64);
    for h in headers {
        put_bytes(buf, Some(h.key.as_bytes()));
        put_bytes(buf, h.value.as_deref());
    }
}

/// An upper bound of a record's encoded size, used against `batch.size` and `buffer.memory`.
pub fn estimate_record_size(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    let k = key.map_or(0, <[u8]>::len);
    let v = value.map_or(0, <[u8]>::len);
    let h: usize = headers
        .iter()
        .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len) + 10)
        .sum();
    let body = 1 + 10 + 5 + 5 + k + 5 + v + 5 + h;
    body + varint_len(body as i64)
}

/// The batch-level fields of a v2 batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader {
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
    pub compression: CompressionType,
    pub levels: CompressionLevels,
}

/// A buffer for a new batch: `BATCH_OVERHEAD` bytes kept free for the header, so that
/// [`finish_batch`] can fill it in place instead of copying the records behind a new header.
pub fn new_batch_buffer(capacity: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(capacity.max(BATCH_OVERHEAD));
    buf.put_bytes(0, BATCH_OVERHEAD);
    buf
}

/// Completes a batch built on [`new_batch_buffer`]: compresses the records when asked to,
/// then writes the header and the CRC over everything after it. Uncompressed batches are
/// finished without copying a record.
pub fn finish_batch(h: &BatchHeader, mut buf: BytesMut) -> Result<Bytes> {
    assert!(
        buf.len() >= BATCH_OVERHEAD,
        "batch buffer of {} bytes has no room for the {BATCH_OVERHEAD}-byte header",
        buf.len()
    );
    if h.compression != CompressionType::None {
        let mut out = new_batch_buffer(BATCH_OVERHEAD + buf.len() / 2);
        compress(h.compression, &h.levels, &buf[BATCH_OVERHEAD..], &mut out)
            .map_err(|e| ClientError::Protocol(format!("compression: {e:#}")))?;
        buf = out;
    }
    let batch_length = (buf.len() - 12) as i32;
    let mut head = &mut buf[..BATCH_OVERHEAD];
    head.put_i64(0);
    head.put_i32(batch_length);
    head.put_i32(-1);
    head.put_i8(2);
    head.put_u32(0); // the CRC, below
    head.put_i16(h.compression.attribute());
    head.put_i32(h.record_count - 1);
    head.put_i64(h.base_timestamp);
    head.put_i64(h.max_timestamp);
    head.put_i64(h.producer_id);
    head.put_i16(h.producer_epoch);
    head.put_i32(h.base_sequence);
    head.put_i32(h.record_count);
    // The CRC covers attributes to the end of the batch: bytes 21.. of the header on.
    let crc = crc32c::crc32c(&buf[21..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(buf.freeze())
}

/// Writes a complete v2 batch around already-encoded records (uncompressed bytes).
pub fn build_batch(h: &BatchHeader, records: &[u8]) -> Result<Bytes> {
    let mut buf = new_batch_buffer(BATCH_OVERHEAD + records.len());
    buf.put_slice(records);
    finish_batch(h, buf)
}

/// One decoded record: (offset, timestamp, timestamp type, key, value, headers).
pub type DecodedRecord = (
    i64,
    i64,
    TimestampType,
    Option<Bytes>,
    Option<Bytes>,
    Vec<Header>,
);

/// One decoded batch.
#[derive(Debug, Clone)]
pub struct DecodedBatch {
    pub base_offset: i64,
    pub last_offset: i64,
    pub producer_id: i64,
    pub transactional: bool,
    pub control: bool,
    pub records: Vec<DecodedRecord>,
}

/// Decodes every complete batch in `buf`; a truncated trailing batch (a fetch cut at
/// `max.partition.fetch.bytes`) is ignored. Only magic 2 is read. Records are walked with the
/// workspace's one reader (`runnel_protocol::records`): compressed batches are inflated as a
/// stream, bounded to [`ReadLimits::for_batch_limit`] of the batch (at least 1 MiB of it).
pub fn decode_batches(buf: Bytes) -> Result<Vec<DecodedBatch>> {
    let mut out = Vec::new();
    let mut rest: &[u8] = &buf;
    while rest.len() >= 12 {
        let len = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        if len < 0 || rest.len() - 12 < len as usize {
            break;
        }
        let (bytes, tail) = rest.split_at(12 + len as usize);
        rest = tail;
        let header =
            WireBatchHeader::parse(bytes).map_err(|e| ClientError::Protocol(e.to_string()))?;
        validate_crc(bytes, &header).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let ts_type = if header.is_log_append_time() {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        };
        let limits = ReadLimits::for_batch_limit(bytes.len().max(1 << 20));
        let mut walk = BatchRecords::new(bytes, &header, limits)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mut records = Vec::new();
        while let Some(r) = walk
            .next()
            .map_err(|e| ClientError::Protocol(e.to_string()))?
        {
            let owned = |b: Option<&[u8]>| b.map(|b| buf.slice_ref_or_copy(b));
            let headers = r
                .headers()
                .map(|h| Header {
                    key: String::from_utf8_lossy(h.key).into_owned(),
                    value: owned(h.value),
                })
                .collect();
            records.push((
                r.offset,
                r.timestamp,
                ts_type,
                owned(r.key),
                owned(r.value),
                headers,
            ));
        }
        out.push(DecodedBatch {
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            producer_id: header.producer_id,
            transactional: header.is_transactional(),
            control: header.is_control(),
            records,
        });
    }
    Ok(out)
}

/// Keys and values of uncompressed batches are slices of the fetch response (no copy); those
/// of compressed batches live in the reader's buffer and are copied out.
trait SliceRefOrCopy {
    fn slice_ref_or_copy(&self, part: &[u8]) -> Bytes;
}

impl SliceRefOrCopy for Bytes {
    fn slice_ref_or_copy(&self, part: &[u8]) -> Bytes {
        let (start, end) = (self.as_ptr() as usize, self.as_ptr() as usize + self.len());
        let at = part.as_ptr() as usize;
        if !part.is_empty() && at >= start && at + part.len() <= end {
            self.slice_ref(part)
        } else {
            Bytes::copy_from_slice(part)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_levels_change_the_compressed_bytes_and_both_read_back() {
        let mut recs = BytesMut::new();
        for i in 0..200 {
            let v = format!(
                "record {i} with some repetitive text, some repetitive text {}",
                i * 7919 % 1000
            );
            encode_record(&mut recs, i, 0, None, Some(v.as_bytes()), &[]);
        }
        for (c, low, high) in [
            (
                CompressionType::Gzip,
                CompressionLevels {
                    gzip: 1,
                    ..Default::default()
                },
                CompressionLevels {
                    gzip: 9,
                    ..Default::default()
                },
            ),
            (
                CompressionType::Zstd,
                CompressionLevels {
                    zstd: 1,
                    ..Default::default()
                },
                CompressionLevels {
                    zstd: 19,
                    ..Default::default()
                },
            ),
            (
                CompressionType::Lz4,
                CompressionLevels {
                    lz4: 1,
                    ..Default::default()
                },
                CompressionLevels {
                    lz4: 16,
                    ..Default::default()
                },
            ),
        ] {
            let h = |levels| BatchHeader {
                base_timestamp: 0,
                max_timestamp: 0,
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                record_count: 200,
                compression: c,
                levels,
            };
            let (a, b) = (
                build_batch(&h(low), &recs).unwrap(),
                build_batch(&h(high), &recs).unwrap(),
            );
            assert_ne!(a, b, "{c:?}");
            assert!(
                b.len() <= a.len(),
                "{c:?}: level {high:?} gave {} bytes, {low:?} {}",
                b.len(),
                a.len()
            );
            for batch in [a, b] {
                assert_eq!(decode_batches(batch).unwrap()[0].records.len(), 200);
            }
        }
    }

    #[test]
    fn a_batch_round_trips_with_duplicate_header_keys_under_every_compression() {
        for c in [
            CompressionType::None,
            CompressionType::Gzip,
            CompressionType::Snappy,
            CompressionType::Lz4,
            CompressionType::Zstd,
        ] {
            let hs = vec![
                Header {
                    key: "h".into(),
                    value: Some(Bytes::from_static(b"1")),
                },
                Header {
                    key: "h".into(),
                    value: None,
                },
            ];
            let mut recs = BytesMut::new();
            encode_record(&mut recs, 0, 0, Some(b"k"), Some(b"v"), &hs);
            encode_record(&mut recs, 1, 5, None, Some(b"w"), &[]);
            let h = BatchHeader {
                base_timestamp: 1000,
                max_timestamp: 1005,
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                record_count: 2,
                compression: c,
                levels: CompressionLevels::default(),
            };
            let b = build_batch(&h, &recs).unwrap();
            // kafka-protocol's decoder agrees on the bytes.
            let theirs =
                kafka_protocol::records::RecordBatchDecoder::decode_all(&mut b.clone()).unwrap();
            assert_eq!(theirs[0].records.len(), 2);
            let ours = decode_batches(b).unwrap();
            let r = &ours[0].records;
            assert_eq!(r[0].5, hs);
            assert_eq!((r[1].0, r[1].1), (1, 1005));
            assert_eq!(r[1].3, None);
        }
    }

    mod hostile {
        use super::*;
        use proptest::prelude::*;

        fn valid_batch() -> Vec<u8> {
            let mut recs = BytesMut::new();
            encode_record(&mut recs, 0, 0, Some(b"k"), Some(b"value"), &[]);
            encode_record(&mut recs, 1, 3, None, Some(b"w"), &[]);
            let h = BatchHeader {
                base_timestamp: 1,
                max_timestamp: 4,
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                record_count: 2,
                compression: CompressionType::None,
                levels: CompressionLevels::default(),
            };
            build_batch(&h, &recs).unwrap().to_vec()
        }

        /// Rewrites the CRC so a mutated batch gets past the checksum to the decoder.
        fn fix_crc(b: &mut [u8]) {
            if b.len() >= 21 {
                let crc = crc32c::crc32c(&b[21..]);
                b[17..21].copy_from_slice(&crc.to_be_bytes());
            }
        }

        #[test]
        fn a_batch_shorter_than_its_header_is_an_error_not_a_panic() {
            let mut b = 10i64.to_be_bytes().to_vec();
            b.extend_from_slice(&5i32.to_be_bytes());
            b.extend_from_slice(&[0; 5]);
            assert!(decode_batches(Bytes::from(b)).is_err());
        }

        #[test]
        fn a_record_count_of_two_billion_reserves_nothing_it_cannot_fill() {
            let mut b = valid_batch();
            b[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
            fix_crc(&mut b);
            assert!(decode_batches(Bytes::from(b)).is_err(), "records run out");
        }

        #[test]
        fn a_snappy_header_declaring_gigabytes_is_refused_before_allocating() {
            let mut b = valid_batch();
            // Attributes say snappy; the payload is raw snappy declaring 2^32-1 bytes, then
            // one literal byte.
            b[22] |= 2;
            let payload = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, b'x'];
            b.truncate(BATCH_OVERHEAD);
            b.extend_from_slice(&payload);
            let len = (b.len() - 12) as i32;
            b[8..12].copy_from_slice(&len.to_be_bytes());
            fix_crc(&mut b);
            let err = decode_batches(Bytes::from(b)).unwrap_err().to_string();
            assert!(err.contains("decompresses to more than"), "{err}");
        }

        proptest! {
            #[test]
            fn random_bytes_never_panic_the_batch_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                let _ = decode_batches(Bytes::from(bytes));
            }

            #[test]
            fn mutated_batches_with_valid_crcs_never_panic_the_decoder(
                at in 12usize..80, byte in any::<u8>(), cut in 0usize..90,
            ) {
                let mut b = valid_batch();
                let at = at.min(b.len() - 1);
                b[at] = byte;
                b.truncate(b.len() - cut.min(b.len() - 12));
                fix_crc(&mut b);
                let _ = decode_batches(Bytes::from(b));
            }
        }
    }
}
