//! Runnel's own durable storage for the metadata quorum, independent of openraft: the segment
//! log of opaque entries and the small files replaced atomically (vote, purge point, snapshot).

pub mod atomic_file;
pub mod segment_log;

pub use segment_log::{Recovery, SegmentLog, ENTRY_MAX_SIZE_BYTES};
