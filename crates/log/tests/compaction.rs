//! Log compaction: newest value per key, tombstones, the active segment, crash safety.
mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel_log::batch::{compute_crc, split_batches};
use runnel_log::{CleanupPolicy, Log, LogConfig};

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        delete_retention_ms: 1_000,
        ..LogConfig::default()
    }
}

fn put(log: &mut Log, key: &str, value: Option<&str>, ts: i64) -> i64 {
    let b = batch_of(
        &[rec(Some(key.as_bytes()), value.map(str::as_bytes), ts)],
        Compression::None,
    );
    log.append(&b, opts(ts)).unwrap().base_offset
}

/// (offset, key, value) of every record in the log.
fn contents(log: &Log) -> Vec<(i64, String, Option<String>)> {
    read_all(log)
        .into_iter()
        .map(|r| {
            let s = |b: Bytes| String::from_utf8(b.to_vec()).unwrap();
            (r.offset, r.key.map(s).unwrap_or_default(), r.value.map(s))
        })
        .collect()
}

fn seg_path(log: &Log, base: i64, ext: &str) -> std::path::PathBuf {
    log.dir().join(format!("{base:020}.{ext}"))
}

#[test]
fn compaction_keeps_newest_record_per_key_with_original_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    for round in 0..6 {
        for key in ["a", "b", "c"] {
            put(&mut log, key, Some(&format!("{key}{round}")), 10_000);
        }
    }
    put(&mut log, "a", Some("a-final"), 10_000);
    let active_base = *log.segment_base_offsets().last().unwrap();
    let active_before = std::fs::read(seg_path(&log, active_base, "log")).unwrap();
    let size_before = log.size_bytes();
    assert!(log.compact(10_000).unwrap());
    assert!(log.size_bytes() < size_before);
    assert_eq!(
        std::fs::read(seg_path(&log, active_base, "log")).unwrap(),
        active_before,
        "active untouched"
    );
    let got = contents(&log);
    let closed: Vec<_> = got.iter().filter(|(o, _, _)| *o < active_base).collect();
    assert!(
        closed.iter().all(|(_, k, _)| k != "a"),
        "a is superseded by the active segment: {closed:?}"
    );
    let mut keys: Vec<&String> = got.iter().map(|(_, k, _)| k).collect();
    keys.dedup();
    assert_eq!(
        got.last().unwrap(),
        &(18, "a".to_string(), Some("a-final".to_string()))
    );
    assert!(
        got.windows(2).all(|w| w[0].0 < w[1].0),
        "offsets increase: {got:?}"
    );
    assert!(got
        .iter()
        .any(|(o, k, v)| *o == 16 && k == "b" && v.as_deref() == Some("b5")));
    assert!(!log.compact(10_000).unwrap(), "nothing dirty any more");
    let reopened = open(dir.path(), compact_config());
    assert_eq!(contents(&reopened), got);
}

#[test]
fn tombstones_are_kept_until_delete_retention_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    put(&mut log, "gone", Some("v"), 5_000);
    let tombstone = put(&mut log, "gone", None, 5_000);
    for i in 0..8 {
        put(&mut log, "other", Some(&format!("{i}")), 5_000);
    }
    assert!(log.segment_base_offsets().len() > 2);
    assert!(log.compact(5_500).unwrap());
    let got = contents(&log);
    assert!(
        got.contains(&(tombstone, "gone".to_string(), None)),
        "recent tombstone kept: {got:?}"
    );
    assert!(!got.iter().any(|(_, _, v)| v.as_deref() == Some("v")));
    for i in 0..5 {
        put(&mut log, "other", Some(&format!("later{i}")), 7_000);
    }
    assert!(log.compact(7_000).unwrap());
    assert!(
        !contents(&log).iter().any(|(_, k, _)| k == "gone"),
        "old tombstone dropped"
    );
}

#[test]
fn compaction_preserves_producer_fields_compression_and_crc() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            segment_bytes: 100,
            ..compact_config()
        },
    );
    let recs: Vec<Record> = (0..4)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: 42,
            producer_epoch: 3,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: 10 + i as i32,
            timestamp: 100 + i,
            key: Some(Bytes::from(["x", "y", "x", "w"][i as usize])),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        recs.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::Gzip,
        },
    )
    .unwrap();
    log.append(&buf, opts(0)).unwrap();
    put(&mut log, "x", Some("newest"), 200);
    put(&mut log, "z", Some("z"), 200);
    assert!(log.compact(0).unwrap());
    let bytes = log.read(0, 1 << 20, i64::MAX).unwrap().bytes;
    let (h, b) = split_batches(&bytes).unwrap()[0];
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.compression_codec()),
        (42, 3, 1)
    );
    assert_eq!(compute_crc(b), h.crc);
    assert_eq!((h.base_offset, h.last_offset(), h.records_count), (1, 3, 2));
    assert_eq!(h.base_sequence, 11);
    assert_eq!(h.last_sequence(), 13);
    let offsets: Vec<i64> = decode_all(b).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, vec![1, 3]);
    assert_eq!(h.partition_leader_epoch, 7);
}

#[test]
fn crash_with_leftover_cleaned_file_before_swap_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    for i in 0..10 {
        put(&mut log, "k", Some(&format!("{i}")), 0);
    }
    let before = contents(&log);
    let first = seg_path(&log, 0, "log");
    drop(log);
    // The crash came after the cleaned file was written and the indexes removed, before rename.
    std::fs::write(
        format!("{}.cleaned", first.display()),
        b"partial cleaned data",
    )
    .unwrap();
    std::fs::remove_file(dir.path().join(format!("{:020}.index", 0))).unwrap();
    std::fs::remove_file(dir.path().join(format!("{:020}.timeindex", 0))).unwrap();
    let mut log = open(dir.path(), compact_config());
    assert_eq!(contents(&log), before);
    assert!(!std::path::Path::new(&format!("{}.cleaned", first.display())).exists());
    assert!(log.compact(0).unwrap());
    let after = contents(&log);
    // The crash came after the rename, before the indexes were rebuilt.
    drop(log);
    std::fs::remove_file(dir.path().join(format!("{:020}.index", 0))).unwrap();
    let log = open(dir.path(), compact_config());
    assert_eq!(contents(&log), after);
    assert_eq!(after.last(), before.last());
}

#[test]
fn compaction_is_skipped_below_the_dirty_ratio_or_without_compact_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            min_cleanable_dirty_ratio: 0.9,
            ..compact_config()
        },
    );
    for i in 0..10 {
        put(&mut log, "k", Some(&format!("{i}")), 0);
    }
    assert!(log.compact(0).unwrap());
    put(&mut log, "k", Some("more"), 0);
    put(&mut log, "k", Some("more"), 0);
    assert!(
        !log.compact(0).unwrap(),
        "little new dirty data relative to the clean part"
    );
    let dir2 = tempfile::tempdir().unwrap();
    let mut plain = open(
        dir2.path(),
        LogConfig {
            segment_bytes: 100,
            ..LogConfig::default()
        },
    );
    for i in 0..5 {
        put(&mut plain, "k", Some(&format!("{i}")), 0);
    }
    assert!(!plain.compact(0).unwrap());
}

/// (segment base, key) pairs, to see which segment holds what.
fn keys_by_segment(log: &Log) -> Vec<(i64, String)> {
    let bases = log.segment_base_offsets();
    contents(log)
        .into_iter()
        .map(|(o, k, _)| (*bases.iter().rev().find(|b| **b <= o).unwrap(), k))
        .collect()
}

#[test]
fn a_full_key_map_cleans_only_the_segments_it_covers_and_the_next_pass_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1,
        min_cleanable_dirty_ratio: 0.0,
        ..compact_config()
    };
    let mut log = open(dir.path(), config);
    // One batch per segment: a0..a3 twice, then b0..b5 twice.
    for round in 0..2 {
        for k in ["a0", "a1", "a2", "a3"] {
            put(&mut log, k, Some(&format!("{k}-{round}")), 0);
        }
    }
    for round in 0..2 {
        for k in ["b0", "b1", "b2", "b3", "b4", "b5"] {
            put(&mut log, k, Some(&format!("{k}-{round}")), 0);
        }
    }
    put(&mut log, "active", Some("x"), 0);
    let untouched = std::fs::read(seg_path(&log, 12, "log")).unwrap();
    // Room for 4 keys: a0..a3 (offsets 0..7) fit, b0 at offset 8 does not.
    let budget = runnel_log::CleanerBudget {
        dedupe_buffer_bytes: 24 * 5,
        load_factor: 0.9,
    };
    assert_eq!(budget.max_entries(), 4);
    let job = log.plan_compaction(0).unwrap().expect("dirty");
    let out = job.run(budget).unwrap();
    assert_eq!(out.map_entries, 4, "the map stopped at its budget");
    assert!(log.finish_compaction(out).unwrap());
    let got = contents(&log);
    assert!(
        !got.iter().any(|(_, _, v)| v
            .as_deref()
            .is_some_and(|v| v.ends_with("-0") && v.starts_with('a'))),
        "the first round of a* was superseded inside the mapped range: {got:?}"
    );
    assert_eq!(
        got.iter().filter(|(_, k, _)| k.starts_with('b')).count(),
        12,
        "nothing past the mapped range was cleaned"
    );
    assert_eq!(
        std::fs::read(seg_path(&log, 12, "log")).unwrap(),
        untouched,
        "a segment past the mapped range is not rewritten"
    );
    // Later passes map from where this one stopped and finish the job.
    for _ in 0..4 {
        log.compact_with(0, budget).unwrap();
    }
    let keys: Vec<String> = keys_by_segment(&log).into_iter().map(|(_, k)| k).collect();
    assert_eq!(
        keys,
        ["a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3", "b4", "b5", "active"],
        "every key once, newest value"
    );
}

#[test]
fn compaction_runs_apart_from_the_log_and_skips_segments_that_changed_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1,
        min_cleanable_dirty_ratio: 0.0,
        cleanup_policy: runnel_log::CleanupPolicy {
            delete: true,
            compact: true,
        },
        ..compact_config()
    };
    let mut log = open(dir.path(), config.clone());
    for i in 0..6 {
        put(&mut log, "k", Some(&format!("{i}")), 0);
    }
    let job = log.plan_compaction(0).unwrap().expect("dirty");
    // The log moves on while the job has no hold on it.
    put(&mut log, "other", Some("new"), 0);
    log.delete_records_before(2).unwrap();
    let out = job.run(runnel_log::CleanerBudget::default()).unwrap();
    assert!(log.finish_compaction(out).unwrap());
    let got = contents(&log);
    assert_eq!(
        got.iter()
            .map(|(o, _, v)| (*o, v.clone()))
            .collect::<Vec<_>>(),
        vec![(5, Some("5".to_string())), (6, Some("new".to_string()))],
        "deleted segments stay deleted, superseded ones are cleaned"
    );
    let reopened = open(dir.path(), config);
    assert_eq!(contents(&reopened), got);
    assert!(!dir.path().join("cleaning").exists());
}

#[test]
fn a_compaction_planned_before_a_truncation_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1,
        min_cleanable_dirty_ratio: 0.0,
        ..compact_config()
    };
    let mut log = open(dir.path(), config);
    for i in 0..6 {
        put(&mut log, "k", Some(&format!("{i}")), 0);
    }
    let job = log.plan_compaction(0).unwrap().expect("dirty");
    let out = job.run(runnel_log::CleanerBudget::default()).unwrap();
    log.truncate_to(3).unwrap();
    put(&mut log, "k", Some("after"), 0);
    assert!(!log.finish_compaction(out).unwrap());
    let values: Vec<Option<String>> = contents(&log).into_iter().map(|(_, _, v)| v).collect();
    assert_eq!(
        values,
        ["0", "1", "2", "after"].map(|v| Some(v.to_string())),
        "the discarded pass dropped nothing the truncated log still needs"
    );
}

#[test]
fn an_interrupted_compaction_leaves_its_temporary_directory_which_open_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), compact_config());
    for i in 0..10 {
        put(&mut log, "k", Some(&format!("{i}")), 0);
    }
    let before = contents(&log);
    let job = log.plan_compaction(0).unwrap().expect("dirty");
    let out = job.run(runnel_log::CleanerBudget::default()).unwrap();
    assert!(dir.path().join("cleaning").is_dir());
    // A crash before the swap: the output is never finished.
    drop(out);
    drop(log);
    let log = open(dir.path(), compact_config());
    assert_eq!(contents(&log), before);
    assert!(!dir.path().join("cleaning").exists());
}

/// A header-only batch claiming 2^31-1 records, with a correct CRC: what a broker stored before
/// produce validation walked records.
fn header_only_poison() -> Vec<u8> {
    use runnel_log::batch::*;
    let mut b = vec![0u8; HEADER_SIZE_BYTES];
    let len = (HEADER_SIZE_BYTES - LOG_OVERHEAD_BYTES) as i32;
    b[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&len.to_be_bytes());
    b[MAGIC_AT] = 2;
    b[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
        .copy_from_slice(&(i32::MAX - 1).to_be_bytes());
    b[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&(-1i64).to_be_bytes());
    b[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&(-1i32).to_be_bytes());
    b[RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    let crc = compute_crc(&b);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn a_stored_batch_whose_records_cannot_be_read_is_kept_whole_and_does_not_stop_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1,
        min_cleanable_dirty_ratio: 0.0,
        ..compact_config()
    };
    let mut log = open(dir.path(), config);
    put(&mut log, "k", Some("old"), 0);
    let poison = header_only_poison();
    let at = log.append(&poison, opts(0)).unwrap().base_offset;
    let newest = put(&mut log, "k", Some("new"), 0);
    put(&mut log, "active", Some("x"), 0);
    assert!(log.compact(0).unwrap(), "the pass ran");
    let bytes = log.read(0, 1 << 20, i64::MAX).unwrap().bytes;
    let batches = split_batches(&bytes).unwrap();
    assert_eq!(batches[0].0.base_offset, at, "the superseded record went");
    // Past the base offset, length and leader epoch the log stamps, every byte is the same.
    assert_eq!(
        &batches[0].1[16..],
        &poison[16..],
        "the unreadable batch is kept byte for byte"
    );
    let next = log.read(newest, 1 << 20, i64::MAX).unwrap().bytes;
    assert_eq!(batch_bases(&next), vec![newest], "the newest value stays");
}
