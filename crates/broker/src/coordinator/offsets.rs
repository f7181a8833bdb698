//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, removal with a deleted topic,
//! and expiry after `offsets.retention.minutes`.

use super::*;

impl GroupCoordinator {
    // ---------------------------------------------------------------- offsets

    /// Commits offsets; returns one result per partition, in order. The offsets are checked
    /// and queued under the shard lock, and take effect in memory only once they are on disk
    /// (in the writer's completion, in queue order), as Kafka's pending offset commits do.
    pub async fn commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        partitions: Vec<CommitPartition>,
    ) -> Vec<BrokerResult<()>> {
        let all = |e: &dyn Fn() -> BrokerError| partitions.iter().map(|_| Err(e())).collect();
        let shard = match self.shard_of(group_id) {
            Ok(s) => s,
            Err(e) => return all(&|| same_error(&e)),
        };
        // An empty group id is accepted, as by Kafka 4.4 (a simple consumer's commits under
        // group ""); only the group membership APIs refuse it.
        let rx = {
            let mut st = shard.state.lock();
            let now = now_ms();
            if let Err(e) = self.check_commit(
                &mut st,
                group_id,
                generation,
                member_id,
                group_instance_id,
                now,
            ) {
                return partitions.iter().map(|_| Err(same_error(&e))).collect();
            }
            let mut kvs = Vec::new();
            let mut accepted = Vec::new();
            for p in partitions.iter().filter(|p| p.error.is_none()) {
                let entry = OffsetEntry {
                    offset: p.offset,
                    leader_epoch: p.leader_epoch,
                    metadata: p.metadata.clone(),
                    commit_timestamp: now,
                };
                kvs.push((
                    records::encode_offset_key(group_id, &p.topic, p.partition),
                    Some(records::encode_offset_value(&OffsetValue {
                        offset: entry.offset,
                        leader_epoch: entry.leader_epoch,
                        metadata: entry.metadata.clone(),
                        commit_timestamp: entry.commit_timestamp,
                    })),
                ));
                accepted.push(((p.topic.clone(), p.partition), entry));
            }
            let (tx, rx) = oneshot::channel::<BrokerResult<()>>();
            let group = group_id.to_string();
            let completion: shard::Completion = Box::new(move |_, st, result| {
                if result.is_ok() {
                    // The group may have been deleted meanwhile; the log holds the commit
                    // after the deletion's tombstones, so a replay has it too.
                    let g = match st.groups.get_mut(&group) {
                        Some(g) => Some(g),
                        None => st
                            .groups
                            .create(Group::new(&group, now_ms()), usize::MAX)
                            .ok(),
                    };
                    if let Some(g) = g {
                        for (k, v) in accepted {
                            g.offsets.insert(k, v);
                        }
                    }
                }
                let _ = tx.send(match result {
                    Ok(()) => Ok(()),
                    Err(_) => Err(BrokerError::CoordinatorNotAvailable),
                });
            });
            shard.enqueue(self, &mut st, kvs, Some(completion));
            rx
        };
        let stored = rx
            .await
            .unwrap_or(Err(BrokerError::CoordinatorNotAvailable));
        partitions
            .into_iter()
            .map(|p| match (p.error, &stored) {
                (Some(e), _) => Err(e),
                (None, Ok(())) => Ok(()),
                (None, Err(_)) => Err(BrokerError::CoordinatorNotAvailable),
            })
            .collect()
    }

    /// The group and member checks of a commit, in Kafka's order; creates the group for a
    /// commit outside any generation (a standalone consumer).
    fn check_commit(
        &self,
        st: &mut ShardState,
        group_id: &str,
        generation: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        now: i64,
    ) -> BrokerResult<()> {
        if !st.groups.contains_key(group_id) {
            if generation >= 0 {
                return Err(BrokerError::IllegalGeneration {
                    got: generation,
                    current: -1,
                });
            }
            st.groups
                .create(Group::new(group_id, now), self.config.max_groups)?;
        }
        let g = st.groups.get_mut(group_id).expect("group present");
        if g.state == GroupState::Dead {
            return Err(BrokerError::CoordinatorNotAvailable);
        }
        if generation < 0 && g.state == GroupState::Empty {
            return Ok(());
        }
        // Kafka's order: fenced instance, unknown member, generation, then a member of the
        // current generation still waiting for its assignment.
        sync::validate_member(g, member_id, group_instance_id, generation)?;
        if g.state == GroupState::CompletingRebalance {
            return Err(BrokerError::RebalanceInProgress);
        }
        refresh(g, member_id, now);
        Ok(())
    }

    /// Committed offsets of `group_id`: the listed partitions, or all (`None`).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> BrokerResult<Vec<FetchedOffset>> {
        let shard = self.shard_of(group_id)?;
        let st = shard.state.lock();
        let g = st.groups.get(group_id);
        Ok(match topics {
            Some(topics) => topics
                .into_iter()
                .flat_map(|(t, ps)| {
                    ps.into_iter()
                        .map(|p| {
                            let e = g.and_then(|g| g.offsets.get(&(t.clone(), p)).cloned());
                            (t.clone(), p, e)
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
            None => g
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|((t, p), e)| (t.clone(), *p, Some(e.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// OffsetDelete: removes committed offsets unless the (non-empty) group subscribes to the
    /// topic. Outer error for the group; inner per partition. The offsets go from memory once
    /// their tombstones are on disk.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> BrokerResult<Vec<BrokerResult<()>>> {
        let shard = self.shard_of(group_id)?;
        let (rx, results) = {
            let mut st = shard.state.lock();
            let g = st
                .groups
                .get_mut(group_id)
                .ok_or(BrokerError::GroupIdNotFound)?;
            let subscribed: Vec<String> = match g.state {
                GroupState::Dead => return Err(BrokerError::GroupIdNotFound),
                GroupState::Empty => vec![],
                _ => match g.subscribed_topics() {
                    Some(t) => t,
                    None => return Err(BrokerError::NonEmptyGroup),
                },
            };
            let mut kvs = Vec::new();
            let mut results = Vec::new();
            let mut removed = Vec::new();
            for (t, p) in partitions {
                if subscribed.contains(&t) {
                    results.push(Err(BrokerError::GroupSubscribedToTopic));
                    continue;
                }
                if g.offsets.contains_key(&(t.clone(), p)) {
                    kvs.push((records::encode_offset_key(group_id, &t, p), None));
                }
                removed.push((t, p));
                results.push(Ok(()));
            }
            let (tx, rx) = oneshot::channel::<BrokerResult<()>>();
            let group = group_id.to_string();
            let completion: shard::Completion = Box::new(move |_, st, result| {
                if result.is_ok() {
                    if let Some(g) = st.groups.get_mut(&group) {
                        for k in &removed {
                            g.offsets.remove(k);
                        }
                    }
                }
                let _ = tx.send(match result {
                    Ok(()) => Ok(()),
                    Err(_) => Err(BrokerError::CoordinatorNotAvailable),
                });
            });
            shard.enqueue(self, &mut st, kvs, Some(completion));
            (rx, results)
        };
        rx.await
            .unwrap_or(Err(BrokerError::CoordinatorNotAvailable))?;
        Ok(results)
    }

    /// Removes every group's committed offsets for a deleted topic. As in Kafka, memory changes
    /// at once and the tombstones are queued (a failed write is logged).
    pub fn remove_topic_offsets(&self, topic: &str) {
        for shard in &self.shards {
            if shard.check().is_err() {
                continue;
            }
            let mut st = shard.state.lock();
            let mut kvs: Vec<KeyValue> = Vec::new();
            for g in st.groups.values_mut() {
                let keys: Vec<(String, i32)> = g
                    .offsets
                    .keys()
                    .filter(|(t, _)| t == topic)
                    .cloned()
                    .collect();
                for k in keys {
                    kvs.push((records::encode_offset_key(&g.id, &k.0, k.1), None));
                    g.offsets.remove(&k);
                }
            }
            shard.enqueue(self, &mut st, kvs, None);
        }
    }

    /// Removes offsets older than `offsets.retention.minutes` (tombstones): all of an Empty
    /// group's, and a Stable consumer group's for topics it no longer subscribes to. Empty
    /// groups without offsets are removed. As Kafka's cleanup does, memory changes at once and
    /// the tombstones are queued.
    pub fn expire_offsets(&self, now: i64) {
        for shard in &self.shards {
            if shard.check().is_err() {
                continue;
            }
            let mut st = shard.state.lock();
            let mut kvs: Vec<KeyValue> = Vec::new();
            let mut dead = Vec::new();
            for g in st.groups.values_mut() {
                if expire_group_offsets(g, now, self.config.offsets_retention_ms, &mut kvs) {
                    dead.push(g.id.clone());
                }
            }
            for id in dead {
                st.groups.remove(&id);
            }
            shard.enqueue(self, &mut st, kvs, None);
        }
    }
}

/// Expires one group's offsets into `kvs`; returns whether the group is now gone (Dead).
fn expire_group_offsets(g: &mut Group, now: i64, retention: i64, kvs: &mut Vec<KeyValue>) -> bool {
    // Empty groups: every offset, counted from when the group became empty (or the commit, if
    // later). Consumer groups with members (KIP-496): offsets of topics no member subscribes to
    // any more, counted from the commit.
    let expired: Vec<(String, i32)> = match g.state {
        GroupState::Empty => g
            .offsets
            .iter()
            .filter(|(_, e)| e.commit_timestamp.max(g.state_timestamp) + retention <= now)
            .map(|(k, _)| k.clone())
            .collect(),
        GroupState::Stable => match g.subscribed_topics() {
            Some(subscribed) => g
                .offsets
                .iter()
                .filter(|((t, _), e)| {
                    !subscribed.contains(t) && e.commit_timestamp + retention <= now
                })
                .map(|(k, _)| k.clone())
                .collect(),
            None => vec![],
        },
        _ => vec![],
    };
    if g.state == GroupState::Empty && g.offsets.is_empty() && g.pending.is_empty() {
        // Nothing left to keep (e.g. every member left, or a failed first join): the group
        // goes, as Kafka's cleanup does, with a tombstone for its metadata.
        kvs.push((records::encode_group_key(&g.id), None));
        g.transition(GroupState::Dead, now);
        return true;
    }
    if expired.is_empty() {
        return false;
    }
    for (t, p) in &expired {
        kvs.push((records::encode_offset_key(&g.id, t, *p), None));
        g.offsets.remove(&(t.clone(), *p));
    }
    tracing::info!(group = %g.id, expired = expired.len(), "expired offsets");
    if g.state == GroupState::Empty && g.offsets.is_empty() {
        kvs.push((records::encode_group_key(&g.id), None));
        g.transition(GroupState::Dead, now);
        return true;
    }
    false
}

/// A copy of a group-level commit error, for each partition of the request.
pub(super) fn same_error(e: &BrokerError) -> BrokerError {
    use BrokerError::*;
    match e {
        CoordinatorNotAvailable => CoordinatorNotAvailable,
        CoordinatorLoadInProgress => CoordinatorLoadInProgress,
        NotCoordinator => NotCoordinator,
        GroupMaxSizeReached => GroupMaxSizeReached,
        InvalidGroupId => InvalidGroupId,
        FencedInstanceId => FencedInstanceId,
        RebalanceInProgress => RebalanceInProgress,
        UnknownMemberId => UnknownMemberId,
        IllegalGeneration { got, current } => IllegalGeneration {
            got: *got,
            current: *current,
        },
        _ => CoordinatorNotAvailable,
    }
}
