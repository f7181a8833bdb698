//! Reopening after crashes: torn tails, corrupt bytes, broken indexes, stray files.
mod common;

use common::*;
use runnel_log::LogConfig;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

fn seg_file(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

fn offsets(log: &runnel_log::Log) -> Vec<i64> {
    read_all(log).iter().map(|r| r.offset).collect()
}

#[test]
fn reopen_after_torn_tail_keeps_acknowledged_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    for _ in 0..3 {
        log.append(&simple_batch(2, 30, 1), opts(0)).unwrap();
    }
    let acked = log.size_bytes();
    log.append(&simple_batch(2, 30, 1), opts(0)).unwrap();
    drop(log);
    let path = seg_file(dir.path(), 0, "log");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(acked + 40)
        .unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    assert_eq!((log.log_end_offset(), log.size_bytes()), (6, acked));
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        acked,
        "torn tail cut from the file"
    );
    assert_eq!(offsets(&log), (0..6).collect::<Vec<_>>());
    assert_eq!(
        log.append(&simple_batch(1, 1, 1), opts(0))
            .unwrap()
            .base_offset,
        6
    );
}

#[test]
fn reopen_after_corrupted_byte_in_last_batch_drops_that_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    log.append(&simple_batch(2, 30, 1), opts(0)).unwrap();
    let acked = log.size_bytes();
    log.append(&simple_batch(2, 30, 1), opts(0)).unwrap();
    let total = log.size_bytes();
    drop(log);
    let path = seg_file(dir.path(), 0, "log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(total - 5) as usize] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
    let log = open(dir.path(), LogConfig::default());
    assert_eq!((log.log_end_offset(), log.size_bytes()), (2, acked));
    assert_eq!(offsets(&log), vec![0, 1]);
}

#[test]
fn reopen_after_garbage_appended_to_active_segment_ignores_it() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(1, 30, 1);
    let config = LogConfig {
        segment_bytes: one.len() as u64 * 2,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone());
    for _ in 0..3 {
        log.append(&one, opts(0)).unwrap();
    }
    drop(log);
    let path = seg_file(dir.path(), 2, "log");
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, &[0xAB; 100]).unwrap();
    let log = open(dir.path(), config);
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    assert_eq!(offsets(&log), vec![0, 1, 2]);
}

#[test]
fn missing_or_garbage_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(3, 40, 1);
    let config = LogConfig {
        segment_bytes: one.len() as u64 * 5,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config.clone());
    for i in 0..12 {
        log.append(&simple_batch(3, 40, i * 10), opts(0)).unwrap();
    }
    assert_eq!(log.segment_base_offsets(), vec![0, 15, 30]);
    let expected_ts = log.offset_for_timestamp(55).unwrap();
    let index_len = std::fs::metadata(seg_file(dir.path(), 0, "index"))
        .unwrap()
        .len();
    assert!(index_len > 0);
    drop(log);
    std::fs::remove_file(seg_file(dir.path(), 0, "index")).unwrap();
    std::fs::write(seg_file(dir.path(), 0, "timeindex"), [1u8; 7]).unwrap();
    // Well-formed size but pointing past the log.
    let mut bogus = Vec::new();
    for (rel, pos) in [(1u32, 10u32), (2, 1_000_000)] {
        bogus.extend_from_slice(&rel.to_be_bytes());
        bogus.extend_from_slice(&pos.to_be_bytes());
    }
    std::fs::write(seg_file(dir.path(), 15, "index"), &bogus).unwrap();
    let log = open(dir.path(), config);
    assert_eq!(
        std::fs::metadata(seg_file(dir.path(), 0, "index"))
            .unwrap()
            .len(),
        index_len
    );
    assert_eq!(
        std::fs::metadata(seg_file(dir.path(), 0, "timeindex"))
            .unwrap()
            .len()
            % 12,
        0
    );
    assert_ne!(
        std::fs::read(seg_file(dir.path(), 15, "index")).unwrap(),
        bogus
    );
    assert_eq!(log.offset_for_timestamp(55).unwrap(), expected_ts);
    assert_eq!(offsets(&log), (0..36).collect::<Vec<_>>());
    assert_eq!(
        batch_bases(&log.read(20, 1, i64::MAX).unwrap().bytes),
        vec![18]
    );
}

#[test]
fn stray_temporary_files_are_deleted_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    log.append(&simple_batch(2, 10, 1), opts(0)).unwrap();
    drop(log);
    std::fs::write(dir.path().join("00000000000000000000.log.cleaned"), b"half").unwrap();
    std::fs::write(dir.path().join("log-start-offset.tmp"), b"9").unwrap();
    let log = open(dir.path(), LogConfig::default());
    assert!(!dir.path().join("00000000000000000000.log.cleaned").exists());
    assert!(!dir.path().join("log-start-offset.tmp").exists());
    assert_eq!(offsets(&log), vec![0, 1]);
}

#[test]
fn opening_an_empty_directory_creates_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir.path().join("new"), LogConfig::default());
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.size_bytes()
        ),
        (0, 0, 0)
    );
    assert_eq!(log.segment_base_offsets(), vec![0]);
    assert!(seg_file(&dir.path().join("new"), 0, "log").exists());
}
