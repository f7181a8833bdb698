//! Truncation and segment removal: fsynced renames, and a usable log after an I/O failure at
//! any step.
mod common;

use common::*;
use runnel_log::{Log, LogConfig};
use std::path::Path;

/// Offsets and values of every visible record.
fn contents(log: &Log) -> Vec<(i64, Vec<u8>)> {
    read_all(log)
        .into_iter()
        .map(|r| (r.offset, r.value.unwrap().to_vec()))
        .collect()
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        // Removed segments are handed over at once (file.delete.delay.ms has its own tests).
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

/// 30 records in batches of 2, over several segments.
fn filled(dir: &Path) -> Log {
    let mut log = open(dir, config());
    for i in 0..15 {
        log.append(&simple_batch(2, 20, i), opts(i)).unwrap();
    }
    assert!(
        log.segment_base_offsets().len() >= 4,
        "{:?}",
        log.segment_base_offsets()
    );
    log
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

/// The log is usable: its records are a prefix of `before` at least `min_end` long, an append
/// lands at the log end, and a reopen sees the same records.
fn assert_usable(dir: &Path, log: &mut Log, before: &[(i64, Vec<u8>)], min_end: i64, step: u32) {
    let now = contents(log);
    assert!(
        before.starts_with(&now),
        "step {step}: records are not a prefix of the original: {now:?}"
    );
    assert!(
        log.log_end_offset() >= min_end && log.log_end_offset() <= before.len() as i64,
        "step {step}: log end {} outside [{min_end}, {}]",
        log.log_end_offset(),
        before.len()
    );
    assert_eq!(
        now.last().map_or(log.log_start_offset(), |r| r.0 + 1),
        log.log_end_offset(),
        "step {step}: the log end follows the last record"
    );
    let end = log.log_end_offset();
    let appended = log.append(&simple_batch(1, 20, 99), opts(99)).unwrap();
    assert_eq!(
        appended.base_offset, end,
        "step {step}: append at the log end"
    );
    let expected = contents(log);
    let reopened = open(dir, config());
    assert_eq!(
        contents(&reopened),
        expected,
        "step {step}: a reopen agrees"
    );
}

#[test]
fn an_io_failure_at_any_step_of_a_truncation_leaves_a_usable_log() {
    let mut steps = 0;
    for step in 0.. {
        let dir = tempfile::tempdir().unwrap();
        let mut log = filled(dir.path());
        let before = contents(&log);
        log.inject_io_failure_after(step);
        let result = log.truncate_to(9);
        if log.injected_io_failure_pending() {
            result.unwrap();
            assert_eq!(log.log_end_offset(), 8, "9 is inside the batch at 8");
            break;
        }
        assert!(
            result.is_err(),
            "step {step}: the injected failure is reported"
        );
        steps += 1;
        assert_usable(dir.path(), &mut log, &before, 8, step);
    }
    assert!(steps >= 5, "only {steps} failure points were exercised");
}

#[test]
fn an_io_failure_at_any_step_of_a_truncation_below_the_log_start_leaves_a_usable_log() {
    let mut steps = 0;
    for step in 0.. {
        let dir = tempfile::tempdir().unwrap();
        let mut log = filled(dir.path());
        log.delete_records_before(12).unwrap();
        let start = log.log_start_offset();
        let before = contents(&log);
        log.inject_io_failure_after(step);
        let result = log.truncate_to(5);
        if log.injected_io_failure_pending() {
            result.unwrap();
            assert_eq!(
                (log.log_start_offset(), log.log_end_offset()),
                (5, 5),
                "restarted at 5"
            );
            break;
        }
        assert!(
            result.is_err(),
            "step {step}: the injected failure is reported"
        );
        steps += 1;
        let now = contents(&log);
        assert!(before.starts_with(&now), "step {step}: {now:?}");
        assert!(
            log.log_end_offset() >= log.log_start_offset(),
            "step {step}: log end {} below log start {}",
            log.log_end_offset(),
            log.log_start_offset()
        );
        assert!(log.log_start_offset() == start || log.log_start_offset() == 5);
        let end = log.log_end_offset();
        let appended = log.append(&simple_batch(1, 20, 99), opts(99)).unwrap();
        assert_eq!(
            appended.base_offset, end,
            "step {step}: append at the log end"
        );
        let expected = (log.log_start_offset(), log.log_end_offset(), contents(&log));
        let reopened = open(dir.path(), config());
        assert_eq!(
            (
                reopened.log_start_offset(),
                reopened.log_end_offset(),
                contents(&reopened)
            ),
            expected,
            "step {step}: a reopen agrees"
        );
    }
    assert!(steps >= 4, "only {steps} failure points were exercised");
}

#[test]
fn truncated_segments_are_renamed_aside_at_once_and_never_come_back_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path());
    let segments_before = log.segment_base_offsets().len();
    log.truncate_to(3).unwrap();
    assert_eq!(log.segment_base_offsets().len(), 1);
    assert_eq!(
        files_ending_with(dir.path(), ".log.deleted"),
        segments_before - 1
    );
    assert!(
        log.recovery_point() <= log.log_end_offset(),
        "recovery point {} above the log end {}",
        log.recovery_point(),
        log.log_end_offset()
    );
    let kept = contents(&log);
    assert_eq!(
        kept.len(),
        2,
        "records 0 and 1; the batch at 2 held offset 3"
    );
    // A crash before the renamed files were deleted: they are never loaded, and go.
    drop(log);
    let reopened = open(dir.path(), config());
    assert_eq!(contents(&reopened), kept);
    assert_eq!(files_ending_with(dir.path(), ".deleted"), 0);
}

#[test]
fn removed_segment_files_are_deleted_by_whoever_takes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path());
    log.delete_records_before(20).unwrap();
    assert!(files_ending_with(dir.path(), ".log.deleted") > 0);
    let removed = log.take_removed();
    assert!(!removed.is_empty());
    removed.delete().unwrap();
    assert_eq!(files_ending_with(dir.path(), ".deleted"), 0);
    assert!(
        log.take_removed().is_empty(),
        "each removal is handed out once"
    );
}
