//! openraft's `RaftLogStorage` over [`SegmentLog`] and atomically replaced files.
//!
//! Files in `metadata.log.dir`: the segments, `quorum-vote` (the vote; durable before
//! `save_vote` returns), `log-purged` (the last purged log id, durable before segments are
//! deleted) and `log-committed` (a hint, written without fsync: losing it only means
//! re-learning the commit point from the leader).
//!
//! The I/O is synchronous inside the async methods: entries are small, and acknowledging an
//! append only after its fdatasync is the point. Any failed write or sync returns an error,
//! which openraft treats as fatal (the node stops), and poisons the store.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{AnyError, Entry, LogId, StorageError, StorageIOError, Vote};
use parking_lot::Mutex;

use super::TypeConfig;
use crate::config::NodeId;
use crate::store::{atomic_file, Recovery, SegmentLog};

const VOTE_FILE: &str = "quorum-vote";
const PURGED_FILE: &str = "log-purged";
const COMMITTED_FILE: &str = "log-committed";
const SMALL_FILE_MAX_SIZE_BYTES: u64 = 64 * 1024;

type StoreResult<T> = Result<T, StorageError<NodeId>>;

fn io_error(e: impl std::error::Error + 'static, write: bool) -> StorageError<NodeId> {
    let e = AnyError::new(&e);
    if write {
        StorageIOError::write(e)
    } else {
        StorageIOError::read(e)
    }
    .into()
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    log: SegmentLog,
    vote: Option<Vote<NodeId>>,
    purged: Option<LogId<NodeId>>,
    committed: Option<LogId<NodeId>>,
    /// A vote write failed: refuse everything after (fail closed).
    failed: bool,
    /// Set at shutdown, so nothing left running writes after a restart reopened the directory.
    closed: bool,
}

/// The durable metadata log; cheap to clone (the reader openraft asks for is a clone).
#[derive(Debug, Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> io::Result<Option<T>> {
    match atomic_file::read(dir, name, SMALL_FILE_MAX_SIZE_BYTES)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| atomic_file::corrupt(format!("{name}: {e}"))),
    }
}

impl LogStore {
    /// Opens the log in `dir`, recovering a torn tail.
    pub fn open(dir: &Path, segment_size_bytes: u64) -> io::Result<(Self, Recovery)> {
        std::fs::create_dir_all(dir)?;
        for name in [VOTE_FILE, PURGED_FILE, COMMITTED_FILE] {
            atomic_file::remove_stale_temp(dir, name)?;
        }
        let vote = read_json(dir, VOTE_FILE)?;
        let purged: Option<LogId<NodeId>> = read_json(dir, PURGED_FILE)?;
        // The commit hint is not fsynced, so a damaged one is ignored rather than fatal.
        let committed = read_json(dir, COMMITTED_FILE).unwrap_or(None);
        let (log, recovery) = SegmentLog::open(dir, segment_size_bytes, purged.map(|p| p.index))?;
        let inner = Inner {
            dir: dir.to_path_buf(),
            log,
            vote,
            purged,
            committed,
            failed: false,
            closed: false,
        };
        Ok((
            LogStore {
                inner: Arc::new(Mutex::new(inner)),
            },
            recovery,
        ))
    }

    /// Waits for an operation in progress (it holds the lock) and refuses any later one.
    pub fn close(&self) {
        self.inner.lock().closed = true;
    }

    /// Number of segment files (for tests of purging).
    pub fn segment_count(&self) -> usize {
        self.inner.lock().log.segment_count()
    }

    fn entries(&self, start: Bound<u64>, end: Bound<u64>) -> StoreResult<Vec<Entry<TypeConfig>>> {
        let inner = self.inner.lock();
        inner
            .log
            .range((start, end))
            .map(|(_, bytes)| serde_json::from_slice(bytes).map_err(|e| io_error(e, false)))
            .collect()
    }
}

impl Inner {
    fn check_usable(&self) -> StoreResult<()> {
        if self.closed {
            return Err(io_error(
                io::Error::other("metadata log store closed"),
                true,
            ));
        }
        if self.failed {
            return Err(io_error(
                io::Error::other("metadata log store failed earlier; refusing I/O"),
                true,
            ));
        }
        Ok(())
    }

    fn write_json(
        &mut self,
        name: &str,
        value: &impl serde::Serialize,
        durable: bool,
    ) -> StoreResult<()> {
        self.check_usable()?;
        let bytes = serde_json::to_vec(value).map_err(|e| io_error(e, true))?;
        atomic_file::write(&self.dir, name, &bytes, durable).map_err(|e| {
            if durable {
                self.failed = true;
            }
            io_error(e, true)
        })
    }

    fn last_log_id(&self) -> StoreResult<Option<LogId<NodeId>>> {
        let Some(last) = self.log.last_index() else {
            return Ok(None);
        };
        match self.log.get(last) {
            Some(bytes) => {
                let entry: Entry<TypeConfig> =
                    serde_json::from_slice(bytes).map_err(|e| io_error(e, false))?;
                Ok(Some(entry.log_id))
            }
            None => Ok(self.purged),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> StoreResult<Vec<Entry<TypeConfig>>> {
        self.entries(range.start_bound().cloned(), range.end_bound().cloned())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StoreResult<LogState<TypeConfig>> {
        let inner = self.inner.lock();
        Ok(LogState {
            last_purged_log_id: inner.purged,
            last_log_id: inner.last_log_id()?,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        inner.write_json(VOTE_FILE, vote, true)?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> StoreResult<Option<Vote<NodeId>>> {
        Ok(self.inner.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        inner.write_json(COMMITTED_FILE, &committed, false)?;
        inner.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> StoreResult<Option<LogId<NodeId>>> {
        let inner = self.inner.lock();
        // Never claim more than this log holds (the hint may outlive a torn tail).
        let last = inner.last_log_id()?;
        Ok(inner
            .committed
            .filter(|c| Some(c.index) <= last.map(|l| l.index)))
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StoreResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.inner.lock();
        inner.check_usable()?;
        let encoded: Vec<(u64, Vec<u8>)> = entries
            .into_iter()
            .map(|e| serde_json::to_vec(&e).map(|bytes| (e.log_id.index, bytes)))
            .collect::<Result<_, _>>()
            .map_err(|e| io_error(e, true))?;
        // Acknowledged only after fdatasync; an error reaches openraft both ways.
        match inner.log.append(&encoded) {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(io_error(e, true))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        inner.check_usable()?;
        inner
            .log
            .truncate_from(log_id.index)
            .map_err(|e| io_error(e, true))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        // The purge point is durable first: after a crash the next open skips what it covers.
        inner.write_json(PURGED_FILE, &log_id, true)?;
        inner.purged = Some(log_id);
        inner
            .log
            .purge_upto(log_id.index)
            .map_err(|e| io_error(e, true))
    }
}
