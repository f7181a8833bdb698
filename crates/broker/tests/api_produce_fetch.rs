mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, InitProducerIdRequest, MetadataRequest,
    RequestHeader,
};
use kafka_protocol::protocol::Encodable;
use kafka_protocol::records::RecordBatchDecoder;
use std::time::{Duration, Instant};

async fn init_producer(c: &mut RawClient) -> (i64, i16) {
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = None;
    req.transaction_timeout_ms = 60_000;
    req.producer_id = kafka_protocol::messages::ProducerId(-1);
    req.producer_epoch = -1;
    let resp = c.send(&req, 4).await;
    assert_eq!(resp.error_code, 0);
    (resp.producer_id.0, resp.producer_epoch)
}

async fn metadata(c: &mut RawClient, topic: &str, allow_create: bool) -> (i16, usize) {
    let mut t = MetadataRequestTopic::default();
    t.name = Some(topic_name(topic));
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![t]);
    req.allow_auto_topic_creation = allow_create;
    let resp = c.send(&req, 12).await;
    (resp.topics[0].error_code, resp.topics[0].partitions.len())
}

/// A frame for `api` at `version` with an empty body (for versions the client cannot encode).
fn bare_frame(api: ApiKey, version: i16, correlation_id: i32) -> Bytes {
    let mut header = RequestHeader::default();
    header.request_api_key = api as i16;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    let mut body = BytesMut::new();
    header
        .encode(&mut body, api.request_header_version(version))
        .unwrap();
    let mut framed = BytesMut::new();
    framed.extend_from_slice(&(body.len() as i32).to_be_bytes());
    framed.extend_from_slice(&body);
    framed.freeze()
}

#[tokio::test]
async fn produce_with_acks_1_then_fetch_returns_the_same_bytes() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let mut rec = Rec::kv("key", "value");
    rec.headers = vec![("h".into(), Some(b"hv".to_vec())), ("n".into(), None)];
    let sent = batch(&[rec, Rec::kv("k2", "v2")], None);
    let p = c.produce("t", 0, 1, sent.clone()).await;
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let f = c.fetch("t", 0, 0, 0, 0).await;
    assert_eq!(f.error_code, 0);
    assert_eq!(f.high_watermark, 2);
    let mut got = f.records.expect("records");
    assert_eq!(got, sent, "fetched bytes equal the produced batch");
    let set = RecordBatchDecoder::decode(&mut got).unwrap();
    assert_eq!(set.records.len(), 2);
    assert_eq!(set.records[0].key.as_deref(), Some(&b"key"[..]));
    assert_eq!(set.records[0].value.as_deref(), Some(&b"value"[..]));
    assert_eq!(set.records[0].headers.len(), 2);
    assert_eq!(set.records[1].offset, 1);
    b.shutdown().await;
}

#[tokio::test]
async fn idempotent_duplicate_batch_is_acknowledged_with_the_same_offset_and_not_appended_twice() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let (id, epoch) = init_producer(&mut c).await;
    c.produce("t", 0, 1, simple_batch(1)).await;
    let pb = batch(
        &[Rec::kv("a", "1"), Rec::kv("b", "2")],
        Some(Producer {
            id,
            epoch,
            base_sequence: 0,
        }),
    );
    let first = c.produce("t", 0, -1, pb.clone()).await;
    assert_eq!((first.error_code, first.base_offset), (0, 1));
    let again = c.produce("t", 0, -1, pb).await;
    assert_eq!((again.error_code, again.base_offset), (0, 1));
    assert_eq!(c.list_offset("t", 0, -1).await.offset, 3, "appended once");
    b.shutdown().await;
}

#[tokio::test]
async fn sequence_gap_is_refused_with_out_of_order_sequence_number() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let (id, epoch) = init_producer(&mut c).await;
    let first = batch(
        &[Rec::kv("a", "1")],
        Some(Producer {
            id,
            epoch,
            base_sequence: 0,
        }),
    );
    assert_eq!(c.produce("t", 0, -1, first).await.error_code, 0);
    let gap = batch(
        &[Rec::kv("a", "1")],
        Some(Producer {
            id,
            epoch,
            base_sequence: 5,
        }),
    );
    assert_eq!(c.produce("t", 0, -1, gap).await.error_code, 45);
    assert_eq!(c.list_offset("t", 0, -1).await.offset, 1);
    b.shutdown().await;
}

#[tokio::test]
async fn corrupted_crc_is_refused_with_corrupt_message() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let mut bytes = BytesMut::from(&simple_batch(2)[..]);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let p = c.produce("t", 0, 1, bytes.freeze()).await;
    assert_eq!(p.error_code, 2);
    assert_eq!(c.list_offset("t", 0, -1).await.offset, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn batch_over_max_message_bytes_is_refused_with_message_too_large() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("max.message.bytes", "200")])
        .await;
    let big = "x".repeat(500);
    let p = c
        .produce("t", 0, 1, batch(&[Rec::kv("k", &big)], None))
        .await;
    assert_eq!(p.error_code, 10);
    let p = c.produce("t", 0, 1, simple_batch(1)).await;
    assert_eq!(p.error_code, 0, "a small batch still fits");
    b.shutdown().await;
}

#[tokio::test]
async fn acks_2_is_refused_with_invalid_required_acks() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let p = c.produce("t", 0, 2, simple_batch(1)).await;
    assert_eq!(p.error_code, 21);
    assert_eq!(c.list_offset("t", 0, -1).await.offset, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn produce_to_an_unknown_topic_answers_unknown_topic_or_partition() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    let p = c.produce("nope", 0, 1, simple_batch(1)).await;
    assert_eq!(p.error_code, 3);
    b.shutdown().await;
}

#[tokio::test]
async fn metadata_auto_creates_a_topic_with_num_partitions() {
    let b = TestBroker::start(&[("num.partitions", "3")]).await;
    let mut c = b.client().await;
    assert_eq!(metadata(&mut c, "auto", true).await, (0, 3));
    b.shutdown().await;
}

#[tokio::test]
async fn metadata_does_not_create_topics_when_auto_create_is_disabled() {
    let b = TestBroker::start(&[("auto.create.topics.enable", "false")]).await;
    let mut c = b.client().await;
    assert_eq!(metadata(&mut c, "auto", true).await.0, 3);
    assert_eq!(
        metadata(&mut c, "auto", true).await.0,
        3,
        "still not created"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn metadata_for_an_invalid_topic_name_answers_invalid_topic_exception() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    assert_eq!(metadata(&mut c, "bad name!", true).await.0, 17);
    b.shutdown().await;
}

#[tokio::test]
async fn list_offsets_answers_earliest_latest_and_by_timestamp() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    // Timestamps far in the past: keep time retention from deleting them mid-test.
    c.create_topic("t", 1, &[("retention.ms", "-1")]).await;
    for ts in [1000, 2000, 3000] {
        let mut r = Rec::kv("k", "v");
        r.timestamp = ts;
        assert_eq!(c.produce("t", 0, 1, batch(&[r], None)).await.error_code, 0);
    }
    assert_eq!(c.list_offset("t", 0, -2).await.offset, 0);
    assert_eq!(c.list_offset("t", 0, -1).await.offset, 3);
    let by_ts = c.list_offset("t", 0, 1500).await;
    assert_eq!(
        (by_ts.error_code, by_ts.offset, by_ts.timestamp),
        (0, 1, 2000)
    );
    let exact = c.list_offset("t", 0, 3000).await;
    assert_eq!((exact.offset, exact.timestamp), (2, 3000));
    let after = c.list_offset("t", 0, 4000).await;
    assert_eq!((after.error_code, after.offset), (0, -1));
    b.shutdown().await;
}

#[tokio::test]
async fn fetch_long_poll_returns_after_max_wait_when_there_is_no_data() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let start = Instant::now();
    let f = c.fetch("t", 0, 0, 500, 1).await;
    let waited = start.elapsed();
    assert_eq!(f.error_code, 0);
    assert!(f.records.as_ref().is_none_or(|r| r.is_empty()));
    assert!(waited >= Duration::from_millis(450), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    b.shutdown().await;
}

#[tokio::test]
async fn fetch_long_poll_returns_early_when_data_arrives() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let mut producer = b.client().await;
    let start = Instant::now();
    // The fetch is in the broker's hands (read off the socket) before anything is produced.
    let fetch = common::fetch_request("t", 0, 0, 15_000, 1);
    let correlation_id = c.send_only(&fetch, 12).await;
    c.wait_until_broker_has_read().await;
    assert_eq!(
        producer
            .produce("t", 0, 1, simple_batch(1))
            .await
            .error_code,
        0
    );
    let mut f = c
        .receive::<kafka_protocol::messages::FetchRequest>(correlation_id, 12)
        .await;
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let p = f.responses.remove(0).partitions.remove(0);
    assert!(p.records.is_some_and(|r| !r.is_empty()));
    b.shutdown().await;
}

#[tokio::test]
async fn api_versions_at_version_99_answers_unsupported_version_with_the_api_list() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.write_raw(&bare_frame(ApiKey::ApiVersions, 99, 7)).await;
    let mut resp = c.read_frame().await.expect("a response");
    let r: ApiVersionsResponse = decode_response(&mut resp, 7, 0);
    assert_eq!(r.error_code, 35);
    let produce = r
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .expect("produce listed");
    assert_eq!((produce.min_version, produce.max_version), (3, 12));
    // The connection stays usable at a supported version.
    let ok = c.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(ok.error_code, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn unsupported_produce_version_closes_that_connection_only() {
    let b = TestBroker::start(&[]).await;
    let mut bad = b.client().await;
    let mut good = b.client().await;
    bad.write_raw(&bare_frame(ApiKey::Produce, 99, 1)).await;
    assert!(
        bad.read_frame().await.is_none(),
        "connection closed without a response"
    );
    let r = good.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(r.error_code, 0);
    good.create_topic("t", 1, &[]).await;
    assert_eq!(good.produce("t", 0, 1, simple_batch(1)).await.error_code, 0);
    b.shutdown().await;
}
