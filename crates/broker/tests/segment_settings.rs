//! Topic segment settings that act on the broker's files: `file.delete.delay.ms` and
//! `preallocate`.

mod common;

use common::*;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::DeleteRecordsRequest;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

async fn delete_records_before(c: &mut RawClient, topic: &str, offset: i64) {
    let mut p = DeleteRecordsPartition::default();
    p.partition_index = 0;
    p.offset = offset;
    let mut t = DeleteRecordsTopic::default();
    t.name = topic_name(topic);
    t.partitions = vec![p];
    let mut req = DeleteRecordsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 10_000;
    let resp = c.send(&req, 2).await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
}

fn deleted_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".deleted")
        })
        .count()
}

async fn topic_of_several_segments(c: &mut RawClient, name: &str, delay_ms: &str) {
    c.create_topic(
        name,
        1,
        &[("segment.bytes", "200"), ("file.delete.delay.ms", delay_ms)],
    )
    .await;
    for _ in 0..4 {
        assert_eq!(c.produce(name, 0, 1, simple_batch(2)).await.error_code, 0);
    }
}

#[tokio::test]
async fn deleted_segment_files_stay_until_file_delete_delay_ms_has_passed() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    topic_of_several_segments(&mut c, "now", "0").await;
    topic_of_several_segments(&mut c, "later", "300").await;
    delete_records_before(&mut c, "now", 6).await;
    assert_eq!(
        deleted_files(&b.dir.path().join("now-0")),
        0,
        "0: removed at once"
    );
    let start = Instant::now();
    delete_records_before(&mut c, "later", 6).await;
    let dir = b.dir.path().join("later-0");
    assert!(
        deleted_files(&dir) > 0,
        "renamed .deleted, kept for the delay"
    );
    // The background pass (about every second) hands them over once the delay has passed.
    let deadline = Instant::now() + IO_TIMEOUT;
    while deleted_files(&dir) > 0 {
        assert!(
            Instant::now() < deadline,
            "the delayed files were never removed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    b.shutdown().await;
}

#[tokio::test]
async fn preallocate_reserves_segment_bytes_for_a_new_segment() {
    let b = TestBroker::start(&[]).await;
    let mut c = b.client().await;
    c.create_topic(
        "t",
        1,
        &[("preallocate", "true"), ("segment.bytes", "8388608")],
    )
    .await;
    let meta = std::fs::metadata(b.dir.path().join("t-0").join(format!("{:020}.log", 0))).unwrap();
    assert_eq!(meta.len(), 0);
    assert!(meta.blocks() * 512 >= 8 << 20, "{} blocks", meta.blocks());
    assert_eq!(c.produce("t", 0, 1, simple_batch(2)).await.error_code, 0);
    b.shutdown().await;
}
