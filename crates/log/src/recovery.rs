//! Loading a log directory after any kind of shutdown, and the small checkpoint files.
//!
//! Crash safety rests on three rules:
//! - Data files only ever grow by whole batches, so after a crash the only damage to the active
//!   segment is a torn or garbage tail; it is scanned completely (CRC included) on every open and
//!   cut back to the last valid batch.
//! - Index files are derived data: any that is missing or fails the sanity checks is rebuilt
//!   from its `.log` (see [`crate::segment::Segment::open`]).
//! - Closed segments are not CRC-checked on open (that would read the whole log); their indexes
//!   are checked and the part after the last index entry is header-scanned, which catches a
//!   torn tail left by a power loss after a roll that was never fsynced. Fetches and compaction
//!   report (never panic on) anything implausible found later.
//! - The log start offset is persisted before segments below it are deleted; leftovers of a
//!   crash in between are deleted here.
//! - Everything replaced in place (checkpoints, cleaned segments) is first written to a
//!   temporary name, fsynced, then renamed; stray temporaries (`.tmp`, `.cleaned`) found on open
//!   are leftovers of an interrupted replacement whose original is still intact, so they are
//!   deleted.
//! - A segment is taken out of the log by renaming its files to `*.deleted` (then fsyncing the
//!   directory) before they are removed; `*.deleted` files found on open are never loaded.

use crate::cleaner::CLEANING_DIR;
use crate::segment::{Segment, CLEANED_SUFFIX, DELETED_SUFFIX, INDEX_EXT, LOG_EXT, TIME_INDEX_EXT};
use crate::LogConfig;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Holds the log start offset (moved by retention and DeleteRecords).
pub(crate) const LOG_START_FILE: &str = "log-start-offset";
/// Holds the cleaner's first dirty offset.
pub(crate) const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
const TMP_SUFFIX: &str = ".tmp";

/// What [`load`] found.
pub(crate) struct Loaded {
    pub segments: Vec<Segment>,
    pub log_start_offset: i64,
    pub cleaner_checkpoint: i64,
}

/// Parses `00000000000000000042.log`-style names.
fn parse_segment_name(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Opens every segment in `dir` (creating the directory and a first segment if needed).
pub(crate) fn load(dir: &Path, config: &LogConfig) -> io::Result<Loaded> {
    fs::create_dir_all(dir)?;
    let mut bases = Vec::new();
    let mut index_files = Vec::new();
    let cleaning = dir.join(CLEANING_DIR);
    if cleaning.exists() {
        tracing::warn!(dir = %cleaning.display(), "deleting segments of an interrupted compaction");
        fs::remove_dir_all(&cleaning)?;
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(CLEANED_SUFFIX)
            || name.ends_with(TMP_SUFFIX)
            || name.ends_with(DELETED_SUFFIX)
        {
            tracing::warn!(file = %entry.path().display(), "deleting leftover of an interrupted write");
            fs::remove_file(entry.path())?;
        } else if let Some(base) = parse_segment_name(&name, LOG_EXT) {
            bases.push(base);
        } else if let Some(base) = parse_segment_name(&name, INDEX_EXT)
            .or_else(|| parse_segment_name(&name, TIME_INDEX_EXT))
        {
            index_files.push((base, entry.path()));
        }
    }
    bases.sort_unstable();
    // Indexes without their log (the log was deleted, the crash came before the index was).
    for (base, path) in index_files {
        if bases.binary_search(&base).is_err() {
            fs::remove_file(path)?;
        }
    }
    let stored_start = read_offset_file(dir, LOG_START_FILE)?;
    let mut segments = Vec::with_capacity(bases.len().max(1));
    for (i, &base) in bases.iter().enumerate() {
        let active = i + 1 == bases.len();
        segments.push(Segment::open(
            dir,
            base,
            active,
            config.index_interval_bytes,
        )?);
    }
    if segments.is_empty() {
        segments.push(Segment::create(dir, stored_start.unwrap_or(0).max(0))?);
    }
    let first_base = segments[0].base_offset;
    let log_start_offset = stored_start.unwrap_or(first_base).max(first_base);
    // The log start offset is fsynced when it moves; the data above it may not have been (or a
    // truncation dropped a batch straddling it). Offsets below the log start are never reused,
    // so the log end is raised to it rather than the log start lowered.
    // Segments wholly below the log start offset are leftovers of a crash between persisting a
    // new log start offset and deleting them.
    let below = segments[..segments.len() - 1]
        .iter()
        .take_while(|s| s.next_offset <= log_start_offset)
        .count();
    for seg in segments.drain(..below) {
        tracing::info!(segment = %seg.log_path().display(), "deleting segment below the log start offset");
        seg.delete_files()?;
    }
    if below > 0 {
        sync_dir(dir)?;
    }
    let active = segments.last_mut().expect("at least one segment");
    if active.next_offset < log_start_offset {
        tracing::warn!(dir = %dir.display(), log_end_offset = active.next_offset, log_start_offset,
            "log end below the log start offset; continuing from the log start offset");
        active.next_offset = log_start_offset;
    }
    let log_end_offset = active.next_offset;
    let cleaner_checkpoint = read_offset_file(dir, CLEANER_CHECKPOINT_FILE)?
        .unwrap_or(log_start_offset)
        .clamp(0, log_end_offset);
    Ok(Loaded {
        segments,
        log_start_offset,
        cleaner_checkpoint,
    })
}

/// Reads a checkpoint file holding one decimal offset; `None` if missing or unparsable
/// (a checkpoint is only ever replaced by rename, so garbage means someone else wrote it).
pub(crate) fn read_offset_file(dir: &Path, name: &str) -> io::Result<Option<i64>> {
    match fs::read_to_string(dir.join(name)) {
        Ok(s) => {
            let parsed = s.trim().parse::<i64>().ok();
            if parsed.is_none() {
                tracing::warn!(file = name, "ignoring unparsable checkpoint file");
            }
            Ok(parsed)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces a checkpoint file atomically: write `name.tmp`, fsync, rename, fsync the directory.
pub(crate) fn write_offset_file(dir: &Path, name: &str, value: i64) -> io::Result<()> {
    let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
    let mut f = File::create(&tmp)?;
    f.write_all(format!("{value}\n").as_bytes())?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Makes renames and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_twenty_digit_names_are_segments() {
        assert_eq!(
            parse_segment_name("00000000000000000042.log", LOG_EXT),
            Some(42)
        );
        assert_eq!(parse_segment_name("42.log", LOG_EXT), None);
        assert_eq!(
            parse_segment_name("00000000000000000042.log.cleaned", LOG_EXT),
            None
        );
        assert_eq!(
            parse_segment_name("00000000000000000042.index", INDEX_EXT),
            Some(42)
        );
        assert_eq!(
            parse_segment_name("0000000000000000004x.log", LOG_EXT),
            None
        );
    }

    #[test]
    fn checkpoint_file_round_trips_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_offset_file(dir.path(), "cp").unwrap(), None);
        write_offset_file(dir.path(), "cp", 1234).unwrap();
        assert_eq!(read_offset_file(dir.path(), "cp").unwrap(), Some(1234));
        assert!(!dir.path().join("cp.tmp").exists());
    }
}
