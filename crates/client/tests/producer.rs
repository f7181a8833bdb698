mod common;

use common::{FlakyBroker, TestBroker};
use kafka_protocol::messages::ApiKey;
use runnel_client::partitioner::{partition_for_key, Partitioner};
use runnel_client::records::Header;
use runnel_client::{ClientError, Consumer, Producer, ProducerConfig, ProducerRecord};
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

async fn read_all(
    b: &TestBroker,
    topic: &str,
    partition: i32,
    n: usize,
) -> Vec<runnel_client::ConsumerRecord> {
    let mut c = Consumer::connect(b.consumer_config(&[])).await.unwrap();
    c.assign(&[(topic, partition)]).await.unwrap();
    common::drain(&mut c, n).await
}

#[tokio::test]
async fn a_sent_record_comes_back_with_its_partition_offset_and_timestamp() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 3, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[])).await.unwrap();
    let m0 = p
        .send(
            ProducerRecord::new("t")
                .partition(2)
                .value("a")
                .timestamp(1_700_000_000_000),
        )
        .await
        .unwrap();
    let m1 = p
        .send(ProducerRecord::new("t").partition(2).value("b"))
        .await
        .unwrap();
    assert_eq!(
        (m0.partition, m0.offset, m0.timestamp),
        (2, 0, 1_700_000_000_000)
    );
    assert_eq!((m1.partition, m1.offset), (2, 1));
}

#[tokio::test]
async fn headers_with_duplicate_keys_and_null_values_round_trip() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[])).await.unwrap();
    let rec = ProducerRecord::new("t")
        .key("k")
        .value(vec![0u8, 255, 10])
        .header("h", Some("1"))
        .header("h", Some("2"))
        .header("n", None::<&str>);
    p.send(rec).await.unwrap();
    let got = read_all(&b, "t", 0, 1).await;
    assert_eq!(got[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(got[0].value.as_deref(), Some(&[0u8, 255, 10][..]));
    let hs: Vec<(String, Option<Vec<u8>>)> = got[0]
        .headers
        .iter()
        .map(|Header { key, value }| (key.clone(), value.as_ref().map(|v| v.to_vec())))
        .collect();
    assert_eq!(
        hs,
        vec![
            ("h".into(), Some(b"1".to_vec())),
            ("h".into(), Some(b"2".to_vec())),
            ("n".into(), None)
        ]
    );
}

async fn produce_requests_for(
    b: &TestBroker,
    settings: &[(&str, &str)],
    n: usize,
    size: usize,
) -> u64 {
    let p = Producer::connect(b.producer_config(settings))
        .await
        .unwrap();
    let mut futs = Vec::new();
    for _ in 0..n {
        futs.push(
            p.enqueue(
                ProducerRecord::new("t")
                    .partition(0)
                    .value(vec![b'x'; size]),
            )
            .await
            .unwrap(),
        );
    }
    for f in futs {
        f.await.unwrap();
    }
    p.cluster().metrics.requests(ApiKey::Produce)
}

#[tokio::test]
async fn linger_ms_gathers_records_into_fewer_produce_requests() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    // One record at a time, awaited: every record is its own request with linger.ms=0.
    let p = Producer::connect(b.producer_config(&[("linger.ms", "0")]))
        .await
        .unwrap();
    for _ in 0..20 {
        p.send(ProducerRecord::new("t").value("v")).await.unwrap();
    }
    assert_eq!(p.cluster().metrics.requests(ApiKey::Produce), 20);
    // 20 records queued at once with a long linger go in one request.
    let lingered = produce_requests_for(&b, &[("linger.ms", "300")], 20, 10).await;
    assert_eq!(lingered, 1);
}

#[tokio::test]
async fn batch_size_splits_records_into_more_requests() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    // 40 records of 1000 bytes: one batch per request when batch.size fits ~2 records
    // (max.in.flight=1 so that each request carries the single front batch it may).
    let big = produce_requests_for(
        &b,
        &[("linger.ms", "200"), ("batch.size", "100000")],
        40,
        1000,
    )
    .await;
    let small = produce_requests_for(
        &b,
        &[
            ("linger.ms", "200"),
            ("batch.size", "2100"),
            ("max.request.size", "2200"),
        ],
        40,
        1000,
    )
    .await;
    assert_eq!(big, 1);
    assert!(small >= 20, "batch.size=2100 sent {small} requests");
    let got = read_all(&b, "t", 0, 80).await;
    assert_eq!(got.len(), 80);
}

#[tokio::test]
async fn buffer_memory_blocks_send_then_fails_after_max_block_ms() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[
        ("linger.ms", "60000"),
        ("batch.size", "1000000"),
        ("buffer.memory", "4000"),
        ("max.block.ms", "400"),
        ("delivery.timeout.ms", "120000"),
    ]))
    .await
    .unwrap();
    let mut queued = Vec::new();
    let err = loop {
        let start = Instant::now();
        match p
            .enqueue(ProducerRecord::new("t").value(vec![1u8; 500]))
            .await
        {
            Ok(f) => queued.push(f),
            Err(e) => break (e, start.elapsed()),
        }
        assert!(queued.len() < 20, "buffer.memory never filled");
    };
    assert!(
        matches!(err.0, ClientError::BufferExhausted { .. }),
        "{}",
        err.0
    );
    assert!(
        err.0.to_string().contains("buffer.memory=4000"),
        "{}",
        err.0
    );
    assert!(
        err.1 >= Duration::from_millis(400),
        "failed after {:?}",
        err.1
    );
    assert!(queued.len() >= 6);
    // Room appears when queued records are sent: a blocked send then succeeds. The send is
    // polled once before the flush, so it is known to be waiting for memory when room appears.
    let free = p.accumulator().available_memory();
    assert!(
        free < 500,
        "{free} bytes of buffer.memory free: the send would not block"
    );
    let mut blocked = std::pin::pin!(p.enqueue(ProducerRecord::new("t").value(vec![1u8; 500])));
    let first_poll = std::future::poll_fn(|cx| Poll::Ready(blocked.as_mut().poll(cx))).await;
    assert!(first_poll.is_pending(), "a send with no room must wait");
    let (sent, ()) = tokio::join!(blocked, p.flush());
    sent.unwrap();
    for f in queued {
        f.await.unwrap();
    }
}

#[tokio::test]
async fn delivery_timeout_ms_expires_records_when_the_broker_is_stopped() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[
        ("linger.ms", "0"),
        ("request.timeout.ms", "500"),
        ("delivery.timeout.ms", "1500"),
        ("retry.backoff.ms", "50"),
    ]))
    .await
    .unwrap();
    p.send(ProducerRecord::new("t").value("before"))
        .await
        .unwrap();
    b.handle.shutdown().await;
    let start = Instant::now();
    let e = p
        .send(ProducerRecord::new("t").value("after"))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::DeliveryTimeout { .. }), "{e}");
    assert!(e.to_string().contains("delivery.timeout.ms=1500"), "{e}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[tokio::test]
async fn retries_with_five_in_flight_keep_order_when_the_broker_drops_connections() {
    let fb = FlakyBroker::start(6_000).await;
    let admin = runnel_client::Admin::connect_to(&fb.bootstrap())
        .await
        .unwrap();
    admin.create_topic("t", 1, &[]).await.unwrap();
    let cfg = ProducerConfig::from_pairs(&[
        ("bootstrap.servers", &fb.bootstrap()),
        ("linger.ms", "2"),
        ("batch.size", "2000"),
        ("max.in.flight.requests.per.connection", "5"),
        ("retry.backoff.ms", "10"),
        ("request.timeout.ms", "3000"),
    ])
    .unwrap();
    let p = Producer::connect(cfg).await.unwrap();
    fb.enabled.store(true, std::sync::atomic::Ordering::SeqCst);
    let n = 5000;
    let mut futs = Vec::new();
    for i in 0..n {
        futs.push(
            p.enqueue(ProducerRecord::new("t").value(format!("{i:08}")))
                .await
                .unwrap(),
        );
    }
    for f in futs {
        f.await.unwrap();
    }
    fb.enabled.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(
        fb.cuts.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "the proxy cut too few connections"
    );
    let got = read_all(&fb.broker, "t", 0, n).await;
    let values: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("{i:08}")).collect();
    assert_eq!(values.len(), n, "duplicates or losses");
    assert_eq!(values, want);
}

#[tokio::test]
async fn acks_zero_gets_no_offsets_but_the_records_land() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[("acks", "0")]))
        .await
        .unwrap();
    for i in 0..5 {
        let m = p
            .send(ProducerRecord::new("t").value(format!("{i}")))
            .await
            .unwrap();
        assert_eq!(m.offset, -1);
    }
    assert_eq!(read_all(&b, "t", 0, 5).await.len(), 5);
}

#[tokio::test]
async fn acks_all_is_refused_below_min_insync_replicas_while_acks_one_is_not() {
    let b = TestBroker::start().await;
    b.admin()
        .await
        .create_topic("t", 1, &[("min.insync.replicas", "2")])
        .await
        .unwrap();
    let all = Producer::connect(b.producer_config(&[
        ("acks", "all"),
        ("enable.idempotence", "false"),
        ("retries", "0"),
    ]))
    .await
    .unwrap();
    let e = all
        .send(ProducerRecord::new("t").value("x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(19), "{e}");
    let one = Producer::connect(b.producer_config(&[("acks", "1")]))
        .await
        .unwrap();
    assert_eq!(
        one.send(ProducerRecord::new("t").value("x"))
            .await
            .unwrap()
            .offset,
        0
    );
}

#[tokio::test]
async fn every_compression_type_is_written_as_such_and_reads_back() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let b = TestBroker::start().await;
    let admin = b.admin().await;
    for (i, c) in ["none", "gzip", "snappy", "lz4", "zstd"].iter().enumerate() {
        let topic = format!("t-{c}");
        admin.create_topic(&topic, 1, &[]).await.unwrap();
        let p =
            Producer::connect(b.producer_config(&[("compression.type", c), ("linger.ms", "50")]))
                .await
                .unwrap();
        let mut futs = Vec::new();
        for j in 0..50 {
            futs.push(
                p.enqueue(
                    ProducerRecord::new(&topic).value(format!("value-{j}-{}", "z".repeat(50))),
                )
                .await
                .unwrap(),
            );
        }
        for f in futs {
            f.await.unwrap();
        }
        // The stored batch carries the codec in its attributes.
        let mut fp = FetchPartition::default();
        fp.partition_max_bytes = 1 << 20;
        fp.current_leader_epoch = -1;
        let mut ft = FetchTopic::default();
        ft.topic = TopicName(StrBytes::from_string(topic.clone()));
        ft.partitions = vec![fp];
        let mut req = FetchRequest::default();
        req.replica_id = BrokerId(-1);
        req.max_bytes = 1 << 20;
        req.topics = vec![ft];
        let conn = admin.cluster().any().await.unwrap();
        let resp = conn.send(&req).await.unwrap();
        let mut bytes = resp.responses[0].partitions[0].records.clone().unwrap();
        let info =
            kafka_protocol::records::RecordBatchDecoder::decode_batch_info(&mut bytes).unwrap();
        assert_eq!(info[0].compression as usize, i, "{c}");
        let got = read_all(&b, &topic, 0, 50).await;
        assert_eq!(got.len(), 50, "{c}");
        assert_eq!(
            got[49].value.as_deref(),
            Some(format!("value-49-{}", "z".repeat(50)).as_bytes())
        );
    }
}

#[tokio::test]
async fn idempotence_is_on_by_default_and_batches_carry_a_producer_id_and_sequences() {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let b = TestBroker::start().await;
    let admin = b.admin().await;
    let fetch_infos = |topic: &'static str| {
        let admin = &admin;
        async move {
            let mut fp = FetchPartition::default();
            fp.partition_max_bytes = 1 << 20;
            fp.current_leader_epoch = -1;
            let mut ft = FetchTopic::default();
            ft.topic = TopicName(StrBytes::from_static_str(topic));
            ft.partitions = vec![fp];
            let mut req = FetchRequest::default();
            req.replica_id = BrokerId(-1);
            req.max_bytes = 1 << 20;
            req.topics = vec![ft];
            let resp = admin
                .cluster()
                .any()
                .await
                .unwrap()
                .send(&req)
                .await
                .unwrap();
            let mut bytes = resp.responses[0].partitions[0].records.clone().unwrap();
            kafka_protocol::records::RecordBatchDecoder::decode_batch_info(&mut bytes).unwrap()
        }
    };
    admin.create_topic("idem", 1, &[]).await.unwrap();
    admin.create_topic("plain", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[("linger.ms", "0")]))
        .await
        .unwrap();
    for i in 0..3 {
        p.send(ProducerRecord::new("idem").value(format!("{i}")))
            .await
            .unwrap();
    }
    let infos = fetch_infos("idem").await;
    assert!(infos[0].producer_id >= 0);
    let seqs: Vec<i32> = infos.iter().map(|i| i.base_sequence).collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    assert_eq!(p.cluster().metrics.requests(ApiKey::InitProducerId), 1);
    let q = Producer::connect(b.producer_config(&[("enable.idempotence", "false")]))
        .await
        .unwrap();
    q.send(ProducerRecord::new("plain").value("x"))
        .await
        .unwrap();
    let infos = fetch_infos("plain").await;
    assert_eq!((infos[0].producer_id, infos[0].base_sequence), (-1, -1));
}

#[tokio::test]
async fn keyed_records_go_to_murmur2_partitions_and_keyless_ones_stick() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 6, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[])).await.unwrap();
    for i in 0..30 {
        let key = format!("key-{i}");
        let m = p
            .send(ProducerRecord::new("t").key(key.clone()).value("v"))
            .await
            .unwrap();
        assert_eq!(m.partition, partition_for_key(key.as_bytes(), 6), "{key}");
    }
    // Keyless records well under batch.size all land on one partition.
    let mut parts = std::collections::HashSet::new();
    for _ in 0..10 {
        parts.insert(
            p.send(ProducerRecord::new("t").value("v"))
                .await
                .unwrap()
                .partition,
        );
    }
    assert_eq!(parts.len(), 1);
}

#[tokio::test]
async fn round_robin_and_custom_partitioners_place_records_as_told() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 3, &[]).await.unwrap();
    let rr = Producer::connect(b.producer_config(&[("partitioner.class", "round_robin")]))
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(
            rr.send(ProducerRecord::new("t").key("same").value("v"))
                .await
                .unwrap()
                .partition,
        );
    }
    assert_eq!(got, vec![0, 1, 2, 0, 1, 2]);
    let custom = Partitioner::Custom(Arc::new(
        |_t: &str, _k: Option<&[u8]>, v: Option<&[u8]>, n: i32| v.map_or(0, |v| v.len() as i32 % n),
    ));
    let c = Producer::with_partitioner(b.producer_config(&[]), custom)
        .await
        .unwrap();
    assert_eq!(
        c.send(ProducerRecord::new("t").value("ab"))
            .await
            .unwrap()
            .partition,
        2
    );
    assert_eq!(
        c.send(ProducerRecord::new("t").value("abc"))
            .await
            .unwrap()
            .partition,
        0
    );
}

#[tokio::test]
async fn a_record_above_max_request_size_is_refused_naming_the_setting() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[("max.request.size", "1000")]))
        .await
        .unwrap();
    let e = p
        .send(ProducerRecord::new("t").value(vec![0u8; 2000]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("max.request.size=1000"), "{e}");
}

#[tokio::test]
async fn sending_to_an_unknown_topic_fails_with_unknown_topic_or_partition() {
    let b = TestBroker::start().await;
    let p = Producer::connect(b.producer_config(&[])).await.unwrap();
    let e = p
        .send(ProducerRecord::new("nope").value("x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(3), "{e}");
}

#[tokio::test]
async fn close_sends_what_is_queued_and_later_sends_fail() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[("linger.ms", "10000")]))
        .await
        .unwrap();
    let f = p
        .enqueue(ProducerRecord::new("t").value("x"))
        .await
        .unwrap();
    p.close(Duration::from_secs(10)).await;
    assert_eq!(f.await.unwrap().offset, 0);
    assert!(matches!(
        p.send(ProducerRecord::new("t").value("y")).await,
        Err(ClientError::Closed)
    ));
}

#[test]
fn producer_config_refusals_name_the_key_and_value() {
    let e = ProducerConfig::from_pairs(&[("linger.ms", "soon")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid configuration linger.ms=\"soon\": not a number in range"
    );
    let e = ProducerConfig::from_pairs(&[
        ("delivery.timeout.ms", "1000"),
        ("request.timeout.ms", "900"),
        ("linger.ms", "200"),
    ])
    .unwrap_err();
    assert!(
        e.to_string().contains("delivery.timeout.ms=\"1000\""),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("request.timeout.ms + linger.ms = 1100"),
        "{e}"
    );
    let e = ProducerConfig::from_pairs(&[("acks", "2")]).unwrap_err();
    assert!(e.to_string().contains("acks=\"2\""), "{e}");
    let e =
        ProducerConfig::from_pairs(&[("enable.idempotence", "true"), ("acks", "1")]).unwrap_err();
    assert!(e.to_string().contains("acks"), "{e}");
    let e = ProducerConfig::from_pairs(&[("compresion.type", "gzip")]).unwrap_err();
    assert!(e.to_string().contains("unknown configuration key"), "{e}");
    let e = ProducerConfig::from_pairs(&[("compression.zstd.level", "30")]).unwrap_err();
    assert!(
        e.to_string().contains("compression.zstd.level=\"30\""),
        "{e}"
    );
    let c = ProducerConfig::from_pairs(&[
        ("compression.gzip.level", "9"),
        ("compression.lz4.level", "12"),
    ])
    .unwrap();
    assert_eq!(
        (
            c.compression_levels.gzip,
            c.compression_levels.lz4,
            c.compression_levels.zstd
        ),
        (9, 12, 3)
    );
    // Defaults are Kafka's.
    let c = ProducerConfig::from_pairs(&[]).unwrap();
    assert_eq!(
        (
            c.batch_size,
            c.buffer_memory,
            c.max_in_flight,
            c.linger.as_millis()
        ),
        (16384, 33554432, 5, 5)
    );
    assert!(c.enable_idempotence);
    // acks=1 without an explicit enable.idempotence quietly turns idempotence off.
    assert!(
        !ProducerConfig::from_pairs(&[("acks", "1")])
            .unwrap()
            .enable_idempotence
    );
}

async fn in_flight_peak(b: &TestBroker, max_in_flight: &str) -> usize {
    let p = Producer::connect(b.producer_config(&[
        ("linger.ms", "100"),
        ("batch.size", "1100"),
        ("max.request.size", "1200"),
        ("max.in.flight.requests.per.connection", max_in_flight),
    ]))
    .await
    .unwrap();
    let mut futs = Vec::new();
    for _ in 0..60 {
        futs.push(
            p.enqueue(ProducerRecord::new("t").value(vec![1u8; 1000]))
                .await
                .unwrap(),
        );
    }
    for f in futs {
        f.await.unwrap();
    }
    p.accumulator().max_in_flight_seen()
}

#[tokio::test]
async fn max_in_flight_requests_per_connection_bounds_outstanding_produce_requests() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    assert_eq!(in_flight_peak(&b, "1").await, 1);
    let five = in_flight_peak(&b, "5").await;
    assert!(five > 1 && five <= 5, "peak {five}");
}

#[tokio::test]
async fn retries_zero_fails_on_the_first_retriable_error_instead_of_waiting_out_delivery_timeout() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[
        ("retries", "0"),
        ("enable.idempotence", "false"),
        ("linger.ms", "0"),
        ("request.timeout.ms", "1000"),
        ("delivery.timeout.ms", "60000"),
    ]))
    .await
    .unwrap();
    p.send(ProducerRecord::new("t").value("ok")).await.unwrap();
    b.handle.shutdown().await;
    let start = Instant::now();
    let e = p
        .send(ProducerRecord::new("t").value("x"))
        .await
        .unwrap_err();
    assert!(
        e.is_retriable() && !matches!(e, ClientError::DeliveryTimeout { .. }),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn request_timeout_ms_fails_a_request_the_broker_does_not_answer() {
    // A listener that accepts and never answers stands in for a hung broker.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let cfg = runnel_client::CommonConfig::from_pairs(&[
        ("bootstrap.servers", &addr.to_string()),
        ("request.timeout.ms", "300"),
    ])
    .unwrap();
    let start = Instant::now();
    let e = runnel_client::Admin::connect(cfg).await.err().unwrap();
    assert!(
        matches!(
            e,
            ClientError::RequestTimeout {
                timeout_ms: 300,
                ..
            }
        ),
        "{e}"
    );
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_record_for_a_partition_added_after_metadata_was_cached_is_sent_there() {
    let b = TestBroker::start().await;
    let admin = b.admin().await;
    admin.create_topic("grows", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[("linger.ms", "0")]))
        .await
        .unwrap();
    let first = p
        .send(ProducerRecord::new("grows").partition(0).value("a"))
        .await
        .unwrap();
    assert_eq!(first.partition, 0);
    admin.create_partitions("grows", 3).await.unwrap();
    // The producer's cache still says one partition; a record for partition 2 makes it ask
    // again rather than refuse (metadata.max.age.ms is minutes away).
    let md = p
        .send(ProducerRecord::new("grows").partition(2).value("b"))
        .await
        .unwrap();
    assert_eq!((md.partition, md.offset), (2, 0));
    let back = read_all(&b, "grows", 2, 1).await;
    assert_eq!(back[0].value.as_deref(), Some(&b"b"[..]));
}

/// Idempotent batches of one partition must reach the broker in sequence order: each request
/// written out of order is refused with OUT_OF_ORDER_SEQUENCE_NUMBER and retried after a
/// backoff. Several runtime threads make a reordering of concurrently sent requests likely.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_idempotent_requests_in_flight_are_all_accepted_in_order_with_no_retry() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[("batch.size", "16384")]))
        .await
        .unwrap();
    let n = 4000;
    let mut futs = Vec::with_capacity(n);
    for i in 0..n {
        let mut value = vec![0u8; 1024];
        value[..8].copy_from_slice(&(i as u64).to_be_bytes());
        futs.push(
            p.enqueue(ProducerRecord::new("t").value(value))
                .await
                .unwrap(),
        );
    }
    let mut offsets = Vec::with_capacity(n);
    for f in futs {
        offsets.push(f.await.unwrap().offset);
    }
    let acc = p.accumulator();
    assert_eq!(
        acc.batches_retried(),
        0,
        "batches retried; peak in flight {}",
        acc.max_in_flight_seen()
    );
    assert!(
        acc.max_in_flight_seen() > 1,
        "peak in flight {}: the producer did not pipeline",
        acc.max_in_flight_seen()
    );
    assert!(
        offsets.iter().enumerate().all(|(i, o)| *o == i as i64),
        "records landed out of send order: first offsets {:?}",
        &offsets[..offsets.len().min(20)]
    );
}
