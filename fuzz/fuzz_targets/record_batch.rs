//! Record-batch validation (crates/protocol/src/records, crates/log/src/validate.rs): any
//! bytes as back-to-back magic-2 batches, CRCs fixed up first so that mutations reach the
//! record walk, then walked by the one record-batch reader in both of its modes and validated
//! as the broker validates a produce. Seeds hold valid batches of every codec (none, gzip,
//! snappy, lz4, zstd). Must never panic or allocate beyond the bounds; the two walks must agree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runnel_fuzz_input::batches::fix_crcs;
use runnel_log::validate::{validate_produce, ValidationRules};
use runnel_log::TimestampType;
use runnel_protocol::records::{
    split_batches, BatchHeader, BatchRecords, ReadLimits, RecordError, RecordSummary,
};

/// `max.message.bytes`' default: what the broker scales the decompression bound from.
const MAX_MESSAGE_BYTES: usize = 1_048_588;
const NOW_MS: i64 = 1_700_000_000_000;

/// The summaries a walk yields, then the error that stopped it, if any.
type Walk = (Vec<RecordSummary>, Option<RecordError>);

fn walk_full(batch: &[u8], header: &BatchHeader, limits: ReadLimits) -> Walk {
    let mut out = Vec::new();
    let mut records = match BatchRecords::new(batch, header, limits) {
        Ok(r) => r,
        Err(e) => return (out, Some(e)),
    };
    loop {
        match records.next() {
            Ok(Some(r)) => out.push(RecordSummary {
                offset: r.offset,
                timestamp: r.timestamp,
                key_len: r.key.map(<[u8]>::len),
                value_len: r.value.map(<[u8]>::len),
                header_count: r.header_count(),
            }),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn walk_summaries(batch: &[u8], header: &BatchHeader, limits: ReadLimits) -> Walk {
    let mut out = Vec::new();
    let mut records = match BatchRecords::new(batch, header, limits) {
        Ok(r) => r,
        Err(e) => return (out, Some(e)),
    };
    loop {
        match records.next_summary() {
            Ok(Some(s)) => out.push(s),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut data = data.to_vec();
    fix_crcs(&mut data);
    let limits = ReadLimits::for_batch_limit(MAX_MESSAGE_BYTES);
    if let Ok(batches) = split_batches(&data) {
        for (header, batch) in batches {
            let (full, full_err) = walk_full(batch, &header, limits);
            let (skim, skim_err) = walk_summaries(batch, &header, limits);
            assert_eq!(full, skim, "next and next_summary yield different records");
            assert_eq!(
                full_err.is_some(),
                skim_err.is_some(),
                "next stopped with {full_err:?}, next_summary with {skim_err:?}"
            );
            if full_err.is_none() {
                assert_eq!(
                    full.len() as i64,
                    header.records_count as i64,
                    "a walk that succeeds yields recordsCount records"
                );
            }
        }
    }
    for compacted in [false, true] {
        let rules = ValidationRules {
            topic_partition: "fuzz-0",
            compacted,
            max_message_bytes: MAX_MESSAGE_BYTES,
            timestamp_type: TimestampType::CreateTime,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: i64::MAX,
            now_ms: NOW_MS,
            limits,
        };
        let _ = validate_produce(&data, &rules);
    }
});
