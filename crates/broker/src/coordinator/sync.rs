//! After a join: SyncGroup (distributing the leader's assignment), Heartbeat and LeaveGroup.

use super::*;

impl GroupCoordinator {
    // ---------------------------------------------------------------- SyncGroup

    #[allow(clippy::too_many_arguments)]
    pub async fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncResult {
        if group_id.is_empty() {
            return SyncResult::failed(BrokerError::InvalidGroupId);
        }
        let rx = {
            let shard = match self.shard_of(group_id) {
                Ok(s) => s,
                Err(e) => return SyncResult::failed(e),
            };
            let mut st = shard.state.lock();
            let now = now_ms();
            let result = (|| {
                let g = st
                    .groups
                    .get_mut(group_id)
                    .ok_or(BrokerError::UnknownMemberId)?;
                validate_member(g, member_id, group_instance_id, generation)?;
                if protocol_type.is_some_and(|t| Some(t) != g.protocol_type.as_deref())
                    || protocol_name.is_some_and(|n| Some(n) != g.protocol.as_deref())
                {
                    return Err(BrokerError::InconsistentGroupProtocol);
                }
                match g.state {
                    GroupState::Empty | GroupState::Dead => Err(BrokerError::UnknownMemberId),
                    GroupState::PreparingRebalance => Err(BrokerError::RebalanceInProgress),
                    GroupState::Stable => {
                        refresh(g, member_id, now);
                        Ok(Ok(sync_ok(g, member_id)))
                    }
                    GroupState::CompletingRebalance => {
                        let (tx, rx) = oneshot::channel();
                        if let Some(m) = g.members.get_mut(member_id) {
                            m.sync_waiter = Some(tx);
                            m.session_deadline = now + m.session_timeout_ms as i64;
                        }
                        let store = (g.leader.as_deref() == Some(member_id)).then(|| {
                            let map: HashMap<String, Bytes> = assignments.into_iter().collect();
                            for m in g.members.values_mut() {
                                m.assignment = map.get(&m.member_id).cloned().unwrap_or_default();
                            }
                            (Self::group_record(g), g.generation)
                        });
                        Ok(Err((rx, store)))
                    }
                }
            })();
            match result {
                Ok(Ok(r)) => return r,
                Ok(Err((rx, store))) => {
                    if let Some((record, generation)) = store {
                        let group = group_id.to_string();
                        let completion: shard::Completion = Box::new(move |c, st, result| {
                            if let Some(g) = st.groups.get_mut(&group) {
                                c.assignment_stored(g, generation, result, now_ms());
                            }
                        });
                        shard.enqueue(self, &mut st, vec![record], Some(completion));
                    }
                    rx
                }
                Err(e) => return SyncResult::failed(e),
            }
        };
        rx.await
            .unwrap_or_else(|_| SyncResult::failed(BrokerError::UnknownMemberId))
    }

    /// The leader's assignment for `generation` is on disk (or failed to get there): if the
    /// group is still waiting for it, hand it out and go Stable, or fail everyone's SyncGroup
    /// and rebalance again (as Kafka does when storing the assignment fails).
    fn assignment_stored(
        &self,
        g: &mut Group,
        generation: i32,
        result: &BrokerResult<()>,
        now: i64,
    ) {
        if g.state != GroupState::CompletingRebalance || g.generation != generation {
            return;
        }
        if let Err(e) = result {
            tracing::warn!(group = %g.id, error = %e, "storing the assignment failed");
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(SyncResult::failed(BrokerError::CoordinatorNotAvailable));
                }
            }
            self.prepare_rebalance(g, now);
            return;
        }
        g.transition(GroupState::Stable, now);
        let ids: Vec<String> = g.members.keys().cloned().collect();
        for id in ids {
            let result = sync_ok(g, &id);
            let m = g.members.get_mut(&id).expect("member");
            m.session_deadline = now + m.session_timeout_ms as i64;
            if let Some(tx) = m.sync_waiter.take() {
                let _ = tx.send(result);
            }
        }
    }

    // ---------------------------------------------------------------- Heartbeat / LeaveGroup

    pub fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> BrokerResult<()> {
        if group_id.is_empty() {
            return Err(BrokerError::InvalidGroupId);
        }
        let shard = self.shard_of(group_id)?;
        let mut st = shard.state.lock();
        let g = st
            .groups
            .get_mut(group_id)
            .ok_or(BrokerError::UnknownMemberId)?;
        match g.state {
            GroupState::Dead => return Err(BrokerError::CoordinatorNotAvailable),
            GroupState::Empty => return Err(BrokerError::UnknownMemberId),
            _ => {}
        }
        validate_member(g, member_id, group_instance_id, generation)?;
        refresh(g, member_id, now_ms());
        if g.state == GroupState::PreparingRebalance {
            return Err(BrokerError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Removes members (member id, group instance id); one result per member.
    pub fn leave(
        &self,
        group_id: &str,
        members: Vec<(String, Option<String>)>,
    ) -> BrokerResult<Vec<BrokerResult<()>>> {
        if group_id.is_empty() {
            return Err(BrokerError::InvalidGroupId);
        }
        let shard = self.shard_of(group_id)?;
        let mut st = shard.state.lock();
        let Some(g) = st.groups.get_mut(group_id) else {
            return Ok(members
                .iter()
                .map(|_| Err(BrokerError::UnknownMemberId))
                .collect());
        };
        let out = self.leave_members(g, members, now_ms());
        self.flush_outbox(shard, &mut st, group_id);
        Ok(out)
    }

    fn leave_members(
        &self,
        g: &mut Group,
        members: Vec<(String, Option<String>)>,
        now: i64,
    ) -> Vec<BrokerResult<()>> {
        let mut out = Vec::new();
        for (member_id, instance) in members {
            let target = match &instance {
                Some(instance) => match g.static_members.get(instance) {
                    None => Err(BrokerError::UnknownMemberId),
                    Some(id) if !member_id.is_empty() && *id != member_id => {
                        Err(BrokerError::FencedInstanceId)
                    }
                    Some(id) => Ok(id.clone()),
                },
                None if g.pending.remove(&member_id).is_some() => {
                    self.try_complete_join(g, now);
                    out.push(Ok(()));
                    continue;
                }
                None if g.members.contains_key(&member_id) => Ok(member_id.clone()),
                None => Err(BrokerError::UnknownMemberId),
            };
            match target {
                Ok(id) => {
                    tracing::info!(group = %g.id, member = %id, "member left");
                    self.remove_member_and_update(g, &id, now);
                    out.push(Ok(()));
                }
                Err(e) => out.push(Err(e)),
            }
        }
        out
    }
}

pub(super) fn validate_member(
    g: &Group,
    member_id: &str,
    group_instance_id: Option<&str>,
    generation: i32,
) -> BrokerResult<()> {
    // Kafka's ClassicGroup.validateMember: an instance id the group does not know is an
    // unknown member; one held by another member id is fenced.
    if let Some(instance) = group_instance_id {
        match g.static_members.get(instance) {
            None => return Err(BrokerError::UnknownMemberId),
            Some(id) if id != member_id => return Err(BrokerError::FencedInstanceId),
            Some(_) => {}
        }
    }
    if !g.members.contains_key(member_id) {
        return Err(BrokerError::UnknownMemberId);
    }
    if generation != g.generation {
        return Err(BrokerError::IllegalGeneration {
            got: generation,
            current: g.generation,
        });
    }
    Ok(())
}

pub(super) fn sync_ok(g: &Group, member_id: &str) -> SyncResult {
    SyncResult {
        error: None,
        protocol_type: g.protocol_type.clone(),
        protocol_name: g.protocol.clone(),
        assignment: g
            .members
            .get(member_id)
            .map(|m| m.assignment.clone())
            .unwrap_or_default(),
    }
}
