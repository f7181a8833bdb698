//! Decoding hostile bytes must fail cleanly: no panic, no abort, no allocation driven by a length
//! read off the wire. These run every supported request type through `kafka-protocol`'s decoders
//! (the vendored, patched copy) with random and adversarial bodies, measure what hostile counts
//! make the decoders reserve (a per-thread counting allocator), and keep the inputs the fuzz
//! targets in fuzz/ found against the record-batch reader.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::records::RecordBatchDecoder;
use proptest::prelude::*;
use runnel_protocol::records::{BatchRecords, ReadLimits};
use runnel_protocol::samples::sample_request_body;
use runnel_protocol::versions::SUPPORTED_APIS;
use runnel_protocol::{decode_body, decode_request_header};

mod alloc_meter {
    //! A global allocator that keeps, per thread, the bytes live and the peak since the last
    //! reset, so a test can measure what one decode call reserved while other tests run on
    //! other threads.

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Meter;

    thread_local! {
        static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
        static PEAK_BYTES: Cell<isize> = const { Cell::new(0) };
    }

    fn add(delta: isize) {
        // try_with: allocations during thread teardown must not panic in the allocator.
        let _ = LIVE_BYTES.try_with(|live| {
            let now = live.get() + delta;
            live.set(now);
            let _ = PEAK_BYTES.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    unsafe impl GlobalAlloc for Meter {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = System.alloc(layout);
            if !p.is_null() {
                add(layout.size() as isize);
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout);
            add(-(layout.size() as isize));
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let p = System.realloc(ptr, layout, new_size);
            if !p.is_null() {
                add(new_size as isize - layout.size() as isize);
            }
            p
        }
    }

    /// The most bytes this thread had allocated at once while `f` ran, above what it held
    /// before.
    pub fn peak_bytes_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
        let start = LIVE_BYTES.with(Cell::get);
        PEAK_BYTES.with(|p| p.set(start));
        let r = f();
        let peak = PEAK_BYTES.with(Cell::get);
        (r, (peak - start).max(0) as usize)
    }
}

#[global_allocator]
static METER: alloc_meter::Meter = alloc_meter::Meter;

/// The most elements the patched decoders reserve before any has decoded.
const PREALLOC_CAP_ELEMENTS: usize = 1024;
/// Allowance for the error value and its message.
const ERROR_SLACK_BYTES: usize = 4096;

/// Decodes `body` as the request type of `api` at `version`; true if it decoded.
fn decode_as(api: ApiKey, version: i16, body: &[u8]) -> bool {
    let mut b = Bytes::copy_from_slice(body);
    macro_rules! try_decode {
        ($t:ty) => {
            decode_body::<$t>(&mut b, version).is_ok()
        };
    }
    match api {
        ApiKey::Produce => try_decode!(ProduceRequest),
        ApiKey::Fetch => try_decode!(FetchRequest),
        ApiKey::ListOffsets => try_decode!(ListOffsetsRequest),
        ApiKey::Metadata => try_decode!(MetadataRequest),
        ApiKey::ApiVersions => try_decode!(ApiVersionsRequest),
        ApiKey::CreateTopics => try_decode!(CreateTopicsRequest),
        ApiKey::DeleteTopics => try_decode!(DeleteTopicsRequest),
        ApiKey::InitProducerId => try_decode!(InitProducerIdRequest),
        ApiKey::DescribeConfigs => try_decode!(DescribeConfigsRequest),
        ApiKey::AlterConfigs => try_decode!(AlterConfigsRequest),
        ApiKey::IncrementalAlterConfigs => try_decode!(IncrementalAlterConfigsRequest),
        ApiKey::CreatePartitions => try_decode!(CreatePartitionsRequest),
        ApiKey::DeleteRecords => try_decode!(DeleteRecordsRequest),
        ApiKey::DescribeCluster => try_decode!(DescribeClusterRequest),
        ApiKey::DescribeLogDirs => try_decode!(DescribeLogDirsRequest),
        ApiKey::DescribeTopicPartitions => try_decode!(DescribeTopicPartitionsRequest),
        ApiKey::FindCoordinator => try_decode!(FindCoordinatorRequest),
        ApiKey::JoinGroup => try_decode!(JoinGroupRequest),
        ApiKey::SyncGroup => try_decode!(SyncGroupRequest),
        ApiKey::Heartbeat => try_decode!(HeartbeatRequest),
        ApiKey::LeaveGroup => try_decode!(LeaveGroupRequest),
        ApiKey::DescribeGroups => try_decode!(DescribeGroupsRequest),
        ApiKey::ListGroups => try_decode!(ListGroupsRequest),
        ApiKey::DeleteGroups => try_decode!(DeleteGroupsRequest),
        ApiKey::OffsetCommit => try_decode!(OffsetCommitRequest),
        ApiKey::OffsetFetch => try_decode!(OffsetFetchRequest),
        ApiKey::OffsetDelete => try_decode!(OffsetDeleteRequest),
        other => panic!("test does not know how to decode {other:?}"),
    }
}

#[test]
fn a_12_byte_produce_body_declaring_2_pow_31_topics_is_refused_without_aborting() {
    // v3: transactional_id = null (int16 -1), acks = 1, timeout_ms = 1000, topics = 2^31-1.
    let body = [
        0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0x03, 0xe8, 0x7f, 0xff, 0xff, 0xff,
    ];
    assert_eq!(body.len(), 12);
    assert!(
        !decode_as(ApiKey::Produce, 3, &body),
        "hostile body must not decode"
    );
}

#[test]
fn a_flexible_produce_body_declaring_2_pow_32_topics_is_refused_without_aborting() {
    // v9: compact nullable string null (0), acks, timeout, compact array length varint 2^32-1.
    let body = [
        0x00, 0x00, 0x01, 0x00, 0x00, 0x03, 0xe8, 0xff, 0xff, 0xff, 0xff, 0x0f,
    ];
    assert!(!decode_as(ApiKey::Produce, 9, &body));
}

#[test]
fn huge_string_and_bytes_lengths_are_refused_without_allocating() {
    // Metadata v1: topics array of 1 with a topic name declaring 32767 bytes, none present.
    let body = [0x00, 0x00, 0x00, 0x01, 0x7f, 0xff];
    assert!(!decode_as(ApiKey::Metadata, 1, &body));
    // Produce v3 with one topic, one partition, records declaring 2^31-1 bytes.
    let mut body = vec![
        0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0x03, 0xe8, 0, 0, 0, 1, 0, 1, b't',
    ];
    body.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
    assert!(!decode_as(ApiKey::Produce, 3, &body));
}

/// Produce v3 up to its topics array: null transactional id, acks 1, timeout 1000 ms.
fn produce_v3_prefix(topic_count: u32) -> Vec<u8> {
    let mut body = vec![0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0x03, 0xe8];
    body.extend_from_slice(&topic_count.to_be_bytes());
    body
}

#[test]
fn a_12_byte_body_declaring_2_pow_31_topics_reserves_nothing_for_them() {
    let body = produce_v3_prefix(0x7fff_ffff);
    assert_eq!(body.len(), 12);
    let (decoded, peak_bytes) = alloc_meter::peak_bytes_during(|| {
        decode_body::<ProduceRequest>(&mut Bytes::from(body), 3).is_ok()
    });
    assert!(!decoded, "2^31-1 topics in 0 bytes must not decode");
    assert!(
        peak_bytes <= ERROR_SLACK_BYTES,
        "decoding reserved {peak_bytes} bytes for a count with no bytes behind it"
    );
}

#[test]
fn a_count_the_remaining_bytes_could_hold_reserves_at_most_1024_elements_up_front() {
    // 1 MiB follows a count of 2^20 topics, so "one element per remaining byte" would let it
    // reserve 2^20 topic structs; the first topic's name length (-1) fails the decode at once.
    let remaining_bytes = 1 << 20;
    let mut body = produce_v3_prefix(remaining_bytes as u32);
    body.resize(body.len() + remaining_bytes, 0xff);
    let mut b = Bytes::from(body);
    let (decoded, peak_bytes) =
        alloc_meter::peak_bytes_during(|| decode_body::<ProduceRequest>(&mut b, 3).is_ok());
    assert!(!decoded, "a topic named by length -1 must not decode");
    let topic_bytes = std::mem::size_of::<produce_request::TopicProduceData>();
    let bound = PREALLOC_CAP_ELEMENTS * topic_bytes + ERROR_SLACK_BYTES;
    assert!(
        peak_bytes <= bound,
        "decoding reserved {peak_bytes} bytes, over {PREALLOC_CAP_ELEMENTS} topics of \
         {topic_bytes} bytes plus {ERROR_SLACK_BYTES} ({bound})"
    );
}

#[test]
fn arrays_longer_than_1024_elements_still_decode_whole() {
    // The cap is on what is reserved up front, not on what decodes.
    let mut r = MetadataRequest::default();
    r.topics = Some(
        (0..5000)
            .map(|i| {
                let mut t = metadata_request::MetadataRequestTopic::default();
                t.name = Some(TopicName(format!("t{i}").into()));
                t
            })
            .collect(),
    );
    for version in [1, 12] {
        let mut buf = bytes::BytesMut::new();
        kafka_protocol::protocol::Encodable::encode(&r, &mut buf, version).unwrap();
        let got: MetadataRequest = decode_body(&mut buf.freeze(), version).unwrap();
        assert_eq!(got.topics.map(|t| t.len()), Some(5000), "v{version}");
    }
}

/// CRC-32C (Castagnoli), bit by bit: enough for a test to seal a hand-built batch.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A magic-2 uncompressed batch of `records` bytes declaring `records_count`, with a valid CRC.
fn sealed_batch(records_count: i32, records: &[u8]) -> Bytes {
    let mut after_crc = Vec::new();
    after_crc.extend_from_slice(&0i16.to_be_bytes()); // attributes: no compression
    after_crc.extend_from_slice(&(records_count.max(1) - 1).to_be_bytes()); // lastOffsetDelta
    after_crc.extend_from_slice(&0i64.to_be_bytes()); // firstTimestamp
    after_crc.extend_from_slice(&0i64.to_be_bytes()); // maxTimestamp
    after_crc.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    after_crc.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    after_crc.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    after_crc.extend_from_slice(&records_count.to_be_bytes());
    after_crc.extend_from_slice(records);
    let mut batch = Vec::new();
    batch.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
    batch.extend_from_slice(&((4 + 1 + 4 + after_crc.len()) as i32).to_be_bytes());
    batch.extend_from_slice(&0i32.to_be_bytes()); // partitionLeaderEpoch
    batch.push(2); // magic
    batch.extend_from_slice(&crc32c(&after_crc).to_be_bytes());
    batch.extend_from_slice(&after_crc);
    Bytes::from(batch)
}

#[test]
fn a_61_byte_batch_declaring_2_pow_31_records_reserves_nothing_for_them() {
    let mut batch = sealed_batch(i32::MAX, &[]);
    assert_eq!(batch.len(), 61);
    let (result, peak_bytes) =
        alloc_meter::peak_bytes_during(|| RecordBatchDecoder::decode(&mut batch).map(|_| ()));
    assert!(result.is_err(), "2^31-1 records in 0 bytes must not decode");
    assert!(
        peak_bytes <= ERROR_SLACK_BYTES,
        "decoding reserved {peak_bytes} bytes for a record count with no records behind it"
    );
}

#[test]
fn a_header_whose_last_offset_overflows_wraps_instead_of_panicking() {
    // Found by the record_batch fuzz target: baseOffset i64::MIN and a negative
    // lastOffsetDelta made last_offset() overflow, a panic under overflow checks (validation
    // names the last offset in its refusal). Kafka's long arithmetic wraps.
    let mut batch = sealed_batch(1, &[]).to_vec();
    batch[..8].copy_from_slice(&i64::MIN.to_be_bytes());
    batch[23..27].copy_from_slice(&(-503_250_944i32).to_be_bytes());
    let header = runnel_protocol::records::BatchHeader::parse(&batch).unwrap();
    assert_eq!(
        header.last_offset(),
        i64::MIN.wrapping_add(-503_250_944),
        "base {} + delta {}",
        header.base_offset,
        header.last_offset_delta
    );
}

#[test]
fn a_varint_whose_fifth_byte_has_high_bits_reads_the_same_streamed_as_sliced() {
    // Found by the record_batch fuzz target: a zstd record whose offset delta is the varint
    // ff ff ff af 6e. Kafka's readVarint drops the fifth byte's high bits; `next` did too, but
    // `next_summary` (which streams compressed records) refused the record.
    let batch = hex_bytes(
        "00000000000000010000004900000000
         02a63460ee0004000000000000018bcf
         e568010000018bcfe56801ffffffffff
         ffffffffffffffffff0000000128b52f
         fd00587900001c0500ffffffaf6e6501
         0202680230",
    );
    let (header, batch) = runnel_protocol::records::split_batches(&batch).unwrap()[0];
    assert_eq!(header.compression_codec(), 4, "a zstd batch");
    let limits = ReadLimits::for_batch_limit(1 << 20);
    let mut sliced = BatchRecords::new(batch, &header, limits).unwrap();
    let full = sliced.next().unwrap().map(|r| (r.offset, r.header_count()));
    let mut streamed = BatchRecords::new(batch, &header, limits).unwrap();
    let summary = streamed
        .next_summary()
        .unwrap()
        .map(|s| (s.offset, s.header_count));
    assert_eq!(
        full, summary,
        "next and next_summary disagree on the record"
    );
    assert_eq!(full.map(|(offset, _)| offset), Some(-1_929_379_839));
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Zigzag varint, as record fields are encoded.
fn varint(v: i32, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 31)) as u32;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[test]
fn a_record_declaring_as_many_headers_as_it_has_bytes_reserves_at_most_1024_up_front() {
    // One record: attributes, timestamp and offset deltas 0, null key and value, then a header
    // count of 2^17 followed by 2^17 bytes that each read as header key length -1 (refused).
    let header_count = 1 << 17;
    let mut body = vec![0, 0, 0];
    varint(-1, &mut body);
    varint(-1, &mut body);
    varint(header_count, &mut body);
    body.resize(body.len() + header_count as usize, 0x01);
    let mut record = Vec::new();
    varint(body.len() as i32, &mut record);
    record.extend_from_slice(&body);
    let mut batch = sealed_batch(1, &record);
    let (result, peak_bytes) =
        alloc_meter::peak_bytes_during(|| RecordBatchDecoder::decode(&mut batch).map(|_| ()));
    assert!(result.is_err(), "a header key of length -1 must not decode");
    // An IndexMap entry holds the key, the value, a hash and an index slot.
    let entry_bytes = std::mem::size_of::<(u64, Bytes, Option<Bytes>)>() + 16;
    let bound = PREALLOC_CAP_ELEMENTS * entry_bytes + ERROR_SLACK_BYTES;
    assert!(
        peak_bytes <= bound,
        "decoding reserved {peak_bytes} bytes, over {PREALLOC_CAP_ELEMENTS} headers of about \
         {entry_bytes} bytes plus {ERROR_SLACK_BYTES} ({bound})"
    );
}

#[test]
fn every_array_length_in_every_supported_request_can_be_inflated_safely() {
    // Take a valid encoded request, then overwrite each 4-byte window with 0x7fffffff and each
    // byte with 0xff (a huge varint start): whatever field that hits, decoding must not abort.
    for &(api, lo, hi) in SUPPORTED_APIS {
        for version in lo..=hi {
            let valid = sample_request_body(api, version);
            for i in 0..valid.len() {
                let mut v = valid.clone();
                v[i] = 0xff;
                decode_as(api, version, &v);
                if i + 4 <= valid.len() {
                    let mut v = valid.clone();
                    v[i..i + 4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
                    decode_as(api, version, &v);
                }
            }
        }
    }
}

#[test]
fn every_sample_request_decodes_so_the_mutation_test_starts_from_valid_input() {
    for &(api, lo, hi) in SUPPORTED_APIS {
        for version in lo..=hi {
            assert!(
                decode_as(api, version, &sample_request_body(api, version)),
                "{api:?} v{version}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// A fuzz harness that runs in CI: random frames through header and body decoding.
    #[test]
    fn random_frames_never_crash_the_decoder(frame in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(req) = decode_request_header(Bytes::from(frame.clone())) {
            let version = req.header.request_api_version;
            if runnel_protocol::versions::is_supported(req.api_key, version) {
                decode_as(req.api_key, version, &req.body);
            }
        }
        for &(api, lo, hi) in SUPPORTED_APIS {
            decode_as(api, lo, &frame);
            decode_as(api, hi, &frame);
        }
    }
}
