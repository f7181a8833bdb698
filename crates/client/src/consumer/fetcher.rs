//! Fetching for the [`Consumer`]: offset resets by ListOffsets, one Fetch per leader for the
//! partitions with nothing buffered, and keeping or dropping what comes back.

use super::{Consumer, FetchDone, FetchedPartition, Reset, TopicPartition};
use crate::cluster::name;
use crate::config::OffsetReset;
use crate::error::{ClientError, Result};
use crate::group;
use crate::records::{decode_batches, ConsumerRecord};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

impl Consumer {
    /// ListOffsets for every partition that needs a position.
    pub(super) async fn resolve_resets(&mut self) -> Result<()> {
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
    pub(super) async fn start_fetches(&mut self) -> Result<()> {
        let now = Instant::now();
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        // Records the next poll will return anyway: while there are some, a fetch that could
        // only long-poll (every partition in it at its high watermark) would hold the node's
        // one fetch slot for `fetch.max.wait.ms` just when the buffered partitions need
        // refilling. Such a fetch waits until the buffer is drained; it then goes out with
        // the others, so caught-up partitions are never left out of a fetch that is sent.
        let poll_has_records = self
            .parts
            .values()
            .any(|p| !p.paused && !p.buffer.is_empty());
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
            let caught_up = |(tp, pos): &(TopicPartition, i64)| {
                self.parts.get(tp).is_some_and(|p| *pos >= p.high_watermark)
            };
            if poll_has_records && list.iter().all(caught_up) {
                continue;
            }
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

    pub(super) fn handle_fetch(&mut self, done: FetchDone) -> Result<()> {
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

    pub(super) fn take_buffered(&mut self) -> Vec<ConsumerRecord> {
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
