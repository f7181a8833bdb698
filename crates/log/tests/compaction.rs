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
