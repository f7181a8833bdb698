//! Joining and rebalancing: JoinGroup, the rebalance phases, static-member replacement, and
//! the timers (session expiry, rebalance timeout, initial delay) that drive them.

use super::*;

impl GroupCoordinator {
    // ---------------------------------------------------------------- rebalancing

    pub(super) fn prepare_rebalance(&self, g: &mut Group, now: i64) {
        if g.state == GroupState::CompletingRebalance {
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(SyncResult::failed(BrokerError::RebalanceInProgress));
                }
            }
        }
        let max_rebalance = g
            .members
            .values()
            .map(|m| m.rebalance_timeout_ms as i64)
            .max()
            .unwrap_or(0);
        if g.state == GroupState::Empty && self.config.initial_rebalance_delay_ms > 0 {
            g.initial_delay_until = now + self.config.initial_rebalance_delay_ms;
            g.initial_delay_limit = now + max_rebalance.max(self.config.initial_rebalance_delay_ms);
        } else {
            g.initial_delay_until = 0;
        }
        g.rebalance_deadline = now + max_rebalance;
        g.transition(GroupState::PreparingRebalance, now);
        tracing::debug!(group = %g.id, generation = g.generation, "preparing rebalance");
    }

    /// Completes the join phase when every member has rejoined (after the initial delay), or
    /// when the rebalance timeout has passed.
    pub(super) fn try_complete_join(&self, g: &mut Group, now: i64) {
        if g.state != GroupState::PreparingRebalance {
            return;
        }
        let ready = if g.initial_delay_until > 0 {
            now >= g.initial_delay_until
        } else {
            let all_joined =
                g.members.values().all(|m| m.join_waiter.is_some()) && g.pending.is_empty();
            all_joined || now >= g.rebalance_deadline
        };
        if ready {
            self.complete_join(g, now);
        }
    }

    pub(super) fn complete_join(&self, g: &mut Group, now: i64) {
        let missing: Vec<String> = g
            .members
            .values()
            .filter(|m| m.join_waiter.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in missing {
            tracing::info!(group = %g.id, member = %id, "member did not rejoin in time; removed");
            remove_member(g, &id);
        }
        g.pending.clear();
        g.initial_delay_until = 0;
        g.generation += 1;
        if g.members.is_empty() {
            g.protocol = None;
            g.leader = None;
            g.transition(GroupState::Empty, now);
            self.persist_group(g);
            return;
        }
        g.protocol = g.select_protocol();
        if g.leader.as_ref().is_none_or(|l| !g.members.contains_key(l)) {
            g.leader = g.members.keys().next().cloned();
        }
        g.transition(GroupState::CompletingRebalance, now);
        let protocol = g.protocol.clone().unwrap_or_default();
        let leader = g.leader.clone().unwrap_or_default();
        let all: Vec<JoinedMember> = g
            .members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect();
        tracing::info!(group = %g.id, generation = g.generation, protocol = %protocol, members = all.len(), "join phase complete");
        for m in g.members.values_mut() {
            m.session_deadline = now + m.session_timeout_ms as i64;
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(JoinResult {
                    error: None,
                    generation: g.generation,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: Some(protocol.clone()),
                    leader: leader.clone(),
                    member_id: m.member_id.clone(),
                    members: if m.member_id == leader {
                        all.clone()
                    } else {
                        vec![]
                    },
                    skip_assignment: false,
                });
            }
        }
    }

    /// Removes a member and moves the group on (rebalance, or completes a pending join).
    pub(super) fn remove_member_and_update(&self, g: &mut Group, member_id: &str, now: i64) {
        remove_member(g, member_id);
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(g, now),
            _ => {}
        }
        self.try_complete_join(g, now);
    }

    pub(super) fn current_join_result(g: &Group, member_id: &str) -> JoinResult {
        let protocol = g.protocol.clone().unwrap_or_default();
        let leader = g.leader.clone().unwrap_or_default();
        JoinResult {
            error: None,
            generation: g.generation,
            protocol_type: g.protocol_type.clone(),
            protocol_name: Some(protocol.clone()),
            leader: leader.clone(),
            member_id: member_id.to_string(),
            members: if member_id == leader {
                g.members
                    .values()
                    .map(|m| JoinedMember {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        metadata: m.metadata_for(&protocol),
                    })
                    .collect()
            } else {
                vec![]
            },
            skip_assignment: false,
        }
    }

    // ---------------------------------------------------------------- JoinGroup

    pub async fn join(&self, p: JoinParams) -> JoinResult {
        let member_id = p.member_id.clone();
        let group_id = p.group_id.clone();
        let rx = {
            let shard = match self.shard_of(&group_id) {
                Ok(s) => s,
                Err(e) => return JoinResult::failed(e, &member_id),
            };
            let mut st = shard.state.lock();
            let result = self.join_locked(shard, &mut st, p, now_ms());
            self.flush_outbox(shard, &mut st, &group_id);
            match result {
                Ok(Ok(result)) => return result,
                Ok(Err(rx)) => rx,
                Err((e, id)) => return JoinResult::failed(e, &id),
            }
        };
        rx.await
            .unwrap_or_else(|_| JoinResult::failed(BrokerError::UnknownMemberId, &member_id))
    }

    #[allow(clippy::type_complexity)]
    pub(super) fn join_locked(
        &self,
        shard: &Shard,
        st: &mut ShardState,
        p: JoinParams,
        now: i64,
    ) -> Result<Result<JoinResult, oneshot::Receiver<JoinResult>>, (BrokerError, String)> {
        let fail = |e: BrokerError| Err((e, p.member_id.clone()));
        if p.group_id.is_empty() {
            return fail(BrokerError::InvalidGroupId);
        }
        if p.session_timeout_ms < self.config.min_session_timeout_ms
            || p.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return fail(BrokerError::InvalidSessionTimeout(p.session_timeout_ms));
        }
        let unknown = p.member_id.is_empty();
        let ShardState {
            groups,
            members_counted,
            members_admitted,
            ..
        } = st;
        if !unknown && !groups.contains_key(&p.group_id) {
            return fail(BrokerError::UnknownMemberId);
        }
        let g = match groups.create(Group::new(&p.group_id, now), self.config.max_groups) {
            Ok(g) => g,
            Err(e) => return fail(e),
        };
        if g.state == GroupState::Dead {
            return fail(BrokerError::CoordinatorNotAvailable);
        }
        if !g.supports(&p.protocol_type, &p.protocols) {
            return fail(BrokerError::InconsistentGroupProtocol);
        }
        let max_size = self.config.max_size;
        let mut admit = || self.admit_member(shard, *members_counted, members_admitted);
        let (tx, rx) = oneshot::channel();
        if unknown {
            let new_id = format!("{}-{}", p.client_id, uuid::Uuid::new_v4());
            if let Some(instance) = &p.group_instance_id {
                if let Some(old_id) = g.static_members.get(instance).cloned() {
                    return Ok(self.replace_static_member(g, &old_id, new_id, p, tx, rx, now));
                }
            } else if p.require_known_member_id {
                // A pending member id holds a place in the group until it joins or its
                // session timeout passes.
                if g.members.len() + g.pending.len() >= max_size {
                    return fail(BrokerError::GroupMaxSizeReached);
                }
                if let Err(e) = admit() {
                    return fail(e);
                }
                g.pending
                    .insert(new_id.clone(), now + p.session_timeout_ms as i64);
                return Err((BrokerError::MemberIdRequired(new_id.clone()), new_id));
            }
            if g.is_full(max_size) {
                return fail(BrokerError::GroupMaxSizeReached);
            }
            if let Err(e) = admit() {
                return fail(e);
            }
            self.add_member_and_rebalance(g, new_id, p, tx, now);
            return Ok(Err(rx));
        }
        // A known member id.
        if let Some(instance) = &p.group_instance_id {
            match g.static_members.get(instance) {
                Some(id) if *id != p.member_id => return fail(BrokerError::FencedInstanceId),
                _ => {}
            }
        }
        if g.pending.remove(&p.member_id).is_some() {
            if g.is_full(max_size) {
                return fail(BrokerError::GroupMaxSizeReached);
            }
            let id = p.member_id.clone();
            self.add_member_and_rebalance(g, id, p, tx, now);
            return Ok(Err(rx));
        }
        let Some(member) = g.members.get(&p.member_id) else {
            return fail(BrokerError::UnknownMemberId);
        };
        let same = member.same_protocols(&p.protocols);
        let is_leader = g.leader.as_deref() == Some(p.member_id.as_str());
        match g.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(g, p, tx, now);
                Ok(Err(rx))
            }
            GroupState::CompletingRebalance if same => {
                refresh(g, &p.member_id, now);
                Ok(Ok(Self::current_join_result(g, &p.member_id)))
            }
            GroupState::Stable if same && !is_leader => {
                refresh(g, &p.member_id, now);
                Ok(Ok(Self::current_join_result(g, &p.member_id)))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(g, p, tx, now);
                Ok(Err(rx))
            }
            GroupState::Empty | GroupState::Dead => fail(BrokerError::UnknownMemberId),
        }
    }

    pub(super) fn add_member_and_rebalance(
        &self,
        g: &mut Group,
        member_id: String,
        p: JoinParams,
        tx: oneshot::Sender<JoinResult>,
        now: i64,
    ) {
        if g.members.is_empty() {
            g.protocol_type = Some(p.protocol_type.clone());
        }
        if let Some(instance) = &p.group_instance_id {
            g.static_members.insert(instance.clone(), member_id.clone());
        }
        if g.leader.is_none() {
            g.leader = Some(member_id.clone());
        }
        g.members.insert(
            member_id.clone(),
            Member {
                member_id,
                group_instance_id: p.group_instance_id,
                client_id: p.client_id,
                client_host: p.client_host,
                rebalance_timeout_ms: p.rebalance_timeout_ms,
                session_timeout_ms: p.session_timeout_ms,
                protocol_type: p.protocol_type,
                protocols: p.protocols,
                assignment: Bytes::new(),
                join_waiter: Some(tx),
                sync_waiter: None,
                session_deadline: now + p.session_timeout_ms as i64,
            },
        );
        if g.state == GroupState::PreparingRebalance && g.initial_delay_until > 0 {
            // A new member during the initial delay extends it, up to the rebalance timeout.
            g.initial_delay_until =
                (now + self.config.initial_rebalance_delay_ms).min(g.initial_delay_limit);
        }
        if g.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(g, now);
        } else {
            let timeout = p.rebalance_timeout_ms as i64;
            g.rebalance_deadline = g.rebalance_deadline.max(now + timeout);
        }
        self.try_complete_join(g, now);
    }

    pub(super) fn update_member_and_rebalance(
        &self,
        g: &mut Group,
        p: JoinParams,
        tx: oneshot::Sender<JoinResult>,
        now: i64,
    ) {
        if let Some(m) = g.members.get_mut(&p.member_id) {
            m.protocols = p.protocols;
            m.rebalance_timeout_ms = p.rebalance_timeout_ms;
            m.session_timeout_ms = p.session_timeout_ms;
            m.client_id = p.client_id;
            m.client_host = p.client_host;
            m.session_deadline = now + p.session_timeout_ms as i64;
            m.join_waiter = Some(tx);
        }
        if g.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(g, now);
        }
        self.try_complete_join(g, now);
    }

    /// A known group.instance.id joins with no member id (a restarted static member): it takes
    /// the old member's place. In a Stable group whose selected protocol it does not change
    /// it gets the current generation back and its old assignment from SyncGroup, without a
    /// rebalance.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn replace_static_member(
        &self,
        g: &mut Group,
        old_id: &str,
        new_id: String,
        p: JoinParams,
        tx: oneshot::Sender<JoinResult>,
        rx: oneshot::Receiver<JoinResult>,
        now: i64,
    ) -> Result<JoinResult, oneshot::Receiver<JoinResult>> {
        let Some(mut old) = g.members.shift_remove(old_id) else {
            self.add_member_and_rebalance(g, new_id, p, tx, now);
            return Err(rx);
        };
        // The old instance's waiting requests are fenced.
        if let Some(w) = old.join_waiter.take() {
            let _ = w.send(JoinResult::failed(BrokerError::FencedInstanceId, old_id));
        }
        if let Some(w) = old.sync_waiter.take() {
            let _ = w.send(SyncResult::failed(BrokerError::FencedInstanceId));
        }
        old.protocols = p.protocols.clone();
        old.member_id = new_id.clone();
        old.client_id = p.client_id.clone();
        old.client_host = p.client_host.clone();
        old.session_timeout_ms = p.session_timeout_ms;
        old.rebalance_timeout_ms = p.rebalance_timeout_ms;
        old.session_deadline = now + p.session_timeout_ms as i64;
        if let Some(instance) = &p.group_instance_id {
            g.static_members.insert(instance.clone(), new_id.clone());
        }
        if g.leader.as_deref() == Some(old_id) {
            g.leader = Some(new_id.clone());
        }
        g.members.insert(new_id.clone(), old);
        // Kafka rebalances only when the restarted member changes the protocol the group
        // would select; its metadata bytes may differ (a new client sends generation -1).
        let same = g.protocol.is_some() && g.protocol == g.select_protocol();
        match g.state {
            GroupState::Stable if same => {
                self.persist_group(g);
                let mut r = Self::current_join_result(g, &new_id);
                if r.leader == new_id {
                    if p.supports_skip_assignment {
                        r.skip_assignment = true;
                    } else {
                        // Before KIP-814 a client that is told it leads computes and syncs a
                        // new assignment: as Kafka does, name the old member id as the leader,
                        // so the restarted leader acts as a follower and keeps its assignment.
                        r.leader = old_id.to_string();
                        r.members.clear();
                    }
                }
                Ok(r)
            }
            _ => {
                let params = JoinParams {
                    member_id: new_id,
                    ..p
                };
                self.update_member_and_rebalance(g, params, tx, now);
                Err(rx)
            }
        }
    }

    // ---------------------------------------------------------------- timers

    /// Session expiry, pending-member expiry, and join-phase deadlines, one shard at a time;
    /// also recounts members for `runnel.max.group.members`.
    pub fn tick(&self, now: i64) {
        for shard in &self.shards {
            if shard.check().is_err() {
                continue;
            }
            let mut st = shard.state.lock();
            let ids: Vec<String> = st.groups.values().map(|g| g.id.clone()).collect();
            for id in ids {
                if let Some(g) = st.groups.get_mut(&id) {
                    self.tick_group(g, now);
                }
                self.flush_outbox(shard, &mut st, &id);
            }
            shard::recount(shard, &mut st);
        }
    }

    fn tick_group(&self, g: &mut Group, now: i64) {
        let expired: Vec<String> = g
            .members
            .values()
            .filter(|m| !m.awaiting() && now > m.session_deadline)
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %g.id, member = %id, "session expired; member removed");
            self.remove_member_and_update(g, &id, now);
        }
        // Pending member ids expire after the session timeout they were handed out with.
        g.pending.retain(|_, deadline| *deadline >= now);
        self.try_complete_join(g, now);
    }
}

pub(super) fn remove_member(g: &mut Group, member_id: &str) {
    if let Some(mut m) = g.members.shift_remove(member_id) {
        if let Some(i) = &m.group_instance_id {
            if g.static_members.get(i).map(String::as_str) == Some(member_id) {
                g.static_members.remove(i);
            }
        }
        if let Some(tx) = m.join_waiter.take() {
            let _ = tx.send(JoinResult::failed(BrokerError::UnknownMemberId, member_id));
        }
        if let Some(tx) = m.sync_waiter.take() {
            let _ = tx.send(SyncResult::failed(BrokerError::UnknownMemberId));
        }
    }
    if g.leader.as_deref() == Some(member_id) {
        g.leader = g.members.keys().next().cloned();
    }
}

pub(super) fn refresh(g: &mut Group, member_id: &str, now: i64) {
    if let Some(m) = g.members.get_mut(member_id) {
        m.session_deadline = now + m.session_timeout_ms as i64;
    }
}

/// Loads every shard (each on its own, on the blocking pool) and runs its writer, and runs the
/// timers until shutdown; then waits for the writers to drain their queues.
pub async fn run(coordinator: Arc<GroupCoordinator>, mut shutdown: watch::Receiver<bool>) {
    let mut writers = tokio::task::JoinSet::new();
    for index in 0..coordinator.shards.len() {
        let c = coordinator.clone();
        let shutdown = shutdown.clone();
        writers.spawn(async move {
            load_shard(&c, index).await;
            shard::write_loop(c, index, shutdown).await;
        });
    }
    let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut expiry = tokio::time::interval(Duration::from_millis(
        coordinator
            .config
            .offsets_retention_check_interval_ms
            .max(1) as u64,
    ));
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => coordinator.tick(now_ms()),
            _ = expiry.tick() => coordinator.expire_offsets(now_ms()),
            _ = shutdown.changed() => break,
        }
    }
    while writers.join_next().await.is_some() {}
}

/// Replays one shard's partition. A failure leaves the shard failed: its groups answer
/// NOT_COORDINATOR rather than appearing empty, and the error is logged.
async fn load_shard(coordinator: &Arc<GroupCoordinator>, index: usize) {
    let partition = coordinator.shards[index].partition.clone();
    let shard = &coordinator.shards[index];
    match tokio::task::spawn_blocking(move || persist::replay(&partition)).await {
        Ok(Ok(groups)) => shard.set_loaded(groups),
        Ok(Err(e)) => {
            tracing::error!(partition = index, error = %e,
                "loading __consumer_offsets partition failed; its groups answer NOT_COORDINATOR");
            shard.set_failed();
        }
        Err(e) => {
            tracing::error!(partition = index, error = %e, "loading __consumer_offsets partition panicked");
            shard.set_failed();
        }
    }
}
