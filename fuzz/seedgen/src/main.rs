//! Writes the seed corpora of the fuzz targets under `fuzz/corpus/<target>/`, from real
//! requests (crates/protocol/src/samples.rs), real `__consumer_offsets` records and real
//! partition directories written by `runnel_log::Log`. Deterministic: running it again
//! rewrites the same files.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel_broker::coordinator::records::{
    encode_group_key, encode_group_value, encode_offset_key, encode_offset_value, GroupValue,
    MemberValue, OffsetValue,
};
use runnel_fuzz_input::join_offsets_record;
use runnel_fuzz_input::segment_files::{self, FileKind, SegmentFile};
use runnel_log::{AppendOptions, CleanupPolicy, Log, LogConfig};
use runnel_protocol::samples::sample_request_body;
use runnel_protocol::versions::SUPPORTED_APIS;
use std::path::{Path, PathBuf};

const NOW_MS: i64 = 1_700_000_000_000;

fn corpus_dir(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    // Stale seeds of an older generator go; libFuzzer never writes into these directories
    // (CI and the long runs give it a scratch corpus first).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    dir
}

/// A whole request on the wire: size prefix, header, body.
fn wire_request(api: ApiKey, version: i16, body: &[u8]) -> Vec<u8> {
    let mut header = RequestHeader::default();
    header.request_api_key = api as i16;
    header.request_api_version = version;
    header.correlation_id = 7;
    header.client_id = Some(StrBytes::from_static_str("seed"));
    let mut frame = BytesMut::new();
    header
        .encode(&mut frame, api.request_header_version(version))
        .expect("header encodes");
    frame.extend_from_slice(body);
    let mut wire = Vec::with_capacity(4 + frame.len());
    wire.extend_from_slice(&(frame.len() as i32).to_be_bytes());
    wire.extend_from_slice(&frame);
    wire
}

fn record(offset: i64, key: &str, value: Option<&str>) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp: NOW_MS + offset,
        key: Some(Bytes::copy_from_slice(key.as_bytes())),
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        headers: [(
            StrBytes::from_static_str("h"),
            Some(Bytes::from_static(b"1")),
        )]
        .into_iter()
        .collect(),
    }
}

/// A valid batch of `n` records (keys cycling over three) with `compression`.
fn batch(n: i64, compression: Compression) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| record(i, &format!("k{}", i % 3), Some(&format!("value {i}"))))
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).expect("batch encodes");
    buf.freeze()
}

/// Lowest and highest advertised versions of every API, and the first flexible version.
fn request_seeds() -> usize {
    let dir = corpus_dir("request_decode");
    let mut n = 0;
    for &(api, lo, hi) in SUPPORTED_APIS {
        let mut versions = vec![lo, hi];
        versions
            .extend((lo..=hi).find(|&v| api.request_header_version(v) >= 2 && v != lo && v != hi));
        for version in versions {
            let body = sample_request_body(api, version);
            let name = format!("{api:?}-v{version}");
            std::fs::write(dir.join(name), wire_request(api, version, &body)).unwrap();
            n += 1;
        }
    }
    // Produce carrying real batches of every codec, at the highest advertised version.
    let (lo, hi) = runnel_protocol::versions::supported_range(ApiKey::Produce).unwrap();
    for (codec, c) in codecs() {
        for version in [lo, hi] {
            let mut p = kafka_protocol::messages::produce_request::PartitionProduceData::default();
            p.records = Some(batch(3, c));
            let mut t = kafka_protocol::messages::produce_request::TopicProduceData::default();
            t.name = kafka_protocol::messages::TopicName(StrBytes::from_static_str("t"));
            t.partition_data = vec![p];
            let mut r = ProduceRequest::default();
            r.acks = -1;
            r.timeout_ms = 1000;
            r.topic_data = vec![t];
            let mut body = BytesMut::new();
            r.encode(&mut body, version).unwrap();
            let name = format!("Produce-v{version}-{codec}");
            std::fs::write(
                dir.join(name),
                wire_request(ApiKey::Produce, version, &body),
            )
            .unwrap();
            n += 1;
        }
    }
    n
}

fn codecs() -> [(&'static str, Compression); 5] {
    [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ]
}

/// Old layouts Runnel reads but does not write, built field by field.
fn old_offset_value(version: i16) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i16(version);
    b.put_i64(42);
    if version >= 3 {
        b.put_i32(5);
    }
    b.put_i16(4);
    b.put_slice(b"meta");
    b.put_i64(NOW_MS);
    if version == 1 {
        b.put_i64(NOW_MS + 86_400_000); // expire timestamp, v1 only
    }
    b.to_vec()
}

fn offsets_record_seeds() -> usize {
    let dir = corpus_dir("offsets_records");
    let offset_key = encode_offset_key("group-a", "topic-a", 3);
    let group_key = encode_group_key("group-a");
    let member = |i: u8| MemberValue {
        member_id: format!("member-{i}"),
        group_instance_id: (i % 2 == 0).then(|| format!("instance-{i}")),
        client_id: "client".to_string(),
        client_host: "/127.0.0.1".to_string(),
        rebalance_timeout_ms: 300_000,
        session_timeout_ms: 45_000,
        subscription: Bytes::from_static(&[0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 0]),
        assignment: Bytes::from_static(&[0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0]),
    };
    let group = |members: u8| GroupValue {
        protocol_type: "consumer".to_string(),
        generation: 7,
        protocol: Some("range".to_string()),
        leader: (members > 0).then(|| "member-0".to_string()),
        current_state_timestamp: NOW_MS,
        members: (0..members).map(member).collect(),
    };
    let offset = OffsetValue {
        offset: 1234,
        leader_epoch: 2,
        metadata: "m".to_string(),
        commit_timestamp: NOW_MS,
    };
    let mut seeds: Vec<(String, Vec<u8>)> = vec![
        (
            "offset-v3".into(),
            join_offsets_record(&offset_key, &encode_offset_value(&offset)),
        ),
        ("offset-tombstone".into(), offset_key.to_vec()),
        ("group-tombstone".into(), group_key.to_vec()),
    ];
    for version in 0..=2 {
        seeds.push((
            format!("offset-v{version}"),
            join_offsets_record(&offset_key, &old_offset_value(version)),
        ));
    }
    for members in [0u8, 1, 3] {
        seeds.push((
            format!("group-v3-{members}-members"),
            join_offsets_record(&group_key, &encode_group_value(&group(members))),
        ));
    }
    let mut legacy_key = offset_key.to_vec();
    legacy_key[1] = 0; // offset key v0: same layout as v1
    seeds.push((
        "offset-key-v0".into(),
        join_offsets_record(&legacy_key, &encode_offset_value(&offset)),
    ));
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    seeds.len()
}

/// Every file of a partition directory, in the `segment_files` layout.
fn directory_seed(dir: &Path) -> Vec<u8> {
    let mut files = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        let (stem, ext) = name.split_once('.').unwrap_or((name.as_str(), ""));
        let kind = match (stem, ext) {
            ("log-start-offset", "") => FileKind::LogStartOffset,
            ("cleaner-offset-checkpoint", "") => FileKind::CleanerCheckpoint,
            (_, "log") => FileKind::Log,
            (_, "index") => FileKind::Index,
            (_, "timeindex") => FileKind::TimeIndex,
            _ => continue,
        };
        let base_offset = stem.parse::<u32>().unwrap_or(0);
        files.push(SegmentFile {
            kind,
            base_offset,
            bytes,
        });
    }
    segment_files::encode(&files)
}

/// Writes a log with `batches` appended, then returns its directory as a seed.
fn log_seed(config: LogConfig, batches: &[Bytes], then: impl FnOnce(&mut Log)) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t-0");
    let mut log = Log::open(&dir, config).unwrap();
    for (i, b) in batches.iter().enumerate() {
        log.append(
            b,
            AppendOptions {
                leader_epoch: 0,
                now_ms: NOW_MS + i as i64,
            },
        )
        .unwrap();
    }
    then(&mut log);
    log.flush().unwrap();
    drop(log);
    directory_seed(&dir)
}

fn segment_seeds() -> usize {
    let dir = corpus_dir("segment_recovery");
    let small = LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 64,
        ..LogConfig::default()
    };
    let compact = LogConfig {
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        min_cleanable_dirty_ratio: 0.0,
        ..small.clone()
    };
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for (codec, c) in codecs() {
        let batches: Vec<Bytes> = (0..4).map(|_| batch(3, c)).collect();
        seeds.push((
            format!("one-segment-{codec}"),
            log_seed(LogConfig::default(), &batches, |_| {}),
        ));
    }
    let many: Vec<Bytes> = (0..8).map(|_| batch(4, Compression::None)).collect();
    seeds.push((
        "rolled-segments".into(),
        log_seed(small.clone(), &many, |_| {}),
    ));
    seeds.push((
        "log-start-moved".into(),
        log_seed(small.clone(), &many, |log| {
            log.delete_records_before(10).unwrap();
        }),
    ));
    seeds.push((
        "compacted".into(),
        log_seed(compact, &many, |log| {
            log.compact(NOW_MS + 100).unwrap();
        }),
    ));
    let mut torn = log_seed(LogConfig::default(), &many[..3], |_| {});
    torn.truncate(torn.len() - 17);
    seeds.push(("torn-tail".into(), torn));
    seeds.push(("empty".into(), Vec::new()));
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    seeds.len()
}

/// One batch of `records` with `compression`.
fn batch_of(records: &[Record], compression: Compression) -> Bytes {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).expect("batch encodes");
    buf.freeze()
}

/// Valid batches of every codec: one record, several, null keys and values, headers, two
/// batches back to back. The record-batch target fixes CRCs after mutating them.
fn record_batch_seeds() -> usize {
    let dir = corpus_dir("record_batch");
    let mut n = 0;
    for (codec, c) in codecs() {
        let mut keyless = record(0, "", Some("no key"));
        keyless.key = None;
        let tombstone = record(1, "gone", None);
        let shapes: Vec<(&str, Vec<Record>)> = vec![
            ("one", vec![record(0, "k", Some("v"))]),
            (
                "five",
                (0..5)
                    .map(|i| record(i, &format!("k{i}"), Some(&"x".repeat(i as usize * 7))))
                    .collect(),
            ),
            ("keyless-and-tombstone", vec![keyless, tombstone]),
        ];
        for (shape, records) in shapes {
            let name = format!("{codec}-{shape}");
            std::fs::write(dir.join(name), batch_of(&records, c)).unwrap();
            n += 1;
        }
        let mut two = batch_of(&[record(0, "a", Some("1"))], c).to_vec();
        two.extend_from_slice(&batch_of(&[record(0, "b", Some("2"))], c));
        std::fs::write(dir.join(format!("{codec}-two-batches")), two).unwrap();
        n += 1;
    }
    n
}

fn main() {
    println!("record_batch: {} seeds", record_batch_seeds());
    println!("request_decode: {} seeds", request_seeds());
    println!("offsets_records: {} seeds", offsets_record_seeds());
    println!("segment_recovery: {} seeds", segment_seeds());
}
