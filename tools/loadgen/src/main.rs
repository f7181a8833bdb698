//! loadgen: drive a Kafka-compatible broker with librdkafka and report throughput.
//!
//! `loadgen produce --bootstrap 127.0.0.1:9092 --topic t --records 1000000 --size 1024 --acks 1`
//! `loadgen consume --bootstrap 127.0.0.1:9092 --topic t --records 1000000`

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Produce {
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        #[arg(long, default_value_t = 1024)]
        size: usize,
        #[arg(long, default_value = "1")]
        acks: String,
        #[arg(long, default_value_t = 1_000_000)]
        batch_size: usize,
        #[arg(long, default_value_t = 5)]
        linger_ms: u64,
        #[arg(long, default_value = "none")]
        compression: String,
        /// Number of partitions to spread records over (round robin by record index).
        #[arg(long, default_value_t = 1)]
        partitions: i32,
    },
    Consume {
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// librdkafka fetch.max.bytes
        #[arg(long, default_value_t = 16777216)]
        fetch_max_bytes: usize,
        /// librdkafka max.partition.fetch.bytes
        #[arg(long, default_value_t = 4194304)]
        partition_fetch_bytes: usize,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Produce { bootstrap, topic, records, size, acks, batch_size, linger_ms, compression, partitions } => {
            let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("acks", &acks)
                .set("batch.size", batch_size.to_string())
                .set("linger.ms", linger_ms.to_string())
                .set("compression.type", &compression)
                .set("queue.buffering.max.kbytes", "1048576")
                .set("queue.buffering.max.messages", "10000000")
                .create()?;
            let payload = vec![b'x'; size];
            let start = Instant::now();
            for i in 0..records {
                let p = (i % partitions as u64) as i32;
                let mut rec = BaseRecord::<(), [u8]>::to(&topic).payload(&payload[..]).partition(p);
                loop {
                    match producer.send(rec) {
                        Ok(()) => break,
                        Err((e, r)) => {
                            if !matches!(e.rdkafka_error_code(), Some(rdkafka::types::RDKafkaErrorCode::QueueFull)) {
                                bail!("send failed: {e}");
                            }
                            rec = r;
                            producer.poll(Duration::from_millis(1));
                        }
                    }
                }
            }
            producer.flush(Timeout::After(Duration::from_secs(120)))?;
            report("produce", records, size, start.elapsed());
        }
        Cmd::Consume { bootstrap, topic, records, partitions, fetch_max_bytes, partition_fetch_bytes } => {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", "loadgen")
                .set("enable.auto.commit", "false")
                .set("fetch.max.bytes", fetch_max_bytes.to_string())
                .set("max.partition.fetch.bytes", partition_fetch_bytes.to_string())
                .set("queued.max.messages.kbytes", "1048576")
                // librdkafka pauses fetching for fetch.queue.backoff.ms (1 s) once this many
                // messages are queued; with 100-byte records the default (100000) is one fetch.
                .set("queued.min.messages", "10000000")
                .create()?;
            let mut tpl = TopicPartitionList::new();
            for p in 0..partitions {
                tpl.add_partition_offset(&topic, p, Offset::Beginning)?;
            }
            consumer.assign(&tpl)?;
            let start = Instant::now();
            let (mut n, mut bytes) = (0u64, 0u64);
            while n < records {
                if let Some(m) = consumer.poll(Duration::from_secs(10)) {
                    let m = m?;
                    bytes += m.payload().map_or(0, |p| p.len()) as u64;
                    n += 1;
                } else {
                    bail!("no data for 10 s after {n} records");
                }
            }
            report("consume", n, (bytes / n.max(1)) as usize, start.elapsed());
        }
    }
    Ok(())
}

fn report(what: &str, records: u64, size: usize, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    let mb = records as f64 * size as f64 / 1e6;
    println!(
        "{what}: {records} records of {size} B in {secs:.2} s = {:.0} records/s, {:.1} MB/s",
        records as f64 / secs,
        mb / secs
    );
}
