//! Clients cannot change `__consumer_offsets` through the admin APIs: DeleteRecords is refused
//! as Kafka refuses it (INVALID_TOPIC_EXCEPTION), CreatePartitions and DeleteTopics with
//! INVALID_REQUEST (Kafka 4 accepts both, moving or losing every group's offsets).

mod common;

use common::*;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;

const OFFSETS: &str = "__consumer_offsets";
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUEST: i16 = 42;

async fn partition_count(c: &mut RawClient) -> usize {
    let mut t = MetadataRequestTopic::default();
    t.name = Some(topic_name(OFFSETS));
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![t]);
    let resp = c.send(&req, 12).await;
    assert_eq!(resp.topics[0].error_code, 0);
    resp.topics[0].partitions.len()
}

#[tokio::test]
async fn create_partitions_delete_topics_and_delete_records_on_consumer_offsets_are_refused() {
    let broker = TestBroker::start(&[("offsets.topic.num.partitions", "2")]).await;
    let mut c = broker.client().await;
    assert_eq!(partition_count(&mut c).await, 2);

    let mut p = CreatePartitionsTopic::default();
    p.name = topic_name(OFFSETS);
    p.count = 3;
    p.assignments = None;
    let mut req = CreatePartitionsRequest::default();
    req.topics = vec![p];
    req.timeout_ms = 10_000;
    let r = c.send(&req, 3).await;
    assert_eq!(r.results[0].error_code, INVALID_REQUEST);

    let mut t = DeleteTopicState::default();
    t.name = Some(topic_name(OFFSETS));
    let mut req = DeleteTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 10_000;
    let r = c.send(&req, 6).await;
    assert_eq!(r.responses[0].error_code, INVALID_REQUEST);

    let mut dp = DeleteRecordsPartition::default();
    dp.partition_index = 0;
    dp.offset = -1;
    let mut dt = DeleteRecordsTopic::default();
    dt.name = topic_name(OFFSETS);
    dt.partitions = vec![dp];
    let mut req = DeleteRecordsRequest::default();
    req.topics = vec![dt];
    req.timeout_ms = 10_000;
    let r = c.send(&req, 2).await;
    let part = &r.topics[0].partitions[0];
    assert_eq!(
        (part.error_code, part.low_watermark),
        (INVALID_TOPIC_EXCEPTION, -1)
    );

    assert_eq!(partition_count(&mut c).await, 2, "the topic is unchanged");
    assert!(broker.dir.path().join(format!("{OFFSETS}-0")).is_dir());
    broker.shutdown().await;
}
