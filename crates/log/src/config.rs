//! Per-log settings. Names follow Kafka's topic configs; the broker builds one of these from its
//! own defaults (`log.*`) overlaid with the topic's overrides.

/// `cleanup.policy`: `delete`, `compact`, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            delete: true,
            compact: false,
        }
    }
}

/// `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    #[default]
    CreateTime,
    LogAppendTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment when it would grow past this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment when its first batch is this old.
    pub segment_ms: i64,
    /// `retention.ms`: delete closed segments whose newest timestamp is older; -1 = forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest closed segments while the log is larger; -1 = no limit.
    pub retention_bytes: i64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime may lie.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future a CreateTime may lie.
    pub timestamp_after_max_ms: i64,
    /// `flush.messages`: fsync after this many records; `i64::MAX` (Kafka's default) = leave it
    /// to the OS.
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the oldest unflushed write is this old; `i64::MAX` = never.
    pub flush_ms: i64,
    /// `index.interval.bytes`: bytes between offset/time index entries.
    pub index_interval_bytes: usize,
    /// `min.cleanable.dirty.ratio`: compact when dirty bytes / total bytes reaches this.
    pub min_cleanable_dirty_ratio: f64,
    /// `delete.retention.ms`: how long compaction keeps tombstones.
    pub delete_retention_ms: i64,
    /// `compression.type` naming a codec: produced batches in another codec are recompressed
    /// to it. `None` (`producer`) stores them as they came.
    pub compression: Option<crate::recompress::Recompression>,
    /// `segment.jitter.ms`: each segment rolls up to this much (chosen at random per segment)
    /// before `segment.ms`, so many partitions created together do not all roll at once.
    pub segment_jitter_ms: i64,
    /// `segment.index.bytes`: the most bytes an offset or time index may hold; a full index
    /// rolls the segment (8-byte offset entries, 12-byte time entries).
    pub segment_index_bytes: usize,
    /// `preallocate`: reserve `segment.bytes` of disk for each new segment, the file's length
    /// still growing with its data.
    pub preallocate: bool,
    /// `file.delete.delay.ms`: deleted segments are renamed `.deleted` and their files removed
    /// this much later.
    pub file_delete_delay_ms: i64,
}

impl Default for LogConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy::default(),
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            index_interval_bytes: 4096,
            min_cleanable_dirty_ratio: 0.5,
            delete_retention_ms: 24 * 3600 * 1000,
            compression: None,
            segment_jitter_ms: 0,
            segment_index_bytes: 10 * 1024 * 1024,
            preallocate: false,
            file_delete_delay_ms: 60_000,
        }
    }
}
