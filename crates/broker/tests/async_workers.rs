//! Requests that do disk work never run it on an async worker thread: with a single worker, a
//! request stuck on a partition's disk (simulated by holding the partition's log) leaves the
//! worker free to answer every other connection.

mod common;

use common::*;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use runnel_broker::state::partition::Partition;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Holds a partition's log on another thread until released.
struct Held {
    release: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn hold(partition: Arc<Partition>) -> Held {
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        partition.with_log(|_| {
            locked_tx.send(()).unwrap();
            let _ = release_rx.recv();
        })
    });
    locked_rx.recv().unwrap();
    Held { release, thread }
}

impl Held {
    fn release(self) {
        let _ = self.release.send(());
        self.thread.join().unwrap();
    }
}

/// ApiVersions v0 over a plain blocking socket, so the check does not need the runtime whose
/// worker it is checking. True if answered within 10 s.
fn api_versions_answered(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(10)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&77i32.to_be_bytes());
    body.extend_from_slice(&(-1i16).to_be_bytes());
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    if s.write_all(&frame).is_err() {
        return false;
    }
    let mut head = [0u8; 8];
    s.read_exact(&mut head).is_ok() && i32::from_be_bytes(head[4..8].try_into().unwrap()) == 77
}

/// Waits until the broker has read a request and is working on it (it holds a request slot).
fn wait_for_request_in_progress(broker: &TestBroker) {
    let slots = broker.handle.state().network.request_slots();
    let all = broker.handle.state().config.queued_max_requests;
    let deadline = Instant::now() + Duration::from_secs(15);
    while slots.available_permits() == all {
        assert!(Instant::now() < deadline, "the request was never taken up");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `req` on a new connection from a task; the handle resolves with the response.
fn send_in_background<R>(
    addr: SocketAddr,
    req: R,
    version: i16,
) -> tokio::task::JoinHandle<R::Response>
where
    R: kafka_protocol::protocol::Request + Send + Sync + 'static,
    R::Response: Send,
{
    tokio::spawn(async move {
        let mut c = RawClient::connect(addr).await;
        c.send(&req, version).await
    })
}

/// With the partition held, `req` must not stop the only worker from answering ApiVersions.
async fn check_worker_stays_free<R>(
    broker: &TestBroker,
    partition: Arc<Partition>,
    req: R,
    version: i16,
) -> R::Response
where
    R: kafka_protocol::protocol::Request + Send + Sync + 'static,
    R::Response: Send + 'static,
{
    let held = hold(partition);
    let pending = send_in_background(broker.addr, req, version);
    // The test body runs on its own thread, not on the broker's worker: blocking it is fine.
    wait_for_request_in_progress(broker);
    let answered = api_versions_answered(broker.addr);
    held.release();
    assert!(
        answered,
        "ApiVersions on another connection waited for the stuck request"
    );
    pending.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_timestamp_lookup_on_a_stuck_partition_leaves_the_worker_free() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("t", 1, &[]).await;
    c.produce("t", 0, 1, simple_batch(3)).await;
    let p = broker.handle.state().topics.partition("t", 0).unwrap();
    let mut lp = list_offsets_request::ListOffsetsPartition::default();
    lp.partition_index = 0;
    lp.timestamp = 0;
    lp.current_leader_epoch = -1;
    let mut lt = list_offsets_request::ListOffsetsTopic::default();
    lt.name = topic_name("t");
    lt.partitions = vec![lp];
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(-1);
    req.topics = vec![lt];
    let resp = check_worker_stays_free(&broker, p, req, 7).await;
    let part = &resp.topics[0].partitions[0];
    assert_eq!((part.error_code, part.offset), (0, 0));
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn delete_records_on_a_stuck_partition_leaves_the_worker_free() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("t", 1, &[]).await;
    c.produce("t", 0, 1, simple_batch(3)).await;
    let p = broker.handle.state().topics.partition("t", 0).unwrap();
    let mut dp = DeleteRecordsPartition::default();
    dp.partition_index = 0;
    dp.offset = 2;
    let mut dt = DeleteRecordsTopic::default();
    dt.name = topic_name("t");
    dt.partitions = vec![dp];
    let mut req = DeleteRecordsRequest::default();
    req.topics = vec![dt];
    req.timeout_ms = 10_000;
    let resp = check_worker_stays_free(&broker, p, req, 2).await;
    let part = &resp.topics[0].partitions[0];
    assert_eq!((part.error_code, part.low_watermark), (0, 2));
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_offset_commit_to_a_stuck_consumer_offsets_partition_leaves_the_worker_free() {
    let broker = TestBroker::start(&[("offsets.topic.num.partitions", "1")]).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !broker.handle.state().groups.is_loaded() {
        assert!(Instant::now() < deadline, "coordinator never loaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut c = broker.client().await;
    c.create_topic("t", 1, &[]).await;
    let p = broker
        .handle
        .state()
        .topics
        .partition("__consumer_offsets", 0)
        .unwrap();
    let mut cp = OffsetCommitRequestPartition::default();
    cp.partition_index = 0;
    cp.committed_offset = 3;
    let mut ct = OffsetCommitRequestTopic::default();
    ct.name = topic_name("t");
    ct.partitions = vec![cp];
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(sb("g"));
    req.generation_id_or_member_epoch = -1;
    req.topics = vec![ct];
    let resp = check_worker_stays_free(&broker, p, req, 8).await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    broker.shutdown().await;
}

/// Produce appends on the worker's own thread (`block_in_place`), having handed the worker's
/// other connections to another thread: a stuck append must not hold them up.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_produce_to_a_stuck_partition_leaves_the_worker_free() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("t", 1, &[]).await;
    let p = broker.handle.state().topics.partition("t", 0).unwrap();
    let mut pd = PartitionProduceData::default();
    pd.index = 0;
    pd.records = Some(simple_batch(3));
    let mut td = TopicProduceData::default();
    td.name = topic_name("t");
    td.partition_data = vec![pd];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 10_000;
    req.topic_data = vec![td];
    let resp = check_worker_stays_free(&broker, p, req, 9).await;
    let part = &resp.responses[0].partition_responses[0];
    assert_eq!((part.error_code, part.base_offset), (0, 0));
    broker.shutdown().await;
}
