//! The `Sender`: a background task that drains ready batches to partition leaders, keeps
//! `max.in.flight.requests.per.connection`, and retries or completes batches from responses.

use super::accumulator::{ProducerBatch, RecordAccumulator};
use super::dispatch::{Dispatcher, Done};
use super::Tp;
use crate::cluster::{name, Cluster};
use crate::config::{Acks, ProducerConfig};
use crate::error::{ClientError, Result};
use crate::records::{self, BatchHeader};
use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProduceResponse};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

struct SenderState {
    acc: Arc<RecordAccumulator>,
    cluster: Arc<Cluster>,
    config: ProducerConfig,
    producer_id: i64,
    producer_epoch: i16,
    next_sequence: HashMap<Tp, i32>,
    in_flight_per_node: HashMap<i32, usize>,
    in_flight_per_tp: HashMap<Tp, usize>,
    /// One per broker: writes its requests in the order they are made here.
    dispatchers: HashMap<i32, Dispatcher>,
    done_tx: mpsc::UnboundedSender<Done>,
}

impl SenderState {
    fn backoff(&self, attempts: u32) -> Duration {
        let base = self.config.common.retry_backoff.as_millis() as u64;
        let max = self.config.common.retry_backoff_max.as_millis() as u64;
        let exp = base.saturating_mul(1u64 << attempts.saturating_sub(1).min(20));
        Duration::from_millis(exp.min(max.max(base)))
    }

    /// Fails queued batches older than `delivery.timeout.ms`.
    fn expire(&self, now: Instant) {
        let mut expired = Vec::new();
        {
            let mut st = self.acc.state.lock();
            for q in st.all_queues() {
                while let Some(b) = q.front() {
                    if now.duration_since(b.created) >= self.config.delivery_timeout {
                        expired.push(q.pop_front().expect("front"));
                    } else {
                        break;
                    }
                }
            }
        }
        for b in expired {
            let err = ClientError::DeliveryTimeout {
                topic: b.tp.0.clone(),
                partition: b.tp.1,
                delivery_timeout_ms: self.config.delivery_timeout.as_millis() as u64,
                last_error: b.last_error.as_ref().map(|e| e.to_string()),
            };
            self.acc.complete(b, Err(err));
        }
    }

    /// Ready batches by leader, and when to look again.
    async fn drain(
        &mut self,
        now: Instant,
    ) -> (BTreeMap<i32, Vec<ProducerBatch>>, Option<Instant>) {
        let flushing = self.acc.flushing.load(Ordering::SeqCst) > 0 || self.acc.state.lock().closed;
        let linger = self.config.linger;
        let mut next: Option<Instant> = None;
        let mut soon = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        let topics: Vec<String> = {
            let st = self.acc.state.lock();
            st.queues
                .iter()
                .filter(|(_, parts)| parts.iter().any(|q| !q.is_empty()))
                .map(|(t, _)| t.clone())
                .collect()
        };
        // Leader of each partition, by topic then partition index; -1 when unknown.
        let mut leaders: HashMap<String, Vec<i32>> = HashMap::new();
        for t in topics {
            match self.cluster.topic(&t).await {
                Ok(info) => {
                    let mut by_index = Vec::new();
                    for p in info.partitions.iter().filter(|p| p.partition >= 0) {
                        let i = p.partition as usize;
                        if by_index.len() <= i {
                            by_index.resize(i + 1, -1);
                        }
                        by_index[i] = p.leader;
                    }
                    leaders.insert(t, by_index);
                }
                Err(e) => {
                    tracing::debug!(topic = t, error = %e, "no metadata for a topic with queued records");
                    soon(now + self.config.common.retry_backoff);
                }
            }
        }
        let mut out: BTreeMap<i32, Vec<ProducerBatch>> = BTreeMap::new();
        let mut request_bytes: HashMap<i32, usize> = HashMap::new();
        let mut st = self.acc.state.lock();
        let queues = st.queues.iter_mut().flat_map(|(topic, parts)| {
            let leaders = leaders.get(topic.as_str());
            parts.iter_mut().enumerate().map(move |(i, q)| {
                let leader = leaders.and_then(|l| l.get(i)).copied().unwrap_or(-1);
                (leader, q)
            })
        });
        for (leader, q) in queues {
            if leader < 0 {
                continue;
            }
            let Some(front) = q.front() else { continue };
            let tp = &front.tp;
            if let Some(at) = front.retry_at {
                if at > now {
                    soon(at);
                    continue;
                }
                // A retried batch waits until nothing of its partition is in flight.
                if self.in_flight_per_tp.get(tp).copied().unwrap_or(0) > 0 {
                    continue;
                }
            }
            let full = q.len() > 1 || front.size() >= self.config.batch_size;
            let lingered = now.duration_since(front.created) >= linger;
            if !(full || lingered || flushing || front.attempts > 0) {
                soon(front.created + linger);
                continue;
            }
            if self.in_flight_per_node.get(&leader).copied().unwrap_or(0)
                + usize::from(out.contains_key(&leader))
                >= self.config.max_in_flight
            {
                continue;
            }
            let used = request_bytes.entry(leader).or_default();
            if *used > 0 && *used + front.size() > self.config.max_request_size {
                // Ready but over this request's size: go again at once for the next request.
                soon(now);
                continue;
            }
            let mut b = q.pop_front().expect("front");
            *used += b.size();
            if b.built.is_none() && self.producer_id >= 0 {
                let seq = self.next_sequence.entry(b.tp.clone()).or_insert(0);
                b.base_sequence = *seq;
                *seq = seq.wrapping_add(b.count) & i32::MAX;
            }
            out.entry(leader).or_default().push(b);
        }
        (out, next)
    }

    fn build(&self, b: &mut ProducerBatch) -> Result<Bytes> {
        if let Some(bytes) = &b.built {
            return Ok(bytes.clone());
        }
        let h = BatchHeader {
            base_timestamp: b.base_timestamp,
            max_timestamp: b.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: if self.producer_id >= 0 {
                self.producer_epoch
            } else {
                -1
            },
            base_sequence: if self.producer_id >= 0 {
                b.base_sequence
            } else {
                -1
            },
            record_count: b.count,
            compression: self.config.compression,
            levels: self.config.compression_levels,
        };
        let bytes = records::finish_batch(&h, std::mem::take(&mut b.records))?;
        b.built = Some(bytes.clone());
        Ok(bytes)
    }

    fn send(&mut self, node: i32, mut batches: Vec<ProducerBatch>) {
        let mut by_topic: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
        let mut ok = Vec::new();
        for mut b in batches.drain(..) {
            match self.build(&mut b) {
                Ok(bytes) => {
                    let mut p = PartitionProduceData::default();
                    p.index = b.tp.1;
                    p.records = Some(bytes);
                    by_topic.entry(b.tp.0.clone()).or_default().push(p);
                    b.attempts += 1;
                    ok.push(b);
                }
                Err(e) => self.acc.complete(b, Err(e)),
            }
        }
        if ok.is_empty() {
            return;
        }
        let mut req = ProduceRequest::default();
        req.acks = self.config.acks as i16;
        req.timeout_ms = self.config.common.request_timeout.as_millis() as i32;
        req.topic_data = by_topic
            .into_iter()
            .map(|(t, parts)| {
                let mut td = TopicProduceData::default();
                td.name = name(&t);
                td.partition_data = parts;
                td
            })
            .collect();
        let n = self.in_flight_per_node.entry(node).or_default();
        *n += 1;
        self.acc.max_in_flight_seen.fetch_max(*n, Ordering::SeqCst);
        for b in &ok {
            *self.in_flight_per_tp.entry(b.tp.clone()).or_default() += 1;
        }
        let (cluster, done) = (&self.cluster, &self.done_tx);
        let expect_response = self.config.acks != Acks::None;
        self.dispatchers
            .entry(node)
            .or_insert_with(|| {
                Dispatcher::start(node, cluster.clone(), expect_response, done.clone())
            })
            .send(req, ok);
    }

    fn handle(&mut self, node: i32, batches: Vec<ProducerBatch>, result: Result<ProduceResponse>) {
        if let Some(n) = self.in_flight_per_node.get_mut(&node) {
            *n = n.saturating_sub(1);
        }
        for b in &batches {
            if let Some(n) = self.in_flight_per_tp.get_mut(&b.tp) {
                *n = n.saturating_sub(1);
            }
        }
        let mut per_partition: HashMap<Tp, (i16, Option<String>, i64, i64)> = HashMap::new();
        if let Ok(resp) = &result {
            for t in &resp.responses {
                for p in &t.partition_responses {
                    per_partition.insert(
                        (t.name.0.to_string(), p.index),
                        (
                            p.error_code,
                            p.error_message.as_ref().map(|m| m.to_string()),
                            p.base_offset,
                            p.log_append_time_ms,
                        ),
                    );
                }
            }
        }
        let mut retry = Vec::new();
        for b in batches {
            let outcome: Result<(i64, i64)> = match &result {
                Err(e) => Err(e.clone()),
                Ok(_) if self.config.acks == Acks::None => Ok((-1, -1)),
                Ok(_) => match per_partition.get(&b.tp) {
                    None => Err(ClientError::Protocol(format!(
                        "no response for {}-{}",
                        b.tp.0, b.tp.1
                    ))),
                    Some((0, _, base, lat)) => Ok((*base, *lat)),
                    Some((code, msg, _, _)) => Err(ClientError::kafka(*code, msg.clone())),
                },
            };
            match outcome {
                Ok(r) => self.acc.complete(b, Ok(r)),
                Err(e) => {
                    if e.needs_metadata_refresh() {
                        self.cluster.invalidate(&b.tp.0);
                    }
                    // With idempotence, OUT_OF_ORDER_SEQUENCE follows an earlier batch's failure.
                    let retriable =
                        e.is_retriable() || (self.producer_id >= 0 && e.code() == Some(45));
                    let expired = b.created.elapsed() >= self.config.delivery_timeout;
                    if retriable && !expired && b.attempts <= self.config.retries {
                        retry.push((b, e));
                    } else if retriable && expired {
                        let err = ClientError::DeliveryTimeout {
                            topic: b.tp.0.clone(),
                            partition: b.tp.1,
                            delivery_timeout_ms: self.config.delivery_timeout.as_millis() as u64,
                            last_error: Some(e.to_string()),
                        };
                        self.acc.complete(b, Err(err));
                    } else {
                        self.acc.complete(b, Err(e));
                    }
                }
            }
        }
        if !retry.is_empty() {
            self.acc
                .batches_retried
                .fetch_add(retry.len(), Ordering::SeqCst);
            let mut st = self.acc.state.lock();
            for (mut b, e) in retry {
                tracing::debug!(topic = b.tp.0, partition = b.tp.1, attempt = b.attempts, error = %e, "retrying a batch");
                b.retry_at = Some(Instant::now() + self.backoff(b.attempts));
                b.last_error = Some(e);
                let q = st.queue(&b.tp.0, b.tp.1);
                // Back in front, ahead of newer batches, in sequence order.
                let pos = q
                    .iter()
                    .position(|x| {
                        x.built.is_none()
                            || (x.base_sequence > b.base_sequence && b.base_sequence >= 0)
                    })
                    .unwrap_or(q.len());
                q.insert(pos, b);
            }
        }
    }

    async fn init_producer_id(&mut self) -> Result<()> {
        let mut req = InitProducerIdRequest::default();
        req.transactional_id = None;
        req.transaction_timeout_ms = -1;
        req.producer_id = kafka_protocol::messages::ProducerId(-1);
        req.producer_epoch = -1;
        let resp = self.cluster.send_any(&req).await?;
        ClientError::check(resp.error_code, None)?;
        self.producer_id = resp.producer_id.0;
        self.producer_epoch = resp.producer_epoch;
        Ok(())
    }
}

/// Starts the sender task for `acc`; it ends once `stop` is set and nothing is left.
pub(super) fn start(
    acc: Arc<RecordAccumulator>,
    cluster: Arc<Cluster>,
    config: ProducerConfig,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let state = SenderState {
        acc,
        cluster,
        config,
        producer_id: -1,
        producer_epoch: -1,
        next_sequence: HashMap::new(),
        in_flight_per_node: HashMap::new(),
        in_flight_per_tp: HashMap::new(),
        dispatchers: HashMap::new(),
        done_tx,
    };
    tokio::spawn(run_sender(state, done_rx, stop))
}

async fn run_sender(
    mut s: SenderState,
    mut done_rx: mpsc::UnboundedReceiver<Done>,
    stop: Arc<AtomicBool>,
) {
    let acc = s.acc.clone();
    loop {
        if s.config.enable_idempotence && s.producer_id < 0 {
            if let Err(e) = s.init_producer_id().await {
                tracing::debug!(error = %e, "InitProducerId failed; retrying");
                s.expire(Instant::now());
                tokio::time::sleep(s.config.common.retry_backoff).await;
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                continue;
            }
        }
        let now = Instant::now();
        s.expire(now);
        let (ready, next) = s.drain(now).await;
        for (node, batches) in ready {
            s.send(node, batches);
        }
        let in_flight: usize = s.in_flight_per_node.values().sum();
        if stop.load(Ordering::SeqCst)
            && in_flight == 0
            && acc.incomplete.load(Ordering::SeqCst) == 0
        {
            break;
        }
        let wait = next
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100));
        tokio::select! {
            Some((node, batches, result)) = done_rx.recv() => {
                s.handle(node, batches, result);
                while let Ok((node, batches, result)) = done_rx.try_recv() {
                    s.handle(node, batches, result);
                }
            }
            _ = acc.wake_sender.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
