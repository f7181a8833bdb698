//! Time and size retention.
mod common;

use common::*;
use runnel_log::LogConfig;

fn three_segment_log(dir: &std::path::Path, config: LogConfig) -> runnel_log::Log {
    let mut log = open(dir, config);
    for ts in [1_000, 1_000, 2_000, 2_000, 3_000] {
        log.append(&simple_batch(1, 100, ts), opts(0)).unwrap();
    }
    log
}

fn config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

#[test]
fn retention_by_time_deletes_old_closed_segments_and_persists_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(1, 100, 0).len() as u64;
    let config = LogConfig {
        retention_ms: 500,
        ..config(one * 2)
    };
    let mut log = three_segment_log(dir.path(), config.clone());
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
    assert_eq!(log.enforce_retention(1_400).unwrap(), 0);
    assert_eq!(log.enforce_retention(1_600).unwrap(), 1);
    assert_eq!(
        (log.log_start_offset(), log.segment_base_offsets()),
        (2, vec![2, 4])
    );
    assert_eq!(
        log.enforce_retention(1_000_000).unwrap(),
        1,
        "never the active segment"
    );
    assert_eq!(log.segment_base_offsets(), vec![4]);
    drop(log);
    let log = open(dir.path(), config);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (4, 5));
}

#[test]
fn retention_by_size_keeps_the_log_under_the_limit_but_never_deletes_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(1, 100, 0).len() as u64;
    let config = LogConfig {
        retention_bytes: (one * 3) as i64,
        ..config(one * 2)
    };
    let mut log = three_segment_log(dir.path(), config.clone());
    assert_eq!(log.enforce_retention(0).unwrap(), 1);
    assert_eq!((log.log_start_offset(), log.size_bytes()), (2, one * 3));
    log.set_config(LogConfig {
        retention_bytes: 0,
        ..config.clone()
    });
    assert_eq!(log.enforce_retention(0).unwrap(), 1);
    assert_eq!(log.segment_base_offsets(), vec![4]);
    assert_eq!(log.enforce_retention(0).unwrap(), 0);
    drop(log);
    assert_eq!(open(dir.path(), config).log_start_offset(), 4);
}

#[test]
fn retention_does_nothing_without_delete_policy() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(1, 100, 0).len() as u64;
    let mut config = LogConfig {
        retention_bytes: 0,
        ..config(one * 2)
    };
    config.cleanup_policy.delete = false;
    config.cleanup_policy.compact = true;
    let mut log = three_segment_log(dir.path(), config);
    assert_eq!(log.enforce_retention(i64::MAX).unwrap(), 0);
    assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
}

#[test]
fn segments_left_below_a_persisted_log_start_are_deleted_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(1, 100, 0).len() as u64;
    let log = three_segment_log(dir.path(), config(one * 2));
    drop(log);
    // A crash after the log start offset was persisted, before the segments were deleted.
    std::fs::write(dir.path().join("log-start-offset"), "3\n").unwrap();
    let log = open(dir.path(), config(one * 2));
    assert_eq!(log.segment_base_offsets(), vec![2, 4]);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (3, 5));
    assert_eq!(read_all(&log).first().map(|r| r.offset), Some(3));
}
