//! The network layer against slow, idle and waiting clients, as Kafka's behaves: request slots
//! are taken only by whole requests and given back while a request waits, partially read
//! frames are bounded by `queued.max.request.bytes`, idle connections close, per-address
//! connection limits hold, and a failed acks=0 produce closes its connection.
//!
//! Waits are on observable state: responses, EOF, and the broker's network gauges.

mod common;

use common::{fetch_request, simple_batch, RawClient, TestBroker};
use kafka_protocol::messages::{
    ApiVersionsRequest, FetchResponse, JoinGroupRequest, JoinGroupResponse,
};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Only for "still waiting" checks on something nothing can complete yet; never for ordering.
const STILL_PENDING: Duration = Duration::from_millis(200);

/// A fresh client is answered: ApiVersions, CreateTopics, Produce, Fetch of what it produced.
async fn fresh_client_round_trips(broker: &TestBroker, topic: &str) {
    let mut c = broker.client().await;
    let versions = c.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(versions.error_code, 0);
    c.create_topic(topic, 1, &[]).await;
    let produced = c.produce(topic, 0, 1, simple_batch(3)).await;
    assert_eq!(produced.error_code, 0, "produce to {topic}");
    let fetched = c.fetch(topic, 0, 0, 0, 1).await;
    assert_eq!(fetched.high_watermark, 3, "fetch from {topic}");
    assert!(
        fetched.records.as_ref().is_some_and(|r| !r.is_empty()),
        "the fetch returned the produced batch"
    );
}

/// `n` connections that each send a 4-byte size (100) and 3 bytes of the body, then stop.
async fn half_sent_frames(broker: &TestBroker, n: usize) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(broker.addr).await.expect("connect");
        s.write_all(&[0, 0, 0, 100, 1, 2, 3]).await.expect("write");
        conns.push(s);
    }
    conns
}

async fn half_sent_frames_leave_a_fresh_client_served(slots: usize) {
    let slots_str = slots.to_string();
    let broker = TestBroker::start(&[("queued.max.requests", &slots_str)]).await;
    let _slow = half_sent_frames(&broker, 600).await;
    let stats = broker
        .wait_for_network("600 frames being read", |s| s.reading_frames == 600)
        .await;
    assert_eq!(
        stats.free_request_slots, slots,
        "partial frames hold no request slot: {stats:?}"
    );
    fresh_client_round_trips(&broker, "fresh").await;
    let stats = broker.network();
    assert_eq!(
        stats.reading_frames, 600,
        "the slow senders are still there: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_half_sent_frames_leave_a_fresh_client_served_with_ten_request_slots() {
    half_sent_frames_leave_a_fresh_client_served(10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_half_sent_frames_leave_a_fresh_client_served_with_the_default_request_slots() {
    half_sent_frames_leave_a_fresh_client_served(500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_parked_long_polls_hold_no_request_slot_and_all_wake_on_an_append() {
    let broker = TestBroker::start(&[]).await;
    let mut admin = broker.client().await;
    admin.create_topic("idle", 1, &[]).await;
    let mut polls = Vec::with_capacity(600);
    for _ in 0..600 {
        let mut c = broker.client().await;
        let (correlation_id, frame) = c.frame(&fetch_request("idle", 0, 0, 60_000, 1), 12);
        c.write_raw(&frame).await;
        polls.push((c, correlation_id));
    }
    let stats = broker
        .wait_for_network("600 parked fetches", |s| s.parked_requests == 600)
        .await;
    assert_eq!(
        stats.free_request_slots, 500,
        "parked fetches hold no slot: {stats:?}"
    );
    fresh_client_round_trips(&broker, "busy").await;
    assert_eq!(
        broker.network().parked_requests,
        600,
        "appends to another topic answer none of the long polls"
    );
    let produced = admin.produce("idle", 0, 1, simple_batch(1)).await;
    assert_eq!(produced.error_code, 0);
    for (c, correlation_id) in &mut polls {
        let mut resp = c.read_frame().await.expect("the long poll is answered");
        let r: FetchResponse = common::decode_response(&mut resp, *correlation_id, 12);
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.high_watermark, 1, "the long poll saw the append");
        assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()));
    }
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_long_poll_is_woken_by_appends_to_its_partition_and_not_by_others() {
    let broker = TestBroker::start(&[]).await;
    let mut producer = broker.client().await;
    producer.create_topic("two", 2, &[]).await;
    let mut poller = broker.client().await;
    let mut poll = tokio::spawn(async move { poller.fetch("two", 0, 0, 30_000, 1).await });
    let before = broker
        .wait_for_network("the fetch to park", |s| s.parked_requests == 1)
        .await;
    let other = producer.produce("two", 1, 1, simple_batch(1)).await;
    assert_eq!(other.error_code, 0);
    assert!(
        tokio::time::timeout(STILL_PENDING, &mut poll)
            .await
            .is_err(),
        "an append to partition 1 answered a long poll on partition 0"
    );
    assert_eq!(
        broker.network().parked_wakeups,
        before.parked_wakeups,
        "an append to partition 1 woke a long poll on partition 0"
    );
    let own = producer.produce("two", 0, 1, simple_batch(2)).await;
    assert_eq!(own.error_code, 0);
    let answered = poll.await.unwrap();
    assert_eq!(answered.high_watermark, 2);
    assert!(answered.records.is_some_and(|r| !r.is_empty()));
    assert_eq!(
        broker.network().parked_wakeups,
        before.parked_wakeups + 1,
        "exactly one wake-up: the append to partition 0"
    );
    broker.shutdown().await;
}

async fn wait_for_coordinator(broker: &TestBroker) {
    let deadline = Instant::now() + common::IO_TIMEOUT;
    while !broker.handle.state().groups.is_loaded() {
        assert!(
            Instant::now() < deadline,
            "the group coordinator never loaded"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// JoinGroup v3 (no member id round trip) for a consumer group with one protocol.
fn join_request(group: &str) -> JoinGroupRequest {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    let mut protocol = JoinGroupRequestProtocol::default();
    protocol.name = common::sb("range");
    protocol.metadata = bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0, 255, 255, 255, 255]);
    let mut r = JoinGroupRequest::default();
    r.group_id = kafka_protocol::messages::GroupId(common::sb(group));
    r.session_timeout_ms = 10_000;
    r.rebalance_timeout_ms = 10_000;
    r.protocol_type = common::sb("consumer");
    r.protocols = vec![protocol];
    r
}

fn spawn_join(
    mut c: RawClient,
    group: &str,
) -> tokio::task::JoinHandle<(RawClient, JoinGroupResponse)> {
    let req = join_request(group);
    tokio::spawn(async move {
        let r = c.send(&req, 3).await;
        (c, r)
    })
}

/// Two members join one group within the initial rebalance delay, with one request slot.
async fn two_members_join(broker: &TestBroker) -> [(RawClient, JoinGroupResponse); 2] {
    let a = spawn_join(broker.client().await, "g");
    broker
        .wait_for_network("A's JoinGroup to park", |s| s.parked_requests == 1)
        .await;
    // With A's join holding the only slot, B could not even be read until A's join ended.
    let mut b = broker.client().await;
    assert_eq!(
        b.send(&ApiVersionsRequest::default(), 3).await.error_code,
        0
    );
    assert!(
        !a.is_finished(),
        "A's join ended before the initial rebalance delay"
    );
    let b = spawn_join(b, "g");
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    for (_, r) in [&a, &b] {
        assert_eq!(
            (r.error_code, r.generation_id),
            (0, 1),
            "one generation for both"
        );
    }
    [a, b]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_group_waiting_for_the_rebalance_holds_no_request_slot() {
    let broker = TestBroker::start(&[
        ("queued.max.requests", "1"),
        ("offsets.topic.num.partitions", "1"),
        ("group.initial.rebalance.delay.ms", "3000"),
    ])
    .await;
    wait_for_coordinator(&broker).await;
    let [(_, a), (_, b)] = two_members_join(&broker).await;
    assert_eq!(
        a.members.len() + b.members.len(),
        2,
        "the leader sees both members"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_group_waiting_for_the_leader_holds_no_request_slot() {
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use kafka_protocol::messages::SyncGroupRequest;
    let broker = TestBroker::start(&[
        ("queued.max.requests", "1"),
        ("offsets.topic.num.partitions", "1"),
        ("group.initial.rebalance.delay.ms", "3000"),
    ])
    .await;
    wait_for_coordinator(&broker).await;
    let [a, b] = two_members_join(&broker).await;
    let (mut leader, leader_join, mut follower, follower_join) = if a.1.leader == a.1.member_id {
        (a.0, a.1, b.0, b.1)
    } else {
        (b.0, b.1, a.0, a.1)
    };
    let sync = |member: &JoinGroupResponse, assignments: Vec<SyncGroupRequestAssignment>| {
        let mut s = SyncGroupRequest::default();
        s.group_id = kafka_protocol::messages::GroupId(common::sb("g"));
        s.generation_id = member.generation_id;
        s.member_id = member.member_id.clone();
        s.assignments = assignments;
        s
    };
    let follower_sync = sync(&follower_join, vec![]);
    let waiting = tokio::spawn(async move { follower.send(&follower_sync, 3).await });
    broker
        .wait_for_network("the follower's SyncGroup to park", |s| {
            s.parked_requests == 1
        })
        .await;
    let assignments = [&leader_join, &follower_join]
        .iter()
        .map(|m| {
            let mut a = SyncGroupRequestAssignment::default();
            a.member_id = m.member_id.clone();
            a.assignment = bytes::Bytes::from(format!("for {}", m.member_id));
            a
        })
        .collect();
    let led = leader.send(&sync(&leader_join, assignments), 3).await;
    assert_eq!(led.error_code, 0);
    let followed = waiting.await.unwrap();
    assert_eq!(followed.error_code, 0);
    assert_eq!(
        &followed.assignment[..],
        format!("for {}", follower_join.member_id).as_bytes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_max_request_bytes_bounds_partly_read_frames_and_a_fresh_client_is_served() {
    const FRAME_BYTES: usize = 1 << 20;
    const SENT_BYTES: usize = FRAME_BYTES / 2;
    const BUDGET_BYTES: usize = 4 * FRAME_BYTES + FRAME_BYTES / 2;
    let budget = BUDGET_BYTES.to_string();
    let broker = TestBroker::start(&[
        ("socket.request.max.bytes", &FRAME_BYTES.to_string()),
        ("queued.max.request.bytes", &budget),
    ])
    .await;
    // 40 connections declare 1 MiB frames and send half of each.
    let mut half = (FRAME_BYTES as i32).to_be_bytes().to_vec();
    half.resize(4 + SENT_BYTES, 7);
    let half = bytes::Bytes::from(half);
    let mut senders = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(broker.addr).await.expect("connect");
        let half = half.clone();
        senders.push(tokio::spawn(async move {
            s.write_all(&half).await.expect("write");
            std::future::pending::<()>().await;
        }));
    }
    // Four fit in the budget and are read as far as they were sent; the rest wait unread.
    let stats = broker
        .wait_for_network("4 half frames read and 36 waiting for memory", |s| {
            s.reading_frames == 40
                && s.waiting_for_memory == 36
                && s.partial_frame_bytes == 4 * SENT_BYTES
        })
        .await;
    assert!(
        stats.frame_bytes <= BUDGET_BYTES,
        "{} bytes reserved, budget {BUDGET_BYTES}",
        stats.frame_bytes
    );
    fresh_client_round_trips(&broker, "fresh").await;
    let stats = broker.network();
    assert_eq!(
        (stats.waiting_for_memory, stats.partial_frame_bytes),
        (36, 4 * SENT_BYTES),
        "the large frames are still waiting: {stats:?}"
    );
    senders.iter().for_each(|s| s.abort());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_idle_for_connections_max_idle_ms_are_closed() {
    let broker = TestBroker::start(&[("connections.max.idle.ms", "300")]).await;
    let opened = Instant::now();
    let mut silent = broker.client().await;
    let mut answered = broker.client().await;
    let mut half_sent = broker.client().await;
    assert_eq!(
        answered
            .send(&ApiVersionsRequest::default(), 3)
            .await
            .error_code,
        0
    );
    half_sent.write_raw(&[0, 0, 0, 100, 1, 2, 3]).await;
    for (name, c) in [
        ("a connection that never sent", &mut silent),
        ("a connection after its response", &mut answered),
        ("a connection with a half-sent frame", &mut half_sent),
    ] {
        assert!(c.read_frame().await.is_none(), "{name} was closed");
        assert!(
            opened.elapsed() >= Duration::from_millis(300),
            "{name} was closed after {:?}, before connections.max.idle.ms",
            opened.elapsed()
        );
    }
    broker
        .wait_for_network("the closed connections to go", |s| s.open_connections == 0)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_longer_than_connections_max_idle_ms_is_not_cut() {
    let broker = TestBroker::start(&[("connections.max.idle.ms", "300")]).await;
    let mut c = broker.client().await;
    c.create_topic("quiet", 1, &[]).await;
    let sent = Instant::now();
    let polled = c.fetch("quiet", 0, 0, 1500, 1).await;
    assert!(
        sent.elapsed() >= Duration::from_millis(1400),
        "the long poll waited its max_wait ({:?})",
        sent.elapsed()
    );
    assert_eq!(polled.error_code, 0);
    assert!(
        c.read_frame().await.is_none(),
        "and then idleness closed the connection"
    );
}

async fn accepted(addr: std::net::SocketAddr, from: &str) -> Option<RawClient> {
    let mut c = RawClient::connect_from(addr, from.parse::<IpAddr>().unwrap()).await;
    c.try_send(&ApiVersionsRequest::default(), 3)
        .await
        .map(|_| c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_max_connections_per_ip_are_closed_at_accept() {
    let broker = TestBroker::start(&[("max.connections.per.ip", "2")]).await;
    let first = accepted(broker.addr, "127.0.0.1")
        .await
        .expect("first accepted");
    let _second = accepted(broker.addr, "127.0.0.1")
        .await
        .expect("second accepted");
    assert!(
        accepted(broker.addr, "127.0.0.1").await.is_none(),
        "a third is closed"
    );
    assert!(
        accepted(broker.addr, "127.0.0.2").await.is_some(),
        "another address has its own count"
    );
    drop(first);
    broker
        .wait_for_network("the dropped connection to close", |s| {
            s.open_connections == 1
        })
        .await;
    assert!(
        accepted(broker.addr, "127.0.0.1").await.is_some(),
        "a closed connection frees its place"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_sets_the_connection_limit_of_its_address_only() {
    let broker = TestBroker::start(&[
        ("max.connections.per.ip", "1"),
        ("max.connections.per.ip.overrides", "127.0.0.1:3"),
    ])
    .await;
    let mut kept = Vec::new();
    for n in 1..=3 {
        kept.push(
            accepted(broker.addr, "127.0.0.1")
                .await
                .unwrap_or_else(|| panic!("127.0.0.1 #{n}")),
        );
    }
    assert!(
        accepted(broker.addr, "127.0.0.1").await.is_none(),
        "a fourth from 127.0.0.1 is closed"
    );
    let _other = accepted(broker.addr, "127.0.0.2")
        .await
        .expect("127.0.0.2 #1");
    assert!(
        accepted(broker.addr, "127.0.0.2").await.is_none(),
        "a second from 127.0.0.2 is closed"
    );
}

/// Sends an acks=0 Produce, which has no response.
async fn produce_acks_zero(c: &mut RawClient, topic: &str) {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::ProduceRequest;
    let mut p = PartitionProduceData::default();
    p.index = 0;
    p.records = Some(simple_batch(1));
    let mut t = TopicProduceData::default();
    t.name = common::topic_name(topic);
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = 0;
    req.timeout_ms = 10_000;
    req.topic_data = vec![t];
    let (_, frame) = c.frame(&req, 9);
    c.write_raw(&frame).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_acks_zero_produce_closes_the_connection() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    produce_acks_zero(&mut c, "no-such-topic").await;
    assert!(
        c.read_frame().await.is_none(),
        "the connection was closed so the client notices"
    );
    fresh_client_round_trips(&broker, "others").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_acks_zero_produce_keeps_the_connection_open() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("zero", 1, &[]).await;
    produce_acks_zero(&mut c, "zero").await;
    // Requests on one connection are processed in order: the produce is done when this returns.
    assert_eq!(
        c.send(&ApiVersionsRequest::default(), 3).await.error_code,
        0
    );
    assert_eq!(c.fetch("zero", 0, 0, 0, 1).await.high_watermark, 1);
}
