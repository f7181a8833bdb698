//! Segment lifecycle settings: `segment.index.bytes`, `segment.jitter.ms`, `preallocate` and
//! `file.delete.delay.ms`.
mod common;

use common::*;
use runnel_log::LogConfig;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn segment_file(dir: &Path, base: i64) -> std::path::PathBuf {
    dir.join(format!("{base:020}.log"))
}

#[test]
fn a_full_index_rolls_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    // Room for 3 offset entries (8 bytes) but 2 time entries (12 bytes); an entry per batch
    // after the first: the third batch fills the time index, the fourth starts a segment.
    let config = LogConfig {
        segment_index_bytes: 24,
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    for i in 0..7 {
        log.append(&simple_batch(1, 10, 1000 + i), opts(0)).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 3, 6]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(
        dir.path(),
        LogConfig {
            index_interval_bytes: 0,
            ..LogConfig::default()
        },
    );
    for i in 0..7 {
        log.append(&simple_batch(1, 10, 1000 + i), opts(0)).unwrap();
    }
    assert_eq!(
        log.segment_base_offsets(),
        vec![0],
        "10 MiB of index by default"
    );
}

/// Whether a one-batch log rolls `elapsed_ms` after its first append.
fn rolls_after(segment_ms: i64, jitter_ms: i64, elapsed_ms: i64) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms,
        segment_jitter_ms: jitter_ms,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    log.append(&simple_batch(1, 10, 0), opts(0)).unwrap();
    log.roll_if_due(elapsed_ms).unwrap()
}

#[test]
fn segment_jitter_rolls_each_segment_up_to_that_much_early() {
    assert!(
        !rolls_after(1_000_000, 0, 1_000_000),
        "no jitter: not before segment.ms"
    );
    assert!(rolls_after(1_000_000, 0, 1_000_001));
    // Jitter drawn uniformly in [0, 1_000_000): half the segments roll by half of segment.ms.
    // 40 logs all on one side has probability 2^-39.
    let early = (0..40)
        .filter(|_| rolls_after(1_000_000, 1_000_000, 500_000))
        .count();
    assert!(0 < early && early < 40, "{early} of 40 rolled early");
    assert!(
        (0..10).all(|_| rolls_after(1_000_000, 1_000_000, 1_000_001)),
        "never later"
    );
}

#[test]
fn preallocate_reserves_segment_bytes_without_growing_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let segment_bytes = 4 << 20;
    let config = LogConfig {
        segment_bytes,
        preallocate: true,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone());
    let meta = std::fs::metadata(segment_file(dir.path(), 0)).unwrap();
    assert_eq!(meta.len(), 0, "readers see only what was written");
    assert!(
        meta.blocks() * 512 >= segment_bytes,
        "{} blocks reserved",
        meta.blocks()
    );
    log.append(&simple_batch(1, 10, 0), opts(0)).unwrap();
    drop(log);
    let log = open(dir.path(), config);
    assert_eq!(
        log.log_end_offset(),
        1,
        "recovery is not confused by the reservation"
    );
    let dir = tempfile::tempdir().unwrap();
    let _log = open(
        dir.path(),
        LogConfig {
            segment_bytes,
            ..LogConfig::default()
        },
    );
    let meta = std::fs::metadata(segment_file(dir.path(), 0)).unwrap();
    assert!(
        meta.blocks() * 512 < segment_bytes,
        "no reservation by default"
    );
}

fn files_ending_with(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(suffix)
        })
        .count()
}

fn three_segments(dir: &Path, file_delete_delay_ms: i64) -> runnel_log::Log {
    let one = simple_batch(1, 100, 0).len() as u64;
    let mut log = open(
        dir,
        LogConfig {
            segment_bytes: one,
            file_delete_delay_ms,
            ..LogConfig::default()
        },
    );
    for i in 0..3 {
        log.append(&simple_batch(1, 100, i), opts(0)).unwrap();
    }
    log
}

#[test]
fn deleted_segments_wait_file_delete_delay_ms_before_their_files_are_handed_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = three_segments(dir.path(), 300);
    let taken_out = Instant::now();
    log.delete_records_before(2).unwrap();
    assert!(
        !segment_file(dir.path(), 0).exists(),
        "out of the log at once"
    );
    assert_eq!(files_ending_with(dir.path(), ".log.deleted"), 2);
    assert!(log.take_removed().is_empty(), "not before the delay");
    let deadline = Instant::now() + Duration::from_secs(20);
    let removed = loop {
        let removed = log.take_removed();
        if !removed.is_empty() {
            break removed;
        }
        assert!(
            Instant::now() < deadline,
            "the delayed files were never handed over"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        taken_out.elapsed() >= Duration::from_millis(300),
        "{:?}",
        taken_out.elapsed()
    );
    removed.delete().unwrap();
    assert_eq!(files_ending_with(dir.path(), ".deleted"), 0);

    let dir = tempfile::tempdir().unwrap();
    let mut log = three_segments(dir.path(), 0);
    log.delete_records_before(2).unwrap();
    log.take_removed().delete().unwrap();
    assert_eq!(files_ending_with(dir.path(), ".deleted"), 0, "0 = at once");
}

#[test]
fn files_still_waiting_at_a_restart_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = three_segments(dir.path(), 3_600_000);
    log.delete_records_before(2).unwrap();
    assert!(log.has_delayed_removals());
    drop(log);
    let log = three_segments(dir.path(), 3_600_000);
    assert_eq!(files_ending_with(dir.path(), ".deleted"), 0);
    assert_eq!(log.log_start_offset(), 2);
}
