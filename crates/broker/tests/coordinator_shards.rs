//! The group coordinator is sharded by `__consumer_offsets` partition: each partition's groups
//! have their own lock, are loaded on their own, and are written on their own, so a slow or
//! failed partition holds up only its own groups.

mod common;

use common::*;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::*;
use runnel_broker::coordinator::records::partition_for;
use runnel_broker::coordinator::LoadState;
use runnel_broker::{BrokerConfig, BrokerHandle};
use std::path::Path;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 3;
const NOT_COORDINATOR: i16 = 16;

async fn start_on(dir: &Path, extra: &[(&str, &str)]) -> BrokerHandle {
    let mut pairs = vec![
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("log.dirs", dir.to_str().unwrap()),
        ("offsets.topic.num.partitions", "3"),
    ];
    pairs.extend_from_slice(extra);
    let config = BrokerConfig::with(&pairs).unwrap();
    let broker = runnel_broker::start(config).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while broker
        .state()
        .groups
        .load_states()
        .contains(&LoadState::Loading)
    {
        assert!(
            Instant::now() < deadline,
            "coordinator never finished loading"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    broker
}

/// Two group names whose records live in different `__consumer_offsets` partitions.
fn groups_in_two_partitions() -> ((String, i32), (String, i32)) {
    let named = |i: usize| {
        let g = format!("group-{i}");
        let p = partition_for(&g, PARTITIONS);
        (g, p)
    };
    let a = named(0);
    let b = (1..)
        .map(named)
        .find(|(_, p)| *p != a.1)
        .expect("another partition");
    (a, b)
}

async fn commit(c: &mut RawClient, group: &str, offset: i64) -> i16 {
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = offset;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = topic_name("t");
    t.partitions = vec![p];
    let mut r = OffsetCommitRequest::default();
    r.group_id = GroupId(sb(group));
    r.generation_id_or_member_epoch = -1;
    r.topics = vec![t];
    c.send(&r, 8).await.topics[0].partitions[0].error_code
}

/// (group error code, committed offset of t-0).
async fn fetch(c: &mut RawClient, group: &str) -> (i16, i64) {
    let mut t = OffsetFetchRequestTopics::default();
    t.name = topic_name("t");
    t.partition_indexes = vec![0];
    let mut g = OffsetFetchRequestGroup::default();
    g.group_id = GroupId(sb(group));
    g.topics = Some(vec![t]);
    let mut r = OffsetFetchRequest::default();
    r.groups = vec![g];
    let resp = c.send(&r, 8).await;
    let g = &resp.groups[0];
    let offset = g
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .map_or(-1, |p| p.committed_offset);
    (g.error_code, offset)
}

#[tokio::test]
async fn a_partition_that_fails_to_load_answers_not_coordinator_while_the_others_serve() {
    let dir = tempfile::tempdir().unwrap();
    let ((bad, bad_partition), (good, _)) = groups_in_two_partitions();
    // Small segments with index entries, so the first segment is closed and its start is not
    // scanned again at start-up.
    let settings = [
        ("log.segment.bytes", "2048"),
        ("log.index.interval.bytes", "100"),
    ];
    let broker = start_on(dir.path(), &settings).await;
    let mut c = RawClient::connect(broker.local_addr).await;
    c.create_topic("t", 1, &[]).await;
    for i in 0..60 {
        assert_eq!(commit(&mut c, &bad, i).await, 0);
    }
    assert_eq!(commit(&mut c, &good, 7).await, 0);
    broker.shutdown().await;

    // The disk garbles the header of the partition's first batch: its log can no longer be
    // read from the start.
    let first = dir
        .path()
        .join(format!("__consumer_offsets-{bad_partition}"))
        .join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&first).unwrap();
    assert!(bytes.len() < 2048 + 1024, "the first segment was closed");
    bytes[16] = 9; // magic
    std::fs::write(&first, &bytes).unwrap();

    let broker = start_on(dir.path(), &settings).await;
    let states = broker.state().groups.load_states();
    assert_eq!(
        states[bad_partition as usize],
        LoadState::Failed,
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == LoadState::Loaded).count(),
        2,
        "{states:?}"
    );
    let mut c = RawClient::connect(broker.local_addr).await;
    assert_eq!(
        fetch(&mut c, &bad).await.0,
        NOT_COORDINATOR,
        "not an empty group"
    );
    assert_eq!(commit(&mut c, &bad, 99).await, NOT_COORDINATOR);
    assert_eq!(
        fetch(&mut c, &good).await,
        (0, 7),
        "the other partitions serve"
    );
    let listed = c.send(&ListGroupsRequest::default(), 4).await;
    assert_eq!(listed.error_code, 0);
    let names: Vec<String> = listed
        .groups
        .iter()
        .map(|g| g.group_id.to_string())
        .collect();
    assert!(names.contains(&good) && !names.contains(&bad), "{names:?}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_whose_appends_are_stuck_holds_up_only_its_own_groups_writes() {
    let dir = tempfile::tempdir().unwrap();
    let ((slow, slow_partition), (fast, _)) = groups_in_two_partitions();
    let broker = start_on(dir.path(), &[]).await;
    let mut c = RawClient::connect(broker.local_addr).await;
    c.create_topic("t", 1, &[]).await;
    assert_eq!(commit(&mut c, &slow, 1).await, 0);
    let state = broker.state().clone();
    // Stand in for a disk that stopped answering: hold the partition's log.
    let partition = state
        .topics
        .partition("__consumer_offsets", slow_partition)
        .unwrap();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        partition.with_log(|_| {
            locked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
    });
    locked_rx.recv().unwrap();

    let addr = broker.local_addr;
    let slow_group = slow.clone();
    let stuck = tokio::spawn(async move {
        let mut c = RawClient::connect(addr).await;
        commit(&mut c, &slow_group, 2).await
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    while state.groups.writes_in_flight(&slow) == 0 {
        assert!(
            Instant::now() < deadline,
            "the commit never reached the writer"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let meanwhile = tokio::time::timeout(Duration::from_secs(10), async {
        let fast_commit = commit(&mut c, &fast, 9).await;
        let fast_fetch = fetch(&mut c, &fast).await;
        let slow_fetch = fetch(&mut c, &slow).await;
        (fast_commit, fast_fetch, slow_fetch)
    })
    .await;
    let stuck_before_release = !stuck.is_finished();
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let (fast_commit, fast_fetch, slow_fetch) =
        meanwhile.expect("another partition's groups were held up by the stuck one");
    assert_eq!(fast_commit, 0);
    assert_eq!(fast_fetch, (0, 9));
    assert_eq!(
        slow_fetch,
        (0, 1),
        "the stuck group still answers reads, with what is on disk"
    );
    assert!(
        stuck_before_release,
        "the stuck commit waited for its append"
    );
    assert_eq!(stuck.await.unwrap(), 0);
    assert_eq!(fetch(&mut c, &slow).await, (0, 2));
    broker.shutdown().await;
}
