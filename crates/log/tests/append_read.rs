//! Append and read paths: stamping, validation, rolling, fetch semantics.
mod common;

use common::*;
use kafka_protocol::records::Compression;
use runnel_log::batch::{BatchError, BatchHeader, CRC_AT};
use runnel_log::validate::{validate_produce, RecordFault, ValidationError, ValidationRules};
use runnel_log::{LogConfig, LogError, TimestampType};
use runnel_protocol::records::ReadLimits;

#[test]
fn append_then_read_round_trips_and_stamps_offsets_and_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let first = log
        .append(&simple_batch(3, 10, 1_000), opts(5_000))
        .unwrap();
    assert_eq!(
        (first.base_offset, first.last_offset, first.record_count),
        (0, 2, 3)
    );
    assert_eq!((first.max_timestamp, first.log_append_time_ms), (1_000, -1));
    let two = [simple_batch(2, 10, 2_000), simple_batch(1, 10, 3_000)].concat();
    let second = log.append(&two, opts(5_000)).unwrap();
    assert_eq!(
        (second.base_offset, second.last_offset, second.max_timestamp),
        (3, 5, 3_000)
    );
    assert_eq!(log.log_end_offset(), 6);
    let bytes = log.read(0, 1 << 20, i64::MAX).unwrap().bytes;
    assert_eq!(batch_bases(&bytes), vec![0, 3, 5]);
    let header = BatchHeader::parse(&bytes).unwrap();
    assert_eq!(header.partition_leader_epoch, 7);
    let offsets: Vec<i64> = decode_all(&bytes).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..6).collect::<Vec<_>>());
    assert_eq!(log.size_bytes(), bytes.len() as u64);
}

#[test]
fn log_append_time_stamps_the_broker_clock() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    let info = log.append(&simple_batch(2, 4, 10), opts(9_999)).unwrap();
    assert_eq!(
        (info.max_timestamp, info.log_append_time_ms),
        (9_999, 9_999)
    );
    let bytes = log.read(0, 1 << 20, i64::MAX).unwrap().bytes;
    let header = BatchHeader::parse(&bytes).unwrap();
    assert!(header.is_log_append_time());
    assert_eq!(header.max_timestamp, 9_999);
    runnel_log::batch::validate(&bytes, &header).unwrap();
    assert_eq!(log.offset_for_timestamp(9_000).unwrap(), Some((0, 9_999)));
}

#[test]
fn crc_mismatch_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mut bad = simple_batch(1, 10, 1);
    bad[CRC_AT] ^= 0xff;
    let both = [simple_batch(1, 10, 1), bad].concat();
    let err = log.append(&both, opts(0)).unwrap_err();
    assert!(
        matches!(err, LogError::Batch(BatchError::CrcMismatch { .. })),
        "{err:?}"
    );
    assert_eq!((log.log_end_offset(), log.size_bytes()), (0, 0));
}

#[test]
fn too_large_batch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            max_message_bytes: 200,
            ..LogConfig::default()
        },
    );
    let err = log.append(&simple_batch(1, 500, 1), opts(0)).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::Batch(BatchError::TooLarge { max_bytes: 200, .. })
        ),
        "{err:?}"
    );
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn produce_validation_names_the_keyless_records_of_a_compacted_topic() {
    let keyless = batch_of(
        &[rec(Some(b"k"), Some(b"v"), 1), rec(None, Some(b"v"), 1)],
        Compression::None,
    );
    let rules = |compacted| ValidationRules {
        topic_partition: "t-0",
        compacted,
        max_message_bytes: 1 << 20,
        timestamp_type: TimestampType::CreateTime,
        timestamp_before_max_ms: i64::MAX,
        timestamp_after_max_ms: i64::MAX,
        now_ms: 1,
        limits: ReadLimits::for_batch_limit(1 << 20),
    };
    let err = validate_produce(&keyless, &rules(true)).unwrap_err();
    assert!(
        matches!(&err, ValidationError::InvalidRecord { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.record_errors(),
        &[RecordFault {
            batch_index: 1,
            message: "Compacted topic cannot accept message without key in topic partition t-0"
                .into()
        }]
    );
    assert!(validate_produce(&keyless, &rules(false)).is_ok());
}

#[test]
fn segment_rolls_by_size_and_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(1, 100, 1);
    let config = LogConfig {
        segment_bytes: (one.len() * 2) as u64,
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    for _ in 0..5 {
        log.append(&one, opts(0)).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
    assert!(!log.roll_if_due(500).unwrap());
    assert!(log.roll_if_due(2_000).unwrap());
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4, 5]);
    assert!(
        !log.roll_if_due(100_000).unwrap(),
        "an empty segment is never rolled"
    );
    log.append(&one, opts(10_000)).unwrap();
    log.append(&one, opts(11_001)).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4, 5, 6]);
    assert_eq!(read_all(&log).len(), 7);
}

#[test]
fn read_at_log_end_is_empty_and_outside_the_log_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    log.append(&simple_batch(2, 1, 1), opts(0)).unwrap();
    assert!(log.read(2, 1000, i64::MAX).unwrap().bytes.is_empty());
    assert!(matches!(
        log.read(3, 1000, i64::MAX),
        Err(LogError::OffsetOutOfRange { offset: 3, .. })
    ));
    log.delete_records_before(1).unwrap();
    assert!(matches!(
        log.read(0, 1000, i64::MAX),
        Err(LogError::OffsetOutOfRange { offset: 0, .. })
    ));
}

#[test]
fn read_from_middle_of_batch_returns_the_containing_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    for _ in 0..10 {
        log.append(&simple_batch(5, 10, 1), opts(0)).unwrap();
    }
    let bytes = log.read(23, 1, i64::MAX).unwrap().bytes;
    assert_eq!(batch_bases(&bytes), vec![20]);
}

#[test]
fn read_respects_high_watermark_and_max_bytes_but_returns_at_least_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let one = simple_batch(2, 50, 1);
    for _ in 0..5 {
        log.append(&one, opts(0)).unwrap();
    }
    assert_eq!(
        batch_bases(&log.read(0, 1 << 20, 6).unwrap().bytes),
        vec![0, 2, 4]
    );
    assert!(log.read(6, 1 << 20, 6).unwrap().bytes.is_empty());
    assert_eq!(
        batch_bases(&log.read(0, one.len() * 2 + 1, i64::MAX).unwrap().bytes),
        vec![0, 2]
    );
    assert_eq!(
        batch_bases(&log.read(2, 1, i64::MAX).unwrap().bytes),
        vec![2]
    );
}

#[test]
fn read_moves_to_next_segment_at_the_end_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(1, 100, 1);
    let mut log = open(
        dir.path(),
        LogConfig {
            segment_bytes: one.len() as u64,
            ..LogConfig::default()
        },
    );
    for _ in 0..3 {
        log.append(&one, opts(0)).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 1, 2]);
    assert_eq!(
        batch_bases(&log.read(1, 1 << 20, i64::MAX).unwrap().bytes),
        vec![1],
        "one segment per read"
    );
    assert_eq!(read_all(&log).len(), 3);
}

#[test]
fn offset_for_timestamp_finds_first_record_at_or_after_including_compressed_batches() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 1,
        segment_bytes: 400,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    for i in 0..20i64 {
        let recs = [
            rec(Some(b"a"), Some(b"x"), i * 100),
            rec(Some(b"b"), Some(b"y"), i * 100 + 50),
        ];
        log.append(&batch_of(&recs, Compression::Gzip), opts(0))
            .unwrap();
    }
    assert!(log.segment_base_offsets().len() > 2);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 0)));
    assert_eq!(log.offset_for_timestamp(1_020).unwrap(), Some((21, 1_050)));
    assert_eq!(log.offset_for_timestamp(1_050).unwrap(), Some((21, 1_050)));
    assert_eq!(log.offset_for_timestamp(1_051).unwrap(), Some((22, 1_100)));
    assert_eq!(log.offset_for_timestamp(1_951).unwrap(), None);
}

#[test]
fn max_timestamp_reports_earliest_record_with_largest_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            segment_bytes: 200,
            ..LogConfig::default()
        },
    );
    assert_eq!(log.max_timestamp().unwrap(), None);
    log.append(
        &batch_of(
            &[rec(Some(b"a"), None, 5), rec(Some(b"a"), None, 90)],
            Compression::Lz4,
        ),
        opts(0),
    )
    .unwrap();
    log.append(
        &batch_of(
            &[
                rec(Some(b"a"), None, 7),
                rec(Some(b"a"), None, 900),
                rec(Some(b"a"), None, 3),
            ],
            Compression::Snappy,
        ),
        opts(0),
    )
    .unwrap();
    log.append(
        &batch_of(&[rec(Some(b"a"), None, 900)], Compression::None),
        opts(0),
    )
    .unwrap();
    assert_eq!(log.max_timestamp().unwrap(), Some((3, 900)));
}

#[test]
fn delete_records_before_moves_log_start_and_deletes_segments_below() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(2, 100, 1);
    let config = LogConfig {
        segment_bytes: one.len() as u64,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone());
    for _ in 0..4 {
        log.append(&one, opts(0)).unwrap();
    }
    assert!(matches!(
        log.delete_records_before(9),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.delete_records_before(3).unwrap(), 3);
    assert_eq!(log.segment_base_offsets(), vec![2, 4, 6]);
    assert_eq!(read_all(&log).first().map(|r| r.offset), Some(3));
    assert!(matches!(
        log.delete_records_before(2),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    drop(log);
    let mut log = open(dir.path(), config);
    assert_eq!(log.log_start_offset(), 3);
    assert_eq!(log.delete_records_before(8).unwrap(), 8);
    assert_eq!(log.segment_base_offsets(), vec![8]);
    assert_eq!((log.log_end_offset(), log.size_bytes()), (8, 0));
    assert_eq!(log.append(&one, opts(0)).unwrap().base_offset, 8);
}

#[test]
fn truncate_to_drops_records_at_and_after_offset_and_fixes_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(2, 100, 1);
    let config = LogConfig {
        segment_bytes: (one.len() * 3) as u64,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone());
    for _ in 0..6 {
        log.append(&one, opts(0)).unwrap();
    }
    log.truncate_to(7).unwrap();
    assert_eq!(
        log.log_end_offset(),
        6,
        "offset 7 is inside batch 6..7, which goes whole"
    );
    assert_eq!(log.segment_base_offsets(), vec![0, 6]);
    log.truncate_to(4).unwrap();
    assert_eq!(
        (log.log_end_offset(), log.segment_base_offsets()),
        (4, vec![0])
    );
    assert_eq!(log.append(&one, opts(0)).unwrap().base_offset, 4);
    assert_eq!(
        batch_bases(&log.read(4, 1, i64::MAX).unwrap().bytes),
        vec![4]
    );
    drop(log);
    let log = open(dir.path(), config);
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(
        read_all(&log).iter().map(|r| r.offset).collect::<Vec<_>>(),
        (0..6).collect::<Vec<_>>()
    );
}

#[test]
fn scan_batch_headers_visits_batches_from_an_offset_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(3, 10, 1);
    let mut log = open(
        dir.path(),
        LogConfig {
            segment_bytes: 200,
            ..LogConfig::default()
        },
    );
    for _ in 0..5 {
        log.append(&one, opts(0)).unwrap();
    }
    let mut seen = Vec::new();
    log.scan_batch_headers(4, &mut |h| seen.push(h.base_offset))
        .unwrap();
    assert_eq!(seen, vec![3, 6, 9, 12]);
}

#[test]
fn flush_messages_fsyncs_after_that_many_records_and_moves_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            flush_messages: 5,
            ..LogConfig::default()
        },
    );
    assert_eq!((log.recovery_point(), log.flush_count()), (0, 0));
    log.append(&simple_batch(2, 1, 1), opts(0)).unwrap();
    log.append(&simple_batch(2, 1, 1), opts(0)).unwrap();
    assert_eq!(
        (log.recovery_point(), log.flush_count()),
        (0, 0),
        "4 of 5 records: no fsync yet"
    );
    log.append(&simple_batch(1, 1, 1), opts(0)).unwrap();
    assert_eq!(
        (log.recovery_point(), log.flush_count()),
        (5, 1),
        "the fifth record fsynced all five"
    );
    log.append(&simple_batch(4, 1, 1), opts(0)).unwrap();
    assert_eq!((log.recovery_point(), log.flush_count()), (5, 1));
    log.append(&simple_batch(1, 1, 1), opts(0)).unwrap();
    assert_eq!((log.recovery_point(), log.flush_count()), (10, 2));
}

#[test]
fn flush_ms_fsyncs_once_the_oldest_unflushed_append_is_that_old() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            flush_ms: 100,
            ..LogConfig::default()
        },
    );
    assert!(!log.maybe_flush(1_000).unwrap(), "nothing written");
    log.append(&simple_batch(3, 1, 1), opts(1_000)).unwrap();
    assert!(!log.maybe_flush(1_050).unwrap());
    assert_eq!((log.recovery_point(), log.flush_count()), (0, 0));
    assert!(log.maybe_flush(1_100).unwrap());
    assert_eq!(
        (log.recovery_point(), log.flush_count()),
        (3, 1),
        "the flush fsynced up to the log end"
    );
    assert!(!log.maybe_flush(5_000).unwrap(), "nothing new to flush");
    assert_eq!(log.flush_count(), 1);
}

#[test]
fn a_flush_job_runs_apart_from_the_log_and_appends_meanwhile_stay_unflushed() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            flush_ms: 100,
            ..LogConfig::default()
        },
    );
    log.append(&simple_batch(2, 1, 1), opts(0)).unwrap();
    let job = log.begin_flush_if_due(100).expect("flush due");
    log.append(&simple_batch(3, 1, 1), opts(150)).unwrap();
    let outcome = job.run();
    assert!(outcome.is_ok());
    log.finish_flush(job, &outcome);
    assert_eq!(
        log.recovery_point(),
        2,
        "only what the job collected is flushed"
    );
    assert!(
        !log.maybe_flush(200).unwrap(),
        "the later append is 50 ms old"
    );
    assert!(log.maybe_flush(250).unwrap());
    assert_eq!(log.recovery_point(), 5);
}

#[test]
fn delete_removes_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    let mut log = open(&path, LogConfig::default());
    log.append(&simple_batch(1, 1, 1), opts(0)).unwrap();
    log.delete().unwrap();
    assert!(!path.exists());
}

#[test]
fn log_can_be_shared_across_threads_behind_a_mutex() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<runnel_log::Log>();
}
