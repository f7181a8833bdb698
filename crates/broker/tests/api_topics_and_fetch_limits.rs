//! CreateTopics / DeleteTopics outcomes, and the Fetch limits and out-of-range handling.

mod common;

use common::{simple_batch, topic_name, TestBroker};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, CreateTopicsRequest, DeleteTopicsRequest, FetchRequest};

fn create_request(
    name: &str,
    partitions: i32,
    rf: i16,
    validate_only: bool,
) -> CreateTopicsRequest {
    let mut t = CreatableTopic::default();
    t.name = topic_name(name);
    t.num_partitions = partitions;
    t.replication_factor = rf;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    req.validate_only = validate_only;
    req
}

fn delete_request(name: &str) -> DeleteTopicsRequest {
    let mut req = DeleteTopicsRequest::default();
    req.topic_names = vec![topic_name(name)];
    req.timeout_ms = 5000;
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_only_create_checks_but_creates_nothing() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    let r = c.send(&create_request("dry", 3, 1, true), 7).await;
    assert_eq!(r.topics[0].error_code, 0);
    assert!(broker.handle.state().topics.get("dry").is_none());
    assert!(!broker.dir.path().join("dry-0").exists());
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_duplicates_bad_names_and_replication_beyond_one_node() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    assert_eq!(
        c.send(&create_request("t1", 1, 1, false), 7).await.topics[0].error_code,
        0
    );
    assert_eq!(
        c.send(&create_request("t1", 1, 1, false), 7).await.topics[0].error_code,
        36
    );
    assert_eq!(
        c.send(&create_request("bad name", 1, 1, false), 7)
            .await
            .topics[0]
            .error_code,
        17
    );
    let r = c.send(&create_request("t3", 1, 3, false), 7).await;
    assert_eq!(
        r.topics[0].error_code, 38,
        "{:?}",
        r.topics[0].error_message
    );
    assert_eq!(
        c.send(&create_request("t0", 0, 1, false), 7).await.topics[0].error_code,
        37
    );
    // '.' and '_' collide in Kafka's metric names, so these two cannot coexist.
    assert_eq!(
        c.send(&create_request("a.b", 1, 1, false), 7).await.topics[0].error_code,
        0
    );
    assert_eq!(
        c.send(&create_request("a_b", 1, 1, false), 7).await.topics[0].error_code,
        17
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_topic_removes_its_data_and_it_can_be_recreated_empty() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("gone", 2, &[]).await;
    assert_eq!(c.produce("gone", 0, 1, simple_batch(3)).await.error_code, 0);
    assert!(broker.dir.path().join("gone-0").exists());
    let r = c.send(&delete_request("gone"), 5).await;
    assert_eq!(r.responses[0].error_code, 0);
    assert!(
        !broker.dir.path().join("gone-0").exists(),
        "partition data must be removed"
    );
    assert!(!broker.dir.path().join("gone-1").exists());
    assert_eq!(c.produce("gone", 0, 1, simple_batch(1)).await.error_code, 3);
    c.create_topic("gone", 1, &[]).await;
    assert_eq!(
        c.list_offset("gone", 0, -1).await.offset,
        0,
        "recreated topic starts empty"
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_refused_when_topic_deletion_is_disabled() {
    let broker = TestBroker::start(&[("delete.topic.enable", "false")]).await;
    let mut c = broker.client().await;
    c.create_topic("kept", 1, &[]).await;
    assert_eq!(
        c.send(&delete_request("kept"), 5).await.responses[0].error_code,
        73
    );
    assert_eq!(
        c.send(&delete_request("never-was"), 5).await.responses[0].error_code,
        3
    );
    assert!(broker.handle.state().topics.get("kept").is_some());
    broker.shutdown().await;
}

fn fetch_two(topic: &str, partition_max_bytes: i32, max_bytes: i32) -> FetchRequest {
    let mut t = FetchTopic::default();
    t.topic = topic_name(topic);
    t.partitions = (0..2)
        .map(|i| {
            let mut p = FetchPartition::default();
            p.partition = i;
            p.fetch_offset = 0;
            p.partition_max_bytes = partition_max_bytes;
            p.current_leader_epoch = -1;
            p
        })
        .collect();
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = 0;
    req.min_bytes = 1;
    req.max_bytes = max_bytes;
    req.topics = vec![t];
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_returns_one_oversized_batch_first_and_respects_the_response_limit_after() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("lim", 2, &[]).await;
    let big = simple_batch(50);
    for p in 0..2 {
        assert_eq!(c.produce("lim", p, 1, big.clone()).await.error_code, 0);
        assert_eq!(c.produce("lim", p, 1, big.clone()).await.error_code, 0);
    }
    // Limits smaller than one batch: partition 0 still gets its first batch whole (KIP-74);
    // partition 1 gets nothing because the response is already over max_bytes.
    let r = c.send(&fetch_two("lim", 10, 10), 12).await;
    let parts = &r.responses[0].partitions;
    assert_eq!(parts[0].records.as_ref().unwrap().len(), big.len());
    assert_eq!(parts[1].records.as_ref().unwrap().len(), 0);
    assert_eq!(parts[1].error_code, 0);
    // A partition limit of one and a half batches returns exactly one batch per partition.
    let limit = (big.len() * 3 / 2) as i32;
    let r = c.send(&fetch_two("lim", limit, 1 << 20), 12).await;
    for p in &r.responses[0].partitions {
        assert_eq!(p.records.as_ref().unwrap().len(), big.len());
        assert_eq!(p.high_watermark, 100);
    }
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_beyond_the_log_end_is_offset_out_of_range() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("oor", 1, &[]).await;
    c.produce("oor", 0, 1, simple_batch(2)).await;
    let p = c.fetch("oor", 0, 5, 0, 1).await;
    assert_eq!(p.error_code, 1, "OFFSET_OUT_OF_RANGE");
    assert_eq!(p.high_watermark, 2);
    let p = c.fetch("oor", 0, 2, 0, 0).await;
    assert_eq!(
        p.error_code, 0,
        "fetching at the log end is not out of range"
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_long_poll_finish_with_a_response() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("idle", 1, &[]).await;
    let fetch = common::fetch_request("idle", 0, 0, 1000, 1);
    let correlation_id = c.send_only(&fetch, 12).await;
    c.wait_until_broker_has_read().await;
    broker.shutdown().await;
    let response = c
        .receive::<kafka_protocol::messages::FetchRequest>(correlation_id, 12)
        .await;
    assert_eq!(
        response.error_code, 0,
        "the in-flight fetch was answered, not cut off"
    );
}
