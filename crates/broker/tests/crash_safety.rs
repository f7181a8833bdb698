//! Topic deletion is crash-safe: whatever step a crash interrupts, the deleted topic's data
//! never comes back, in particular not under a new topic of the same name. Crashes are
//! simulated by putting the data directory into the state the crash would leave, then
//! starting a broker on it.

mod common;

use common::*;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{DeleteTopicsRequest, MetadataRequest};
use runnel_broker::{BrokerConfig, BrokerHandle};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

async fn start_on(dir: &Path) -> BrokerHandle {
    let config = BrokerConfig::with(&[
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("log.dirs", dir.to_str().unwrap()),
        ("offsets.topic.num.partitions", "1"),
    ])
    .unwrap();
    runnel_broker::start(config).await.unwrap()
}

/// Metadata error code of `topic`, without creating it.
async fn topic_error(c: &mut RawClient, topic: &str) -> i16 {
    let mut t = MetadataRequestTopic::default();
    t.name = Some(topic_name(topic));
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![t]);
    req.allow_auto_topic_creation = false;
    c.send(&req, 12).await.topics[0].error_code
}

async fn delete_topic(c: &mut RawClient, topic: &str) -> i16 {
    let mut t = DeleteTopicState::default();
    t.name = Some(topic_name(topic));
    let mut req = DeleteTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 10_000;
    c.send(&req, 6).await.responses[0].error_code
}

/// Values of every record in a partition, from offset 0.
async fn values(c: &mut RawClient, topic: &str, partition: i32) -> Vec<String> {
    let p = c.fetch(topic, partition, 0, 0, 1).await;
    let mut bytes = p.records.unwrap_or_default();
    kafka_protocol::records::RecordBatchDecoder::decode_all(&mut bytes)
        .unwrap()
        .into_iter()
        .flat_map(|b| b.records)
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect()
}

fn entries_ending_with(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect()
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates `old` with two partitions holding `old-0`/`old-1` records, then stops the broker.
async fn make_old_topic(dir: &Path) {
    let broker = start_on(dir).await;
    let mut c = RawClient::connect(broker.local_addr).await;
    c.create_topic("t", 2, &[]).await;
    for p in 0..2 {
        let r = c
            .produce("t", p, 1, batch(&[Rec::kv("k", &format!("old-{p}"))], None))
            .await;
        assert_eq!(r.error_code, 0);
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_crash_after_the_topic_file_went_leaves_directories_that_start_up_deletes() {
    let dir = tempfile::tempdir().unwrap();
    make_old_topic(dir.path()).await;
    // The crash came right after the commit point: the topic file is gone, its partition
    // directories are still there under their own names.
    std::fs::remove_file(dir.path().join("__runnel_meta/topics/t.json")).unwrap();
    assert!(dir.path().join("t-0").is_dir());

    let broker = start_on(dir.path()).await;
    let mut c = RawClient::connect(broker.local_addr).await;
    assert_eq!(
        topic_error(&mut c, "t").await,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    let root = dir.path().to_path_buf();
    eventually("the stray partition directories are deleted", || {
        !root.join("t-0").exists()
            && !root.join("t-1").exists()
            && entries_ending_with(&root, "-delete").is_empty()
    })
    .await;
    c.create_topic("t", 2, &[]).await;
    for p in 0..2 {
        assert!(
            values(&mut c, "t", p).await.is_empty(),
            "partition {p} of the new t is empty"
        );
    }
    c.produce("t", 0, 1, batch(&[Rec::kv("k", "new")], None))
        .await;
    assert_eq!(values(&mut c, "t", 0).await, vec!["new".to_string()]);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_crash_after_the_directories_were_moved_aside_is_finished_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    make_old_topic(dir.path()).await;
    std::fs::remove_file(dir.path().join("__runnel_meta/topics/t.json")).unwrap();
    std::fs::rename(dir.path().join("t-0"), dir.path().join("t-0.abc-delete")).unwrap();
    std::fs::rename(dir.path().join("t-1"), dir.path().join("t-1.def-delete")).unwrap();

    let broker = start_on(dir.path()).await;
    assert!(
        entries_ending_with(dir.path(), "-delete").is_empty(),
        "moved-aside directories are deleted before the broker serves"
    );
    let mut c = RawClient::connect(broker.local_addr).await;
    assert_eq!(topic_error(&mut c, "t").await, 3);
    c.create_topic("t", 1, &[]).await;
    assert!(values(&mut c, "t", 0).await.is_empty());
    broker.shutdown().await;
}

#[tokio::test]
async fn a_crash_before_the_topic_file_went_keeps_the_whole_topic() {
    let dir = tempfile::tempdir().unwrap();
    make_old_topic(dir.path()).await;
    let broker = start_on(dir.path()).await;
    let mut c = RawClient::connect(broker.local_addr).await;
    assert_eq!(topic_error(&mut c, "t").await, 0);
    for p in 0..2 {
        assert_eq!(values(&mut c, "t", p).await, vec![format!("old-{p}")]);
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_leftover_directory_of_an_earlier_topic_is_not_adopted_by_a_new_topic_of_that_name() {
    let dir = tempfile::tempdir().unwrap();
    make_old_topic(dir.path()).await;
    let old_copy = dir.path().join("old-copy");
    copy_dir(&dir.path().join("t-0"), &old_copy);

    let broker = start_on(dir.path()).await;
    let mut c = RawClient::connect(broker.local_addr).await;
    assert_eq!(delete_topic(&mut c, "t").await, 0);
    assert!(
        !dir.path().join("t-0").exists(),
        "the directory is moved aside before DeleteTopics is answered"
    );
    // The old directory reappears under its old name (as if the move aside had been lost),
    // then the name is reused while the broker runs.
    std::fs::rename(&old_copy, dir.path().join("t-0")).unwrap();
    c.create_topic("t", 1, &[]).await;
    assert!(
        values(&mut c, "t", 0).await.is_empty(),
        "the new t-0 starts empty"
    );
    broker.shutdown().await;
    let broker = start_on(dir.path()).await;
    let mut c = RawClient::connect(broker.local_addr).await;
    assert!(
        values(&mut c, "t", 0).await.is_empty(),
        "and stays so after a restart"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_deleted_topic_directory_is_moved_aside_at_once_and_removed_in_the_background() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("gone", 3, &[]).await;
    c.produce("gone", 0, 1, simple_batch(3)).await;
    assert_eq!(delete_topic(&mut c, "gone").await, 0);
    for p in 0..3 {
        assert!(!broker.dir.path().join(format!("gone-{p}")).exists());
    }
    let root = broker.dir.path().to_path_buf();
    eventually("the moved-aside directories are deleted", || {
        entries_ending_with(&root, "-delete").is_empty()
    })
    .await;
    assert_eq!(topic_error(&mut c, "gone").await, 3);
    broker.shutdown().await;
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
