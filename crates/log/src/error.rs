//! Errors the log reports. Callers branch on these (the broker maps them onto Kafka codes).

use crate::batch::BatchError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LogError {
    /// A batch in an append was malformed, failed its CRC, or was too large; nothing was written.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A read or seek asked for an offset outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// Disk trouble; the partition should be considered offline.
    #[error("log I/O error: {0}")]
    Io(#[from] std::io::Error),
}
