//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, removal with a deleted topic,
//! and expiry after `offsets.retention.minutes`.

use super::*;

impl GroupCoordinator {
    // ---------------------------------------------------------------- offsets

    /// Commits offsets; returns one result per partition, in order.
    pub fn commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        partitions: Vec<CommitPartition>,
    ) -> Vec<BrokerResult<()>> {
        let all = |e: &dyn Fn() -> BrokerError| partitions.iter().map(|_| Err(e())).collect();
        if self.check_loaded().is_err() {
            return all(&|| BrokerError::CoordinatorLoadInProgress);
        }
        if group_id.is_empty() {
            return all(&|| BrokerError::InvalidGroupId);
        }
        let mut groups = self.groups.lock();
        let now = now_ms();
        if !groups.contains_key(group_id) {
            if generation >= 0 {
                return all(&|| BrokerError::IllegalGeneration {
                    got: generation,
                    current: -1,
                });
            }
            groups.insert(group_id.to_string(), Group::new(group_id, now));
        }
        let g = groups.get_mut(group_id).expect("group present");
        let check = || -> BrokerResult<()> {
            if g.state == GroupState::Dead {
                return Err(BrokerError::CoordinatorNotAvailable);
            }
            if generation < 0 && g.state == GroupState::Empty {
                return Ok(());
            }
            // Kafka's order: fenced instance, unknown member, generation, then a member of
            // the current generation still waiting for its assignment.
            sync::validate_member(g, member_id, group_instance_id, generation)?;
            if g.state == GroupState::CompletingRebalance {
                return Err(BrokerError::RebalanceInProgress);
            }
            Ok(())
        };
        if let Err(e) = check() {
            return partitions.iter().map(|_| Err(same_error(&e))).collect();
        }
        refresh(g, member_id, now);
        let mut kvs = Vec::new();
        let mut accepted = Vec::new();
        for p in &partitions {
            if p.error.is_none() {
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
        }
        let stored = self.persist(group_id, &kvs);
        if stored.is_ok() {
            for (k, v) in accepted {
                g.offsets.insert(k, v);
            }
        }
        partitions
            .into_iter()
            .map(|p| match (p.error, &stored) {
                (Some(e), _) => Err(e),
                (None, Ok(())) => Ok(()),
                (None, Err(_)) => Err(BrokerError::CoordinatorNotAvailable),
            })
            .collect()
    }

    /// Committed offsets of `group_id`: the listed partitions, or all (`None`).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> BrokerResult<Vec<FetchedOffset>> {
        self.check_loaded()?;
        let groups = self.groups.lock();
        let g = groups.get(group_id);
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
    /// topic. Outer error for the group; inner per partition.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> BrokerResult<Vec<BrokerResult<()>>> {
        self.check_loaded()?;
        let mut groups = self.groups.lock();
        let g = groups
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
        for (t, p) in &partitions {
            if subscribed.contains(t) {
                results.push(Err(BrokerError::GroupSubscribedToTopic));
            } else {
                if g.offsets.contains_key(&(t.clone(), *p)) {
                    kvs.push((records::encode_offset_key(group_id, t, *p), None));
                }
                results.push(Ok(()));
            }
        }
        self.persist(group_id, &kvs)?;
        for ((t, p), r) in partitions.into_iter().zip(&results) {
            if r.is_ok() {
                g.offsets.remove(&(t, p));
            }
        }
        Ok(results)
    }

    /// Removes every group's committed offsets for a deleted topic (tombstones).
    pub fn remove_topic_offsets(&self, topic: &str) {
        let mut groups = self.groups.lock();
        for g in groups.values_mut() {
            let keys: Vec<(String, i32)> = g
                .offsets
                .keys()
                .filter(|(t, _)| t == topic)
                .cloned()
                .collect();
            if keys.is_empty() {
                continue;
            }
            let kvs: Vec<KeyValue> = keys
                .iter()
                .map(|(t, p)| (records::encode_offset_key(&g.id, t, *p), None))
                .collect();
            match self.persist(&g.id, &kvs) {
                Ok(()) => {
                    for k in &keys {
                        g.offsets.remove(k);
                    }
                }
                Err(e) => {
                    tracing::warn!(group = %g.id, topic, error = %e, "removing offsets of a deleted topic failed")
                }
            }
        }
    }

    /// Removes offsets older than `offsets.retention.minutes` (tombstones): all of an Empty
    /// group's, and a Stable consumer group's for topics it no longer subscribes to. Empty
    /// groups without offsets are removed.
    pub fn expire_offsets(&self, now: i64) {
        let retention = self.config.offsets_retention_ms;
        let mut groups = self.groups.lock();
        let mut dead = Vec::new();
        for g in groups.values_mut() {
            // Empty groups: every offset, counted from when the group became empty (or the
            // commit, if later). Consumer groups with members (KIP-496): offsets of topics no
            // member subscribes to any more, counted from the commit.
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
                // Nothing left to keep (e.g. every member left, or a failed first join): the
                // group goes, as Kafka's cleanup does, with a tombstone for its metadata.
                match self.persist(&g.id, &[(records::encode_group_key(&g.id), None)]) {
                    Ok(()) => {
                        g.transition(GroupState::Dead, now);
                        dead.push(g.id.clone());
                    }
                    Err(e) => {
                        tracing::warn!(group = %g.id, error = %e, "removing an empty group failed")
                    }
                }
                continue;
            }
            if expired.is_empty() {
                continue;
            }
            let mut kvs: Vec<KeyValue> = expired
                .iter()
                .map(|(t, p)| (records::encode_offset_key(&g.id, t, *p), None))
                .collect();
            let emptied = g.state == GroupState::Empty && expired.len() == g.offsets.len();
            if emptied {
                kvs.push((records::encode_group_key(&g.id), None));
            }
            match self.persist(&g.id, &kvs) {
                Ok(()) => {
                    for k in &expired {
                        g.offsets.remove(k);
                    }
                    tracing::info!(group = %g.id, expired = expired.len(), "expired offsets");
                    if emptied {
                        g.transition(GroupState::Dead, now);
                        dead.push(g.id.clone());
                    }
                }
                Err(e) => tracing::warn!(group = %g.id, error = %e, "expiring offsets failed"),
            }
        }
        for id in dead {
            groups.remove(&id);
        }
    }
}

/// A copy of a group-level commit error, for each partition of the request.
pub(super) fn same_error(e: &BrokerError) -> BrokerError {
    use BrokerError::*;
    match e {
        CoordinatorNotAvailable => CoordinatorNotAvailable,
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
