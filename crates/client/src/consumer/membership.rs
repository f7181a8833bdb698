//! Group membership for the [`Consumer`]: subscriptions, joining and rejoining, revoking,
//! commits and `close`.

use super::{Consumer, TopicPartition};
use crate::error::{ClientError, Result};
use crate::group::{self, Membership, RebalanceListener, Shared};
use std::collections::BTreeMap;
use std::sync::Arc;

impl Consumer {
    pub(super) async fn coordinator_conn(
        &mut self,
        group_id: &str,
    ) -> Result<Arc<crate::conn::Connection>> {
        match &mut self.group {
            Some(g) => g.coordinator(&self.cluster).await,
            None => group::find_coordinator(&self.cluster, group_id).await,
        }
    }

    pub(super) fn group_id(&self) -> Result<String> {
        self.config
            .group_id
            .clone()
            .ok_or_else(|| ClientError::State("this needs group.id to be set".into()))
    }

    /// Joins `group.id` consuming `topics`; partitions come from the group's assignment.
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<()> {
        self.subscribe_inner(topics, None)
    }

    /// Like [`Consumer::subscribe`], telling `listener` when partitions move.
    pub fn subscribe_with_listener(
        &mut self,
        topics: &[&str],
        listener: Box<dyn RebalanceListener>,
    ) -> Result<()> {
        self.subscribe_inner(topics, Some(listener))
    }

    /// Joins `group.id` consuming every topic whose whole name matches `pattern` (a regex),
    /// re-checked every `metadata.max.age.ms`: new matching topics join the subscription.
    pub fn subscribe_pattern(
        &mut self,
        pattern: &str,
        listener: Option<Box<dyn RebalanceListener>>,
    ) -> Result<()> {
        let re = regex::Regex::new(pattern).map_err(|e| ClientError::Config {
            key: "subscription pattern".into(),
            value: pattern.into(),
            reason: e.to_string(),
        })?;
        self.subscribe_inner(&[], listener)?;
        if let Some(g) = self.group.as_mut() {
            g.pattern = Some(re);
        }
        Ok(())
    }

    pub(super) fn subscribe_inner(
        &mut self,
        topics: &[&str],
        listener: Option<Box<dyn RebalanceListener>>,
    ) -> Result<()> {
        let group_id = self.group_id()?;
        let shared = Arc::new(Shared::default());
        shared
            .rejoin
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let (member_id, coordinator, last_assignment) = match self.group.take() {
            Some(mut g) => (
                std::mem::take(&mut g.member_id),
                g.coordinator.take(),
                g.last_assignment.take(),
            ),
            None => (String::new(), None, None),
        };
        self.group = Some(Membership {
            group_id,
            instance_id: self.config.group_instance_id.clone(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            pattern: None,
            pattern_checked: None,
            strategies: self.config.assignment_strategies.clone(),
            member_id,
            generation: -1,
            last_assignment,
            protocol: None,
            coordinator,
            shared,
            heartbeat: None,
            joined: false,
            listener,
        });
        Ok(())
    }

    /// The group generation and member id, once joined.
    pub fn group_generation(&self) -> Option<(i32, String)> {
        self.group
            .as_ref()
            .filter(|g| g.joined)
            .map(|g| (g.generation, g.member_id.clone()))
    }

    pub(super) async fn maybe_rejoin(&mut self) -> Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        let max_age = self.config.common.metadata_max_age;
        if let Some(g) = self.group.as_mut() {
            let force = !g.joined;
            g.check_pattern(&self.cluster, max_age, force).await?;
        }
        let Some(g) = &self.group else { return Ok(()) };
        if g.joined && !g.shared.rejoin.load(SeqCst) {
            return Ok(());
        }
        let owned: Vec<TopicPartition> = self.assignment();
        let cooperative = g.protocol.as_deref() == Some("cooperative-sticky");
        let lost = g.shared.lost.load(SeqCst);
        if g.joined && lost {
            let g = self.group.as_mut().expect("group");
            // Like Java: a member that lost its partitions rejoins without a generation,
            // so its stale claims lose to anyone else's.
            g.generation = -1;
            if let Some(l) = g.listener.as_mut() {
                l.on_partitions_lost(&owned);
            }
            self.parts.clear();
        } else if g.joined && !cooperative {
            self.revoke(&owned).await;
            self.parts.clear();
        }
        let owned_now = self.assignment();
        let (session, rebalance, heartbeat) = (
            self.config.session_timeout,
            self.config.max_poll_interval,
            self.config.heartbeat_interval,
        );
        let g = self.group.as_mut().expect("group");
        if let Some(h) = g.heartbeat.take() {
            h.abort();
        }
        let assigned = g
            .join(&self.cluster, &owned_now, session, rebalance)
            .await?;
        g.start_heartbeat(heartbeat, rebalance);
        let revoked: Vec<TopicPartition> = owned_now
            .iter()
            .filter(|tp| !assigned.contains(tp))
            .cloned()
            .collect();
        let added: Vec<TopicPartition> = assigned
            .iter()
            .filter(|tp| !owned_now.contains(tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            self.revoke(&revoked).await;
            for tp in &revoked {
                self.parts.remove(tp);
            }
            // Cooperative: what was given up goes to its new owner in the next rebalance.
            if let Some(g) = &self.group {
                g.shared.rejoin.store(true, SeqCst);
            }
        }
        for tp in &added {
            self.parts.entry(tp.clone()).or_default();
        }
        if let Some(l) = self.group.as_mut().and_then(|g| g.listener.as_mut()) {
            l.on_partitions_assigned(&added);
        }
        Ok(())
    }

    /// Tells the listener, then commits what it returns and (with auto commit) positions.
    pub(super) async fn revoke(&mut self, revoked: &[TopicPartition]) {
        if revoked.is_empty() {
            return;
        }
        let mut offsets = self
            .group
            .as_mut()
            .and_then(|g| g.listener.as_mut())
            .map(|l| l.on_partitions_revoked(revoked))
            .unwrap_or_default();
        if self.config.enable_auto_commit {
            for tp in revoked {
                if offsets.iter().any(|(x, _, _)| x == tp) {
                    continue;
                }
                if let Some(pos) = self.parts.get(tp).and_then(|p| p.position) {
                    offsets.push((tp.clone(), pos, None));
                }
            }
        }
        if !offsets.is_empty() {
            if let Err(e) = self.commit_offsets_sync(&offsets).await {
                tracing::warn!(error = %e, "commit on revocation failed");
            }
        }
    }

    /// Commits the current position of every assigned partition.
    pub async fn commit_sync(&mut self) -> Result<()> {
        let offsets: Vec<(TopicPartition, i64, Option<String>)> = self
            .parts
            .iter()
            .filter_map(|(tp, p)| p.position.map(|o| (tp.clone(), o, None)))
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
        self.commit_offsets_sync(&offsets).await
    }

    /// Commits these offsets with their metadata.
    pub async fn commit_offsets_sync(
        &mut self,
        offsets: &[(TopicPartition, i64, Option<String>)],
    ) -> Result<()> {
        let fut = self.commit_future(offsets).await?;
        fut.await
    }

    /// Starts committing these offsets and returns without waiting; await the handle for the
    /// outcome.
    pub async fn commit_async(
        &mut self,
        offsets: &[(TopicPartition, i64, Option<String>)],
    ) -> Result<tokio::task::JoinHandle<Result<()>>> {
        let fut = self.commit_future(offsets).await?;
        Ok(tokio::spawn(fut))
    }

    pub(super) async fn commit_future(
        &mut self,
        offsets: &[(TopicPartition, i64, Option<String>)],
    ) -> Result<impl std::future::Future<Output = Result<()>> + Send + 'static> {
        let group_id = self.group_id()?;
        let coord = self.coordinator_conn(&group_id).await?;
        let (generation, member, instance) = match &self.group {
            Some(g) if g.joined => (g.generation, g.member_id.clone(), g.instance_id.clone()),
            _ => (-1, String::new(), None),
        };
        let offsets = offsets.to_vec();
        Ok(async move {
            group::commit(
                &coord,
                &group_id,
                generation,
                &member,
                instance.as_deref(),
                &offsets,
            )
            .await
        })
    }

    /// The group's committed offsets and metadata for these partitions.
    pub async fn committed(
        &mut self,
        tps: &[(&str, i32)],
    ) -> Result<BTreeMap<TopicPartition, (i64, Option<String>)>> {
        let group_id = self.group_id()?;
        let coord = self.coordinator_conn(&group_id).await?;
        let tps: Vec<TopicPartition> = tps.iter().map(|(t, p)| (t.to_string(), *p)).collect();
        group::fetch_committed(&coord, &group_id, Some(&tps)).await
    }

    /// Commits (with `enable.auto.commit`) and leaves the group (static members stay, as in
    /// the Java client, so a restart within `session.timeout.ms` keeps the assignment).
    pub async fn close(mut self) {
        if self.config.enable_auto_commit && self.config.group_id.is_some() {
            if let Err(e) = self.commit_sync().await {
                tracing::warn!(error = %e, "commit on close failed");
            }
        }
        if let Some(mut g) = self.group.take() {
            g.shared
                .stop
                .store(true, std::sync::atomic::Ordering::SeqCst);
            if let Some(h) = g.heartbeat.take() {
                h.abort();
            }
            if g.joined && g.instance_id.is_none() {
                if let Some(c) = g.coordinator.clone() {
                    let _ = group::leave(&c, &g.group_id, &g.member_id, None).await;
                }
            }
        }
        self.cluster.close().await;
    }
}
