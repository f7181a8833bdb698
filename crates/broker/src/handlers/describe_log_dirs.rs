//! DescribeLogDirs: each configured log directory with the partitions it holds, their sizes on
//! disk and the file system's total and usable bytes, as Kafka's
//! `ReplicaManager.describeLogDirs` answers on one node:
//!
//! - `topics` null asks for every partition (internal ones too); otherwise only the listed ones.
//! - Every topic with a partition in a directory is listed under it, its `partitions` filtered
//!   to the ones asked for (so a topic not asked for appears with none, as in Kafka).
//! - Partitions are never "future" (no replica moves between directories), so `offset_lag` is
//!   `max(high watermark - log end, 0)`: 0 on a single node.

use crate::state::BrokerState;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, RequestHeader};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub async fn handle(
    state: &Arc<BrokerState>,
    _header: &RequestHeader,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let state = state.clone();
    // Sizes come from the segment files: off the async threads.
    tokio::task::spawn_blocking(move || describe(&state, &req))
        .await
        .unwrap_or_default()
}

fn describe(state: &BrokerState, req: &DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let wanted: Option<HashSet<(String, i32)>> = req.topics.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|&p| (t.topic.0.to_string(), p)))
            .collect()
    });
    // dir -> topic -> partitions asked for (a topic is listed even when none was asked for)
    let mut by_dir: BTreeMap<PathBuf, BTreeMap<String, Vec<DescribeLogDirsPartition>>> =
        BTreeMap::new();
    for p in state.topics.all_partitions() {
        let (dir, size) = p.with_log(|log| (log.dir().parent().map(absolute), log.size_bytes()));
        let Some(dir) = dir else { continue };
        let parts = by_dir
            .entry(dir)
            .or_default()
            .entry(p.topic.clone())
            .or_default();
        if wanted
            .as_ref()
            .is_some_and(|w| !w.contains(&(p.topic.clone(), p.index)))
        {
            continue;
        }
        let mut d = DescribeLogDirsPartition::default();
        d.partition_index = p.index;
        d.partition_size = i64::try_from(size).unwrap_or(i64::MAX);
        d.offset_lag = (p.high_watermark() - p.log_end_offset()).max(0);
        d.is_future_key = false;
        parts.push(d);
    }
    let mut response = DescribeLogDirsResponse::default();
    for dir in state.config.log_dirs.iter().map(|d| absolute(d)) {
        let mut result = DescribeLogDirsResult::default();
        result.log_dir = super::str_bytes(dir.to_string_lossy());
        let (total, usable) = space_bytes(&dir);
        result.total_bytes = total;
        result.usable_bytes = usable;
        for (name, mut partitions) in by_dir.remove(&dir).unwrap_or_default() {
            partitions.sort_by_key(|d| d.partition_index);
            let mut t = DescribeLogDirsTopic::default();
            t.name = super::topic_name(&name);
            t.partitions = partitions;
            result.topics.push(t);
        }
        response.results.push(result);
    }
    response
}

/// The directory as Kafka names it (`toAbsolutePath`: relative to the working directory, links
/// not resolved).
fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// (total, usable) bytes of the file system holding `dir`; -1 each when unknown, as Kafka
/// answers below v4.
#[cfg(target_os = "linux")]
fn space_bytes(dir: &Path) -> (i64, i64) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return (-1, -1);
    };
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `s` is written by statvfs before it is read.
    if unsafe { libc::statvfs(path.as_ptr(), s.as_mut_ptr()) } != 0 {
        return (-1, -1);
    }
    // SAFETY: statvfs returned 0, so it filled `s`.
    let s = unsafe { s.assume_init() };
    let block = s.f_frsize as u128;
    let clamp = |blocks: u64| i64::try_from(blocks as u128 * block).unwrap_or(i64::MAX);
    // Kafka's getUsableSpace: the blocks an unprivileged process may use. (fsblkcnt_t is not
    // u64 on every target, hence the casts.)
    #[allow(clippy::unnecessary_cast)]
    (clamp(s.f_blocks as u64), clamp(s.f_bavail as u64))
}

#[cfg(not(target_os = "linux"))]
fn space_bytes(_dir: &Path) -> (i64, i64) {
    (-1, -1)
}
