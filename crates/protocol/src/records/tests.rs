//! The reader against batches written by `kafka-protocol`'s encoder, and against hostile ones.

use super::decompress::{CODEC_GZIP, CODEC_LZ4, CODEC_NONE, CODEC_SNAPPY, CODEC_ZSTD};
use super::header::{compute_crc, CRC_AT};
use super::*;
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record as KRecord, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::io::Write;

const LIMITS: ReadLimits = ReadLimits {
    max_uncompressed_bytes: 64 << 20,
};

fn encoded(compression: Compression, n: usize) -> Vec<u8> {
    let records: Vec<KRecord> = (0..n)
        .map(|i| KRecord {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: 1_000 + i as i64,
            key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(vec![b'v'; i * 10])),
            headers: [(
                kafka_protocol::protocol::StrBytes::from_static_str("h"),
                Some(Bytes::from_static(b"x")),
            )]
            .into_iter()
            .collect(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.to_vec()
}

/// (offset, timestamp, key, value length) of one record.
type Walked = (i64, i64, Option<Vec<u8>>, usize);

/// Every record of every batch in `bytes`.
fn walk(bytes: &[u8]) -> Result<Vec<Walked>, RecordError> {
    let mut out = Vec::new();
    for (header, batch) in split_batches(bytes).unwrap() {
        for_each_record(batch, &header, LIMITS, |r| {
            out.push((
                r.offset,
                r.timestamp,
                r.key.map(<[u8]>::to_vec),
                r.value.map_or(0, <[u8]>::len),
            ))
        })?;
    }
    Ok(out)
}

/// A batch with the given header fields around `body`, CRC fixed up.
fn raw_batch(codec: i16, count: i32, last_offset_delta: i32, body: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_SIZE_BYTES];
    b[8..12].copy_from_slice(&((HEADER_SIZE_BYTES - 12 + body.len()) as i32).to_be_bytes());
    b[16] = 2;
    b[21..23].copy_from_slice(&codec.to_be_bytes());
    b[23..27].copy_from_slice(&last_offset_delta.to_be_bytes());
    b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    b[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    b[57..61].copy_from_slice(&count.to_be_bytes());
    b.extend_from_slice(body);
    let crc = compute_crc(&b);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

fn compress(codec: i16, raw: &[u8]) -> Vec<u8> {
    match codec {
        CODEC_NONE => raw.to_vec(),
        CODEC_GZIP => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        CODEC_SNAPPY => snap::raw::Encoder::new().compress_vec(raw).unwrap(),
        CODEC_LZ4 => {
            let mut e = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
            e.write_all(raw).unwrap();
            let (out, r) = e.finish();
            r.unwrap();
            out
        }
        CODEC_ZSTD => zstd::stream::encode_all(raw, 3).unwrap(),
        _ => unreachable!(),
    }
}

/// One uncompressed record body with a key and a value of `value_len` zeros, length-prefixed.
fn record_bytes(offset_delta: u8, value_len: usize) -> Vec<u8> {
    let mut body = vec![0u8, 0, offset_delta * 2, 2, b'k'];
    let mut v = Vec::new();
    let mut z = (value_len as u64) << 1;
    while z >= 0x80 {
        v.push((z as u8) | 0x80);
        z >>= 7;
    }
    v.push(z as u8);
    body.extend_from_slice(&v);
    body.resize(body.len() + value_len, 0);
    body.push(0); // no headers
    let mut out = Vec::new();
    let mut z = (body.len() as u64) << 1;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
    out.extend_from_slice(&body);
    out
}

const ALL_CODECS: [(Compression, i16); 5] = [
    (Compression::None, CODEC_NONE),
    (Compression::Gzip, CODEC_GZIP),
    (Compression::Snappy, CODEC_SNAPPY),
    (Compression::Lz4, CODEC_LZ4),
    (Compression::Zstd, CODEC_ZSTD),
];

#[test]
fn batches_from_kafka_protocols_encoder_read_back_under_every_codec() {
    for (compression, codec) in ALL_CODECS {
        let batch = encoded(compression, 20);
        assert_eq!(
            BatchHeader::parse(&batch).unwrap().compression_codec(),
            codec
        );
        let records = walk(&batch).unwrap_or_else(|e| panic!("{compression:?}: {e}"));
        assert_eq!(records.len(), 20, "{compression:?}");
        for (i, (offset, ts, key, value_len)) in records.into_iter().enumerate() {
            assert_eq!(offset, i as i64);
            assert_eq!(ts, 1_000 + i as i64);
            assert_eq!(key, (i % 2 == 0).then(|| format!("k{i}").into_bytes()));
            assert_eq!(value_len, i * 10);
        }
    }
}

#[test]
fn headers_are_read_in_order_with_their_values() {
    let batch = encoded(Compression::Zstd, 2);
    let header = BatchHeader::parse(&batch).unwrap();
    let mut records = BatchRecords::new(&batch, &header, LIMITS).unwrap();
    let r = records.next().unwrap().unwrap();
    let headers: Vec<_> = r.headers().collect();
    assert_eq!(
        headers,
        vec![Header {
            key: b"h",
            value: Some(b"x")
        }]
    );
}

#[test]
fn a_header_only_batch_declaring_two_billion_records_is_premature_eof_for_every_codec() {
    for (_, codec) in ALL_CODECS {
        let body = if codec == CODEC_NONE {
            Vec::new()
        } else {
            compress(codec, &[])
        };
        let batch = raw_batch(codec, i32::MAX, i32::MAX - 1, &body);
        let err = walk(&batch).unwrap_err();
        assert_eq!(err, RecordError::PrematureEof { index: 0 }, "codec {codec}");
    }
}

#[test]
fn fewer_records_than_declared_is_premature_eof_and_more_is_records_remaining() {
    for (_, codec) in ALL_CODECS {
        let one = record_bytes(0, 3);
        let two = [one.clone(), record_bytes(1, 3)].concat();
        let short = raw_batch(codec, 2, 1, &compress(codec, &one));
        assert_eq!(
            walk(&short).unwrap_err(),
            RecordError::PrematureEof { index: 1 },
            "codec {codec}"
        );
        let long = raw_batch(codec, 1, 0, &compress(codec, &two));
        assert_eq!(
            walk(&long).unwrap_err(),
            RecordError::RecordsRemaining,
            "codec {codec}"
        );
        let exact = raw_batch(codec, 2, 1, &compress(codec, &two));
        assert_eq!(walk(&exact).unwrap().len(), 2, "codec {codec}");
    }
}

#[test]
fn a_record_length_beyond_the_batch_is_refused_without_reading_past_it() {
    let mut rec = record_bytes(0, 3);
    rec[0] = 0x7e; // claims 63 bytes of body
    for (_, codec) in ALL_CODECS {
        let batch = raw_batch(codec, 1, 0, &compress(codec, &rec));
        let err = walk(&batch).unwrap_err();
        assert!(
            matches!(
                err,
                RecordError::Malformed { index: 0, .. } | RecordError::PrematureEof { index: 0 }
            ),
            "codec {codec}: {err}"
        );
    }
}

#[test]
fn a_zero_record_batch_walks_to_an_empty_end() {
    let batch = raw_batch(CODEC_NONE, 0, 0, &[]);
    assert_eq!(walk(&batch).unwrap(), vec![]);
    let batch = raw_batch(CODEC_NONE, 0, 0, &record_bytes(0, 1));
    assert_eq!(walk(&batch).unwrap_err(), RecordError::RecordsRemaining);
}

#[test]
fn a_negative_record_count_is_refused_before_walking() {
    let batch = raw_batch(CODEC_NONE, -5, 0, &[]);
    let header = BatchHeader::parse(&batch).unwrap();
    assert_eq!(
        BatchRecords::new(&batch, &header, LIMITS).err(),
        Some(RecordError::InvalidCount { count: -5 })
    );
}

#[test]
fn compression_bombs_stop_at_the_output_limit_for_every_codec() {
    // 8 records of 4 MiB of zeros each: 32 MiB out of a few KiB in.
    let raw: Vec<u8> = (0..8).flat_map(|i| record_bytes(i, 4 << 20)).collect();
    let limits = ReadLimits {
        max_uncompressed_bytes: 8 << 20,
    };
    for (_, codec) in ALL_CODECS.into_iter().skip(1) {
        let body = if codec == CODEC_SNAPPY {
            // Kafka's xerial framing, in blocks of 32 KiB, as Java writes it.
            let mut out = vec![0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
            out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
            for block in raw.chunks(32 * 1024) {
                let c = snap::raw::Encoder::new().compress_vec(block).unwrap();
                out.extend_from_slice(&(c.len() as u32).to_be_bytes());
                out.extend_from_slice(&c);
            }
            out
        } else {
            compress(codec, &raw)
        };
        assert!(
            body.len() < raw.len() / 20,
            "codec {codec} barely compressed"
        );
        let batch = raw_batch(codec, 8, 7, &body);
        let header = BatchHeader::parse(&batch).unwrap();
        let mut records = BatchRecords::new(&batch, &header, limits).unwrap();
        let mut seen = 0;
        let err = loop {
            match records.next() {
                Ok(Some(_)) => seen += 1,
                Ok(None) => panic!("codec {codec}: a 32 MiB batch passed an 8 MiB limit"),
                Err(e) => break e,
            }
        };
        assert_eq!(
            err,
            RecordError::UncompressedTooLarge {
                limit_bytes: 8 << 20
            },
            "codec {codec}"
        );
        assert!(
            seen <= 2,
            "codec {codec}: {seen} records read past the limit"
        );
        assert!(
            records.buffer_capacity_bytes() <= 2 * ((4 << 20) + (64 << 10)),
            "codec {codec}: record buffer grew to {} bytes",
            records.buffer_capacity_bytes()
        );
    }
}

#[test]
fn garbage_behind_a_codec_flag_is_a_decompression_error_not_a_panic() {
    for (_, codec) in ALL_CODECS.into_iter().skip(1) {
        let batch = raw_batch(codec, 1, 0, b"definitely not compressed data");
        match walk(&batch) {
            Err(RecordError::Decompression { .. })
            | Err(RecordError::PrematureEof { .. })
            | Err(RecordError::Malformed { .. }) => {}
            other => panic!("codec {codec}: {other:?}"),
        }
    }
}

#[test]
fn summaries_skip_compressed_values_without_buffering_them_and_agree_with_full_reads() {
    let raw: Vec<u8> = (0..4).flat_map(|i| record_bytes(i, 2 << 20)).collect();
    for (_, codec) in ALL_CODECS {
        let batch = raw_batch(codec, 4, 3, &compress(codec, &raw));
        let header = BatchHeader::parse(&batch).unwrap();
        let mut skim = BatchRecords::new(&batch, &header, LIMITS).unwrap();
        let mut full = BatchRecords::new(&batch, &header, LIMITS).unwrap();
        for i in 0..4 {
            let s = skim.next_summary().unwrap().expect("a summary");
            let r = full.next().unwrap().expect("a record");
            assert_eq!(s.offset, i, "codec {codec}");
            assert_eq!((s.offset, s.timestamp), (r.offset, r.timestamp));
            assert_eq!(s.key_len, Some(1));
            assert_eq!(s.value_len, Some(2 << 20));
        }
        assert_eq!(skim.next_summary().unwrap(), None);
        assert_eq!(
            skim.buffer_capacity_bytes(),
            0,
            "codec {codec}: skimming buffered a record"
        );
    }
}

#[test]
fn summaries_refuse_what_full_reads_refuse() {
    let mut rec = record_bytes(0, 3);
    rec[0] += 2; // declared one byte longer than the fields
    rec.push(0);
    for (_, codec) in ALL_CODECS {
        let batch = raw_batch(codec, 1, 0, &compress(codec, &rec));
        let header = BatchHeader::parse(&batch).unwrap();
        let skim = BatchRecords::new(&batch, &header, LIMITS)
            .unwrap()
            .next_summary()
            .unwrap_err();
        let full = BatchRecords::new(&batch, &header, LIMITS)
            .unwrap()
            .next()
            .map(|_| ())
            .unwrap_err();
        assert_eq!(skim, full, "codec {codec}");
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn mutated_batches_with_valid_crcs_never_panic_the_reader(
            codec_index in 0usize..5,
            n in 1usize..6,
            flips in proptest::collection::vec((0usize..4096, any::<u8>()), 1..8),
        ) {
            let (compression, _) = ALL_CODECS[codec_index];
            let all = encoded(compression, n);
            let first = BatchHeader::parse(&all).unwrap().total_size_bytes();
            let mut batch = all[..first].to_vec();
            for (at, byte) in flips {
                let len = batch.len();
                if len > HEADER_SIZE_BYTES {
                    batch[HEADER_SIZE_BYTES + at % (len - HEADER_SIZE_BYTES)] ^= byte;
                }
            }
            let crc = compute_crc(&batch);
            batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
            let header = BatchHeader::parse(&batch).unwrap();
            let _ = for_each_record(&batch, &header, LIMITS, |_| {});
        }

        #[test]
        fn random_bodies_under_any_header_never_panic_the_reader(
            codec in 0i16..6,
            count in any::<i32>(),
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let batch = raw_batch(codec, count, count.wrapping_sub(1), &body);
            let header = BatchHeader::parse(&batch).unwrap();
            if let Ok(mut records) = BatchRecords::new(&batch, &header, LIMITS) {
                let mut steps = 0;
                while let Ok(Some(_)) = records.next() {
                    steps += 1;
                    prop_assert!(steps <= body.len() + 1, "more records than bytes");
                }
            };
        }
    }
}
