//! The workspace's one record-batch reader (magic v2).
//!
//! Everything that looks inside record batches goes through here: the broker's produce
//! validation, the log's timestamp lookups and compaction, the group coordinator's replay of
//! `__consumer_offsets`, and the native client's fetch decoding. Batches from the wire and from
//! disk are untrusted alike, so:
//!
//! - [`header`] parses and stamps the fixed 61-byte header in place.
//! - [`BatchRecords`] walks one batch's records as a stream, never allocating from a length or
//!   count before the bytes are there, and checks the records against `recordsCount`.
//! - [`decompress`] inflates gzip, snappy (xerial framing or raw), lz4 and zstd incrementally,
//!   failing once the output passes [`ReadLimits::max_uncompressed_bytes`].

pub mod decompress;
pub mod header;
mod reader;
mod record;

pub use header::{split_batches, BatchError, BatchHeader, HEADER_SIZE_BYTES};
pub use reader::{
    BatchRecords, ReadLimits, RecordSummary, MIN_UNCOMPRESSED_BYTES,
    UNCOMPRESSED_BYTES_PER_BATCH_BYTE,
};
pub use record::{Header, Headers, Record};

use thiserror::Error;

/// Why the records of a batch could not be walked. Messages follow Kafka's where Kafka has one,
/// since clients show them to users.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordError {
    #[error("Invalid reported count for record batch: {count}")]
    InvalidCount { count: i32 },
    #[error("Incorrect declared batch size, premature EOF reached (record {index})")]
    PrematureEof { index: usize },
    #[error("Incorrect declared batch size, records still remaining in file")]
    RecordsRemaining,
    #[error("record {index}: {reason}")]
    Malformed { index: usize, reason: String },
    #[error("{codec} decompression failed: {message}")]
    Decompression {
        codec: &'static str,
        message: String,
    },
    #[error("record batch decompresses to more than {limit_bytes} bytes")]
    UncompressedTooLarge { limit_bytes: u64 },
}

impl RecordError {
    fn structure(index: usize) -> RecordError {
        RecordError::Malformed {
            index,
            reason: "Found invalid record structure".to_string(),
        }
    }
}

/// Walks every record of a whole batch, calling `f` for each; stops at the first error.
pub fn for_each_record(
    batch: &[u8],
    header: &BatchHeader,
    limits: ReadLimits,
    mut f: impl FnMut(&Record<'_>),
) -> Result<(), RecordError> {
    let mut records = BatchRecords::new(batch, header, limits)?;
    while let Some(r) = records.next()? {
        f(&r);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
