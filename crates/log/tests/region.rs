//! File-region reads (`Log::read_region`, what the broker sends with `sendfile`) against byte
//! reads (`Log::read`): same batches for every shape of log, and still readable after the
//! segment they came from is deleted or compacted away.
mod common;

use common::*;
use proptest::prelude::*;
use runnel_log::{CleanupPolicy, Log, LogConfig};

/// The region's bytes, or empty for no region.
fn region_bytes(log: &Log, offset: i64, max_bytes: usize, upper: i64) -> Vec<u8> {
    log.read_region(offset, max_bytes, upper)
        .expect("read_region")
        .map(|r| r.read_to_vec().expect("read region"))
        .unwrap_or_default()
}

fn assert_region_matches_read(log: &Log, offset: i64, max_bytes: usize, upper: i64) {
    let bytes = log.read(offset, max_bytes, upper).expect("read").bytes;
    let region = region_bytes(log, offset, max_bytes, upper);
    assert_eq!(
        region,
        &bytes[..],
        "offset {offset} max_bytes {max_bytes} upper {upper}"
    );
}

#[test]
fn region_end_uses_index_jumps_and_stops_at_max_bytes_and_the_upper_bound() {
    let dir = tempfile::tempdir().unwrap();
    // An index entry after every batch, so the end is found mostly by the index.
    let config = LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    let one = simple_batch(1, 100, 0);
    for _ in 0..20 {
        log.append(&one, opts(0)).unwrap();
    }
    let size = one.len();
    let len = |offset, max_bytes, upper| {
        log.read_region(offset, max_bytes, upper)
            .unwrap()
            .map_or(0, |r| r.len)
    };
    assert_eq!(len(0, size * 5, i64::MAX), size * 5, "exactly five fit");
    assert_eq!(
        len(0, size * 5 - 1, i64::MAX),
        size * 4,
        "the fifth does not"
    );
    assert_eq!(
        len(0, 1, i64::MAX),
        size,
        "the first batch is whole (KIP-74)"
    );
    assert_eq!(len(3, size * 100, 7), size * 4, "stops before offset 7");
    assert_eq!(len(3, size * 100, i64::MAX), size * 17, "to the end");
    assert_eq!(len(20, size, i64::MAX), 0, "nothing at the log end");
    let region = log.read_region(3, size * 2, i64::MAX).unwrap().unwrap();
    assert_eq!(region.position, 3 * size as u64);
    assert_eq!(batch_bases(&region.read_to_vec().unwrap()), vec![3, 4]);
}

#[test]
fn a_region_reads_the_same_bytes_after_retention_deleted_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(1, 100, 1_000);
    let config = LogConfig {
        segment_bytes: one.len() as u64 * 2,
        retention_ms: 500,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    for _ in 0..6 {
        log.append(&one, opts(0)).unwrap();
    }
    let expected = log.read(0, 1 << 20, i64::MAX).unwrap().bytes;
    let region = log.read_region(0, 1 << 20, i64::MAX).unwrap().unwrap();
    let path = dir.path().join(format!("{:020}.log", 0));
    assert!(path.exists());
    assert!(log.enforce_retention(10_000).unwrap() > 0);
    assert!(!path.exists(), "retention deleted the segment file");
    assert_eq!(region.read_to_vec().unwrap(), &expected[..]);
}

#[test]
fn a_region_reads_the_same_bytes_after_compaction_replaced_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let batch = simple_batch(3, 50, 1_000);
    let config = LogConfig {
        segment_bytes: batch.len() as u64 * 2,
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    for _ in 0..5 {
        log.append(&batch, opts(0)).unwrap();
    }
    let expected = log.read(0, 1 << 20, i64::MAX).unwrap().bytes;
    let region = log.read_region(0, 1 << 20, i64::MAX).unwrap().unwrap();
    assert!(log.compact(2_000).unwrap());
    assert_ne!(
        log.read(0, 1 << 20, i64::MAX).unwrap().bytes,
        expected,
        "compaction rewrote the segment"
    );
    assert_eq!(region.read_to_vec().unwrap(), &expected[..]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn regions_hold_exactly_the_bytes_read_returns(
        batches in proptest::collection::vec((1usize..6, 0usize..400), 1..40),
        segment_bytes in 300u64..6_000,
        index_interval_bytes in 1usize..3_000,
        compact in any::<bool>(),
        reads in proptest::collection::vec((0usize..1000, 1usize..8_000, 0usize..1000), 1..20),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes,
            index_interval_bytes,
            cleanup_policy: CleanupPolicy { delete: true, compact },
            min_cleanable_dirty_ratio: 0.0,
            retention_ms: -1,
            ..LogConfig::default()
        };
        let mut log = open(dir.path(), config);
        for (count, value_bytes) in &batches {
            log.append(&simple_batch(*count, *value_bytes, 1_000), opts(0)).unwrap();
        }
        if compact {
            log.compact(2_000).unwrap();
        }
        let start = log.log_start_offset();
        let span = (log.log_end_offset() - start + 1) as usize;
        for (offset, max_bytes, upper) in reads {
            let offset = start + (offset % span) as i64;
            let upper = start + (upper % (span + 1)) as i64;
            assert_region_matches_read(&log, offset, max_bytes, upper);
            assert_region_matches_read(&log, offset, max_bytes, i64::MAX);
        }
    }
}
