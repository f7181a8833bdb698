//! Partition directories on disk, and why a deleted topic's data never comes back.
//!
//! Each partition directory `<topic>-<n>` holds a `partition.metadata` file naming the topic id
//! it belongs to (as Kafka's does). A topic exists when its file under `__runnel_meta/topics/`
//! exists; deleting a topic removes that file first (fsynced: the commit point), then moves each
//! partition directory aside to `<topic>-<n>.<uuid>-delete` (fsyncing the parent directory),
//! then deletes it in the background. A crash at any step is finished at the next start:
//! - `*-delete` directories are deleted and never loaded;
//! - a partition directory no topic file owns (the crash came after the topic file went, or
//!   before a new topic's file was written) is moved aside and deleted;
//! - a directory whose `partition.metadata` names another topic id than the topic loading it is
//!   moved aside, and the partition starts empty.
//!
//! Creating a topic does the same check: a leftover directory of an earlier topic with the same
//! name is moved aside before the new partition is opened, so old data never appears under a
//! reused name.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use uuid::Uuid;

pub const PARTITION_METADATA_FILE: &str = "partition.metadata";
pub const DELETE_SUFFIX: &str = "-delete";

/// The topic id recorded in a partition directory; `None` when it has no `partition.metadata`.
pub fn read_topic_id(dir: &Path) -> io::Result<Option<Uuid>> {
    let text = match fs::read_to_string(dir.join(PARTITION_METADATA_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("topic_id:"))
        .and_then(|v| Uuid::parse_str(v.trim()).ok());
    match id {
        Some(id) => Ok(Some(id)),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} has no valid topic_id",
                dir.join(PARTITION_METADATA_FILE).display()
            ),
        )),
    }
}

/// Writes `partition.metadata` (temporary file, fsync, rename, fsync the directory).
pub fn write_topic_id(dir: &Path, id: Uuid) -> io::Result<()> {
    let tmp = dir.join(format!("{PARTITION_METADATA_FILE}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(format!("version: 0\ntopic_id: {id}\n").as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(PARTITION_METADATA_FILE))?;
    sync_dir(dir)
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Makes `dir` the directory of a partition of topic `id`. A directory left by an earlier
/// topic of the same name (another id, or, for a topic being created, no id) is moved aside
/// first. When loading an existing topic, a directory without `partition.metadata` (written
/// before Runnel kept one) is adopted.
pub fn claim(dir: &Path, id: Uuid, creating: bool) -> io::Result<()> {
    if dir.exists() {
        let stale = match read_topic_id(dir) {
            Ok(Some(found)) if found == id => return Ok(()),
            Ok(Some(_)) => true,
            Ok(None) => creating,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => true,
            Err(e) => return Err(e),
        };
        if stale {
            tracing::warn!(dir = %dir.display(), topic_id = %id,
                "partition directory belongs to an earlier topic of the same name; deleting it");
            delete_later(move_aside(dir)?);
        }
    }
    fs::create_dir_all(dir)?;
    write_topic_id(dir, id)
}

/// Renames a partition directory to `<name>.<uuid>-delete` and fsyncs its parent, so that it
/// is never loaded again whatever happens next. Returns the new path.
pub fn move_aside(dir: &Path) -> io::Result<PathBuf> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("partition");
    let aside = dir.with_file_name(format!("{name}.{}{DELETE_SUFFIX}", Uuid::new_v4().simple()));
    fs::rename(dir, &aside)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(aside)
}

/// Deletes a moved-aside directory on the blocking pool (now, if there is no runtime).
pub fn delete_later(dir: PathBuf) {
    let work = move || {
        if let Err(e) = fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "deleting a removed partition directory failed; the next start-up retries");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn_blocking(work);
        }
        Err(_) => work(),
    }
}

/// Finishes deletions interrupted by a crash: directories moved aside with `-delete`.
pub fn remove_deleted_dirs(log_dir: &Path) {
    let Ok(entries) = fs::read_dir(log_dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().ends_with(DELETE_SUFFIX) {
            if let Err(err) = fs::remove_dir_all(e.path()) {
                tracing::warn!(dir = %e.path().display(), error = %err, "could not delete a removed partition directory");
            }
        }
    }
}

/// Whether `name` is `<valid topic name>-<partition number>`.
fn looks_like_partition_dir(name: &str) -> bool {
    match name.rsplit_once('-') {
        Some((topic, n)) => {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && super::topics::validate_topic_name(topic).is_ok()
        }
        None => false,
    }
}

/// Moves aside and deletes partition directories in `log_dir` that no loaded topic owns. Only
/// directories Runnel made are touched: named like a partition and holding `partition.metadata`
/// or a segment file.
pub fn remove_strays(log_dir: &Path, owned: &HashSet<PathBuf>) {
    let Ok(entries) = fs::read_dir(log_dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if !path.is_dir() || owned.contains(&path) || !looks_like_partition_dir(&name) {
            continue;
        }
        let ours = path.join(PARTITION_METADATA_FILE).exists()
            || fs::read_dir(&path).is_ok_and(|mut d| {
                d.any(|f| f.is_ok_and(|f| f.file_name().to_string_lossy().ends_with(".log")))
            });
        if !ours {
            continue;
        }
        tracing::warn!(dir = %path.display(), "partition directory of a topic that does not exist (an interrupted create or delete); deleting it");
        match move_aside(&path) {
            Ok(aside) => delete_later(aside),
            Err(err) => {
                tracing::warn!(dir = %path.display(), error = %err, "could not move a stray partition directory aside")
            }
        }
    }
}
