//! What a batch from a producer must satisfy before it is appended: Kafka's `LogValidator`
//! rules, checked by walking every record with the workspace's one record-batch reader.
//!
//! Order and answers follow Kafka 4.x (checked against a real broker with
//! tests/interop/probe_hostile.py): the batch size against `max.message.bytes`
//! (MESSAGE_TOO_LARGE), then the CRC (CORRUPT_MESSAGE), then more than one batch, the header's
//! offset range and count (INVALID_RECORD), then every record. A record that does not parse, or
//! a record count that does not match the records present, stops the walk with INVALID_RECORD;
//! record-level rule breaks (a missing key on a compacted topic, a timestamp out of range) are
//! collected for every record, as KIP-467's `record_errors`, so that clients can fail only the
//! records at fault.
//!
//! One bound Kafka does not have: a compressed batch may decompress to at most
//! [`ReadLimits::max_uncompressed_bytes`] (MESSAGE_TOO_LARGE beyond it), so a small batch cannot
//! make the broker inflate gigabytes.
//!
//! Validation reads the batch but never changes it, and runs before the partition lock is
//! taken: decompressing a batch costs time that must not hold up other producers.

use crate::batch::{self, BatchError, BatchHeader};
use crate::config::TimestampType;
use runnel_protocol::records::{BatchRecords, ReadLimits, RecordError};
use thiserror::Error;

/// The rules of one partition's log at the moment of an append.
#[derive(Debug, Clone, Copy)]
pub struct ValidationRules<'a> {
    /// `topic-partition`, as Kafka names it in messages.
    pub topic_partition: &'a str,
    pub compacted: bool,
    pub max_message_bytes: usize,
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`.
    pub timestamp_after_max_ms: i64,
    pub now_ms: i64,
    pub limits: ReadLimits,
}

/// One refused record (KIP-467): its index in the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFault {
    pub batch_index: i32,
    pub message: String,
}

/// Why a produced batch was refused. The broker maps each variant to one Kafka error code.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValidationError {
    /// MESSAGE_TOO_LARGE: the batch, or what it decompresses to, is over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// CORRUPT_MESSAGE: bad CRC, or bytes that are not a well-formed batch.
    #[error("{0}")]
    Corrupt(String),
    /// INVALID_RECORD: the batch breaks a rule, optionally with the records at fault.
    #[error("{message}")]
    InvalidRecord {
        message: String,
        record_errors: Vec<RecordFault>,
    },
    /// INVALID_TIMESTAMP: at least one record's timestamp is out of range.
    #[error("{message}")]
    InvalidTimestamp {
        message: String,
        record_errors: Vec<RecordFault>,
    },
}

impl ValidationError {
    fn invalid(message: String) -> ValidationError {
        ValidationError::InvalidRecord {
            message,
            record_errors: Vec::new(),
        }
    }

    /// Whether Kafka puts this error's message in the Produce response's `error_message`: only
    /// for record-level failures (its `RecordValidationException`); other refusals carry none.
    pub fn has_client_message(&self) -> bool {
        matches!(self, ValidationError::InvalidTimestamp { .. })
            || matches!(self, ValidationError::InvalidRecord { record_errors, .. } if !record_errors.is_empty())
    }

    pub fn record_errors(&self) -> &[RecordFault] {
        match self {
            ValidationError::InvalidRecord { record_errors, .. }
            | ValidationError::InvalidTimestamp { record_errors, .. } => record_errors,
            _ => &[],
        }
    }
}

/// Checks the one batch a produce request carries for a partition (Produce v3+ carries exactly
/// one) and returns its header.
pub fn validate_produce(
    records: &[u8],
    rules: &ValidationRules<'_>,
) -> Result<BatchHeader, ValidationError> {
    let tp = rules.topic_partition;
    let batches = batch::split_batches(records).map_err(|e| corrupt(e, tp))?;
    let Some(&(header, bytes)) = batches.first() else {
        return Err(ValidationError::invalid(format!(
            "Record batch has no batches at all in topic partition {tp}"
        )));
    };
    for (_, bytes) in &batches {
        if bytes.len() > rules.max_message_bytes {
            return Err(ValidationError::TooLarge(format!(
                "The record batch size in the append to {tp} is {} bytes which exceeds the maximum configured value of {}.",
                bytes.len(),
                rules.max_message_bytes
            )));
        }
    }
    for (h, bytes) in &batches {
        batch::validate_crc(bytes, h).map_err(|e| corrupt(e, tp))?;
    }
    if batches.len() > 1 {
        return Err(ValidationError::invalid(format!(
            "Compressed outer record has more than one batch in topic partition {tp}"
        )));
    }
    check_header(&header, tp)?;
    check_records(bytes, &header, rules)?;
    Ok(header)
}

fn corrupt(e: BatchError, tp: &str) -> ValidationError {
    ValidationError::Corrupt(format!("{e} in topic partition {tp}"))
}

/// Kafka's `validateBatch` for client appends.
fn check_header(h: &BatchHeader, tp: &str) -> Result<(), ValidationError> {
    let count_from_offsets = h.last_offset_delta as i64 + 1;
    if count_from_offsets <= 0 {
        return Err(ValidationError::invalid(format!(
            "Batch has an invalid offset range: [{}, {}] in topic partition {tp}",
            h.base_offset,
            h.last_offset()
        )));
    }
    if h.records_count <= 0 {
        return Err(ValidationError::invalid(format!(
            "Invalid reported count for record batch: {} in topic partition {tp}",
            h.records_count
        )));
    }
    if count_from_offsets != h.records_count as i64 {
        return Err(ValidationError::invalid(format!(
            "Inconsistent batch offset range [{}, {}] and count of records {} in topic partition {tp}",
            h.base_offset,
            h.last_offset(),
            h.records_count
        )));
    }
    if h.is_control() {
        return Err(ValidationError::invalid(format!(
            "Clients are not allowed to write control records in topic partition {tp}"
        )));
    }
    if h.has_producer_id() && h.base_sequence < 0 {
        return Err(ValidationError::invalid(format!(
            "Invalid sequence number {} in record batch with producerId {} in topic partition {tp}",
            h.base_sequence, h.producer_id
        )));
    }
    Ok(())
}

/// Walks every record: structure first (stops the walk), then keys and timestamps (collected).
fn check_records(
    bytes: &[u8],
    header: &BatchHeader,
    rules: &ValidationRules<'_>,
) -> Result<(), ValidationError> {
    let tp = rules.topic_partition;
    let walk_error = |e: RecordError| match e {
        RecordError::UncompressedTooLarge { limit_bytes } => ValidationError::TooLarge(format!(
            "The record batch in the append to {tp} decompresses to more than {limit_bytes} bytes"
        )),
        // Kafka's record iterator throws InvalidRecordException for these: INVALID_RECORD.
        other => ValidationError::invalid(format!("{other} in topic partition {tp}")),
    };
    let mut records = BatchRecords::new(bytes, header, rules.limits).map_err(walk_error)?;
    let mut faults = Vec::new();
    let mut timestamp_fault = false;
    let mut index = 0i32;
    while let Some(r) = records.next_summary().map_err(walk_error)? {
        if rules.compacted && r.key_len.is_none() {
            faults.push(RecordFault {
                batch_index: index,
                message: format!(
                    "Compacted topic cannot accept message without key in topic partition {tp}"
                ),
            });
        } else if let Some(message) = timestamp_problem(header, r.timestamp, r.offset, rules) {
            timestamp_fault = true;
            faults.push(RecordFault {
                batch_index: index,
                message,
            });
        }
        index += 1;
    }
    if faults.is_empty() {
        return Ok(());
    }
    if timestamp_fault {
        return Err(ValidationError::InvalidTimestamp {
            message: "One or more records have been rejected due to invalid timestamp".into(),
            record_errors: faults,
        });
    }
    let shown: Vec<String> = faults
        .iter()
        .take(3)
        .map(|f| {
            format!(
                "RecordError(batchIndex={}, message='{}')",
                f.batch_index, f.message
            )
        })
        .collect();
    Err(ValidationError::InvalidRecord {
        message: format!(
            "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
            faults.len(),
            shown.join(", ")
        ),
        record_errors: faults,
    })
}

/// Kafka's `validateTimestamp`: CreateTime timestamps must lie within the configured window;
/// producers may not claim LogAppendTime themselves.
fn timestamp_problem(
    header: &BatchHeader,
    timestamp: i64,
    offset: i64,
    rules: &ValidationRules<'_>,
) -> Option<String> {
    const NO_TIMESTAMP: i64 = -1;
    if rules.timestamp_type == TimestampType::CreateTime && timestamp != NO_TIMESTAMP {
        let diff = rules.now_ms.saturating_sub(timestamp);
        if diff > rules.timestamp_before_max_ms
            || diff.saturating_neg() > rules.timestamp_after_max_ms
        {
            return Some(format!(
                "Timestamp {timestamp} of message with offset {offset} is out of range. The timestamp should be within [{}, {}]",
                rules.now_ms.saturating_sub(rules.timestamp_before_max_ms),
                rules.now_ms.saturating_add(rules.timestamp_after_max_ms)
            ));
        }
    } else if header.is_log_append_time() {
        return Some(
            "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime."
                .into(),
        );
    }
    None
}
