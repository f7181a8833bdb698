//! The broker's background passes act on real topics: time retention advances the log start,
//! compaction keeps the newest record per key.

mod common;

use common::{batch, Rec, TestBroker};
use kafka_protocol::records::RecordBatchDecoder;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_retention_deletes_old_closed_segments_and_moves_the_log_start() {
    let broker = TestBroker::start(&[("log.retention.check.interval.ms", "100")]).await;
    let mut c = broker.client().await;
    c.create_topic(
        "old",
        1,
        &[("retention.ms", "60000"), ("segment.bytes", "1024")],
    )
    .await;
    let hour_ago = common::now_ms() - 3_600_000;
    for i in 0..10 {
        let mut r = Rec::kv(&format!("k{i}"), &"x".repeat(200));
        r.timestamp = hour_ago;
        assert_eq!(
            c.produce("old", 0, 1, batch(&[r], None)).await.error_code,
            0
        );
    }
    // A fresh record keeps the active segment young.
    c.produce("old", 0, 1, batch(&[Rec::kv("new", "y")], None))
        .await;
    eventually(
        "the log start offset moves past the expired records",
        async || c.list_offset("old", 0, -2).await.offset >= 9,
    )
    .await;
    assert_eq!(
        c.list_offset("old", 0, -1).await.offset,
        11,
        "the log end is unchanged"
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_the_newest_value_per_key() {
    let broker = TestBroker::start(&[("log.cleaner.backoff.ms", "100")]).await;
    let mut c = broker.client().await;
    c.create_topic(
        "table",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1024"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await;
    for i in 0..30 {
        let r = Rec::kv(&format!("k{}", i % 3), &format!("v{i}-{}", "p".repeat(100)));
        assert_eq!(
            c.produce("table", 0, 1, batch(&[r], None)).await.error_code,
            0
        );
    }
    let read_all = async |c: &mut common::RawClient| {
        let mut seen = Vec::new();
        let mut offset = 0;
        while offset < 30 {
            let p = c.fetch("table", 0, offset, 0, 1).await;
            let mut bytes = p.records.unwrap();
            let batches = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
            if batches.is_empty() {
                break;
            }
            for b in batches {
                for r in b.records {
                    let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
                    let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                    seen.push((r.offset, key, value));
                    offset = r.offset + 1;
                }
            }
        }
        seen
    };
    eventually("compaction removes overwritten records", async || {
        read_all(&mut c).await.len() < 30
    })
    .await;
    let seen = read_all(&mut c).await;
    let latest: BTreeMap<String, String> = seen
        .iter()
        .map(|(_, k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, i) in [("k0", 27), ("k1", 28), ("k2", 29)] {
        assert!(
            latest[k].starts_with(&format!("v{i}-")),
            "{k} -> {}",
            latest[k]
        );
    }
    let offsets: Vec<i64> = seen.iter().map(|(o, _, _)| *o).collect();
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "offsets stay increasing: {offsets:?}"
    );
    broker.shutdown().await;
}
