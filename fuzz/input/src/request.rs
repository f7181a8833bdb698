//! The broker's request decode path: size-prefixed frame, header, then the body of the API
//! and version named in the header (crates/broker/src/handlers/mod.rs does the same before
//! dispatching).

use bytes::Bytes;
use kafka_protocol::messages::*;
use runnel_protocol::{decode_body, decode_request_header, read_frame, versions, DecodeError};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// `socket.request.max.bytes`' default, the frame limit the broker reads with.
pub const MAX_FRAME_BYTES: usize = 104_857_600;

/// What became of one input.
#[derive(Debug)]
pub enum Outcome {
    /// The size prefix or body did not read as a frame.
    NoFrame,
    /// The frame was refused (connection closed), as the broker refuses it.
    Refused,
    /// The body of `api` at `version` decoded.
    Decoded { api: ApiKey, version: i16 },
}

/// Runs a future over an in-memory reader to completion: a `&[u8]` is always ready, so one
/// poll finishes it and no runtime is needed.
fn run_ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("reading from memory never waits"),
    }
}

/// Reads `wire` (size prefix and frame) and decodes it as the broker would.
pub fn decode_wire(mut wire: &[u8]) -> Outcome {
    match run_ready(read_frame(&mut wire, MAX_FRAME_BYTES)) {
        Ok(Some(frame)) => decode_frame(frame.freeze()),
        _ => Outcome::NoFrame,
    }
}

/// Decodes a frame (without its size prefix) as the broker would.
pub fn decode_frame(frame: Bytes) -> Outcome {
    match decode_frame_inner(frame) {
        Ok(Some((api, version))) => Outcome::Decoded { api, version },
        Ok(None) | Err(_) => Outcome::Refused,
    }
}

fn decode_frame_inner(frame: Bytes) -> Result<Option<(ApiKey, i16)>, DecodeError> {
    let req = decode_request_header(frame)?;
    let version = req.header.request_api_version;
    let api = req.api_key;
    let mut body = req.body;
    // ApiVersions answers any version; it decodes the body only at the versions it knows.
    if api == ApiKey::ApiVersions {
        if !(0..=4).contains(&version) {
            return Ok(None);
        }
        decode_body::<ApiVersionsRequest>(&mut body, version)?;
        return Ok(Some((api, version)));
    }
    if !versions::is_supported(api, version) {
        return Ok(None);
    }
    decode_body_of(api, version, &mut body)?;
    Ok(Some((api, version)))
}

/// Decodes `body` as the request type of `api`. Panics for an advertised API it does not know,
/// so a newly advertised API cannot go unfuzzed (every advertised API has seeds).
pub fn decode_body_of(api: ApiKey, version: i16, body: &mut Bytes) -> Result<(), DecodeError> {
    macro_rules! decode {
        ($t:ty) => {
            decode_body::<$t>(body, version).map(|_| ())
        };
    }
    match api {
        ApiKey::Produce => decode!(ProduceRequest),
        ApiKey::Fetch => decode!(FetchRequest),
        ApiKey::ListOffsets => decode!(ListOffsetsRequest),
        ApiKey::Metadata => decode!(MetadataRequest),
        ApiKey::ApiVersions => decode!(ApiVersionsRequest),
        ApiKey::CreateTopics => decode!(CreateTopicsRequest),
        ApiKey::DeleteTopics => decode!(DeleteTopicsRequest),
        ApiKey::InitProducerId => decode!(InitProducerIdRequest),
        ApiKey::FindCoordinator => decode!(FindCoordinatorRequest),
        ApiKey::JoinGroup => decode!(JoinGroupRequest),
        ApiKey::SyncGroup => decode!(SyncGroupRequest),
        ApiKey::Heartbeat => decode!(HeartbeatRequest),
        ApiKey::LeaveGroup => decode!(LeaveGroupRequest),
        ApiKey::DescribeGroups => decode!(DescribeGroupsRequest),
        ApiKey::ListGroups => decode!(ListGroupsRequest),
        ApiKey::DeleteGroups => decode!(DeleteGroupsRequest),
        ApiKey::OffsetCommit => decode!(OffsetCommitRequest),
        ApiKey::OffsetFetch => decode!(OffsetFetchRequest),
        ApiKey::OffsetDelete => decode!(OffsetDeleteRequest),
        ApiKey::DescribeConfigs => decode!(DescribeConfigsRequest),
        ApiKey::AlterConfigs => decode!(AlterConfigsRequest),
        ApiKey::IncrementalAlterConfigs => decode!(IncrementalAlterConfigsRequest),
        ApiKey::CreatePartitions => decode!(CreatePartitionsRequest),
        ApiKey::DeleteRecords => decode!(DeleteRecordsRequest),
        ApiKey::DescribeCluster => decode!(DescribeClusterRequest),
        ApiKey::DescribeLogDirs => decode!(DescribeLogDirsRequest),
        ApiKey::DescribeTopicPartitions => decode!(DescribeTopicPartitionsRequest),
        other => panic!("the fuzz decode path does not know advertised API {other:?}"),
    }
}
