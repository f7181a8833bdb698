//! Produce requests framed as a list of chunks: the request's own fields in small buffers,
//! each record batch as the `Bytes` the producer already holds. The connection writes the
//! chunks with one vectored write, so the batches (all but a few dozen bytes of a Produce
//! request) are never copied into a frame. Every other request goes through
//! `kafka-protocol`'s encoder; this one is written out by hand because it is the hot path.
//!
//! Covers Produce v3–v11 (the client's range) and request header v1/v2. The tests check the
//! chunks, concatenated, against `kafka-protocol`'s encoding of the same request, byte for
//! byte, at every version.

use crate::error::{ClientError, Result};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ProduceRequest};

/// The lowest and highest Produce versions this module writes.
pub const PRODUCE_VERSIONS: (i16, i16) = (3, 11);

/// Produce turned flexible (compact strings and arrays, tagged fields) at v9.
fn flexible(version: i16) -> bool {
    version >= 9
}

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// An array or map length: i32 in classic versions, length + 1 as an unsigned varint in
/// flexible ones.
fn put_len(buf: &mut BytesMut, flexible: bool, len: usize) {
    if flexible {
        put_uvarint(buf, len as u64 + 1);
    } else {
        buf.put_i32(len as i32);
    }
}

fn put_nullable_str(buf: &mut BytesMut, flexible: bool, s: Option<&str>) {
    match (s, flexible) {
        (None, true) => put_uvarint(buf, 0),
        (None, false) => buf.put_i16(-1),
        (Some(s), true) => {
            put_uvarint(buf, s.len() as u64 + 1);
            buf.put_slice(s.as_bytes());
        }
        (Some(s), false) => {
            buf.put_i16(s.len() as i16);
            buf.put_slice(s.as_bytes());
        }
    }
}

/// No tagged fields: this client sets none.
fn put_no_tags(buf: &mut BytesMut, flexible: bool) {
    if flexible {
        put_uvarint(buf, 0);
    }
}

/// A complete request frame (size prefix, header, body) for `req` at `version`, as chunks.
pub fn frame(
    req: &ProduceRequest,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<Vec<Bytes>> {
    if !(PRODUCE_VERSIONS.0..=PRODUCE_VERSIONS.1).contains(&version) {
        return Err(ClientError::Protocol(format!(
            "Produce v{version} is outside the framed range {PRODUCE_VERSIONS:?}"
        )));
    }
    let flex = flexible(version);
    let mut chunks = Vec::with_capacity(2 + 2 * req.topic_data.len());
    let mut buf = BytesMut::with_capacity(256);
    // Request header: v2 (with tagged fields) for flexible Produce, v1 before. The client id
    // stays a classic nullable string even in header v2.
    buf.put_i16(ApiKey::Produce as i16);
    buf.put_i16(version);
    buf.put_i32(correlation_id);
    put_nullable_str(&mut buf, false, Some(client_id));
    put_no_tags(&mut buf, flex);
    put_nullable_str(
        &mut buf,
        flex,
        req.transactional_id.as_ref().map(|t| t.0.as_str()),
    );
    buf.put_i16(req.acks);
    buf.put_i32(req.timeout_ms);
    put_len(&mut buf, flex, req.topic_data.len());
    for topic in &req.topic_data {
        put_nullable_str(&mut buf, flex, Some(topic.name.0.as_str()));
        put_len(&mut buf, flex, topic.partition_data.len());
        for p in &topic.partition_data {
            buf.put_i32(p.index);
            match &p.records {
                None if flex => put_uvarint(&mut buf, 0),
                None => buf.put_i32(-1),
                Some(records) => {
                    put_len(&mut buf, flex, records.len());
                    chunks.push(buf.split().freeze());
                    chunks.push(records.clone());
                }
            }
            put_no_tags(&mut buf, flex);
        }
        put_no_tags(&mut buf, flex);
    }
    put_no_tags(&mut buf, flex);
    chunks.push(buf.freeze());
    let size: usize = chunks.iter().map(Bytes::len).sum();
    let size = i32::try_from(size).map_err(|_| {
        ClientError::Protocol(format!("a Produce request of {size} bytes is over 2 GiB"))
    })?;
    chunks.insert(0, Bytes::copy_from_slice(&size.to_be_bytes()));
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{RequestHeader, TopicName, TransactionalId};
    use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
    use proptest::prelude::*;

    /// What `kafka-protocol` writes for the same request: the reference.
    fn reference(req: &ProduceRequest, version: i16, id: i32, client_id: &str) -> Vec<u8> {
        let mut header = RequestHeader::default();
        header.request_api_key = ApiKey::Produce as i16;
        header.request_api_version = version;
        header.correlation_id = id;
        header.client_id = Some(StrBytes::from_string(client_id.to_string()));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, ProduceRequest::header_version(version))
            .expect("header");
        req.encode(&mut body, version).expect("body");
        let mut out = (body.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    /// (partition index, records) pairs of one topic.
    type Partitions = Vec<(i32, Option<Vec<u8>>)>;

    fn request(
        transactional_id: Option<String>,
        topics: Vec<(String, Partitions)>,
    ) -> ProduceRequest {
        let mut req = ProduceRequest::default();
        req.transactional_id = transactional_id.map(|t| TransactionalId(StrBytes::from_string(t)));
        req.acks = -1;
        req.timeout_ms = 30_000;
        req.topic_data = topics
            .into_iter()
            .map(|(name, parts)| {
                let mut t = TopicProduceData::default();
                t.name = TopicName(StrBytes::from_string(name));
                t.partition_data = parts
                    .into_iter()
                    .map(|(index, records)| {
                        let mut p = PartitionProduceData::default();
                        p.index = index;
                        p.records = records.map(Bytes::from);
                        p
                    })
                    .collect();
                t
            })
            .collect();
        req
    }

    #[test]
    fn chunks_match_kafka_protocols_encoding_at_every_version() {
        let req = request(
            None,
            vec![
                ("orders".into(), vec![(0, Some(vec![7; 300])), (5, None)]),
                ("t".into(), vec![(2, Some(vec![1, 2, 3]))]),
            ],
        );
        for v in PRODUCE_VERSIONS.0..=PRODUCE_VERSIONS.1 {
            let chunks = frame(&req, v, 42, "runnel").expect("frame");
            assert_eq!(chunks.concat(), reference(&req, v, 42, "runnel"), "v{v}");
        }
    }

    #[test]
    fn record_batches_are_sent_as_the_producers_own_bytes_not_copies() {
        let req = request(None, vec![("t".into(), vec![(0, Some(vec![9; 1000]))])]);
        let batch = req.topic_data[0].partition_data[0]
            .records
            .clone()
            .expect("set");
        let chunks = frame(&req, 11, 1, "c").expect("frame");
        assert!(
            chunks
                .iter()
                .any(|c| c.as_ptr() == batch.as_ptr() && c.len() == 1000),
            "the batch chunk points at the producer's buffer"
        );
    }

    #[test]
    fn versions_outside_the_range_are_refused() {
        let req = request(None, vec![]);
        assert!(frame(&req, 2, 1, "c").is_err());
        assert!(frame(&req, 12, 1, "c").is_err());
    }

    proptest! {
        #[test]
        fn any_request_frames_exactly_as_kafka_protocol_encodes_it(
            version in PRODUCE_VERSIONS.0..=PRODUCE_VERSIONS.1,
            id in any::<i32>(),
            client_id in "[a-z0-9-]{0,20}",
            transactional_id in proptest::option::of("[a-z]{1,10}"),
            topics in proptest::collection::vec(
                ("[a-zA-Z0-9._-]{1,40}", proptest::collection::vec(
                    (0..1000i32, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200))),
                    0..4,
                )),
                0..4,
            ),
        ) {
            let req = request(transactional_id, topics);
            let chunks = frame(&req, version, id, &client_id).expect("frame");
            prop_assert_eq!(chunks.concat(), reference(&req, version, id, &client_id));
        }
    }
}
