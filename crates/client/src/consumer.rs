//! The consumer: manual assignment, `poll` with prefetch, seeks, pause/resume.
//!
//! Each `poll` first resolves pending offset resets (ListOffsets, by `auto.offset.reset` or
//! an explicit `seek_to_beginning`/`seek_to_end`), then starts one Fetch per leader for the
//! fetchable partitions that have nothing buffered (assigned, not paused, position known), so
//! records for the next `poll` are on their way while the application works on this one.
//! A fetch answer is kept only if its partition is still assigned at the same position (a
//! `seek` in between discards it). `poll` returns at most `max.poll.records` records.

use crate::cluster::{name, Cluster};
use crate::config::{ConsumerConfig, OffsetReset};
use crate::error::{ClientError, Result};
use crate::group::{self, Membership, RebalanceListener, Shared};
use crate::records::{decode_batches, ConsumerRecord};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A topic partition.
pub type TopicPartition = (String, i32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reset {
    Earliest,
    Latest,
    Timestamp(i64),
}

#[derive(Debug, Default)]
struct PartState {
    position: Option<i64>,
    reset: Option<Reset>,
    paused: bool,
    /// Records fetched and not yet returned, and where the next fetch starts after them.
    buffer: VecDeque<ConsumerRecord>,
    next_fetch: Option<i64>,
    fetching: bool,
    high_watermark: i64,
    /// After a retriable fetch error (a moved leader, a dropped connection) the partition is
    /// not fetched again before this, so stale metadata cannot make a tight retry loop:
    /// `retry.backoff.ms`, as the Java consumer waits between metadata refreshes.
    retry_after: Option<Instant>,
}

struct FetchedPartition {
    tp: TopicPartition,
    fetch_offset: i64,
    result: Result<(Vec<ConsumerRecord>, i64, i64)>,
}

type FetchDone = (i32, Vec<TopicPartition>, Result<Vec<FetchedPartition>>);

/// A consumer of manually assigned partitions.
pub struct Consumer {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    parts: BTreeMap<TopicPartition, PartState>,
    nodes_fetching: HashSet<i32>,
    done_tx: mpsc::UnboundedSender<FetchDone>,
    done_rx: mpsc::UnboundedReceiver<FetchDone>,
    group: Option<Membership>,
    last_auto_commit: Instant,
}

impl Consumer {
    pub async fn connect(config: ConsumerConfig) -> Result<Consumer> {
        let cluster = Cluster::connect(config.common.clone()).await?;
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Ok(Consumer {
            cluster,
            config,
            parts: BTreeMap::new(),
            nodes_fetching: HashSet::new(),
            done_tx,
            done_rx,
            group: None,
            last_auto_commit: Instant::now(),
        })
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Replaces the assignment. Partitions kept keep their position.
    pub async fn assign(&mut self, tps: &[(&str, i32)]) -> Result<()> {
        for (t, p) in tps {
            let info = self.cluster.topic(t).await?;
            if !info.partitions.iter().any(|x| x.partition == *p) {
                return Err(ClientError::kafka(3, Some(format!("partition {t}-{p}"))));
            }
        }
        let wanted: HashSet<TopicPartition> =
            tps.iter().map(|(t, p)| (t.to_string(), *p)).collect();
        self.parts.retain(|tp, _| wanted.contains(tp));
        for tp in wanted {
            self.parts.entry(tp).or_default();
        }
        Ok(())
    }

    /// Assigns every partition of `topic`.
    pub async fn assign_topic(&mut self, topic: &str) -> Result<()> {
        let info = self.cluster.topic(topic).await?;
        let tps: Vec<(&str, i32)> = info
            .partitions
            .iter()
            .map(|p| (topic, p.partition))
            .collect();
        self.assign(&tps).await
    }

    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.parts.keys().cloned().collect()
    }

    fn part(&mut self, topic: &str, partition: i32) -> Result<&mut PartState> {
        self.parts
            .get_mut(&(topic.to_string(), partition))
            .ok_or_else(|| {
                ClientError::State(format!(
                    "{topic}-{partition} is not assigned to this consumer"
                ))
            })
    }

    fn clear(p: &mut PartState) {
        p.buffer.clear();
        p.next_fetch = None;
    }

    /// The next `poll` reads `topic-partition` from `offset`.
    pub fn seek(&mut self, topic: &str, partition: i32, offset: i64) -> Result<()> {
        let p = self.part(topic, partition)?;
        Self::clear(p);
        p.position = Some(offset);
        p.reset = None;
        Ok(())
    }

    /// The next `poll` reads from the log start offset.
    pub fn seek_to_beginning(&mut self, tps: &[(&str, i32)]) -> Result<()> {
        self.seek_reset(tps, Reset::Earliest)
    }

    /// The next `poll` reads from the log end offset.
    pub fn seek_to_end(&mut self, tps: &[(&str, i32)]) -> Result<()> {
        self.seek_reset(tps, Reset::Latest)
    }

    /// The next `poll` reads from the first record with timestamp >= `ts` (the end if none).
    pub fn seek_to_timestamp(&mut self, tps: &[(&str, i32)], ts: i64) -> Result<()> {
        self.seek_reset(tps, Reset::Timestamp(ts))
    }

    fn seek_reset(&mut self, tps: &[(&str, i32)], r: Reset) -> Result<()> {
        for (t, p) in tps {
            let st = self.part(t, *p)?;
            Self::clear(st);
            st.position = None;
            st.reset = Some(r);
        }
        Ok(())
    }

    /// Stops fetching these partitions until `resume`.
    pub fn pause(&mut self, tps: &[(&str, i32)]) -> Result<()> {
        for (t, p) in tps {
            self.part(t, *p)?.paused = true;
        }
        Ok(())
    }

    pub fn resume(&mut self, tps: &[(&str, i32)]) -> Result<()> {
        for (t, p) in tps {
            self.part(t, *p)?.paused = false;
        }
        Ok(())
    }

    pub fn paused(&self) -> Vec<TopicPartition> {
        self.parts
            .iter()
            .filter(|(_, p)| p.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// The offset of the next record `poll` will return for this partition.
    pub async fn position(&mut self, topic: &str, partition: i32) -> Result<i64> {
        self.part(topic, partition)?;
        self.resolve_resets().await?;
        let p = self.part(topic, partition)?;
        p.position
            .ok_or_else(|| ClientError::State(format!("no position for {topic}-{partition}")))
    }

    /// ListOffsets for every partition that needs a position.
    async fn resolve_resets(&mut self) -> Result<()> {
        let default = match self.config.auto_offset_reset {
            OffsetReset::Earliest => Some(Reset::Earliest),
            OffsetReset::Latest => Some(Reset::Latest),
            OffsetReset::None => None,
        };
        // With a group.id, partitions with no position start at their committed offset.
        let no_position: Vec<TopicPartition> = self
            .parts
            .iter()
            .filter(|(_, p)| p.position.is_none() && p.reset.is_none())
            .map(|(tp, _)| tp.clone())
            .collect();
        if !no_position.is_empty() {
            if let Some(g) = self.config.group_id.clone() {
                let coord = self.coordinator_conn(&g).await?;
                let committed = group::fetch_committed(&coord, &g, Some(&no_position)).await?;
                for (tp, (off, _)) in committed {
                    if let Some(p) = self.parts.get_mut(&tp) {
                        p.position = Some(off);
                    }
                }
            }
        }
        let mut wanted: Vec<(TopicPartition, Reset)> = Vec::new();
        for (tp, p) in &self.parts {
            if p.position.is_none() {
                match p.reset.or(default) {
                    Some(r) => wanted.push((tp.clone(), r)),
                    None => {
                        return Err(ClientError::State(format!(
                            "no committed or reset position for {}-{} and auto.offset.reset=none",
                            tp.0, tp.1
                        )))
                    }
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, Reset)>> = BTreeMap::new();
        for (tp, r) in wanted {
            let info = self.cluster.topic(&tp.0).await?;
            let leader = info
                .partitions
                .iter()
                .find(|p| p.partition == tp.1)
                .map_or(-1, |p| p.leader);
            by_leader.entry(leader).or_default().push((tp, r));
        }
        for (leader, list) in by_leader {
            let mut topics: BTreeMap<String, Vec<ListOffsetsPartition>> = BTreeMap::new();
            for ((t, p), r) in &list {
                let mut lp = ListOffsetsPartition::default();
                lp.partition_index = *p;
                lp.current_leader_epoch = -1;
                lp.timestamp = match r {
                    Reset::Earliest => -2,
                    Reset::Latest => -1,
                    Reset::Timestamp(ts) => *ts,
                };
                topics.entry(t.clone()).or_default().push(lp);
            }
            let mut req = ListOffsetsRequest::default();
            req.replica_id = BrokerId(-1);
            req.isolation_level = self.config.isolation_level as i8;
            req.topics = topics
                .into_iter()
                .map(|(t, ps)| {
                    let mut lt = ListOffsetsTopic::default();
                    lt.name = name(&t);
                    lt.partitions = ps;
                    lt
                })
                .collect();
            let resp = match self.cluster.node(leader).await?.send(&req).await {
                Ok(r) => r,
                Err(e) => {
                    for ((t, _), _) in &list {
                        self.cluster.invalidate(t);
                    }
                    return Err(e);
                }
            };
            let mut ends: HashMap<TopicPartition, i64> = HashMap::new();
            for t in resp.topics {
                for p in t.partitions {
                    let tp = (t.name.0.to_string(), p.partition_index);
                    if p.error_code != 0 {
                        self.cluster.invalidate(&tp.0);
                        return Err(ClientError::kafka(
                            p.error_code,
                            Some(format!("ListOffsets {}-{}", tp.0, tp.1)),
                        ));
                    }
                    ends.insert(tp, p.offset);
                }
            }
            for (tp, r) in list {
                let Some(mut off) = ends.get(&tp).copied() else {
                    continue;
                };
                if off < 0 {
                    // No record at or after the timestamp: the end of the log.
                    if let Reset::Timestamp(_) = r {
                        let (t, p) = (tp.0.clone(), tp.1);
                        if let Some(st) = self.parts.get_mut(&tp) {
                            st.reset = Some(Reset::Latest);
                        }
                        let _ = (t, p);
                        continue;
                    }
                    off = 0;
                }
                if let Some(st) = self.parts.get_mut(&tp) {
                    st.position = Some(off);
                    st.reset = None;
                }
            }
        }
        // Timestamp lookups that found nothing were turned into Latest: resolve those too.
        if self.parts.values().any(|p| p.position.is_none()) {
            Box::pin(self.resolve_resets()).await?;
        }
        Ok(())
    }

    /// Starts one Fetch per leader for fetchable partitions with nothing buffered.
    async fn start_fetches(&mut self) -> Result<()> {
        let now = Instant::now();
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        let candidates: Vec<(TopicPartition, i64)> = self
            .parts
            .iter()
            .filter(|(_, p)| !p.paused && !p.fetching && p.buffer.is_empty())
            .filter(|(_, p)| p.retry_after.is_none_or(|at| at <= now))
            .filter_map(|(tp, p)| p.position.map(|pos| (tp.clone(), pos)))
            .collect();
        for (tp, pos) in candidates {
            let info = match self.cluster.topic(&tp.0).await {
                Ok(i) => i,
                Err(e) if e.is_retriable() => continue,
                Err(e) => return Err(e),
            };
            let Some(leader) = info
                .partitions
                .iter()
                .find(|p| p.partition == tp.1)
                .map(|p| p.leader)
            else {
                continue;
            };
            if leader < 0 || self.nodes_fetching.contains(&leader) {
                continue;
            }
            by_leader.entry(leader).or_default().push((tp, pos));
        }
        for (leader, list) in by_leader {
            let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
            for ((t, p), pos) in &list {
                let mut fp = FetchPartition::default();
                fp.partition = *p;
                fp.fetch_offset = *pos;
                fp.partition_max_bytes = self.config.max_partition_fetch_bytes;
                fp.current_leader_epoch = -1;
                fp.last_fetched_epoch = -1;
                fp.log_start_offset = -1;
                topics.entry(t.clone()).or_default().push(fp);
            }
            let mut req = FetchRequest::default();
            req.replica_id = BrokerId(-1);
            req.max_wait_ms = self.config.fetch_max_wait.as_millis() as i32;
            req.min_bytes = self.config.fetch_min_bytes;
            req.max_bytes = self.config.fetch_max_bytes;
            req.isolation_level = self.config.isolation_level as i8;
            req.session_id = 0;
            req.session_epoch = -1;
            req.topics = topics
                .into_iter()
                .map(|(t, ps)| {
                    let mut ft = FetchTopic::default();
                    ft.topic = name(&t);
                    ft.partitions = ps;
                    ft
                })
                .collect();
            for (tp, _) in &list {
                if let Some(p) = self.parts.get_mut(tp) {
                    p.fetching = true;
                }
            }
            self.nodes_fetching.insert(leader);
            let tps: Vec<TopicPartition> = list.iter().map(|(tp, _)| tp.clone()).collect();
            let offsets: HashMap<TopicPartition, i64> = list.into_iter().collect();
            let (cluster, done) = (self.cluster.clone(), self.done_tx.clone());
            tokio::spawn(async move {
                let result = async {
                    let resp = cluster.node(leader).await?.send(&req).await?;
                    ClientError::check(resp.error_code, None)?;
                    let mut out = Vec::new();
                    for t in resp.responses {
                        let topic = t.topic.0.to_string();
                        for p in t.partitions {
                            let tp = (topic.clone(), p.partition_index);
                            let fetch_offset = offsets.get(&tp).copied().unwrap_or(-1);
                            let result = if p.error_code != 0 {
                                Err(ClientError::kafka(
                                    p.error_code,
                                    Some(format!("fetch {}-{}", tp.0, tp.1)),
                                ))
                            } else {
                                decode_partition(&tp, fetch_offset, p.records.unwrap_or_default())
                                    .map(|(recs, next)| (recs, next, p.high_watermark))
                            };
                            out.push(FetchedPartition {
                                tp,
                                fetch_offset,
                                result,
                            });
                        }
                    }
                    Ok(out)
                }
                .await;
                let _ = done.send((leader, tps, result));
            });
        }
        Ok(())
    }

    fn handle_fetch(&mut self, done: FetchDone) -> Result<()> {
        let (leader, tps, result) = done;
        self.nodes_fetching.remove(&leader);
        for tp in &tps {
            if let Some(p) = self.parts.get_mut(tp) {
                p.fetching = false;
            }
        }
        let parts = match result {
            Ok(p) => p,
            Err(e) => {
                let retry_after = Instant::now() + self.config.common.retry_backoff;
                for tp in &tps {
                    self.cluster.invalidate(&tp.0);
                    if let Some(p) = self.parts.get_mut(tp) {
                        p.retry_after = Some(retry_after);
                    }
                }
                if e.is_retriable() {
                    return Ok(());
                }
                return Err(e);
            }
        };
        for f in parts {
            let Some(st) = self.parts.get_mut(&f.tp) else {
                continue;
            };
            if st.position != Some(f.fetch_offset) {
                continue; // sought elsewhere meanwhile
            }
            match f.result {
                Ok((recs, next, hw)) => {
                    st.high_watermark = hw;
                    st.buffer.extend(recs);
                    if next > f.fetch_offset {
                        st.next_fetch = Some(next);
                    }
                    if st.buffer.is_empty() {
                        if let Some(n) = st.next_fetch.take() {
                            st.position = Some(n);
                        }
                    }
                }
                Err(e) if e.code() == Some(1) => {
                    // OFFSET_OUT_OF_RANGE: reset by auto.offset.reset.
                    st.position = None;
                    Self::clear(st);
                    if self.config.auto_offset_reset == OffsetReset::None {
                        return Err(e);
                    }
                }
                Err(e) if e.needs_metadata_refresh() || e.is_retriable() => {
                    self.cluster.invalidate(&f.tp.0);
                    st.retry_after = Some(Instant::now() + self.config.common.retry_backoff);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn take_buffered(&mut self) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        let max = self.config.max_poll_records;
        for p in self.parts.values_mut() {
            if p.paused {
                continue;
            }
            while out.len() < max {
                let Some(r) = p.buffer.pop_front() else { break };
                p.position = Some(r.offset + 1);
                out.push(r);
            }
            if p.buffer.is_empty() {
                if let Some(n) = p.next_fetch.take() {
                    if p.position.is_none_or(|pos| n > pos) {
                        p.position = Some(n);
                    }
                }
            }
            if out.len() >= max {
                break;
            }
        }
        out
    }

    /// Returns buffered records, or waits up to `timeout` for fetched ones. With a
    /// subscription, joins or rejoins the group first when needed, and commits positions every
    /// `auto.commit.interval.ms` when `enable.auto.commit` is on.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = Instant::now() + timeout;
        if let Some(g) = &self.group {
            *g.shared.last_poll.lock() = Some(Instant::now());
        }
        self.maybe_rejoin().await?;
        if self.config.enable_auto_commit
            && self.config.group_id.is_some()
            && self.last_auto_commit.elapsed() >= self.config.auto_commit_interval
        {
            self.last_auto_commit = Instant::now();
            if let Err(e) = self.commit_sync().await {
                tracing::warn!(error = %e, "auto commit failed");
            }
        }
        loop {
            if self
                .group
                .as_ref()
                .is_some_and(|g| g.shared.rejoin.load(std::sync::atomic::Ordering::SeqCst))
            {
                return Ok(Vec::new());
            }
            while let Ok(done) = self.done_rx.try_recv() {
                self.handle_fetch(done)?;
            }
            self.resolve_resets().await?;
            let out = self.take_buffered();
            // Prefetch for the next poll before handing these over.
            self.start_fetches().await?;
            if !out.is_empty() {
                return Ok(out);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let wait = (deadline - now).min(if self.nodes_fetching.is_empty() {
                self.config.common.retry_backoff
            } else {
                deadline - now
            });
            match tokio::time::timeout(wait, self.done_rx.recv()).await {
                Ok(Some(done)) => self.handle_fetch(done)?,
                Ok(None) => return Err(ClientError::Closed),
                Err(_) => {}
            }
        }
    }

    /// Fetch requests sent and not yet answered (the prefetch).
    pub fn fetches_in_flight(&self) -> usize {
        self.nodes_fetching.len()
    }

    /// The high watermark seen in the last fetch of a partition.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.parts
            .get(&(topic.to_string(), partition))
            .map(|p| p.high_watermark)
    }

    async fn coordinator_conn(&mut self, group_id: &str) -> Result<Arc<crate::conn::Connection>> {
        match &mut self.group {
            Some(g) => g.coordinator(&self.cluster).await,
            None => group::find_coordinator(&self.cluster, group_id).await,
        }
    }

    fn group_id(&self) -> Result<String> {
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

    fn subscribe_inner(
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

    async fn maybe_rejoin(&mut self) -> Result<()> {
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
    async fn revoke(&mut self, revoked: &[TopicPartition]) {
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

    async fn commit_future(
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

/// Records at or after `fetch_offset`, and the offset after the last complete batch.
fn decode_partition(
    tp: &TopicPartition,
    fetch_offset: i64,
    bytes: bytes::Bytes,
) -> Result<(Vec<ConsumerRecord>, i64)> {
    let mut next = fetch_offset;
    let mut out = Vec::new();
    for b in decode_batches(bytes)? {
        next = next.max(b.last_offset + 1);
        if b.control {
            continue;
        }
        for (offset, timestamp, timestamp_type, key, value, headers) in b.records {
            if offset < fetch_offset {
                continue;
            }
            out.push(ConsumerRecord {
                topic: tp.0.clone(),
                partition: tp.1,
                offset,
                timestamp,
                timestamp_type,
                key,
                value,
                headers,
            });
        }
    }
    Ok((out, next))
}
