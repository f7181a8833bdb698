//! Recompression of a produced batch to the topic's `compression.type`, as Kafka's
//! `LogValidator` does when the topic names a codec and the batch uses another: the records
//! section is decompressed and compressed again with the topic's codec and level
//! (`compression.gzip.level`, `compression.lz4.level`, `compression.zstd.level`); the header
//! keeps every field (producer id, epoch, sequence, timestamps, counts) except the codec bits,
//! the batch length and the CRC. Record contents, offsets deltas included, are untouched.
//!
//! Runs after [`crate::validate::validate_produce`] accepted the batch under the same
//! decompression limit, so decompressing it again is bounded the same way.

use crate::batch::{
    self, BatchHeader, ATTRIBUTES_AT, COMPRESSION_MASK, CRC_AT, HEADER_SIZE_BYTES, LENGTH_AT,
    LOG_OVERHEAD_BYTES,
};
use crate::validate::ValidationError;
use bytes::{BufMut, BytesMut};
use kafka_protocol::compression::{Compressor, Snappy};
use runnel_protocol::records::decompress::decompress_into;
use runnel_protocol::records::ReadLimits;
use std::io::Write;

/// A codec a topic can name in `compression.type` (`uncompressed` is [`Codec::None`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Codec {
    /// Kafka's codec id, the low bits of a batch's attributes.
    pub fn id(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }
}

/// What a topic's batches are stored as, when it is not the producer's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recompression {
    pub codec: Codec,
    /// The codec's level (gzip: -1 = default, 1..=9; lz4: 1..=17; zstd: -131072..=22); unused
    /// for snappy and none.
    pub level: i32,
}

fn compress(target: &Recompression, raw: &[u8], out: &mut BytesMut) -> std::io::Result<()> {
    match target.codec {
        Codec::None => out.put_slice(raw),
        Codec::Gzip => {
            let level = match target.level {
                l if l < 0 => flate2::Compression::default(),
                l => flate2::Compression::new(l as u32),
            };
            let mut e = flate2::write::GzEncoder::new(out.writer(), level);
            e.write_all(raw)?;
            e.finish()?;
        }
        Codec::Snappy => {
            <Snappy as Compressor<BytesMut>>::compress(out, |tmp: &mut BytesMut| {
                tmp.put_slice(raw);
                Ok(())
            })
            .map_err(std::io::Error::other)?;
        }
        // As the Java producer writes lz4: independent blocks (KafkaLZ4BlockOutputStream).
        Codec::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .level(target.level.max(0) as u32)
                .block_mode(lz4::BlockMode::Independent)
                .build(out.writer())?;
            e.write_all(raw)?;
            let (_, r) = e.finish();
            r?;
        }
        Codec::Zstd => zstd::stream::copy_encode(raw, out.writer(), target.level)?,
    }
    Ok(())
}

/// The one batch of `records` (already validated, header `header`) re-encoded with `target`,
/// or `None` when it already uses that codec. A result larger than `max_message_bytes` is
/// MESSAGE_TOO_LARGE, as in Kafka.
pub fn recompress(
    records: &[u8],
    header: &BatchHeader,
    target: &Recompression,
    limits: ReadLimits,
    max_message_bytes: usize,
    topic_partition: &str,
) -> Result<Option<Vec<u8>>, ValidationError> {
    let source = header.compression_codec();
    if source == target.codec.id() || header.is_control() {
        return Ok(None);
    }
    let body = &records[HEADER_SIZE_BYTES..header.total_size_bytes()];
    let corrupt = |e: std::io::Error| {
        ValidationError::Corrupt(format!(
            "recompressing a batch for {topic_partition} failed: {e}"
        ))
    };
    let mut raw = Vec::new();
    let raw = if source == Codec::None.id() {
        body
    } else {
        decompress_into(source, body, limits.max_uncompressed_bytes, &mut raw).map_err(corrupt)?;
        &raw[..]
    };
    let mut out = BytesMut::with_capacity(HEADER_SIZE_BYTES + raw.len() / 2);
    out.put_slice(&records[..HEADER_SIZE_BYTES]);
    compress(target, raw, &mut out).map_err(corrupt)?;
    let mut out = out.to_vec();
    let length = (out.len() - LOG_OVERHEAD_BYTES) as i32;
    out[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
    let attributes = i16::from_be_bytes([out[ATTRIBUTES_AT], out[ATTRIBUTES_AT + 1]]);
    let attributes = (attributes & !COMPRESSION_MASK) | target.codec.id();
    out[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    let crc = batch::compute_crc(&out);
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    if out.len() > max_message_bytes {
        return Err(ValidationError::TooLarge(format!(
            "Message batch size is {} bytes in append to partition {topic_partition} which exceeds the maximum configured size of {max_message_bytes}.",
            out.len()
        )));
    }
    Ok(Some(out))
}
