//! Hostile record batches: each refused with the answer Kafka 4.4 gives (checked against a real
//! broker with tests/interop/probe_hostile.py), memory bounded, and every other client served.
//!
//! Regressions for issue 8's reproductions 1 (a 61-byte header-only batch aborted the broker),
//! 2 (the same batch stored on an ordinary topic aborted every later timestamp lookup), 3
//! (compression bombs grew RSS by their inflated size) and 5 (clients appended to
//! `__consumer_offsets`).

mod common;

use bytes::Bytes;
use common::{simple_batch, Rec, TestBroker};
use std::io::Write;

const INVALID_RECORD: i16 = 87;
const INVALID_TIMESTAMP: i16 = 32;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const MESSAGE_TOO_LARGE: i16 = 10;
const CORRUPT_MESSAGE: i16 = 2;

const HEADER_BYTES: usize = 61;

/// A v2 batch with these header fields around `body`, CRC correct.
fn raw_batch(codec: i16, count: i32, last_offset_delta: i32, body: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_BYTES];
    b[8..12].copy_from_slice(&((HEADER_BYTES - 12 + body.len()) as i32).to_be_bytes());
    b[16] = 2;
    b[21..23].copy_from_slice(&codec.to_be_bytes());
    b[23..27].copy_from_slice(&last_offset_delta.to_be_bytes());
    b[27..35].copy_from_slice(&common::now_ms().to_be_bytes());
    b[35..43].copy_from_slice(&common::now_ms().to_be_bytes());
    b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    b[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    b[57..61].copy_from_slice(&count.to_be_bytes());
    b.extend_from_slice(body);
    fix_crc(&mut b);
    b
}

fn fix_crc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// The 61-byte batch of reproduction 1: 2^31-1 records declared, none present.
fn header_only_bomb() -> Bytes {
    Bytes::from(raw_batch(0, i32::MAX, i32::MAX - 1, &[]))
}

fn zigzag(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Writes `count` records, each a 1-byte key and `value_bytes` zeros, into `w` as they would
/// appear decompressed, without holding them in memory.
fn write_zero_records(w: &mut impl Write, count: usize, value_bytes: usize) {
    let zeros = vec![0u8; 1 << 20];
    for i in 0..count {
        let mut fields = vec![0u8]; // attributes
        zigzag(0, &mut fields); // timestamp delta
        zigzag(i as i64, &mut fields); // offset delta
        zigzag(1, &mut fields);
        fields.push(b'k');
        zigzag(value_bytes as i64, &mut fields);
        let mut prefix = Vec::new();
        zigzag((fields.len() + value_bytes + 1) as i64, &mut prefix);
        w.write_all(&prefix).unwrap();
        w.write_all(&fields).unwrap();
        let mut left = value_bytes;
        while left > 0 {
            let n = left.min(zeros.len());
            w.write_all(&zeros[..n]).unwrap();
            left -= n;
        }
        w.write_all(&[0]).unwrap(); // no headers
    }
}

/// A compressed batch of 8 records of 64 MiB of zeros (512 MiB once inflated; lz4 and snappy,
/// which cannot compress that far, get smaller or different bombs).
fn compression_bomb(codec: i16) -> Bytes {
    const COUNT: usize = 8;
    const VALUE_BYTES: usize = 64 << 20;
    let body = match codec {
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            write_zero_records(&mut e, COUNT, VALUE_BYTES);
            e.finish().unwrap()
        }
        2 => {
            // Snappy expands at most ~21x, so a batch under max.message.bytes cannot inflate
            // past the bound; its bomb is a raw block declaring 4 GiB of output in 6 bytes.
            let raw = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
            return Bytes::from(raw_batch(codec, COUNT as i32, COUNT as i32 - 1, &raw));
        }
        3 => {
            // lz4 tops out near 255x, so 128 MiB inflated keeps the batch under 1 MiB.
            let mut e = lz4::EncoderBuilder::new()
                .level(9)
                .build(Vec::new())
                .unwrap();
            write_zero_records(&mut e, COUNT, VALUE_BYTES / 4);
            let (out, r) = e.finish();
            r.unwrap();
            out
        }
        4 => {
            let mut e = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
            write_zero_records(&mut e, COUNT, VALUE_BYTES);
            e.finish().unwrap()
        }
        _ => unreachable!(),
    };
    Bytes::from(raw_batch(codec, COUNT as i32, COUNT as i32 - 1, &body))
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// Another client's produce and fetch on a fresh topic still work.
async fn others_still_round_trip(broker: &TestBroker, topic: &str) {
    let mut c = broker.client().await;
    c.create_topic(topic, 1, &[]).await;
    let r = c.produce(topic, 0, 1, simple_batch(3)).await;
    assert_eq!(r.error_code, 0, "bystander produce");
    let p = c.fetch(topic, 0, 0, 0, 1).await;
    assert_eq!(p.high_watermark, 3, "bystander fetch");
}

/// Makes `__consumer_offsets` exist by committing an offset for `group`.
async fn commit_offset(broker: &TestBroker, group: &str, topic: &str, offset: i64) {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{FindCoordinatorRequest, GroupId, OffsetCommitRequest};
    let mut c = broker.client().await;
    loop {
        let mut fc = FindCoordinatorRequest::default();
        fc.key = common::sb(group);
        if c.send(&fc, 3).await.error_code == 0 {
            break;
        }
    }
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = offset;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = common::topic_name(topic);
    t.partitions = vec![p];
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(common::sb(group));
    req.generation_id_or_member_epoch = -1;
    req.topics = vec![t];
    let resp = c.send(&req, 8).await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 0, "offset commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_only_batch_declaring_two_billion_records_is_invalid_record_and_aborts_nothing() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("plain", 1, &[]).await;
    c.create_topic("compacted", 1, &[("cleanup.policy", "compact")])
        .await;
    commit_offset(&broker, "g", "plain", 0).await;
    let before = rss_bytes();
    for topic in ["plain", "compacted"] {
        let r = c.produce(topic, 0, 1, header_only_bomb()).await;
        assert_eq!(r.error_code, INVALID_RECORD, "{topic}");
        assert_eq!(r.error_message, None, "{topic}: Kafka sends no message");
        assert_eq!(
            c.list_offset(topic, 0, -1).await.offset,
            0,
            "{topic}: nothing stored"
        );
    }
    // Reproduction 5 too: no client appends to the coordinator's log.
    let r = c
        .produce("__consumer_offsets", 0, 1, header_only_bomb())
        .await;
    assert_eq!(r.error_code, INVALID_TOPIC_EXCEPTION);
    let grown = rss_bytes().saturating_sub(before);
    assert!(grown < 16 << 20, "RSS grew by {grown} bytes");
    others_still_round_trip(&broker, "bystander").await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_cannot_append_to_consumer_offsets_even_with_well_formed_records() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("t", 1, &[]).await;
    commit_offset(&broker, "g", "t", 5).await;
    let forged = common::batch(&[Rec::kv("forged-key", "forged-value")], None);
    for partition in [0, 1, 49] {
        let r = c
            .produce("__consumer_offsets", partition, 1, forged.clone())
            .await;
        assert_eq!(
            r.error_code, INVALID_TOPIC_EXCEPTION,
            "partition {partition}"
        );
        assert_eq!(r.base_offset, -1);
    }
    others_still_round_trip(&broker, "bystander").await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_do_not_match_their_header_are_invalid_record_under_every_codec() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("t", 1, &[]).await;
    let mut one = Vec::new();
    write_zero_records(&mut one, 1, 3);
    let mut two = Vec::new();
    write_zero_records(&mut two, 2, 3);
    let mut overlong = one.clone();
    overlong[0] += 20; // the length varint claims 10 bytes more than the record has
    for codec in 0..=4i16 {
        let enc = |raw: &[u8]| -> Vec<u8> {
            match codec {
                0 => raw.to_vec(),
                1 => {
                    let mut e = flate2::write::GzEncoder::new(Vec::new(), Default::default());
                    e.write_all(raw).unwrap();
                    e.finish().unwrap()
                }
                2 => snap::raw::Encoder::new().compress_vec(raw).unwrap(),
                3 => {
                    let mut e = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
                    e.write_all(raw).unwrap();
                    let (out, r) = e.finish();
                    r.unwrap();
                    out
                }
                _ => zstd::stream::encode_all(raw, 3).unwrap(),
            }
        };
        let cases = [
            (
                "fewer records than declared",
                raw_batch(codec, 2, 1, &enc(&one)),
            ),
            (
                "more records than declared",
                raw_batch(codec, 1, 0, &enc(&two)),
            ),
            (
                "a record longer than its bytes",
                raw_batch(codec, 1, 0, &enc(&overlong)),
            ),
            ("a record count of zero", raw_batch(codec, 0, 0, &enc(&[]))),
        ];
        for (what, batch) in cases {
            let r = c.produce("t", 0, 1, Bytes::from(batch)).await;
            assert_eq!(r.error_code, INVALID_RECORD, "codec {codec}: {what}");
        }
        let good = raw_batch(codec, 2, 1, &enc(&two));
        assert_eq!(
            c.produce("t", 0, 1, Bytes::from(good)).await.error_code,
            0,
            "codec {codec}"
        );
    }
    assert_eq!(
        c.list_offset("t", 0, -1).await.offset,
        10,
        "only the good batches"
    );
    let mut bad_crc = raw_batch(0, 1, 0, &one);
    bad_crc[HEADER_BYTES] ^= 1;
    assert_eq!(
        c.produce("t", 0, 1, Bytes::from(bad_crc)).await.error_code,
        CORRUPT_MESSAGE
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_batches_for_one_partition_are_invalid_record() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("t", 1, &[]).await;
    let two = [simple_batch(1), simple_batch(2)].concat();
    let r = c.produce("t", 0, 1, Bytes::from(two)).await;
    assert_eq!(r.error_code, INVALID_RECORD);
    assert_eq!(c.list_offset("t", 0, -1).await.offset, 0);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_records_on_a_compacted_topic_are_named_in_record_errors() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("c", 1, &[("cleanup.policy", "compact")])
        .await;
    let mut keyless = Rec::kv("x", "second");
    keyless.key = None;
    let batch = common::batch(
        &[Rec::kv("a", "first"), keyless, Rec::kv("b", "third")],
        None,
    );
    let r = c.produce("c", 0, 1, batch).await;
    assert_eq!(r.error_code, INVALID_RECORD);
    let errors: Vec<(i32, String)> = r
        .record_errors
        .iter()
        .map(|e| {
            (
                e.batch_index,
                e.batch_index_error_message
                    .as_deref()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![(
            1,
            "Compacted topic cannot accept message without key in topic partition c-0".to_string()
        )]
    );
    let message = r.error_message.as_deref().unwrap_or_default().to_string();
    assert!(
        message.starts_with("One or more records have been rejected due to 1 record errors"),
        "{message}"
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_outside_the_topics_window_are_invalid_timestamp_per_record() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic(
        "ts",
        1,
        &[
            ("message.timestamp.before.max.ms", "3600000"),
            ("message.timestamp.after.max.ms", "3600000"),
        ],
    )
    .await;
    let now = common::now_ms();
    for (what, ts) in [
        ("2 h in the past", now - 7_200_000),
        ("2 h ahead", now + 7_200_000),
    ] {
        let mut rec = Rec::kv("k", "v");
        rec.timestamp = ts;
        let r = c.produce("ts", 0, 1, common::batch(&[rec], None)).await;
        assert_eq!(r.error_code, INVALID_TIMESTAMP, "{what}");
        assert_eq!(r.record_errors.len(), 1, "{what}");
        assert_eq!(r.record_errors[0].batch_index, 0);
        assert_eq!(
            r.error_message.as_deref(),
            Some("One or more records have been rejected due to invalid timestamp")
        );
    }
    let r = c.produce("ts", 0, 1, simple_batch(1)).await;
    assert_eq!(r.error_code, 0, "a timestamp of now is accepted");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_bombs_are_refused_without_inflating_them_under_every_codec() {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("plain", 1, &[]).await;
    c.create_topic("compacted", 1, &[("cleanup.policy", "compact")])
        .await;
    for codec in 1..=4i16 {
        let bomb = compression_bomb(codec);
        assert!(
            bomb.len() < 1 << 20,
            "codec {codec}: bomb of {} bytes",
            bomb.len()
        );
        let before = rss_bytes();
        for topic in ["plain", "compacted"] {
            let r = c.produce(topic, 0, 1, bomb.clone()).await;
            assert_eq!(r.error_code, MESSAGE_TOO_LARGE, "codec {codec}, {topic}");
        }
        let grown = rss_bytes().saturating_sub(before);
        assert!(grown < 32 << 20, "codec {codec}: RSS grew by {grown} bytes");
    }
    others_still_round_trip(&broker, "bystander").await;
    broker.shutdown().await;
}

/// Appends `batch` to a partition's log on disk as a broker before produce validation did.
fn plant(log_dir: &std::path::Path, partition_dir: &str, batch: &[u8]) {
    let mut log = runnel_log::Log::open(
        log_dir.join(partition_dir),
        runnel_log::LogConfig::default(),
    )
    .expect("open the stopped broker's log");
    log.append(
        batch,
        runnel_log::AppendOptions {
            leader_epoch: 0,
            now_ms: common::now_ms(),
        },
    )
    .expect("the log layer takes a structurally plausible header-only batch");
    log.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_only_batch_stored_before_validation_does_not_break_timestamp_lookups_after_restart(
) {
    let broker = TestBroker::start(&[]).await;
    let mut c = broker.client().await;
    c.create_topic("old", 1, &[]).await;
    assert_eq!(c.produce("old", 0, 1, simple_batch(2)).await.error_code, 0);
    drop(c);
    let broker = broker
        .restart_after(&[], |dir| plant(dir, "old-0", &header_only_bomb()))
        .await;
    let mut c = broker.client().await;
    let before = rss_bytes();
    for round in 0..2 {
        // By timestamp: 0 finds the first record; the poison's maxTimestamp is "now", so a
        // lookup just below it must land on the poison batch without walking 2^31 records.
        let first = c.list_offset("old", 0, 0).await;
        assert_eq!((first.error_code, first.offset), (0, 0), "round {round}");
        let late = c.list_offset("old", 0, common::now_ms() - 60_000).await;
        assert_eq!(late.error_code, 0, "round {round}");
        let max = c.list_offset("old", 0, -3).await;
        assert_eq!(max.error_code, 0, "round {round}: max timestamp");
    }
    let grown = rss_bytes().saturating_sub(before);
    assert!(grown < 16 << 20, "RSS grew by {grown} bytes");
    others_still_round_trip(&broker, "bystander").await;
    // And again after another restart: the pill is still there and still harmless.
    let broker = broker.restart(&[]).await;
    let mut c = broker.client().await;
    assert_eq!(c.list_offset("old", 0, 0).await.error_code, 0);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_only_batch_in_consumer_offsets_does_not_stop_groups_loading_after_restart() {
    let broker = TestBroker::start(&[("offsets.topic.num.partitions", "1")]).await;
    let mut c = broker.client().await;
    c.create_topic("t", 1, &[]).await;
    commit_offset(&broker, "g", "t", 7).await;
    drop(c);
    let broker = broker
        .restart_after(&[("offsets.topic.num.partitions", "1")], |dir| {
            plant(dir, "__consumer_offsets-0", &header_only_bomb())
        })
        .await;
    // The commit made before the pill is still there once loading is done.
    let mut c = broker.client().await;
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopics,
    };
    use kafka_protocol::messages::{GroupId, OffsetFetchRequest};
    let committed = loop {
        let mut t = OffsetFetchRequestTopics::default();
        t.name = common::topic_name("t");
        t.partition_indexes = vec![0];
        let mut g = OffsetFetchRequestGroup::default();
        g.group_id = GroupId(common::sb("g"));
        g.topics = Some(vec![t]);
        let mut r = OffsetFetchRequest::default();
        r.groups = vec![g];
        let resp = c.send(&r, 8).await;
        let group = &resp.groups[0];
        if group.error_code == 14 {
            continue; // COORDINATOR_LOAD_IN_PROGRESS: still replaying
        }
        assert_eq!(group.error_code, 0);
        break group.topics[0].partitions[0].committed_offset;
    };
    assert_eq!(committed, 7);
    // New commits land after the pill and survive the next restart too.
    commit_offset(&broker, "g", "t", 9).await;
    others_still_round_trip(&broker, "bystander").await;
    broker.shutdown().await;
}
