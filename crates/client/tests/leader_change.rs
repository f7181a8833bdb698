//! Leader changes, through a proxy that presents two brokers (node ids 1 and 2) in front of one
//! real Runnel broker and moves the partition's leadership from node 1 to node 2.

mod common;

use common::proxy::{Event, LeaderProxy, NOT_LEADER};
use common::{drain, TestBroker};
use kafka_protocol::messages::ApiKey;
use runnel_client::producer::DeliveryFuture;
use runnel_client::{
    Consumer, ConsumerConfig, ConsumerRecord, Producer, ProducerConfig, ProducerRecord,
};

async fn setup() -> (TestBroker, LeaderProxy) {
    let b = TestBroker::start().await;
    b.admin().await.create_topic("t", 1, &[]).await.unwrap();
    let proxy = LeaderProxy::start(b.addr).await;
    (b, proxy)
}

async fn producer(proxy: &LeaderProxy) -> Producer {
    let cfg = ProducerConfig::from_pairs(&[
        ("bootstrap.servers", &proxy.bootstrap()),
        ("linger.ms", "0"),
        ("retry.backoff.ms", "10"),
        ("max.in.flight.requests.per.connection", "5"),
        ("request.timeout.ms", "5000"),
    ])
    .unwrap();
    Producer::connect(cfg).await.unwrap()
}

async fn enqueue(p: &Producer, range: std::ops::Range<usize>, out: &mut Vec<DeliveryFuture>) {
    for i in range {
        out.push(
            p.enqueue(ProducerRecord::new("t").value(format!("{i:05}")))
                .await
                .unwrap(),
        );
    }
}

async fn offsets(futs: Vec<DeliveryFuture>) -> Vec<i64> {
    let mut out = Vec::new();
    for f in futs {
        out.push(f.await.unwrap().offset);
    }
    out
}

fn values(records: &[ConsumerRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect()
}

/// The records the real broker holds, read without the proxy.
async fn stored(b: &TestBroker, n: usize) -> Vec<String> {
    let mut c = Consumer::connect(b.consumer_config(&[])).await.unwrap();
    c.assign(&[("t", 0)]).await.unwrap();
    values(&drain(&mut c, n).await)
}

fn expected(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i:05}")).collect()
}

fn seen(events: &[Event], node: i32, api: ApiKey, answered: Option<i16>) -> usize {
    events
        .iter()
        .filter(|e| e.node == node && e.api == api as i16 && e.answered == answered)
        .count()
}

#[tokio::test]
async fn the_producer_follows_a_leader_change_and_every_record_lands_once_in_order() {
    let (b, proxy) = setup().await;
    let p = producer(&proxy).await;
    let mut futs = Vec::new();
    enqueue(&p, 0..100, &mut futs).await;
    let mut got = offsets(std::mem::take(&mut futs)).await;
    assert!(proxy.count(Some(1), ApiKey::Produce) > 0);
    assert_eq!(proxy.count(Some(2), ApiKey::Produce), 0);
    let metadata_before = proxy.count(None, ApiKey::Metadata);
    let from = proxy.events().len();
    // Move the leadership with requests in flight, and keep producing.
    enqueue(&p, 100..200, &mut futs).await;
    proxy.move_leader(2);
    enqueue(&p, 200..300, &mut futs).await;
    got.extend(offsets(futs).await);

    let after = &proxy.events()[from..];
    assert!(
        seen(after, 1, ApiKey::Produce, Some(NOT_LEADER)) > 0,
        "the stale producer never asked the old leader"
    );
    assert!(
        seen(after, 2, ApiKey::Produce, None) > 0,
        "no Produce reached the new leader"
    );
    assert!(
        proxy.count(None, ApiKey::Metadata) > metadata_before,
        "the producer did not refresh metadata"
    );
    assert_eq!(got, (0..300).collect::<Vec<i64>>());
    assert_eq!(stored(&b, 300).await, expected(300));
}

#[tokio::test]
async fn the_producer_moves_to_the_new_leader_when_the_old_one_goes_away() {
    let (b, proxy) = setup().await;
    let p = producer(&proxy).await;
    let mut futs = Vec::new();
    enqueue(&p, 0..100, &mut futs).await;
    let mut got = offsets(std::mem::take(&mut futs)).await;
    assert_eq!(proxy.count(Some(2), ApiKey::Produce), 0);
    let metadata_before = proxy.count(None, ApiKey::Metadata);
    enqueue(&p, 100..200, &mut futs).await;
    // Node 1 dies (its connections are cut, its port closes) and node 2 takes over.
    proxy.move_leader(2);
    proxy.stop_node(1);
    enqueue(&p, 200..300, &mut futs).await;
    got.extend(offsets(futs).await);

    assert!(
        proxy.count(Some(2), ApiKey::Produce) > 0,
        "no Produce reached the new leader"
    );
    assert!(
        proxy.count(Some(2), ApiKey::Metadata) > 0
            && proxy.count(None, ApiKey::Metadata) > metadata_before,
        "the producer did not refresh metadata from the surviving node"
    );
    // Requests cut after the broker appended them were resent: idempotence drops the copies.
    assert_eq!(got, (0..300).collect::<Vec<i64>>());
    assert_eq!(stored(&b, 300).await, expected(300));
}

#[tokio::test]
async fn the_consumer_fetches_from_the_new_leader_after_not_leader_or_follower() {
    let (b, proxy) = setup().await;
    let p = Producer::connect(b.producer_config(&[("linger.ms", "0")]))
        .await
        .unwrap();
    let mut futs = Vec::new();
    enqueue(&p, 0..100, &mut futs).await;
    offsets(std::mem::take(&mut futs)).await;
    let cfg = ConsumerConfig::from_pairs(&[
        ("bootstrap.servers", &proxy.bootstrap()),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "100"),
    ])
    .unwrap();
    let mut c = Consumer::connect(cfg).await.unwrap();
    c.assign(&[("t", 0)]).await.unwrap();
    let mut got = drain(&mut c, 100).await;
    assert_eq!(got.len(), 100);
    assert_eq!(proxy.count(Some(2), ApiKey::Fetch), 0);
    let metadata_before = proxy.count(None, ApiKey::Metadata);
    let from = proxy.events().len();
    proxy.move_leader(2);
    enqueue(&p, 100..200, &mut futs).await;
    offsets(futs).await;
    got.extend(drain(&mut c, 100).await);

    let after = &proxy.events()[from..];
    assert!(
        seen(after, 1, ApiKey::Fetch, Some(NOT_LEADER)) > 0,
        "the stale consumer never asked the old leader"
    );
    assert!(
        seen(after, 2, ApiKey::Fetch, None) > 0,
        "no Fetch reached the new leader"
    );
    assert!(proxy.count(None, ApiKey::Metadata) > metadata_before);
    assert_eq!(values(&got), expected(200));
    let offs: Vec<i64> = got.iter().map(|r| r.offset).collect();
    assert_eq!(offs, (0..200).collect::<Vec<i64>>());
}
