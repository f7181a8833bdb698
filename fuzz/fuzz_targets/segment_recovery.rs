//! Segment recovery (crates/log/src/recovery.rs): the fuzz input becomes a partition directory
//! (segment, index and time-index files, checkpoints; see `segment_files`), which is opened as
//! a `Log` after an unclean shutdown would leave it, then read every way the broker reads.
//! Must never panic or over-allocate, and the recovered log must be usable: reads and file
//! regions agree, an append succeeds and reads back, and the directory opens again with it.

#![no_main]

use bytes::Bytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use libfuzzer_sys::fuzz_target;
use runnel_fuzz_input::segment_files::parse;
use runnel_log::{AppendOptions, CleanupPolicy, Log, LogConfig};
use std::path::Path;
use std::sync::OnceLock;

const NOW_MS: i64 = 1_700_000_000_000;
const READ_MAX_BYTES: usize = 1 << 20;

/// One valid one-record batch, appended to every recovered log.
fn probe_batch() -> &'static Bytes {
    static BATCH: OnceLock<Bytes> = OnceLock::new();
    BATCH.get_or_init(|| {
        let record = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: NOW_MS,
            key: Some(Bytes::from_static(b"fuzz-probe")),
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        };
        let mut buf = bytes::BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, [&record], &options).expect("probe batch encodes");
        buf.freeze()
    })
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 20,
        cleanup_policy: CleanupPolicy {
            delete: true,
            compact: true,
        },
        min_cleanable_dirty_ratio: 0.0,
        index_interval_bytes: 64,
        ..LogConfig::default()
    }
}

/// Every read the broker makes of a log; `read` and `read_region` must agree.
fn read_everything(log: &Log) {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    assert!(start <= end, "log start {start} above log end {end}");
    for offset in [start, start + (end - start) / 2, end.saturating_sub(1)] {
        if offset < start || offset >= end {
            continue;
        }
        let bytes = log.read(offset, READ_MAX_BYTES, end).map(|r| r.bytes);
        let region = log.read_region(offset, READ_MAX_BYTES, end);
        if let (Ok(bytes), Ok(region)) = (&bytes, region) {
            let from_region = region.map(|r| r.read_to_vec().expect("region reads"));
            let from_region = from_region.as_deref().unwrap_or_default();
            // Both start at the same batch. They may end differently on a corrupt closed
            // segment (never CRC-checked on open): read_region trusts the offset index to skip
            // ahead where read walks headers, so only a common prefix is required.
            let common = from_region.len().min(bytes.len());
            assert_eq!(
                from_region[..common],
                bytes[..common],
                "read and read_region start differently at offset {offset}"
            );
        }
    }
    let mut headers = 0usize;
    let _ = log.scan_batch_headers(start, &mut |_| headers += 1);
    for ts in [i64::MIN, 0, NOW_MS, i64::MAX] {
        let _ = log.offset_for_timestamp(ts);
    }
    let _ = log.max_timestamp();
}

fn recover(dir: &Path) {
    let Ok(mut log) = Log::open(dir, config()) else {
        return; // refusing a directory is fine; panicking or aborting is not
    };
    read_everything(&log);
    let append = log.append(
        probe_batch(),
        AppendOptions {
            leader_epoch: 0,
            now_ms: NOW_MS,
        },
    );
    let info = append.expect("a recovered log accepts an append");
    let end = log.log_end_offset();
    assert_eq!(end, info.last_offset + 1, "log end after the probe append");
    let read = log
        .read(info.base_offset, READ_MAX_BYTES, end)
        .expect("probe reads back");
    assert!(
        !read.bytes.is_empty(),
        "the probe batch at {} reads back",
        info.base_offset
    );
    let _ = log.compact(NOW_MS);
    let _ = log.enforce_retention(NOW_MS);
    read_everything(&log);
    let end = log.log_end_offset();
    drop(log);
    let log = Log::open(dir, config()).expect("a directory this process wrote opens again");
    assert_eq!(log.log_end_offset(), end, "log end across a clean reopen");
    read_everything(&log);
}

fuzz_target!(|data: &[u8]| {
    // tmpfs where there is one: recovery fsyncs, which is free there.
    let tmp = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    };
    let tmp = tmp.expect("temporary directory");
    let dir = tmp.path().join("t-0");
    std::fs::create_dir(&dir).expect("partition directory");
    for f in parse(data) {
        std::fs::write(dir.join(f.kind.file_name(f.base_offset)), &f.bytes).expect("write file");
    }
    recover(&dir);
});
