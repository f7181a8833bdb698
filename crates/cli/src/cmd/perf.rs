//! `runnel perf produce|consume`, like Kafka's producer/consumer perf tests.
//!
//! Produce latency is measured from just before `enqueue` to the moment the record's batch
//! was acknowledged (the producer stamps it), as kafka-producer-perf-test does from its
//! callback.

use crate::output::kv;
use anyhow::{Context, Result};
use clap::Subcommand;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use runnel_client::producer::DeliveryFuture;
use runnel_client::{Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord};
use serde_json::json;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum PerfCmd {
    /// Send records as fast as allowed and report throughput and latency.
    Produce {
        #[arg(long)]
        topic: String,
        #[arg(long = "num-records", default_value_t = 100_000)]
        num_records: u64,
        #[arg(long = "record-size", default_value_t = 100)]
        record_size: usize,
        /// Records per second; -1 for no limit.
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        throughput: i64,
        /// acks; unset, the producer's default (all, with idempotence), as in Kafka's
        /// ProducerPerformance.
        #[arg(long)]
        acks: Option<String>,
        #[arg(long = "batch-size", default_value_t = 16384)]
        batch_size: usize,
        #[arg(long = "linger-ms", default_value_t = 5)]
        linger_ms: u64,
        #[arg(long, default_value = "none")]
        compression: String,
        /// Any producer configuration KEY=VALUE; repeatable.
        #[arg(long = "producer-property", value_name = "KEY=VALUE")]
        properties: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Read records from the beginning of a topic and report throughput.
    Consume {
        #[arg(long)]
        topic: String,
        #[arg(long = "messages", default_value_t = 100_000)]
        messages: u64,
        /// Give up when no record arrives for this long (ms).
        #[arg(long = "timeout-ms", default_value_t = 10_000)]
        timeout_ms: u64,
        #[arg(long)]
        json: bool,
    },
}

fn record_latency(h: &mut Histogram<u64>, sent: Instant, acknowledged: Instant) {
    let _ = h.record(acknowledged.duration_since(sent).as_micros().max(1) as u64);
}

fn bar(n: u64) -> ProgressBar {
    let pb = ProgressBar::new(n);
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} records  {per_sec}  eta {eta}")
    {
        pb.set_style(style);
    }
    pb
}

pub async fn run(bootstrap: &str, cmd: PerfCmd) -> Result<()> {
    match cmd {
        PerfCmd::Produce {
            topic,
            num_records,
            record_size,
            throughput,
            acks,
            batch_size,
            linger_ms,
            compression,
            properties,
            json,
        } => {
            let props: Vec<(String, String)> =
                properties.iter().map(|p| kv(p)).collect::<Result<_>>()?;
            let (bs, lm) = (batch_size.to_string(), linger_ms.to_string());
            let mut pairs: Vec<(&str, &str)> = vec![
                ("bootstrap.servers", bootstrap),
                ("batch.size", &bs),
                ("linger.ms", &lm),
                ("compression.type", &compression),
            ];
            if let Some(acks) = &acks {
                pairs.push(("acks", acks));
            }
            pairs.extend(props.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let producer = Producer::connect(ProducerConfig::from_pairs(&pairs)?)
                .await
                .with_context(|| format!("cannot reach the cluster at {bootstrap}"))?;
            // Fail early and clearly on an unknown topic.
            producer
                .cluster()
                .topic(&topic)
                .await
                .with_context(|| format!("topic {topic}"))?;
            let payload = bytes::Bytes::from(vec![b'x'; record_size]);
            let pb = bar(num_records);
            let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("histogram");
            // Records sent but not yet seen acknowledged, oldest first. Latency is the batch's
            // completion time minus the record's send time, so how often this is looked at
            // does not change the numbers.
            let mut pending: VecDeque<(Instant, DeliveryFuture)> = VecDeque::new();
            let mut first_error = None;
            let start = Instant::now();
            for i in 0..num_records {
                if throughput > 0 {
                    let due = start + Duration::from_secs_f64(i as f64 / throughput as f64);
                    let now = Instant::now();
                    if due > now {
                        tokio::time::sleep(due - now).await;
                    }
                }
                let sent = Instant::now();
                let f = producer
                    .enqueue(ProducerRecord::new(topic.as_str()).value(payload.clone()))
                    .await?;
                pending.push_back((sent, f));
                while let Some((sent, f)) = pending.front() {
                    match f.completed_at() {
                        None => break,
                        Some((at, true)) => record_latency(&mut h, *sent, at),
                        Some((_, false)) => {
                            if let Some(Err(e)) = f.try_result() {
                                first_error.get_or_insert(e);
                            }
                        }
                    }
                    pending.pop_front();
                }
                if i % 1000 == 0 {
                    pb.set_position(i);
                }
            }
            for (sent, mut f) in pending {
                match (&mut f).await {
                    Ok(_) => {
                        if let Some((at, _)) = f.completed_at() {
                            record_latency(&mut h, sent, at);
                        }
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            let elapsed = start.elapsed().as_secs_f64();
            pb.finish_and_clear();
            producer.close(Duration::from_secs(5)).await;
            if let Some(e) = first_error {
                anyhow::bail!(
                    "{} of {num_records} records failed; first error: {e}",
                    num_records - h.len()
                );
            }
            let ms = |v: u64| v as f64 / 1000.0;
            let rps = num_records as f64 / elapsed;
            let mbps = rps * record_size as f64 / (1024.0 * 1024.0);
            if json {
                println!(
                    "{}",
                    json!({
                        "records": num_records, "record_size": record_size, "elapsed_s": elapsed,
                        "records_per_sec": rps, "mb_per_sec": mbps,
                        "latency_ms": {"avg": h.mean() / 1000.0, "p50": ms(h.value_at_quantile(0.5)),
                            "p99": ms(h.value_at_quantile(0.99)), "p999": ms(h.value_at_quantile(0.999)), "max": ms(h.max())}
                    })
                );
            } else {
                println!(
                    "{num_records} records sent, {rps:.1} records/sec ({mbps:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {:.2} ms 50th, {:.2} ms 99th, {:.2} ms 99.9th.",
                    h.mean() / 1000.0, ms(h.max()), ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99)), ms(h.value_at_quantile(0.999))
                );
            }
        }
        PerfCmd::Consume {
            topic,
            messages,
            timeout_ms,
            json,
        } => {
            let cfg = ConsumerConfig::from_pairs(&[
                ("bootstrap.servers", bootstrap),
                ("auto.offset.reset", "earliest"),
            ])?;
            let mut c = Consumer::connect(cfg)
                .await
                .with_context(|| format!("cannot reach the cluster at {bootstrap}"))?;
            c.assign_topic(&topic)
                .await
                .with_context(|| format!("topic {topic}"))?;
            let pb = bar(messages);
            let start = Instant::now();
            let (mut n, mut bytes) = (0u64, 0u64);
            let mut last = Instant::now();
            while n < messages && last.elapsed() < Duration::from_millis(timeout_ms) {
                let recs = c.poll(Duration::from_millis(200)).await?;
                if !recs.is_empty() {
                    last = Instant::now();
                }
                for r in recs {
                    n += 1;
                    bytes +=
                        r.value.map_or(0, |v| v.len() as u64) + r.key.map_or(0, |k| k.len() as u64);
                }
                pb.set_position(n.min(messages));
            }
            pb.finish_and_clear();
            let elapsed = start.elapsed().as_secs_f64();
            let (rps, mbps) = (
                n as f64 / elapsed,
                bytes as f64 / (1024.0 * 1024.0) / elapsed,
            );
            if json {
                println!(
                    "{}",
                    json!({"records": n, "bytes": bytes, "elapsed_s": elapsed, "records_per_sec": rps, "mb_per_sec": mbps})
                );
            } else {
                println!("{n} records consumed ({:.2} MB) in {elapsed:.2} s, {rps:.1} records/sec ({mbps:.2} MB/sec).", bytes as f64 / (1024.0 * 1024.0));
            }
            if n < messages {
                anyhow::bail!(
                    "only {n} of {messages} records arrived within --timeout-ms={timeout_ms}"
                );
            }
        }
    }
    Ok(())
}
