//! Walking the records of one batch as a stream.
//!
//! [`BatchRecords`] hands out one [`Record`] at a time. Uncompressed records are slices of the
//! batch; compressed ones are read from a bounded decompressing stream into one reused buffer
//! that grows only as decompressed bytes arrive, so memory follows the largest record actually
//! present, never a length or count from the header. The walk checks what Kafka's record
//! iterator checks: exactly `recordsCount` well-formed records, nothing left after them.

use super::decompress::{self, OutputLimitReached, CODEC_NONE};
use super::header::{BatchHeader, HEADER_SIZE_BYTES};
use super::record::{read_varint, Record};
use super::RecordError;
use std::io::{self, BufReader, Read};

/// Bounds on what reading a batch may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Most bytes a compressed batch may decompress to; more fails the walk.
    pub max_uncompressed_bytes: u64,
}

impl ReadLimits {
    /// Limits scaled from a size limit on the compressed batch (`max.message.bytes`, a fetch
    /// size): decompressed output may be [`UNCOMPRESSED_BYTES_PER_BATCH_BYTE`] times it.
    pub fn for_batch_limit(max_batch_bytes: usize) -> ReadLimits {
        ReadLimits {
            max_uncompressed_bytes: (max_batch_bytes as u64)
                .saturating_mul(UNCOMPRESSED_BYTES_PER_BATCH_BYTE)
                .max(MIN_UNCOMPRESSED_BYTES),
        }
    }
}

/// Real producers' batches decompress to a few times their size; 64x leaves room for very
/// repetitive data while a bomb (1000x and more) is refused.
pub const UNCOMPRESSED_BYTES_PER_BATCH_BYTE: u64 = 64;
/// A floor for small limits, so tiny test settings still read ordinary batches.
pub const MIN_UNCOMPRESSED_BYTES: u64 = 1 << 20;

/// Chunk in which a compressed record's body is read; a record buffer grows by at most this
/// beyond the bytes that have actually come out of the decompressor.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// What validation and lookups need of a record, without its key and value bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSummary {
    pub offset: i64,
    pub timestamp: i64,
    /// Null key (`None`) or its length.
    pub key_len: Option<usize>,
    pub value_len: Option<usize>,
    pub header_count: usize,
}

enum Source<'a> {
    Slice(&'a [u8]),
    Stream(BufReader<Box<dyn Read + 'a>>),
}

/// The records of one whole batch, one at a time: `while let Some(r) = records.next()? {}`.
pub struct BatchRecords<'a> {
    header: BatchHeader,
    records_count: usize,
    index: usize,
    finished: bool,
    source: Source<'a>,
    buf: Vec<u8>,
}

impl<'a> BatchRecords<'a> {
    /// Starts a walk over `batch`, one whole batch whose header is `header` (its CRC is the
    /// caller's business). Fails for a negative record count or an unknown codec.
    pub fn new(
        batch: &'a [u8],
        header: &BatchHeader,
        limits: ReadLimits,
    ) -> Result<BatchRecords<'a>, RecordError> {
        if header.records_count < 0 {
            return Err(RecordError::InvalidCount {
                count: header.records_count,
            });
        }
        let end = header.total_size_bytes().min(batch.len());
        let body = batch.get(HEADER_SIZE_BYTES..end).unwrap_or_default();
        let source = match header.compression_codec() {
            CODEC_NONE => Source::Slice(body),
            codec => {
                let stream = decompress::open(codec, body, limits.max_uncompressed_bytes)
                    .map_err(|e| io_error(e, codec))?;
                Source::Stream(BufReader::with_capacity(8 * 1024, stream))
            }
        };
        Ok(BatchRecords {
            header: *header,
            records_count: header.records_count as usize,
            index: 0,
            finished: false,
            source,
            buf: Vec::new(),
        })
    }

    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// Bytes held for the current compressed record (tests check it tracks real records).
    pub fn buffer_capacity_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// The next record's offset, timestamp and field sizes, `None` after the last. Checks the
    /// record exactly as [`BatchRecords::next`] does, but a compressed record's key, value and
    /// headers are skipped as they stream past instead of being buffered, so walking a batch
    /// costs a few KiB of memory whatever its records' sizes (Kafka's skip-key-value iterator).
    pub fn next_summary(&mut self) -> Result<Option<RecordSummary>, RecordError> {
        if !matches!(self.source, Source::Stream(_)) {
            return Ok(self.next()?.map(|r| RecordSummary {
                offset: r.offset,
                timestamp: r.timestamp,
                key_len: r.key.map(<[u8]>::len),
                value_len: r.value.map(<[u8]>::len),
                header_count: r.header_count(),
            }));
        }
        if self.index == self.records_count {
            if !self.finished {
                self.check_nothing_left()?;
                self.finished = true;
            }
            return Ok(None);
        }
        let index = self.index;
        self.index += 1;
        let codec = self.header.compression_codec();
        let Source::Stream(stream) = &mut self.source else {
            unreachable!("checked above");
        };
        let len = read_stream_varint(stream, index).map_err(|e| e.or_io(codec))?;
        if len < 0 {
            return Err(RecordError::structure(index));
        }
        let mut body = CountingTake {
            inner: stream,
            left: len as u64,
        };
        let fields = skim_record(&mut body, index).map_err(|e| e.or_io(codec))?;
        if body.left != 0 {
            return Err(RecordError::Malformed {
                index,
                reason: format!(
                    "Invalid record size: expected to read {len} bytes in record payload, but instead read {}",
                    len as u64 - body.left
                ),
            });
        }
        Ok(Some(RecordSummary {
            offset: self
                .header
                .base_offset
                .wrapping_add(fields.offset_delta as i64),
            timestamp: if self.header.is_log_append_time() {
                self.header.max_timestamp
            } else {
                self.header
                    .base_timestamp
                    .wrapping_add(fields.timestamp_delta)
            },
            key_len: fields.key_len,
            value_len: fields.value_len,
            header_count: fields.header_count,
        }))
    }

    /// The next record, `None` after the last, or the first thing wrong with the batch.
    #[allow(clippy::should_implement_trait)] // a lending iterator: records borrow `self`
    pub fn next(&mut self) -> Result<Option<Record<'_>>, RecordError> {
        if self.index == self.records_count {
            if !self.finished {
                self.check_nothing_left()?;
                self.finished = true;
            }
            return Ok(None);
        }
        let index = self.index;
        self.index += 1;
        let codec = self.header.compression_codec();
        let body: &[u8] = match &mut self.source {
            Source::Slice(rest) => {
                let len = read_varint(rest).ok_or(RecordError::PrematureEof { index })?;
                if len < 0 {
                    return Err(RecordError::structure(index));
                }
                if rest.len() < len as usize {
                    return Err(RecordError::Malformed {
                        index,
                        reason: format!("Invalid record size: expected {len} bytes in record payload, but instead the buffer has only {} remaining bytes.", rest.len()),
                    });
                }
                let (body, tail) = rest.split_at(len as usize);
                *rest = tail;
                body
            }
            Source::Stream(stream) => {
                let len = read_stream_varint(stream, index).map_err(|e| e.or_io(codec))?;
                if len < 0 {
                    return Err(RecordError::structure(index));
                }
                read_body(stream, len as usize, &mut self.buf, index)
                    .map_err(|e| e.or_io(codec))?;
                &self.buf
            }
        };
        let mut record = Record::parse(body, index)?;
        record.offset = self
            .header
            .base_offset
            .wrapping_add(record.offset_delta as i64);
        record.timestamp = if self.header.is_log_append_time() {
            self.header.max_timestamp
        } else {
            self.header
                .base_timestamp
                .wrapping_add(record.timestamp_delta)
        };
        Ok(Some(record))
    }

    fn check_nothing_left(&mut self) -> Result<(), RecordError> {
        let codec = self.header.compression_codec();
        let left = match &mut self.source {
            Source::Slice(rest) => !rest.is_empty(),
            Source::Stream(stream) => {
                let mut probe = [0u8; 1];
                stream.read(&mut probe).map_err(|e| io_error(e, codec))? > 0
            }
        };
        if left {
            return Err(RecordError::RecordsRemaining);
        }
        Ok(())
    }
}

/// What went wrong reading from a decompressing stream, before it is given its codec.
enum StreamError {
    Record(RecordError),
    Io(io::Error),
}

impl StreamError {
    fn or_io(self, codec: i16) -> RecordError {
        match self {
            StreamError::Record(e) => e,
            StreamError::Io(e) => io_error(e, codec),
        }
    }
}

fn io_error(e: io::Error, codec: i16) -> RecordError {
    if let Some(limit) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<OutputLimitReached>())
    {
        return RecordError::UncompressedTooLarge {
            limit_bytes: limit.limit_bytes,
        };
    }
    RecordError::Decompression {
        codec: decompress::codec_name(codec),
        message: e.to_string(),
    }
}

fn read_stream_varint(stream: &mut impl Read, index: usize) -> Result<i32, StreamError> {
    let mut z: u32 = 0;
    for i in 0..5 {
        let mut b = [0u8; 1];
        if stream.read(&mut b).map_err(StreamError::Io)? == 0 {
            return Err(StreamError::Record(RecordError::PrematureEof { index }));
        }
        z |= ((b[0] & 0x7f) as u32) << (7 * i);
        if b[0] & 0x80 == 0 {
            return Ok(((z >> 1) as i32) ^ -((z & 1) as i32));
        }
    }
    Err(StreamError::Record(RecordError::structure(index)))
}

/// A record body being read from the stream: at most `left` more bytes may be taken.
struct CountingTake<'s, R> {
    inner: &'s mut R,
    left: u64,
}

impl<R: Read> CountingTake<'_, R> {
    /// One byte of the body; running out of body or of stream is a malformed record.
    fn byte(&mut self, index: usize) -> Result<u8, StreamError> {
        if self.left == 0 {
            return Err(StreamError::Record(RecordError::structure(index)));
        }
        let mut b = [0u8; 1];
        if self.inner.read(&mut b).map_err(StreamError::Io)? == 0 {
            return Err(StreamError::Record(RecordError::PrematureEof { index }));
        }
        self.left -= 1;
        Ok(b[0])
    }

    fn varlong(&mut self, index: usize, max_bytes: usize) -> Result<i64, StreamError> {
        let mut z: u64 = 0;
        for i in 0..max_bytes {
            let b = self.byte(index)?;
            z |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err(StreamError::Record(RecordError::structure(index)))
    }

    fn varint(&mut self, index: usize) -> Result<i32, StreamError> {
        // As Kafka's readVarint and `record::read_varint`: seven bits a byte into 32, so a fifth
        // byte's high bits fall away. Refusing them (as a varlong out of i32 range) made a
        // record that `next` reads fail in `next_summary`.
        let mut z: u32 = 0;
        for i in 0..5 {
            let b = self.byte(index)?;
            z |= ((b & 0x7f) as u32) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i32) ^ -((z & 1) as i32));
            }
        }
        Err(StreamError::Record(RecordError::structure(index)))
    }

    /// Skips `n` bytes of the body without keeping them.
    fn skip(&mut self, n: u64, index: usize) -> Result<(), StreamError> {
        if n > self.left {
            return Err(StreamError::Record(RecordError::structure(index)));
        }
        let copied = io::copy(&mut self.inner.take(n), &mut io::sink()).map_err(StreamError::Io)?;
        self.left -= copied;
        if copied < n {
            return Err(StreamError::Record(RecordError::PrematureEof { index }));
        }
        Ok(())
    }

    /// A length-prefixed field, skipped; its length, or `None` for null.
    fn skip_field(&mut self, index: usize) -> Result<Option<usize>, StreamError> {
        let len = self.varint(index)?;
        if len < 0 {
            return Ok(None);
        }
        self.skip(len as u64, index)?;
        Ok(Some(len as usize))
    }
}

struct SkimmedRecord {
    timestamp_delta: i64,
    offset_delta: i32,
    key_len: Option<usize>,
    value_len: Option<usize>,
    header_count: usize,
}

/// Reads a record body's fields off the stream, keeping only their sizes; the same checks as
/// [`Record::parse`].
fn skim_record<R: Read>(
    body: &mut CountingTake<'_, R>,
    index: usize,
) -> Result<SkimmedRecord, StreamError> {
    let malformed = |reason: String| StreamError::Record(RecordError::Malformed { index, reason });
    body.byte(index)?; // attributes
    let timestamp_delta = body.varlong(index, 10)?;
    let offset_delta = body.varint(index)?;
    let key_len = body.skip_field(index)?;
    let value_len = body.skip_field(index)?;
    let header_count = body.varint(index)?;
    if header_count < 0 {
        return Err(malformed(format!(
            "Found invalid number of record headers {header_count}"
        )));
    }
    for _ in 0..header_count {
        let key_len = body.varint(index)?;
        if key_len < 0 {
            return Err(malformed(format!(
                "Invalid negative header key size {key_len}"
            )));
        }
        body.skip(key_len as u64, index)?;
        body.skip_field(index)?;
    }
    Ok(SkimmedRecord {
        timestamp_delta,
        offset_delta,
        key_len,
        value_len,
        header_count: header_count as usize,
    })
}

/// Reads exactly `len` bytes into `buf`, growing it a chunk at a time as bytes arrive.
fn read_body(
    stream: &mut impl Read,
    len: usize,
    buf: &mut Vec<u8>,
    index: usize,
) -> Result<(), StreamError> {
    buf.clear();
    while buf.len() < len {
        let want = (len - buf.len()).min(READ_CHUNK_BYTES);
        let at = buf.len();
        buf.resize(at + want, 0);
        let n = stream.read(&mut buf[at..]).map_err(StreamError::Io)?;
        buf.truncate(at + n);
        if n == 0 {
            return Err(StreamError::Record(RecordError::PrematureEof { index }));
        }
    }
    Ok(())
}
