//! Decoding hostile bytes must fail cleanly: no panic, no abort, no allocation driven by a length
//! read off the wire. These run every supported request type through `kafka-protocol`'s decoders
//! (the vendored, patched copy) with random and adversarial bodies.

use bytes::Bytes;
use kafka_protocol::messages::*;
use proptest::prelude::*;
use runnel_protocol::samples::sample_request_body;
use runnel_protocol::versions::SUPPORTED_APIS;
use runnel_protocol::{decode_body, decode_request_header};

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
