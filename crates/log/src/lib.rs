//! # runnel-log: the storage layer
//!
//! A partition's data is a directory of segments. Each segment is a `.log` file holding record
//! batches exactly as producers sent them (offsets and leader epoch stamped by the broker, CRC
//! checked), a sparse offset index (`.index`) and a time index (`.timeindex`). This crate knows
//! nothing of networking: the broker hands it batch bytes and asks for byte ranges back.
//!
//! Layout:
//! - [`batch`]: the v2 record-batch header, parsed and stamped in place.
//! - [`config`]: per-log settings with Kafka's topic-config names.
//! - [`log`]: the [`Log`] type: append, read, roll, flush, recovery, retention, compaction.
//! - `segment`, `index`: one segment's files; `segment_scan`, `recovery`: loading after a crash;
//!   `read`, `region`, `retention`, `cleaner`: the rest of [`Log`]'s operations, one concern per
//!   module (`region` returns fetches as file ranges for `sendfile`).
//! - [`validate`]: Kafka's produce-time checks (record walk, keys, timestamps) before append;
//!   [`recompress`]: re-encoding an accepted batch to the topic's `compression.type`.
//! - `lifecycle`: segment jitter, index-full rolls, preallocation, delayed file deletion.
//! - [`error`]: [`LogError`], which the broker maps onto Kafka error codes in one place.

pub mod batch;
mod buffer_pool;
pub mod config;
pub mod error;
pub mod log;
pub mod recompress;
pub mod validate;

pub mod cleaner;
mod fault;
pub mod flush;
mod index;
mod lifecycle;
mod read;
mod recovery;
mod region;
mod retention;
mod segment;
mod segment_scan;
mod truncate;

pub use cleaner::{CleanerBudget, CompactionJob, CompactionOutput};
pub use config::{CleanupPolicy, LogConfig, TimestampType};
pub use error::LogError;
pub use flush::FlushJob;
pub use log::{AppendInfo, AppendOptions, Log, ReadResult};
pub use region::FileRegion;
pub use truncate::Removed;
