//! Every advertised API answers at every advertised version: the handler's response encodes at
//! that version (a field set that the version lacks would fail encoding and close the
//! connection) and decodes back with the client-side decoder.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use runnel_broker::BrokerConfig;
use runnel_protocol::samples::sample_request_body;
use runnel_protocol::versions::SUPPORTED_APIS;
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn round_trip(stream: &mut TcpStream, api: ApiKey, version: i16, body: &[u8]) -> Bytes {
    let mut header = RequestHeader::default();
    header.request_api_key = api as i16;
    header.request_api_version = version;
    header.correlation_id = 42;
    header.client_id = Some(StrBytes::from_static_str("every-api-version"));
    let mut frame = BytesMut::new();
    header
        .encode(&mut frame, api.request_header_version(version))
        .unwrap();
    frame.put_slice(body);
    stream.write_i32(frame.len() as i32).await.unwrap();
    stream.write_all(&frame).await.unwrap();
    let size = stream
        .read_i32()
        .await
        .unwrap_or_else(|e| panic!("{api:?} v{version}: connection closed: {e}"));
    let mut buf = vec![0u8; size as usize];
    stream.read_exact(&mut buf).await.unwrap();
    Bytes::from(buf)
}

fn decode_response<T: Decodable + HeaderVersion>(mut buf: Bytes, version: i16) -> T {
    let header = ResponseHeader::decode(&mut buf, T::header_version(version)).unwrap();
    assert_eq!(header.correlation_id, 42);
    let response = T::decode(&mut buf, version).unwrap();
    assert_eq!(buf.remaining(), 0, "trailing bytes after the response");
    response
}

fn check(api: ApiKey, version: i16, buf: Bytes) {
    macro_rules! d {
        ($t:ty) => {{
            let _: $t = decode_response(buf, version);
        }};
    }
    match api {
        ApiKey::Produce => d!(ProduceResponse),
        ApiKey::Fetch => d!(FetchResponse),
        ApiKey::ListOffsets => d!(ListOffsetsResponse),
        ApiKey::Metadata => d!(MetadataResponse),
        ApiKey::ApiVersions => d!(ApiVersionsResponse),
        ApiKey::CreateTopics => d!(CreateTopicsResponse),
        ApiKey::DeleteTopics => d!(DeleteTopicsResponse),
        ApiKey::InitProducerId => d!(InitProducerIdResponse),
        ApiKey::DescribeConfigs => d!(DescribeConfigsResponse),
        ApiKey::AlterConfigs => d!(AlterConfigsResponse),
        ApiKey::IncrementalAlterConfigs => d!(IncrementalAlterConfigsResponse),
        ApiKey::CreatePartitions => d!(CreatePartitionsResponse),
        ApiKey::DeleteRecords => d!(DeleteRecordsResponse),
        ApiKey::DescribeCluster => d!(DescribeClusterResponse),
        ApiKey::DescribeLogDirs => d!(DescribeLogDirsResponse),
        ApiKey::DescribeTopicPartitions => d!(DescribeTopicPartitionsResponse),
        ApiKey::FindCoordinator => d!(FindCoordinatorResponse),
        ApiKey::JoinGroup => d!(JoinGroupResponse),
        ApiKey::SyncGroup => d!(SyncGroupResponse),
        ApiKey::Heartbeat => d!(HeartbeatResponse),
        ApiKey::LeaveGroup => d!(LeaveGroupResponse),
        ApiKey::DescribeGroups => d!(DescribeGroupsResponse),
        ApiKey::ListGroups => d!(ListGroupsResponse),
        ApiKey::DeleteGroups => d!(DeleteGroupsResponse),
        ApiKey::OffsetCommit => d!(OffsetCommitResponse),
        ApiKey::OffsetFetch => d!(OffsetFetchResponse),
        ApiKey::OffsetDelete => d!(OffsetDeleteResponse),
        other => panic!("no decoder for {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_api_answers_at_every_advertised_version() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig::with(&[
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("log.dirs", dir.path().to_str().unwrap()),
        ("group.initial.rebalance.delay.ms", "0"),
    ])
    .unwrap();
    let broker = runnel_broker::start(config).await.unwrap();
    let mut stream = TcpStream::connect(broker.local_addr).await.unwrap();
    for &(api, lo, hi) in SUPPORTED_APIS {
        for version in lo..=hi {
            // The samples name topic "topic"; DeleteTopics removes it, so make sure it exists.
            if broker.state().topics.get("topic").is_none() {
                broker
                    .state()
                    .topics
                    .create("topic", 1, BTreeMap::new(), false)
                    .unwrap();
            }
            let mut body = sample_request_body(api, version);
            if api == ApiKey::Produce {
                // The sample has acks=0, which gets no response; ask for one.
                let mut req = ProduceRequest::decode(&mut Bytes::from(body), version).unwrap();
                req.acks = 1;
                let mut b = BytesMut::new();
                req.encode(&mut b, version).unwrap();
                body = b.to_vec();
            }
            if api == ApiKey::JoinGroup {
                // A fresh group per version, so that each join completes at once (a second
                // member would wait for the first one to rejoin).
                let mut req = JoinGroupRequest::decode(&mut Bytes::from(body), version).unwrap();
                req.group_id = GroupId(StrBytes::from_string(format!("join-v{version}")));
                let mut b = BytesMut::new();
                req.encode(&mut b, version).unwrap();
                body = b.to_vec();
            }
            let response = round_trip(&mut stream, api, version, &body).await;
            check(api, version, response);
        }
    }
    broker.shutdown().await;
}
