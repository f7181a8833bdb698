//! Shared test helpers: building producer-style batches with kafka-protocol's encoder.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel_log::{AppendOptions, Log, LogConfig};

/// One record to encode: key, value, timestamp.
pub struct Rec<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub timestamp_ms: i64,
}

pub fn rec<'a>(key: Option<&'a [u8]>, value: Option<&'a [u8]>, timestamp_ms: i64) -> Rec<'a> {
    Rec {
        key,
        value,
        timestamp_ms,
    }
}

/// Encodes one batch as a producer without idempotence would (offsets from 0, no producer id).
pub fn batch_of(records: &[Rec], compression: Compression) -> Vec<u8> {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder groups records whose offset - sequence agree; -1 + i keeps them in one
            // batch with baseSequence -1.
            sequence: i as i32 - 1,
            timestamp: r.timestamp_ms,
            key: r.key.map(Bytes::copy_from_slice),
            value: r.value.map(Bytes::copy_from_slice),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        recs.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encode test batch");
    buf.to_vec()
}

/// `count` keyed records of `value_bytes` bytes each, all stamped `timestamp_ms`.
pub fn simple_batch(count: usize, value_bytes: usize, timestamp_ms: i64) -> Vec<u8> {
    let keys: Vec<Vec<u8>> = (0..count).map(|i| format!("k{i}").into_bytes()).collect();
    let value = vec![b'v'; value_bytes];
    let recs: Vec<Rec> = keys
        .iter()
        .map(|k| rec(Some(k), Some(&value), timestamp_ms))
        .collect();
    batch_of(&recs, Compression::None)
}

pub fn opts(now_ms: i64) -> AppendOptions {
    AppendOptions {
        leader_epoch: 7,
        now_ms,
    }
}

pub fn open(dir: &std::path::Path, config: LogConfig) -> Log {
    Log::open(dir, config).expect("open log")
}

/// Every record stored in `bytes` (concatenated batches).
pub fn decode_all(bytes: &[u8]) -> Vec<Record> {
    let mut b = Bytes::copy_from_slice(bytes);
    RecordBatchDecoder::decode_all(&mut b)
        .expect("decode")
        .into_iter()
        .flat_map(|s| s.records)
        .collect()
}

/// All records from the log start to the end, read in fetch-sized steps.
pub fn read_all(log: &Log) -> Vec<Record> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX).expect("read");
        if r.bytes.is_empty() {
            break;
        }
        let recs = decode_all(&r.bytes);
        let last = recs
            .last()
            .map(|r| r.offset)
            .expect("non-empty read has records");
        out.extend(recs.into_iter().filter(|r| r.offset >= offset));
        offset = last + 1;
    }
    out
}

/// Base offsets of the batches in `bytes`.
pub fn batch_bases(bytes: &[u8]) -> Vec<i64> {
    runnel_log::batch::split_batches(bytes)
        .expect("split")
        .iter()
        .map(|(h, _)| h.base_offset)
        .collect()
}
