//! Streaming decompression with a bound on what comes out.
//!
//! A few hundred compressed bytes can inflate to gigabytes, so nothing here decompresses a whole
//! batch at once: each codec is a `Read` that the batch reader pulls records from, behind
//! [`Bounded`], which fails the read once more than the caller's limit has come out. Snappy has
//! no streaming decoder in the `snap` crate for Kafka's (xerial) framing, so [`XerialSnappy`]
//! decodes one block at a time and refuses a block whose declared length exceeds what the bound
//! still allows, before allocating for it.

use std::io::{self, Read};

/// Kafka's codec ids (the low three bits of a batch's attributes).
pub const CODEC_NONE: i16 = 0;
pub const CODEC_GZIP: i16 = 1;
pub const CODEC_SNAPPY: i16 = 2;
pub const CODEC_LZ4: i16 = 3;
pub const CODEC_ZSTD: i16 = 4;

/// The name Kafka gives a codec id.
pub fn codec_name(codec: i16) -> &'static str {
    match codec {
        CODEC_NONE => "none",
        CODEC_GZIP => "gzip",
        CODEC_SNAPPY => "snappy",
        CODEC_LZ4 => "lz4",
        CODEC_ZSTD => "zstd",
        _ => "unknown",
    }
}

/// Marks the `io::Error` that [`Bounded`] returns, so the reader can tell "too large" apart
/// from a corrupt stream.
#[derive(Debug)]
pub(crate) struct OutputLimitReached {
    pub limit_bytes: u64,
}

impl std::fmt::Display for OutputLimitReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "decompressed output exceeds {} bytes", self.limit_bytes)
    }
}

impl std::error::Error for OutputLimitReached {}

/// A reader that fails once more than `limit_bytes` have been read through it.
pub(crate) struct Bounded<R> {
    inner: R,
    left_bytes: u64,
    limit_bytes: u64,
}

impl<R: Read> Bounded<R> {
    pub(crate) fn new(inner: R, limit_bytes: u64) -> Bounded<R> {
        Bounded {
            inner,
            left_bytes: limit_bytes,
            limit_bytes,
        }
    }

    fn limit_error(&self) -> io::Error {
        io::Error::other(OutputLimitReached {
            limit_bytes: self.limit_bytes,
        })
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left_bytes == 0 {
            // At the limit: anything more is too much, a clean end is fine.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(self.limit_error()),
            };
        }
        let want = buf
            .len()
            .min(self.left_bytes.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.left_bytes -= n as u64;
        Ok(n)
    }
}

/// A decompressing reader over `compressed` for `codec`, bounded to `limit_bytes` of output.
pub(crate) fn open<'a>(
    codec: i16,
    compressed: &'a [u8],
    limit_bytes: u64,
) -> io::Result<Box<dyn Read + 'a>> {
    let raw: Box<dyn Read + 'a> = match codec {
        CODEC_GZIP => Box::new(flate2::read::MultiGzDecoder::new(compressed)),
        CODEC_SNAPPY => Box::new(XerialSnappy::new(compressed, limit_bytes)),
        CODEC_LZ4 => Box::new(lz4::Decoder::new(compressed)?),
        CODEC_ZSTD => Box::new(zstd::stream::read::Decoder::with_buffer(compressed)?),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown compression codec {other}"),
            ))
        }
    };
    Ok(Box::new(Bounded::new(raw, limit_bytes)))
}

/// Decompresses a whole compressed records section into `out` (which grows only as output
/// arrives), failing once more than `limit_bytes` come out. For the broker's recompression to a
/// topic's `compression.type`, after the batch passed validation under the same limit.
pub fn decompress_into(
    codec: i16,
    compressed: &[u8],
    limit_bytes: u64,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    open(codec, compressed, limit_bytes)?.read_to_end(out)?;
    Ok(())
}

/// The xerial-snappy stream header Java's `SnappyOutputStream` writes (magic, version, compat).
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_BYTES: usize = 16;

/// Kafka's snappy: xerial framing (a 16-byte header, then blocks each prefixed by a big-endian
/// `int32` compressed length) or, without the magic, one raw snappy block, as Java's
/// `SnappyInputStream` falls back to. Decoded one block at a time.
struct XerialSnappy<'a> {
    rest: &'a [u8],
    framed: bool,
    block: Vec<u8>,
    at: usize,
    /// Output still allowed: a block declaring more is refused before it is allocated.
    left_bytes: u64,
    limit_bytes: u64,
}

impl<'a> XerialSnappy<'a> {
    fn new(compressed: &'a [u8], limit_bytes: u64) -> XerialSnappy<'a> {
        let framed = compressed.len() >= XERIAL_HEADER_BYTES && compressed[..8] == XERIAL_MAGIC[..];
        XerialSnappy {
            rest: if framed {
                &compressed[XERIAL_HEADER_BYTES..]
            } else {
                compressed
            },
            framed,
            block: Vec::new(),
            at: 0,
            left_bytes: limit_bytes,
            limit_bytes,
        }
    }

    fn corrupt(msg: impl Into<String>) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, msg.into())
    }

    /// Decodes the next block into `self.block`; false at the end of the stream.
    fn next_block(&mut self) -> io::Result<bool> {
        if self.rest.is_empty() {
            return Ok(false);
        }
        let raw = if self.framed {
            if self.rest.len() < 4 {
                return Err(Self::corrupt("snappy block length truncated"));
            }
            let len = u32::from_be_bytes([self.rest[0], self.rest[1], self.rest[2], self.rest[3]])
                as usize;
            if self.rest.len() - 4 < len {
                return Err(Self::corrupt("snappy block truncated"));
            }
            let raw = &self.rest[4..4 + len];
            self.rest = &self.rest[4 + len..];
            raw
        } else {
            std::mem::take(&mut self.rest)
        };
        let declared = snap::raw::decompress_len(raw)
            .map_err(|e| Self::corrupt(format!("snappy header: {e}")))?;
        if declared as u64 > self.left_bytes {
            return Err(io::Error::other(OutputLimitReached {
                limit_bytes: self.limit_bytes,
            }));
        }
        self.block.clear();
        self.block.resize(declared, 0);
        let n = snap::raw::Decoder::new()
            .decompress(raw, &mut self.block)
            .map_err(|e| Self::corrupt(format!("snappy: {e}")))?;
        self.block.truncate(n);
        self.left_bytes -= n as u64;
        self.at = 0;
        Ok(true)
    }
}

impl Read for XerialSnappy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_allows_exactly_the_limit_and_refuses_one_byte_more() {
        let data = [7u8; 100];
        let mut out = Vec::new();
        Bounded::new(&data[..], 100).read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 100);
        let err = Bounded::new(&data[..], 99)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("exceeds 99 bytes"), "{err}");
    }

    #[test]
    fn a_raw_snappy_block_declaring_more_than_the_bound_allocates_nothing() {
        // Varint 0xFFFFFFFF: a raw snappy block claiming 4 GiB of output.
        let raw = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        let mut r = XerialSnappy::new(&raw, 1 << 20);
        let err = r.read(&mut [0u8; 16]).unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
        assert_eq!(r.block.capacity(), 0);
    }
}
