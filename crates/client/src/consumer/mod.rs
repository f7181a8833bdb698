//! The consumer: manual assignment, `poll` with prefetch, seeks, pause/resume.
//!
//! Each `poll` first resolves pending offset resets (ListOffsets, by `auto.offset.reset` or
//! an explicit `seek_to_beginning`/`seek_to_end`), then starts one Fetch per leader for the
//! fetchable partitions that have nothing buffered (assigned, not paused, position known), so
//! records for the next `poll` are on their way while the application works on this one.
//! A fetch answer is kept only if its partition is still assigned at the same position (a
//! `seek` in between discards it). `poll` returns at most `max.poll.records` records.
//!
//! Files: this one (the `Consumer`: assignment, seeks, pause/resume, `poll`), `fetcher.rs`
//! (offset resets, Fetch requests and their answers), `membership.rs` (subscriptions, the
//! group, commits, `close`).

mod fetcher;
mod membership;

use crate::cluster::Cluster;
use crate::config::ConsumerConfig;
use crate::error::{ClientError, Result};
use crate::group::Membership;
use crate::records::ConsumerRecord;
use std::collections::{BTreeMap, HashSet, VecDeque};
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
}
