//! openraft's `RaftStateMachine`: applies committed entries to the [`Image`], publishes each
//! new image on a watch channel, and keeps the image snapshot in `metadata.log.dir/image-snapshot`
//! (temp, fsync, rename, fsync dir). At start-up the image is the snapshot's, and openraft
//! replays the log after it.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, StorageError, StorageIOError, StoredMembership,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::TypeConfig;
use crate::config::NodeId;
use crate::image::Image;
use crate::quorum::CommandOutcome;
use crate::records::Applied;
use crate::store::atomic_file;

const SNAPSHOT_FILE: &str = "image-snapshot";
/// Far above any metadata image Runnel builds; a larger file is damage.
pub const SNAPSHOT_MAX_SIZE_BYTES: u64 = 1 << 30;

type StoreResult<T> = Result<T, StorageError<NodeId>>;

fn sm_error(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(AnyError::new(&e)).into()
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, BasicNode>,
    image: Image,
}

struct Inner {
    dir: PathBuf,
    image: Image,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    /// The newest snapshot: its meta and the serialized image.
    snapshot: Option<(SnapshotMeta<NodeId, BasicNode>, Vec<u8>)>,
    images: watch::Sender<Arc<Image>>,
    /// Set at shutdown: a snapshot build openraft left running must not write after it.
    closed: bool,
}

#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<Inner>>,
}

impl StateMachine {
    /// Loads the snapshot in `dir` (if any) as the starting image.
    pub fn open(dir: &Path) -> io::Result<(Self, watch::Receiver<Arc<Image>>)> {
        atomic_file::remove_stale_temp(dir, SNAPSHOT_FILE)?;
        let (image, last_applied, membership, snapshot) =
            match atomic_file::read(dir, SNAPSHOT_FILE, SNAPSHOT_MAX_SIZE_BYTES)? {
                None => (Image::default(), None, StoredMembership::default(), None),
                Some(bytes) => {
                    let file: SnapshotFile = serde_json::from_slice(&bytes)
                        .map_err(|e| atomic_file::corrupt(format!("{SNAPSHOT_FILE}: {e}")))?;
                    let data = serde_json::to_vec(&file.image).map_err(io::Error::other)?;
                    let meta = file.meta.clone();
                    (
                        file.image,
                        meta.last_log_id,
                        meta.last_membership.clone(),
                        Some((meta, data)),
                    )
                }
            };
        let (images, rx) = watch::channel(Arc::new(image.clone()));
        let inner = Inner {
            dir: dir.to_path_buf(),
            image,
            last_applied,
            membership,
            snapshot,
            images,
            closed: false,
        };
        Ok((
            StateMachine {
                inner: Arc::new(Mutex::new(inner)),
            },
            rx,
        ))
    }
}

impl StateMachine {
    /// Waits for a write in progress (it holds the lock) and refuses any later one, so a
    /// restarted node in the same directory is the only writer.
    pub fn close(&self) {
        self.inner.lock().closed = true;
    }
}

impl Inner {
    fn persist_snapshot(
        &mut self,
        meta: SnapshotMeta<NodeId, BasicNode>,
        image: Image,
    ) -> StoreResult<Vec<u8>> {
        if self.closed {
            return Err(sm_error(io::Error::other("state machine closed")));
        }
        let data = serde_json::to_vec(&image).map_err(sm_error)?;
        let file = serde_json::to_vec(&SnapshotFile {
            meta: meta.clone(),
            image,
        })
        .map_err(sm_error)?;
        atomic_file::write(&self.dir, SNAPSHOT_FILE, &file, true).map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(
                Some(meta.signature()),
                AnyError::new(&e),
            ))
        })?;
        self.snapshot = Some((meta, data.clone()));
        Ok(data)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> StoreResult<Snapshot<TypeConfig>> {
        let mut inner = self.inner.lock();
        let last = inner.last_applied;
        let snapshot_id = match last {
            Some(l) => format!("{}-{}", l.leader_id, l.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: inner.membership.clone(),
            snapshot_id,
        };
        let image = inner.image.clone();
        let data = inner.persist_snapshot(meta.clone(), image)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> StoreResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let inner = self.inner.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StoreResult<Vec<CommandOutcome>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.inner.lock();
        let mut outcomes = Vec::new();
        for entry in entries {
            let index = entry.log_id.index;
            let outcome = match entry.payload {
                EntryPayload::Normal(command) => inner.image.apply(index, &command),
                EntryPayload::Blank => {
                    inner.image.advance(index);
                    Ok(Applied::Nothing)
                }
                EntryPayload::Membership(membership) => {
                    inner.image.advance(index);
                    inner.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Ok(Applied::Nothing)
                }
            };
            inner.last_applied = Some(entry.log_id);
            outcomes.push(CommandOutcome(outcome));
        }
        let image = Arc::new(inner.image.clone());
        inner.images.send_replace(image);
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StoreResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StoreResult<()> {
        let image: Image = serde_json::from_slice(snapshot.get_ref()).map_err(sm_error)?;
        let mut inner = self.inner.lock();
        inner.persist_snapshot(meta.clone(), image.clone())?;
        inner.image = image;
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        let image = Arc::new(inner.image.clone());
        inner.images.send_replace(image);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StoreResult<Option<Snapshot<TypeConfig>>> {
        let inner = self.inner.lock();
        Ok(inner.snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        }))
    }
}
