//! The [`Log`]: one partition's segments, and every operation on them.

use crate::batch::BatchHeader;
use crate::{LogConfig, LogError};
use bytes::Bytes;
use std::path::{Path, PathBuf};

/// What the broker decides per append.
#[derive(Debug, Clone, Copy)]
pub struct AppendOptions {
    /// Stamped into every batch's `partitionLeaderEpoch`, so a future follower can truncate to
    /// the leader's history.
    pub leader_epoch: i32,
    /// Broker clock, for LogAppendTime, segment age and flush timing.
    pub now_ms: i64,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record of the first batch.
    pub base_offset: i64,
    /// Offset of the last record of the last batch.
    pub last_offset: i64,
    /// Largest record timestamp appended (the broker clock under LogAppendTime).
    pub max_timestamp: i64,
    /// The broker clock if the log uses LogAppendTime, else -1 (as Produce responses report it).
    pub log_append_time_ms: i64,
    /// Records appended, summed over batches.
    pub record_count: i64,
}

/// Bytes read for a fetch: whole batches exactly as stored.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub bytes: Bytes,
}

pub struct Log {
    dir: PathBuf,
    config: LogConfig,
}

impl Log {
    /// Opens (creating if missing) the log in `dir`, recovering from an unclean shutdown.
    pub fn open(dir: impl Into<PathBuf>, config: LogConfig) -> Result<Log, LogError> {
        let _ = (dir.into(), config);
        unimplemented!("implemented by the storage work")
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn config(&self) -> &LogConfig {
        &self.config
    }
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }
    pub fn log_start_offset(&self) -> i64 {
        unimplemented!()
    }
    pub fn log_end_offset(&self) -> i64 {
        unimplemented!()
    }
    pub fn size_bytes(&self) -> u64 {
        unimplemented!()
    }
    pub fn append(
        &mut self,
        _records: &[u8],
        _opts: AppendOptions,
    ) -> Result<AppendInfo, LogError> {
        unimplemented!()
    }
    pub fn read(
        &self,
        _offset: i64,
        _max_bytes: usize,
        _upper_bound_offset: i64,
    ) -> Result<ReadResult, LogError> {
        unimplemented!()
    }
    pub fn flush(&mut self) -> Result<(), LogError> {
        unimplemented!()
    }
    pub fn maybe_flush(&mut self, _now_ms: i64) -> Result<bool, LogError> {
        unimplemented!()
    }
    pub fn offset_for_timestamp(&self, _timestamp_ms: i64) -> Result<Option<(i64, i64)>, LogError> {
        unimplemented!()
    }
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        unimplemented!()
    }
    pub fn delete_records_before(&mut self, _offset: i64) -> Result<i64, LogError> {
        unimplemented!()
    }
    pub fn truncate_to(&mut self, _offset: i64) -> Result<(), LogError> {
        unimplemented!()
    }
    pub fn enforce_retention(&mut self, _now_ms: i64) -> Result<usize, LogError> {
        unimplemented!()
    }
    pub fn roll_if_due(&mut self, _now_ms: i64) -> Result<bool, LogError> {
        unimplemented!()
    }
    pub fn compact(&mut self, _now_ms: i64) -> Result<bool, LogError> {
        unimplemented!()
    }
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        unimplemented!()
    }
    pub fn scan_batch_headers(
        &self,
        _from_offset: i64,
        _f: &mut dyn FnMut(&BatchHeader),
    ) -> Result<(), LogError> {
        unimplemented!()
    }
    pub fn delete(self) -> Result<(), LogError> {
        unimplemented!()
    }
}
