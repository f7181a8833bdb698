//! Limits and bad input: every bound closes or delays only the offending connection.

mod common;

use common::TestBroker;
use kafka_protocol::messages::ApiVersionsRequest;
use std::time::{Duration, Instant};

async fn still_serves(broker: &TestBroker) {
    let mut c = broker.client().await;
    let r = c.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(r.error_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_request_waits_for_a_slot_when_the_request_queue_is_full() {
    let broker = TestBroker::start(&[("queued.max.requests", "2")]).await;
    // Take every slot, as two requests being processed would.
    let slots = broker.handle.state().network.request_slots().clone();
    let held = slots.acquire_many_owned(2).await.unwrap();
    let mut b = broker.client().await;
    let (correlation_id, frame) = b.frame(&ApiVersionsRequest::default(), 3);
    b.write_raw(&frame).await;
    // The slot is taken only after the whole request was read: B's request waits read.
    let stats = broker
        .wait_for_network("B's request to wait for a slot", |s| {
            s.waiting_for_slot == 1
        })
        .await;
    assert_eq!(
        stats.reading_frames, 0,
        "B's frame was read whole: {stats:?}"
    );
    let mut answer = tokio::spawn(async move { b.read_frame().await });
    // Only a check that B is still waiting, not an ordering: nothing can answer it yet.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut answer)
            .await
            .is_err(),
        "B was answered while every request slot was taken"
    );
    drop(held);
    let mut resp = answer
        .await
        .unwrap()
        .expect("B is answered once a slot frees");
    let r: kafka_protocol::messages::ApiVersionsResponse =
        common::decode_response(&mut resp, correlation_id, 3);
    assert_eq!(r.error_code, 0);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_socket_request_max_bytes_closes_only_that_connection() {
    let broker = TestBroker::start(&[("socket.request.max.bytes", "1024")]).await;
    let mut bad = broker.client().await;
    bad.write_raw(&2000i32.to_be_bytes()).await;
    bad.write_raw(&[0u8; 100]).await;
    assert!(
        bad.read_frame().await.is_none(),
        "oversized frame must close the connection"
    );
    still_serves(&broker).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_unknown_api_keys_close_only_that_connection() {
    let broker = TestBroker::start(&[]).await;
    let mut bystander = broker.client().await;
    let mut garbage = broker.client().await;
    garbage.write_raw(&[0, 0, 0, 3, 0xde, 0xad, 0xbe]).await;
    assert!(garbage.read_frame().await.is_none());
    let mut unknown = broker.client().await;
    // api key 9999, version 0, correlation id 1, client id null
    unknown
        .write_raw(&[0, 0, 0, 10, 0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff])
        .await;
    assert!(unknown.read_frame().await.is_none());
    let r = bystander.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(r.error_code, 0, "an open connection keeps working");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_max_connections_are_closed() {
    let broker = TestBroker::start(&[("max.connections", "2")]).await;
    let mut one = broker.client().await;
    let mut two = broker.client().await;
    assert_eq!(
        one.send(&ApiVersionsRequest::default(), 3).await.error_code,
        0
    );
    assert_eq!(
        two.send(&ApiVersionsRequest::default(), 3).await.error_code,
        0
    );
    let mut three = broker.client().await;
    assert!(
        three
            .try_send(&ApiVersionsRequest::default(), 3)
            .await
            .is_none(),
        "third connection must be closed"
    );
    drop(one);
    // The slot frees when the broker notices the close; retry briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = broker.client().await;
        if again
            .try_send(&ApiVersionsRequest::default(), 3)
            .await
            .is_some()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a freed connection slot was never reused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_snappy_batch_declaring_gigabytes_to_a_compacted_topic_is_refused_as_too_large() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("keys", 1, &[("cleanup.policy", "compact")])
        .await;
    // A valid one-record batch, re-labelled snappy, whose payload is raw snappy declaring
    // 2^32-1 uncompressed bytes: the compacted topic's key check must decompress it.
    let mut b = common::simple_batch(1).to_vec();
    b[22] |= 2;
    b.truncate(61);
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, b'x']);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    let r = c.produce("keys", 0, 1, bytes::Bytes::from(b)).await;
    assert_eq!(
        r.error_code, 10,
        "MESSAGE_TOO_LARGE: the declared output is over the decompression bound, refused before allocating"
    );
    still_serves(&broker).await;
}
