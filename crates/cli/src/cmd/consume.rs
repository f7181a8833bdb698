//! `runnel consume TOPIC`.

use crate::output::kv;
use anyhow::{Context, Result};
use runnel_client::{Consumer, ConsumerConfig, ConsumerRecord};
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    pub topic: String,
    /// Only this partition (default: all).
    #[arg(long)]
    partition: Option<i32>,
    /// Start at the earliest offset (default: the end).
    #[arg(long = "from-beginning", conflicts_with_all = ["offset", "timestamp"])]
    from_beginning: bool,
    /// Start at this offset in every consumed partition.
    #[arg(long, conflicts_with = "timestamp")]
    offset: Option<i64>,
    /// Start at the first record with this timestamp (ms) or later.
    #[arg(long)]
    timestamp: Option<i64>,
    /// Exit after this many records.
    #[arg(long)]
    count: Option<usize>,
    /// Exit when no record arrived for this long (ms).
    #[arg(long = "timeout-ms")]
    timeout_ms: Option<u64>,
    /// One JSON object per record (topic, partition, offset, timestamp, key, value, headers).
    #[arg(long)]
    json: bool,
    /// How `--json` writes keys, values and header values: `utf8` as text (bytes that are not
    /// UTF-8 become U+FFFD), `base64` exactly, whatever the bytes.
    #[arg(long = "json-bytes", value_enum, default_value_t = JsonBytes::Utf8, requires = "json")]
    json_bytes: JsonBytes,
    #[arg(long = "print-key")]
    print_key: bool,
    #[arg(long = "print-headers")]
    print_headers: bool,
    #[arg(long = "print-partition")]
    print_partition: bool,
    #[arg(long = "print-offset")]
    print_offset: bool,
    #[arg(long = "print-timestamp")]
    print_timestamp: bool,
    /// Between printed fields.
    #[arg(long = "separator", default_value = "\t")]
    separator: String,
    /// Consume as a member of this consumer group (committing positions as it goes).
    #[arg(long)]
    group: Option<String>,
    /// Any consumer configuration KEY=VALUE; repeatable.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
}

pub async fn run(bootstrap: &str, args: Args) -> Result<()> {
    let props: Vec<(String, String)> = args
        .properties
        .iter()
        .map(|p| kv(p))
        .collect::<Result<_>>()?;
    let reset = if args.from_beginning {
        "earliest"
    } else {
        "latest"
    };
    let mut pairs: Vec<(&str, &str)> = vec![
        ("bootstrap.servers", bootstrap),
        ("auto.offset.reset", reset),
    ];
    if let Some(g) = &args.group {
        pairs.push(("group.id", g));
        // Offsets of printed records are committed after each batch (not positions, which
        // can run ahead of --count).
        pairs.push(("enable.auto.commit", "false"));
    }
    pairs.extend(props.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let config = ConsumerConfig::from_pairs(&pairs)?;
    let mut consumer = Consumer::connect(config)
        .await
        .with_context(|| format!("cannot reach the cluster at {bootstrap}"))?;
    let topic = args.topic.as_str();
    if args.group.is_some() {
        if args.partition.is_some() || args.offset.is_some() || args.timestamp.is_some() {
            anyhow::bail!("--group takes its partitions and offsets from the group: drop --partition/--offset/--timestamp");
        }
        consumer
            .cluster()
            .topic(topic)
            .await
            .with_context(|| format!("consuming {topic}"))?;
        consumer.subscribe(&[topic])?;
        return print_loop(consumer, &args).await;
    }
    match args.partition {
        Some(p) => consumer.assign(&[(topic, p)]).await,
        None => consumer.assign_topic(topic).await,
    }
    .with_context(|| format!("consuming {topic}"))?;
    let tps: Vec<(String, i32)> = consumer.assignment();
    let tps: Vec<(&str, i32)> = tps.iter().map(|(t, p)| (t.as_str(), *p)).collect();
    if args.from_beginning {
        consumer.seek_to_beginning(&tps)?;
    } else if let Some(o) = args.offset {
        for (t, p) in &tps {
            consumer.seek(t, *p, o)?;
        }
    } else if let Some(ts) = args.timestamp {
        consumer.seek_to_timestamp(&tps, ts)?;
    } else {
        consumer.seek_to_end(&tps)?;
    }
    print_loop(consumer, &args).await
}

async fn print_loop(mut consumer: Consumer, args: &Args) -> Result<()> {
    let stdout = std::io::stdout();
    let mut seen = 0usize;
    let mut last = Instant::now();
    loop {
        if args.count.is_some_and(|c| seen >= c) {
            break;
        }
        if args
            .timeout_ms
            .is_some_and(|t| last.elapsed() >= Duration::from_millis(t))
        {
            break;
        }
        let records = consumer.poll(Duration::from_millis(200)).await?;
        if !records.is_empty() {
            last = Instant::now();
        }
        let mut out = stdout.lock();
        let mut printed: std::collections::BTreeMap<(String, i32), i64> = Default::default();
        for r in records {
            if args.count.is_some_and(|c| seen >= c) {
                break;
            }
            seen += 1;
            printed.insert((r.topic.clone(), r.partition), r.offset + 1);
            if args.json {
                writeln!(out, "{}", to_json(&r, args.json_bytes))?;
            } else {
                print_record(&mut out, args, &r)?;
            }
        }
        out.flush()?;
        drop(out);
        if args.group.is_some() && !printed.is_empty() {
            let offsets: Vec<_> = printed.into_iter().map(|(tp, o)| (tp, o, None)).collect();
            consumer.commit_offsets_sync(&offsets).await?;
        }
    }
    consumer.close().await;
    Ok(())
}

/// How `--json` writes record bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum JsonBytes {
    Utf8,
    Base64,
}

fn text(b: &Option<bytes::Bytes>, enc: JsonBytes) -> serde_json::Value {
    use base64::Engine;
    match (b, enc) {
        (None, _) => serde_json::Value::Null,
        (Some(b), JsonBytes::Utf8) => json!(String::from_utf8_lossy(b)),
        (Some(b), JsonBytes::Base64) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

fn to_json(r: &ConsumerRecord, enc: JsonBytes) -> serde_json::Value {
    let headers: Vec<_> = r
        .headers
        .iter()
        .map(|h| json!({"key": h.key, "value": text(&h.value, enc)}))
        .collect();
    json!({
        "topic": r.topic, "partition": r.partition, "offset": r.offset, "timestamp": r.timestamp,
        "timestamp_type": match r.timestamp_type {
            runnel_client::records::TimestampType::CreateTime => "CreateTime",
            runnel_client::records::TimestampType::LogAppendTime => "LogAppendTime",
        },
        "key": text(&r.key, enc), "value": text(&r.value, enc), "headers": headers,
    })
}

/// Kafka console consumer style: fields in a fixed order, then the raw value bytes.
fn print_record(out: &mut impl Write, a: &Args, r: &ConsumerRecord) -> Result<()> {
    let sep = a.separator.as_bytes();
    if a.print_timestamp {
        let kind = match r.timestamp_type {
            runnel_client::records::TimestampType::CreateTime => "CreateTime",
            runnel_client::records::TimestampType::LogAppendTime => "LogAppendTime",
        };
        write!(out, "{kind}:{}", r.timestamp)?;
        out.write_all(sep)?;
    }
    if a.print_partition {
        write!(out, "Partition:{}", r.partition)?;
        out.write_all(sep)?;
    }
    if a.print_offset {
        write!(out, "Offset:{}", r.offset)?;
        out.write_all(sep)?;
    }
    if a.print_headers {
        if r.headers.is_empty() {
            out.write_all(b"NO_HEADERS")?;
        }
        for (i, h) in r.headers.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(h.key.as_bytes())?;
            out.write_all(b":")?;
            out.write_all(h.value.as_deref().unwrap_or(b"null"))?;
        }
        out.write_all(sep)?;
    }
    if a.print_key {
        out.write_all(r.key.as_deref().unwrap_or(b"null"))?;
        out.write_all(sep)?;
    }
    out.write_all(r.value.as_deref().unwrap_or(b"null"))?;
    out.write_all(b"\n")?;
    Ok(())
}
