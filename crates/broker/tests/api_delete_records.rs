mod common;

use common::*;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_records_response::DeleteRecordsPartitionResult;
use kafka_protocol::messages::DeleteRecordsRequest;

async fn delete_records(
    c: &mut RawClient,
    topic: &str,
    partition: i32,
    offset: i64,
) -> DeleteRecordsPartitionResult {
    let mut p = DeleteRecordsPartition::default();
    p.partition_index = partition;
    p.offset = offset;
    let mut t = DeleteRecordsTopic::default();
    t.name = topic_name(topic);
    t.partitions = vec![p];
    let mut req = DeleteRecordsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 10_000;
    let mut resp = c.send(&req, 2).await;
    assert_eq!(resp.topics[0].name.as_str(), topic);
    resp.topics.remove(0).partitions.remove(0)
}

/// A topic with small segments and `batches` batches of two records each.
async fn topic_with_data(c: &mut RawClient, batches: usize) {
    c.create_topic("t", 1, &[("segment.bytes", "200")]).await;
    for _ in 0..batches {
        let p = c.produce("t", 0, 1, simple_batch(2)).await;
        assert_eq!(p.error_code, 0);
    }
}

#[tokio::test]
async fn delete_records_moves_the_low_watermark() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    topic_with_data(&mut c, 5).await;
    let r = delete_records(&mut c, "t", 0, 4).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.partition_index, 0);
    assert_eq!(r.low_watermark, 4);
    let earliest = c.list_offset("t", 0, -2).await;
    assert_eq!(earliest.offset, 4);
    let fetched = c.fetch("t", 0, 0, 0, 0).await;
    assert_eq!(
        fetched.error_code, 1,
        "fetching below the low watermark is out of range"
    );
    assert_eq!(fetched.log_start_offset, 4);
    let fetched = c.fetch("t", 0, 4, 0, 0).await;
    assert_eq!(fetched.error_code, 0);
    assert!(fetched.records.is_some_and(|r| !r.is_empty()));
    b.shutdown().await;
}

#[tokio::test]
async fn minus_one_deletes_up_to_the_high_watermark() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    topic_with_data(&mut c, 3).await;
    let r = delete_records(&mut c, "t", 0, -1).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.low_watermark, 6);
    assert_eq!(c.list_offset("t", 0, -2).await.offset, 6);
    assert_eq!(c.list_offset("t", 0, -1).await.offset, 6);
    // The log keeps working after everything was deleted.
    let p = c.produce("t", 0, 1, simple_batch(1)).await;
    assert_eq!((p.error_code, p.base_offset), (0, 6));
    b.shutdown().await;
}

#[tokio::test]
async fn offset_beyond_the_high_watermark_is_offset_out_of_range() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    topic_with_data(&mut c, 1).await;
    let r = delete_records(&mut c, "t", 0, 3).await;
    assert_eq!(r.error_code, 1);
    assert_eq!(r.low_watermark, -1);
    let r = delete_records(&mut c, "t", 0, -7).await;
    assert_eq!(r.error_code, 1);
    assert_eq!(c.list_offset("t", 0, -2).await.offset, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn offset_below_the_low_watermark_changes_nothing() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    topic_with_data(&mut c, 3).await;
    assert_eq!(delete_records(&mut c, "t", 0, 4).await.low_watermark, 4);
    let r = delete_records(&mut c, "t", 0, 2).await;
    assert_eq!((r.error_code, r.low_watermark), (0, 4));
    b.shutdown().await;
}

#[tokio::test]
async fn unknown_topic_or_partition_is_reported_per_partition() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    topic_with_data(&mut c, 1).await;
    assert_eq!(delete_records(&mut c, "t", 5, 0).await.error_code, 3);
    assert_eq!(delete_records(&mut c, "nope", 0, 0).await.error_code, 3);
    b.shutdown().await;
}

#[tokio::test]
async fn compacted_topic_refuses_delete_records_with_policy_violation() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("compacted", 1, &[("cleanup.policy", "compact")])
        .await;
    assert_eq!(
        c.produce("compacted", 0, 1, simple_batch(2))
            .await
            .error_code,
        0
    );
    let r = delete_records(&mut c, "compacted", 0, 1).await;
    assert_eq!(r.error_code, 44);
    assert_eq!(c.list_offset("compacted", 0, -2).await.offset, 0);
    b.shutdown().await;
}
