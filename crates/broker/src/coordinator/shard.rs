//! One shard of the coordinator: the groups whose records live in one `__consumer_offsets`
//! partition, behind their own lock, and the queue of records waiting to be appended there.
//!
//! The lock is never held across disk I/O. Every operation that changes durable state pushes
//! its records onto the shard's queue while it holds the lock, so records are queued in the
//! order the changes were made. The shard's writer task ([`write_loop`]) takes the queue, appends
//! each entry as one batch on the blocking pool without the lock, then takes the lock again to
//! run each entry's completion (which applies a commit, answers the waiting client, ...) in
//! queue order. So the order of records in the log is the order in which memory changed, and a
//! slow append holds up only this shard's writes, never its reads nor other shards.

use super::group::Group;
use super::{GroupCoordinator, KeyValue};
use crate::error::{BrokerError, BrokerResult};
use crate::state::partition::Partition;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{watch, Notify};

/// Runs under the shard lock with the outcome of the append, after it.
pub(super) type Completion =
    Box<dyn FnOnce(&GroupCoordinator, &mut ShardState, &BrokerResult<()>) + Send>;

pub(super) struct PendingWrite {
    pub kvs: Vec<KeyValue>,
    pub completion: Option<Completion>,
}

/// Where loading the shard's partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadState {
    Loading,
    Loaded,
    /// Replay failed: the shard's groups are unknown, so its group APIs answer NOT_COORDINATOR
    /// (as Kafka does for a partition it failed to load) instead of showing no groups.
    Failed,
}

const LOADING: u8 = 0;
const LOADED: u8 = 1;
const FAILED: u8 = 2;

/// Counts over all shards, for `runnel.max.groups` and `runnel.max.group.members`.
#[derive(Default)]
pub(super) struct Totals {
    pub groups: AtomicUsize,
}

/// The groups of one shard. Adding and removing a group goes through here so the broker-wide
/// group count stays exact.
pub(super) struct Groups {
    map: HashMap<String, Group>,
    totals: Arc<Totals>,
}

impl Groups {
    pub fn get(&self, id: &str) -> Option<&Group> {
        self.map.get(id)
    }
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Group> {
        self.map.get_mut(id)
    }
    pub fn contains_key(&self, id: &str) -> bool {
        self.map.contains_key(id)
    }
    pub fn values(&self) -> impl Iterator<Item = &Group> {
        self.map.values()
    }
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Group> {
        self.map.values_mut()
    }

    /// Adds a new group if the broker holds fewer than `max_groups` (GROUP_MAX_SIZE_REACHED
    /// otherwise), and returns it.
    pub fn create(&mut self, group: Group, max_groups: usize) -> BrokerResult<&mut Group> {
        let id = group.id.clone();
        if !self.map.contains_key(&id) {
            if self.totals.groups.load(Ordering::Acquire) >= max_groups {
                tracing::warn!(group = %id, max_groups, "runnel.max.groups reached; refusing a new group");
                return Err(BrokerError::GroupMaxSizeReached);
            }
            self.totals.groups.fetch_add(1, Ordering::AcqRel);
            self.map.insert(id.clone(), group);
        }
        Ok(self.map.get_mut(&id).expect("just inserted"))
    }

    pub fn remove(&mut self, id: &str) -> Option<Group> {
        let g = self.map.remove(id)?;
        self.totals.groups.fetch_sub(1, Ordering::AcqRel);
        Some(g)
    }
}

pub(super) struct ShardState {
    pub groups: Groups,
    pub queue: VecDeque<PendingWrite>,
    /// Set when the writer has stopped (shutdown): new writes fail at once.
    pub closed: bool,
    /// Members plus pending member ids at the last recount (every tick), and admitted since.
    pub members_counted: usize,
    pub members_admitted: usize,
}

pub(super) struct Shard {
    pub partition: Arc<Partition>,
    load: AtomicU8,
    pub state: Mutex<ShardState>,
    wake: Notify,
    /// `members_counted + members_admitted`, readable without the lock by other shards.
    pub members_estimate: AtomicUsize,
    /// Writes queued or being appended, not yet completed.
    pub writes_in_flight: AtomicUsize,
}

impl Shard {
    pub fn new(partition: Arc<Partition>, totals: Arc<Totals>) -> Shard {
        Shard {
            partition,
            load: AtomicU8::new(LOADING),
            state: Mutex::new(ShardState {
                groups: Groups {
                    map: HashMap::new(),
                    totals,
                },
                queue: VecDeque::new(),
                closed: false,
                members_counted: 0,
                members_admitted: 0,
            }),
            wake: Notify::new(),
            members_estimate: AtomicUsize::new(0),
            writes_in_flight: AtomicUsize::new(0),
        }
    }

    pub fn load_state(&self) -> LoadState {
        match self.load.load(Ordering::Acquire) {
            LOADING => LoadState::Loading,
            LOADED => LoadState::Loaded,
            _ => LoadState::Failed,
        }
    }

    /// Installs the replayed groups and opens the shard for requests.
    pub fn set_loaded(&self, groups: Vec<Group>) {
        let mut st = self.state.lock();
        for g in groups {
            let _ = st.groups.create(g, usize::MAX);
        }
        recount(self, &mut st);
        self.load.store(LOADED, Ordering::Release);
    }

    pub fn set_failed(&self) {
        self.load.store(FAILED, Ordering::Release);
    }

    /// The shard's state, if its groups may be served: COORDINATOR_LOAD_IN_PROGRESS while
    /// replaying, NOT_COORDINATOR after a failed replay.
    pub fn check(&self) -> BrokerResult<()> {
        match self.load_state() {
            LoadState::Loaded => Ok(()),
            LoadState::Loading => Err(BrokerError::CoordinatorLoadInProgress),
            LoadState::Failed => Err(BrokerError::NotCoordinator),
        }
    }

    /// Queues records (call with the lock held, right where memory changed). A closed shard
    /// completes the write at once with COORDINATOR_NOT_AVAILABLE.
    pub fn enqueue(
        &self,
        coordinator: &GroupCoordinator,
        st: &mut ShardState,
        kvs: Vec<KeyValue>,
        completion: Option<Completion>,
    ) {
        if kvs.is_empty() {
            if let Some(c) = completion {
                c(coordinator, st, &Ok(()));
            }
            return;
        }
        if st.closed {
            if let Some(c) = completion {
                c(coordinator, st, &Err(BrokerError::CoordinatorNotAvailable));
            }
            return;
        }
        st.queue.push_back(PendingWrite { kvs, completion });
        self.writes_in_flight.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_one();
    }
}

/// Recounts members and pending member ids of the shard (exact, under its lock).
pub(super) fn recount(shard: &Shard, st: &mut ShardState) {
    st.members_counted = st
        .groups
        .values()
        .map(|g| g.members.len() + g.pending.len())
        .sum();
    st.members_admitted = 0;
    shard
        .members_estimate
        .store(st.members_counted, Ordering::Release);
}

/// Appends the shard's queued records, in order, until shutdown; then drains what is left
/// and closes the shard to new writes.
pub(super) async fn write_loop(
    coordinator: Arc<GroupCoordinator>,
    index: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let shard = &coordinator.shards[index];
    loop {
        let batch: Vec<PendingWrite> = {
            let mut st = shard.state.lock();
            if st.queue.is_empty() && *shutdown.borrow() {
                st.closed = true;
                return;
            }
            st.queue.drain(..).collect()
        };
        if batch.is_empty() {
            tokio::select! {
                _ = shard.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let (kvs, completions): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|w| (w.kvs, w.completion)).unzip();
        let partition = shard.partition.clone();
        let results = tokio::task::spawn_blocking(move || {
            kvs.iter()
                .map(|kv| super::persist::append_records(&partition, kv))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "appending group records panicked");
            completions
                .iter()
                .map(|_| Err(BrokerError::CoordinatorNotAvailable))
                .collect()
        });
        let mut st = shard.state.lock();
        for (completion, result) in completions.into_iter().zip(results) {
            shard.writes_in_flight.fetch_sub(1, Ordering::AcqRel);
            match completion {
                Some(c) => c(&coordinator, &mut st, &result),
                None => {
                    if let Err(e) = &result {
                        tracing::warn!(partition = shard.partition.index, error = %e, "writing group records failed");
                    }
                }
            }
        }
    }
}
