mod common;

use common::*;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{BrokerId, CreatePartitionsRequest, MetadataRequest};

fn topic(name: &str, count: i32, assignments: Option<Vec<Vec<i32>>>) -> CreatePartitionsTopic {
    let mut t = CreatePartitionsTopic::default();
    t.name = topic_name(name);
    t.count = count;
    t.assignments = assignments.map(|a| {
        a.into_iter()
            .map(|ids| {
                let mut x = CreatePartitionsAssignment::default();
                x.broker_ids = ids.into_iter().map(BrokerId).collect();
                x
            })
            .collect()
    });
    t
}

async fn create(
    c: &mut RawClient,
    topics: Vec<CreatePartitionsTopic>,
    validate_only: bool,
) -> Vec<CreatePartitionsTopicResult> {
    let mut req = CreatePartitionsRequest::default();
    req.topics = topics;
    req.timeout_ms = 10_000;
    req.validate_only = validate_only;
    c.send(&req, 3).await.results
}

async fn partition_count(c: &mut RawClient, name: &str) -> usize {
    let mut t = MetadataRequestTopic::default();
    t.name = Some(topic_name(name));
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![t]);
    let resp = c.send(&req, 12).await;
    assert_eq!(resp.topics[0].error_code, 0);
    resp.topics[0].partitions.len()
}

#[tokio::test]
async fn increasing_partitions_adds_writable_partitions() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = create(&mut c, vec![topic("t", 3, None)], false).await;
    assert_eq!(r[0].error_code, 0, "{:?}", r[0].error_message);
    assert_eq!(r[0].name.as_str(), "t");
    assert_eq!(partition_count(&mut c, "t").await, 3);
    let p = c.produce("t", 2, 1, simple_batch(1)).await;
    assert_eq!(p.error_code, 0);
    assert_eq!(p.base_offset, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn decreasing_partitions_is_refused_with_invalid_partitions() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 3, &[]).await;
    let r = create(&mut c, vec![topic("t", 2, None)], false).await;
    assert_eq!(r[0].error_code, 37);
    assert!(r[0]
        .error_message
        .as_deref()
        .is_some_and(|m| m.contains('3')));
    assert_eq!(partition_count(&mut c, "t").await, 3);
    b.shutdown().await;
}

#[tokio::test]
async fn keeping_the_same_count_is_refused_with_invalid_partitions() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 2, &[]).await;
    let r = create(&mut c, vec![topic("t", 2, None)], false).await;
    assert_eq!(r[0].error_code, 37);
    b.shutdown().await;
}

#[tokio::test]
async fn assignment_naming_another_broker_is_refused_with_invalid_replica_assignment() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = create(&mut c, vec![topic("t", 2, Some(vec![vec![2]]))], false).await;
    assert_eq!(r[0].error_code, 39);
    let r = create(&mut c, vec![topic("t", 3, Some(vec![vec![1]]))], false).await;
    assert_eq!(r[0].error_code, 39, "one assignment for two new partitions");
    assert_eq!(partition_count(&mut c, "t").await, 1);
    b.shutdown().await;
}

#[tokio::test]
async fn assignment_naming_only_this_node_is_accepted() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = create(
        &mut c,
        vec![topic("t", 3, Some(vec![vec![1], vec![1]]))],
        false,
    )
    .await;
    assert_eq!(r[0].error_code, 0, "{:?}", r[0].error_message);
    assert_eq!(partition_count(&mut c, "t").await, 3);
    b.shutdown().await;
}

#[tokio::test]
async fn a_topic_named_twice_is_an_invalid_request() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = create(
        &mut c,
        vec![topic("t", 2, None), topic("t", 3, None)],
        false,
    )
    .await;
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|x| x.error_code == 42));
    assert_eq!(partition_count(&mut c, "t").await, 1);
    b.shutdown().await;
}

#[tokio::test]
async fn validate_only_does_not_add_partitions() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let r = create(&mut c, vec![topic("t", 4, None)], true).await;
    assert_eq!(r[0].error_code, 0);
    assert_eq!(partition_count(&mut c, "t").await, 1);
    b.shutdown().await;
}

#[tokio::test]
async fn unknown_topic_answers_unknown_topic_or_partition() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let r = create(&mut c, vec![topic("nope", 4, None)], false).await;
    assert_eq!(r[0].error_code, 3);
    b.shutdown().await;
}

#[tokio::test]
async fn added_partitions_survive_a_restart() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    assert_eq!(
        create(&mut c, vec![topic("t", 2, None)], false).await[0].error_code,
        0
    );
    let dir = b.dir.path().to_str().unwrap().to_string();
    let TestBroker {
        handle, dir: tmp, ..
    } = b;
    handle.shutdown().await;
    let handle = runnel_broker::start(
        runnel_broker::BrokerConfig::with(&[
            ("listeners", "PLAINTEXT://127.0.0.1:0"),
            ("log.dirs", dir.as_str()),
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let mut c = RawClient::connect(handle.local_addr).await;
    assert_eq!(partition_count(&mut c, "t").await, 2);
    handle.shutdown().await;
    drop(tmp);
}
