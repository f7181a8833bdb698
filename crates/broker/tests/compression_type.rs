//! `compression.type` naming a codec: the broker stores every produced batch in it
//! (recompressing as Kafka's LogValidator does) with `compression.<codec>.level`, keeps the
//! producer's header fields, and the native client reads the records back unchanged.

mod common;

use common::*;
use runnel_client::{Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord};
use runnel_protocol::records::BatchHeader;
use std::time::{Duration, Instant};

/// Kafka's codec ids.
const NONE: i16 = 0;
const GZIP: i16 = 1;
const SNAPPY: i16 = 2;
const LZ4: i16 = 3;
const ZSTD: i16 = 4;
const MESSAGE_TOO_LARGE: i16 = 10;

fn producer_config(b: &TestBroker, compression: &str) -> ProducerConfig {
    let addr = b.addr.to_string();
    ProducerConfig::from_pairs(&[
        ("bootstrap.servers", addr.as_str()),
        ("compression.type", compression),
        ("linger.ms", "0"),
    ])
    .unwrap()
}

fn consumer_config(b: &TestBroker) -> ConsumerConfig {
    let addr = b.addr.to_string();
    ConsumerConfig::from_pairs(&[
        ("bootstrap.servers", addr.as_str()),
        ("auto.offset.reset", "earliest"),
    ])
    .unwrap()
}

/// The headers of every stored batch of partition 0, walking the fetched bytes.
async fn stored_batches(c: &mut RawClient, topic: &str) -> Vec<(BatchHeader, usize)> {
    let data = c.fetch(topic, 0, 0, 0, 1).await;
    let mut bytes = data.records.expect("records").to_vec();
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let h = BatchHeader::parse(&bytes).expect("a stored batch header");
        let size = h.total_size_bytes();
        out.push((h, size));
        bytes.drain(..size);
    }
    out
}

/// Every record of partition 0 as (key, value, headers), read with the native consumer.
async fn consume_all(b: &TestBroker, topic: &str, n: usize) -> Vec<(String, String, Vec<String>)> {
    let mut c = Consumer::connect(consumer_config(b)).await.unwrap();
    c.assign(&[(topic, 0)]).await.unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + IO_TIMEOUT;
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} records arrived",
            got.len()
        );
        got.extend(c.poll(Duration::from_millis(200)).await.unwrap());
    }
    got.into_iter()
        .map(|r| {
            let s = |b: Option<bytes::Bytes>| String::from_utf8(b.unwrap().to_vec()).unwrap();
            let headers = r.headers.iter().map(|h| h.key.clone()).collect();
            (s(r.key), s(r.value), headers)
        })
        .collect()
}

fn record(topic: &str, i: usize) -> ProducerRecord {
    ProducerRecord::new(topic)
        .partition(0)
        .key(format!("key-{i}"))
        .value(format!("value {i} ").repeat(20))
        .header("h", Some("x"))
}

#[tokio::test]
async fn a_topic_codec_is_what_every_batch_is_stored_in_and_the_native_client_reads_it_back() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    for (topic_codec, id, producer_codec) in [
        ("gzip", GZIP, "none"),
        ("snappy", SNAPPY, "gzip"),
        ("lz4", LZ4, "zstd"),
        ("zstd", ZSTD, "lz4"),
        ("uncompressed", NONE, "snappy"),
    ] {
        let topic = format!("t-{topic_codec}");
        c.create_topic(&topic, 1, &[("compression.type", topic_codec)])
            .await;
        let p = Producer::connect(producer_config(&b, producer_codec))
            .await
            .unwrap();
        for i in 0..5 {
            p.send(record(&topic, i)).await.unwrap();
        }
        let batches = stored_batches(&mut c, &topic).await;
        assert_eq!(batches.len(), 5, "{topic}: one batch per send");
        for (seq, (h, _)) in batches.iter().enumerate() {
            assert_eq!(h.compression_codec(), id, "{topic}: stored codec");
            assert!(
                h.producer_id >= 0,
                "{topic}: the idempotent producer id is kept"
            );
            assert_eq!(h.base_sequence, seq as i32, "{topic}: sequence kept");
        }
        let got = consume_all(&b, &topic, 5).await;
        let want: Vec<_> = (0..5)
            .map(|i| {
                (
                    format!("key-{i}"),
                    format!("value {i} ").repeat(20),
                    vec!["h".to_string()],
                )
            })
            .collect();
        assert_eq!(got, want, "{topic}");
    }
    b.shutdown().await;
}

#[tokio::test]
async fn compression_type_producer_keeps_the_producers_codec() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let p = Producer::connect(producer_config(&b, "gzip"))
        .await
        .unwrap();
    p.send(record("t", 0)).await.unwrap();
    let batches = stored_batches(&mut c, "t").await;
    assert_eq!(batches[0].0.compression_codec(), GZIP);
    b.shutdown().await;
}

/// Text that compresses, but differently at different levels.
fn words(n: usize) -> String {
    let mut x: u64 = 42;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            [
                "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
            ][(x >> 61) as usize]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn the_codec_level_decides_how_small_the_stored_batch_is() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let text = words(20_000);
    let mut sizes = Vec::new();
    for level in ["1", "19"] {
        let topic = format!("zstd-{level}");
        c.create_topic(
            &topic,
            1,
            &[
                ("compression.type", "zstd"),
                ("compression.zstd.level", level),
            ],
        )
        .await;
        let r = c
            .produce(&topic, 0, -1, batch(&[Rec::kv("k", &text)], None))
            .await;
        assert_eq!(r.error_code, 0);
        let batches = stored_batches(&mut c, &topic).await;
        assert_eq!(batches[0].0.compression_codec(), ZSTD);
        sizes.push(batches[0].1);
    }
    assert!(
        sizes[1] < sizes[0],
        "level 19 ({}) smaller than level 1 ({})",
        sizes[1],
        sizes[0]
    );
    b.shutdown().await;
}

#[tokio::test]
async fn a_batch_that_grows_past_max_message_bytes_when_recompressed_is_message_too_large() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    // Incompressible bytes: gzip makes them a little larger.
    let mut x: u64 = 7;
    let noise: Vec<u8> = (0..4000)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect();
    let rec = Rec {
        key: Some(b"k".to_vec()),
        value: Some(noise),
        headers: Vec::new(),
        timestamp: now_ms(),
    };
    let plain = batch(&[rec], None);
    let limit = plain.len().to_string();
    c.create_topic(
        "t",
        1,
        &[
            ("compression.type", "gzip"),
            ("max.message.bytes", limit.as_str()),
        ],
    )
    .await;
    let r = c.produce("t", 0, -1, plain).await;
    assert_eq!(r.error_code, MESSAGE_TOO_LARGE, "{:?}", r.error_message);
    b.shutdown().await;
}
