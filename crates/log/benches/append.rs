//! Append and read throughput: 16 KiB batches of 1 KiB records.
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel_log::{AppendOptions, Log, LogConfig};

const RECORD_BYTES: usize = 1024;
const RECORDS_PER_BATCH: usize = 16;

fn batch() -> Vec<u8> {
    let records: Vec<Record> = (0..RECORDS_PER_BATCH)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32 - 1,
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(vec![b'x'; RECORD_BYTES])),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode");
    buf.to_vec()
}

fn bench_append(c: &mut Criterion) {
    let batch = batch();
    let mut group = c.benchmark_group("log");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 64 * 1024 * 1024,
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path().join("append"), config.clone()).expect("open");
    group.bench_function("append_16k_batch", |b| {
        b.iter(|| {
            log.append(
                &batch,
                AppendOptions {
                    leader_epoch: 0,
                    now_ms: 0,
                },
            )
            .expect("append")
        })
    });

    let mut read_log = Log::open(dir.path().join("read"), config).expect("open");
    for _ in 0..1024 {
        read_log
            .append(
                &batch,
                AppendOptions {
                    leader_epoch: 0,
                    now_ms: 0,
                },
            )
            .expect("append");
    }
    let batches = read_log.log_end_offset() / RECORDS_PER_BATCH as i64;
    let mut n = 0i64;
    group.bench_function("read_16k_batch", |b| {
        b.iter_batched(
            || {
                n = (n + 7) % batches;
                n * RECORDS_PER_BATCH as i64 + 3
            },
            |offset| read_log.read(offset, 1, i64::MAX).expect("read"),
            BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Bytes(
        read_log
            .read(0, 1 << 20, i64::MAX)
            .expect("read")
            .bytes
            .len() as u64,
    ));
    group.bench_function("read_1mib", |b| {
        b.iter(|| read_log.read(0, 1 << 20, i64::MAX).expect("read"))
    });
    group.finish();
}

criterion_group!(benches, bench_append);
criterion_main!(benches);
