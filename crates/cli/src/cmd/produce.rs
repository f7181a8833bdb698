//! `runnel produce TOPIC`: one record per input line.

use crate::output::kv;
use anyhow::{Context, Result};
use runnel_client::{Producer, ProducerConfig, ProducerRecord};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    pub topic: String,
    /// Read lines from this file instead of stdin.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Split each line at the first occurrence of this into key and value.
    #[arg(long = "key-separator")]
    key_separator: Option<String>,
    /// A header KEY=VALUE added to every record; repeatable (keys may repeat).
    #[arg(long = "header", value_name = "KEY=VALUE")]
    headers: Vec<String>,
    /// Write every record to this partition (default: the partitioner decides).
    #[arg(long)]
    partition: Option<i32>,
    /// 0, 1 or all.
    #[arg(long, default_value = "all")]
    acks: String,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    compression: String,
    /// Any producer configuration KEY=VALUE; repeatable.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
}

pub async fn run(bootstrap: &str, args: Args) -> Result<()> {
    let props: Vec<(String, String)> = args
        .properties
        .iter()
        .map(|p| kv(p))
        .collect::<Result<_>>()?;
    let mut pairs: Vec<(&str, &str)> = vec![
        ("bootstrap.servers", bootstrap),
        ("acks", &args.acks),
        ("compression.type", &args.compression),
        ("request.timeout.ms", "10000"),
        ("delivery.timeout.ms", "30000"),
    ];
    pairs.extend(props.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let config = ProducerConfig::from_pairs(&pairs)?;
    let headers: Vec<(String, String)> =
        args.headers.iter().map(|h| kv(h)).collect::<Result<_>>()?;
    let producer = Producer::connect(config)
        .await
        .with_context(|| format!("cannot reach the cluster at {bootstrap}"))?;
    // An unknown topic is an error before any input is read.
    producer
        .cluster()
        .topic(&args.topic)
        .await
        .with_context(|| format!("producing to {}", args.topic))?;
    let input: Box<dyn BufRead> = match &args.file {
        Some(f) => Box::new(std::io::BufReader::new(
            std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let mut pending = Vec::new();
    for line in input.split(b'\n') {
        let mut line = line.context("reading input")?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let mut rec = ProducerRecord::new(&args.topic);
        match args.key_separator.as_deref().map(str::as_bytes) {
            Some(sep) if !sep.is_empty() => match find(&line, sep) {
                Some(i) => {
                    rec = rec
                        .key(line[..i].to_vec())
                        .value(line[i + sep.len()..].to_vec());
                }
                None => rec = rec.value(line),
            },
            _ => rec = rec.value(line),
        }
        if let Some(p) = args.partition {
            rec = rec.partition(p);
        }
        for (k, v) in &headers {
            rec = rec.header(k.clone(), Some(v.clone().into_bytes()));
        }
        pending.push(
            producer
                .enqueue(rec)
                .await
                .with_context(|| format!("producing to {}", args.topic))?,
        );
    }
    let n = pending.len();
    for f in pending {
        f.await
            .with_context(|| format!("producing to {}", args.topic))?;
    }
    producer.close(Duration::from_secs(5)).await;
    eprintln!("Produced {n} records to {}.", args.topic);
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
