mod common;

use common::{drain, TestBroker};
use kafka_protocol::messages::ApiKey;
use runnel_client::{ClientError, Consumer, ConsumerConfig, Producer, ProducerRecord};
use std::time::{Duration, Instant};

async fn setup(partitions: i32, n: usize) -> TestBroker {
    let b = TestBroker::start().await;
    b.admin()
        .await
        .create_topic("t", partitions, &[])
        .await
        .unwrap();
    let p = Producer::connect(b.producer_config(&[("linger.ms", "0")]))
        .await
        .unwrap();
    for i in 0..n {
        p.send(
            ProducerRecord::new("t")
                .partition((i % partitions as usize) as i32)
                .key(format!("k{i}"))
                .value(format!("v{i}")),
        )
        .await
        .unwrap();
    }
    b
}

#[tokio::test]
async fn assigned_partitions_are_read_from_the_beginning_in_order() {
    let b = setup(2, 20).await;
    let mut c = Consumer::connect(b.consumer_config(&[])).await.unwrap();
    c.assign(&[("t", 0), ("t", 1)]).await.unwrap();
    let got = drain(&mut c, 20).await;
    assert_eq!(got.len(), 20);
    for p in 0..2 {
        let offs: Vec<i64> = got
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| r.offset)
            .collect();
        assert_eq!(offs, (0..10).collect::<Vec<_>>());
    }
    assert_eq!(c.position("t", 0).await.unwrap(), 10);
}

#[tokio::test]
async fn seek_seek_to_beginning_and_seek_to_end_move_the_position() {
    let b = setup(1, 10).await;
    let mut c = Consumer::connect(b.consumer_config(&[])).await.unwrap();
    c.assign(&[("t", 0)]).await.unwrap();
    c.seek("t", 0, 7).unwrap();
    let got = drain(&mut c, 3).await;
    assert_eq!(
        got.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![7, 8, 9]
    );
    c.seek_to_beginning(&[("t", 0)]).unwrap();
    assert_eq!(c.position("t", 0).await.unwrap(), 0);
    assert_eq!(drain(&mut c, 10).await.len(), 10);
    c.seek_to_end(&[("t", 0)]).unwrap();
    assert_eq!(c.position("t", 0).await.unwrap(), 10);
    assert!(c.poll(Duration::from_millis(200)).await.unwrap().is_empty());
}

#[tokio::test]
async fn seek_to_timestamp_starts_at_the_first_record_at_or_after_it() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[])).await.unwrap();
    let now = runnel_client::producer::now_ms();
    for i in 0..5 {
        p.send(
            ProducerRecord::new("t")
                .value("v")
                .timestamp(now - 5000 + i * 1000),
        )
        .await
        .unwrap();
    }
    let mut c = Consumer::connect(b.consumer_config(&[])).await.unwrap();
    c.assign(&[("t", 0)]).await.unwrap();
    c.seek_to_timestamp(&[("t", 0)], now - 2500).unwrap();
    assert_eq!(c.position("t", 0).await.unwrap(), 3);
}

#[tokio::test]
async fn auto_offset_reset_latest_skips_old_records_and_none_is_an_error() {
    let b = setup(1, 5).await;
    let mut latest = Consumer::connect(b.consumer_config(&[("auto.offset.reset", "latest")]))
        .await
        .unwrap();
    latest.assign(&[("t", 0)]).await.unwrap();
    assert_eq!(latest.position("t", 0).await.unwrap(), 5);
    let mut earliest = Consumer::connect(b.consumer_config(&[])).await.unwrap();
    earliest.assign(&[("t", 0)]).await.unwrap();
    assert_eq!(earliest.position("t", 0).await.unwrap(), 0);
    let mut none = Consumer::connect(b.consumer_config(&[("auto.offset.reset", "none")]))
        .await
        .unwrap();
    none.assign(&[("t", 0)]).await.unwrap();
    let e = none.poll(Duration::from_millis(100)).await.unwrap_err();
    assert!(e.to_string().contains("auto.offset.reset=none"), "{e}");
    // An out-of-range seek resets by auto.offset.reset.
    earliest.seek("t", 0, 1000).unwrap();
    let got = drain(&mut earliest, 5).await;
    assert_eq!(got[0].offset, 0);
}

#[tokio::test]
async fn paused_partitions_return_nothing_until_resumed() {
    let b = setup(2, 10).await;
    let mut c = Consumer::connect(b.consumer_config(&[])).await.unwrap();
    c.assign(&[("t", 0), ("t", 1)]).await.unwrap();
    c.pause(&[("t", 1)]).unwrap();
    assert_eq!(c.paused(), vec![("t".to_string(), 1)]);
    let got = drain(&mut c, 5).await;
    assert!(got.iter().all(|r| r.partition == 0));
    assert!(c.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    c.resume(&[("t", 1)]).unwrap();
    let got = drain(&mut c, 5).await;
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|r| r.partition == 1));
}

#[tokio::test]
async fn max_poll_records_caps_each_poll() {
    let b = setup(1, 25).await;
    let mut c = Consumer::connect(b.consumer_config(&[("max.poll.records", "10")]))
        .await
        .unwrap();
    c.assign(&[("t", 0)]).await.unwrap();
    let mut sizes = Vec::new();
    let mut total = 0;
    while total < 25 {
        let got = c.poll(Duration::from_secs(5)).await.unwrap();
        total += got.len();
        sizes.push(got.len());
    }
    assert!(sizes.iter().all(|s| *s <= 10), "{sizes:?}");
    assert_eq!(total, 25);
}

#[tokio::test]
async fn max_partition_fetch_bytes_takes_more_fetches_to_read_the_same_records() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[("linger.ms", "0")]))
        .await
        .unwrap();
    for _ in 0..20 {
        p.send(ProducerRecord::new("t").value(vec![7u8; 1000]))
            .await
            .unwrap();
    }
    let fetches = |cfg: ConsumerConfig| async move {
        let mut c = Consumer::connect(cfg).await.unwrap();
        c.assign(&[("t", 0)]).await.unwrap();
        assert_eq!(drain(&mut c, 20).await.len(), 20);
        c.cluster().metrics.requests(ApiKey::Fetch)
    };
    let big = fetches(b.consumer_config(&[])).await;
    let small = fetches(b.consumer_config(&[("max.partition.fetch.bytes", "1500")])).await;
    let capped = fetches(b.consumer_config(&[("fetch.max.bytes", "1500")])).await;
    assert!(small >= 20 && small > big, "small={small} big={big}");
    assert!(capped >= 20 && capped > big, "capped={capped} big={big}");
}

#[tokio::test]
async fn fetch_min_bytes_makes_the_broker_wait_up_to_fetch_max_wait_ms() {
    let b = setup(1, 1).await;
    let mut c = Consumer::connect(
        b.consumer_config(&[("fetch.min.bytes", "1000000"), ("fetch.max.wait.ms", "700")]),
    )
    .await
    .unwrap();
    c.assign(&[("t", 0)]).await.unwrap();
    let start = Instant::now();
    let got = drain(&mut c, 1).await;
    assert_eq!(got.len(), 1);
    assert!(
        start.elapsed() >= Duration::from_millis(650),
        "answered after {:?}",
        start.elapsed()
    );
    let mut eager = Consumer::connect(b.consumer_config(&[("fetch.max.wait.ms", "5000")]))
        .await
        .unwrap();
    eager.assign(&[("t", 0)]).await.unwrap();
    let start = Instant::now();
    assert_eq!(drain(&mut eager, 1).await.len(), 1);
    assert!(start.elapsed() < Duration::from_millis(4000));
}

#[tokio::test]
async fn poll_starts_the_next_fetch_before_returning_records() {
    let b = setup(1, 3).await;
    let mut c = Consumer::connect(b.consumer_config(&[])).await.unwrap();
    c.assign(&[("t", 0)]).await.unwrap();
    let mut got = Vec::new();
    while got.is_empty() {
        got = c.poll(Duration::from_secs(5)).await.unwrap();
    }
    // The poll that returned these records already sent the next Fetch.
    assert_eq!(c.fetches_in_flight(), 1);
    // A record produced now arrives through the fetch already waiting at the broker.
    let p = Producer::connect(b.producer_config(&[])).await.unwrap();
    p.send(ProducerRecord::new("t").value("late"))
        .await
        .unwrap();
    let got = drain(&mut c, 1).await;
    assert_eq!(got[0].value.as_deref(), Some(&b"late"[..]));
}

#[tokio::test]
async fn isolation_level_read_committed_reads_non_transactional_records() {
    let b = setup(1, 4).await;
    let mut c = Consumer::connect(b.consumer_config(&[("isolation.level", "read_committed")]))
        .await
        .unwrap();
    c.assign(&[("t", 0)]).await.unwrap();
    assert_eq!(drain(&mut c, 4).await.len(), 4);
}

#[tokio::test]
async fn positions_of_unassigned_partitions_are_an_error() {
    let b = setup(1, 1).await;
    let mut c = Consumer::connect(b.consumer_config(&[])).await.unwrap();
    assert!(matches!(c.seek("t", 0, 0), Err(ClientError::State(_))));
    assert!(c.assign(&[("t", 9)]).await.is_err());
}

#[test]
fn consumer_config_refusals_name_the_key_and_value() {
    let e = ConsumerConfig::from_pairs(&[("auto.offset.reset", "smallest")]).unwrap_err();
    assert!(
        e.to_string().contains("auto.offset.reset=\"smallest\""),
        "{e}"
    );
    let e = ConsumerConfig::from_pairs(&[("heartbeat.interval.ms", "50000")]).unwrap_err();
    assert!(e.to_string().contains("session.timeout.ms=45000"), "{e}");
    let c = ConsumerConfig::from_pairs(&[]).unwrap();
    assert_eq!(
        (
            c.max_poll_records,
            c.fetch_min_bytes,
            c.fetch_max_wait.as_millis()
        ),
        (500, 1, 500)
    );
}

/// One partition runs dry long before the other: a fetch for it alone would long-poll for
/// `fetch.max.wait.ms` while the other partition's buffered records are handed out, and the
/// consumer could not fetch that one again until the long poll ended.
#[tokio::test]
async fn a_caught_up_partition_does_not_hold_up_fetching_the_others_for_fetch_max_wait_ms() {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 2, &[]).await.unwrap();
    let p = Producer::connect(b.producer_config(&[("linger.ms", "5")]))
        .await
        .unwrap();
    let mut futs = Vec::new();
    for i in 0..600 {
        let partition = if i == 0 { 1 } else { 0 };
        let rec = ProducerRecord::new("t")
            .partition(partition)
            .value(vec![b'x'; 100]);
        futs.push(p.enqueue(rec).await.unwrap());
    }
    for f in futs {
        f.await.unwrap();
    }
    let mut c = Consumer::connect(b.consumer_config(&[
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "10000"),
        ("max.poll.records", "20"),
        // About 20 records of partition 0 per fetch: it needs some 30 fetches.
        ("max.partition.fetch.bytes", "3000"),
    ]))
    .await
    .unwrap();
    c.assign(&[("t", 0), ("t", 1)]).await.unwrap();
    let start = Instant::now();
    let got = drain(&mut c, 600).await;
    let took = start.elapsed();
    assert_eq!(got.len(), 600);
    // Each stall would cost the full 10 s; without one the whole read takes well under a
    // second, so this bound leaves a wide margin either way.
    assert!(
        took < Duration::from_secs(8),
        "reading 600 records took {took:?}: fetches waited out fetch.max.wait.ms"
    );
}
