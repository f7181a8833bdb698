//! Produce behaviour that depends on topic settings: min.insync.replicas with acks=all,
//! LogAppendTime stamping, and flush.messages.

mod common;

use common::{simple_batch, TestBroker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_is_refused_when_min_insync_replicas_exceeds_the_single_node() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("strict", 1, &[("min.insync.replicas", "2")])
        .await;
    let r = c.produce("strict", 0, -1, simple_batch(1)).await;
    assert_eq!(r.error_code, 19, "NOT_ENOUGH_REPLICAS");
    // acks=1 does not wait for the ISR, as in Kafka.
    assert_eq!(
        c.produce("strict", 0, 1, simple_batch(1)).await.error_code,
        0
    );
    assert_eq!(
        c.list_offset("strict", 0, -1).await.offset,
        1,
        "the refused batch was not written"
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_append_time_topics_report_and_store_the_broker_clock() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("lat", 1, &[("message.timestamp.type", "LogAppendTime")])
        .await;
    let before = common::now_ms();
    let r = c.produce("lat", 0, 1, simple_batch(3)).await;
    let after = common::now_ms();
    assert_eq!(r.error_code, 0);
    assert!(
        (before..=after).contains(&r.log_append_time_ms),
        "{} not in [{before}, {after}]",
        r.log_append_time_ms
    );
    let p = c.fetch("lat", 0, 0, 0, 1).await;
    let records = p.records.unwrap();
    // Under LogAppendTime a record's timestamp is the batch's maxTimestamp, which the broker
    // stamps (readers must use it instead of the per-record deltas).
    let header = runnel_log::batch::BatchHeader::parse(&records).unwrap();
    assert!(header.is_log_append_time(), "timestamp type bit set");
    assert_eq!(header.max_timestamp, r.log_append_time_ms);
    runnel_log::batch::validate(&records[..header.total_size_bytes()], &header)
        .expect("CRC recomputed after stamping");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_appends_without_a_response() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("quiet", 1, &[]).await;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::ProduceRequest;
    let mut p = PartitionProduceData::default();
    p.index = 0;
    p.records = Some(simple_batch(2));
    let mut t = TopicProduceData::default();
    t.name = common::topic_name("quiet");
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = 0;
    req.topic_data = vec![t];
    let (_, frame) = c.frame(&req, 9);
    c.write_raw(&frame).await;
    // The next response on this connection answers the next request, not the acks=0 produce.
    assert_eq!(c.list_offset("quiet", 0, -1).await.offset, 2);
    broker.shutdown().await;
}
