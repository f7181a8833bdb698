//! A Fetch response encoder that does not copy record bytes.
//!
//! `kafka-protocol` encodes a response into one contiguous buffer, which would copy every
//! partition's records (megabytes per fetch) once more after they were read from the log. This
//! encoder writes the same bytes as a list of chunks: small encoded pieces interleaved with the
//! records `Bytes` exactly as the log returned them, so the connection writes file bytes to the
//! socket without another copy. It covers the versions Runnel advertises (v4 to v12); the tests
//! check it byte for byte against `kafka-protocol`'s encoder.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{FetchResponse, ResponseHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion};

/// Records at least this large travel as their own chunk; smaller ones are copied, which is
/// cheaper than an extra write for a few bytes.
const ZERO_COPY_MIN_BYTES: usize = 4096;

/// Highest Fetch version this encoder writes (v13 replaces topic names with ids).
pub const MAX_VERSION: i16 = 12;

struct Chunks {
    done: Vec<Bytes>,
    cur: BytesMut,
    flexible: bool,
}

impl Chunks {
    fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.cur.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.cur.put_u8(v as u8);
    }
    fn array_len(&mut self, len: usize) {
        if self.flexible {
            self.uvarint(len as u32 + 1);
        } else {
            self.cur.put_i32(len as i32);
        }
    }
    fn string(&mut self, s: &str) {
        if self.flexible {
            self.uvarint(s.len() as u32 + 1);
        } else {
            self.cur.put_i16(s.len() as i16);
        }
        self.cur.put_slice(s.as_bytes());
    }
    fn nullable_bytes(&mut self, b: Option<&Bytes>) {
        match b {
            None if self.flexible => self.uvarint(0),
            None => self.cur.put_i32(-1),
            Some(b) => {
                if self.flexible {
                    self.uvarint(b.len() as u32 + 1);
                } else {
                    self.cur.put_i32(b.len() as i32);
                }
                if b.len() >= ZERO_COPY_MIN_BYTES {
                    let cur = self.cur.split().freeze();
                    self.done.push(cur);
                    self.done.push(b.clone());
                } else {
                    self.cur.put_slice(b);
                }
            }
        }
    }
    fn no_tagged_fields(&mut self) {
        if self.flexible {
            self.uvarint(0);
        }
    }
}

/// Encodes a whole Fetch response frame (size prefix, header, body) as chunks whose
/// concatenation is exactly what `kafka-protocol` would encode.
///
/// Fields Runnel never sets (tagged fields, diverging epochs, snapshot ids, node endpoints) must
/// be at their defaults; otherwise this falls back to the copying encoder.
pub fn encode_fetch_response(
    correlation_id: i32,
    version: i16,
    r: &FetchResponse,
) -> anyhow::Result<Vec<Bytes>> {
    if !(4..=MAX_VERSION).contains(&version) || !only_supported_fields(r) {
        return Ok(vec![crate::codec::encode_response(
            correlation_id,
            version,
            r,
        )?]);
    }
    let header_version = FetchResponse::header_version(version);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let size = header.compute_size(header_version)? + r.compute_size(version)?;
    let mut c = Chunks {
        done: Vec::new(),
        cur: BytesMut::with_capacity(1024),
        flexible: version >= 12,
    };
    c.cur.put_i32(size as i32);
    header.encode(&mut c.cur, header_version)?;
    c.cur.put_i32(r.throttle_time_ms);
    if version >= 7 {
        c.cur.put_i16(r.error_code);
        c.cur.put_i32(r.session_id);
    }
    c.array_len(r.responses.len());
    for t in &r.responses {
        c.string(t.topic.as_str());
        c.array_len(t.partitions.len());
        for p in &t.partitions {
            c.cur.put_i32(p.partition_index);
            c.cur.put_i16(p.error_code);
            c.cur.put_i64(p.high_watermark);
            c.cur.put_i64(p.last_stable_offset);
            if version >= 5 {
                c.cur.put_i64(p.log_start_offset);
            }
            match &p.aborted_transactions {
                None if c.flexible => c.uvarint(0),
                None => c.cur.put_i32(-1),
                Some(txns) => {
                    c.array_len(txns.len());
                    for a in txns {
                        c.cur.put_i64(a.producer_id.0);
                        c.cur.put_i64(a.first_offset);
                        c.no_tagged_fields();
                    }
                }
            }
            if version >= 11 {
                c.cur.put_i32(p.preferred_read_replica.0);
            }
            c.nullable_bytes(p.records.as_ref());
            c.no_tagged_fields();
        }
        c.no_tagged_fields();
    }
    c.no_tagged_fields();
    let mut chunks = c.done;
    if !c.cur.is_empty() {
        chunks.push(c.cur.freeze());
    }
    let written: usize = chunks.iter().map(Bytes::len).sum();
    anyhow::ensure!(
        written == size + 4,
        "fetch encoder wrote {written} bytes, expected {}",
        size + 4
    );
    Ok(chunks)
}

/// Whether the response only uses fields this encoder writes.
fn only_supported_fields(r: &FetchResponse) -> bool {
    let defaults = kafka_protocol::messages::fetch_response::PartitionData::default();
    r.unknown_tagged_fields.is_empty()
        && r.node_endpoints.is_empty()
        && r.responses.iter().all(|t| {
            t.unknown_tagged_fields.is_empty()
                && t.partitions.iter().all(|p| {
                    p.unknown_tagged_fields.is_empty()
                        && p.diverging_epoch == defaults.diverging_epoch
                        && p.current_leader == defaults.current_leader
                        && p.snapshot_id == defaults.snapshot_id
                        && p.aborted_transactions
                            .iter()
                            .flatten()
                            .all(|a| a.unknown_tagged_fields.is_empty())
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, FetchableTopicResponse, PartitionData,
    };
    use kafka_protocol::messages::{BrokerId, ProducerId, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    fn response(
        parts: Vec<(i32, i16, Option<Vec<u8>>, bool)>,
        topic: &str,
        session: i32,
    ) -> FetchResponse {
        let mut r = FetchResponse::default();
        r.session_id = session;
        let mut t = FetchableTopicResponse::default();
        t.topic = TopicName(StrBytes::from_string(topic.to_string()));
        for (idx, err, records, txn) in parts {
            let mut p = PartitionData::default();
            p.partition_index = idx;
            p.error_code = err;
            p.high_watermark = 1000 + idx as i64;
            p.last_stable_offset = 999;
            p.log_start_offset = 7;
            p.preferred_read_replica = BrokerId(-1);
            p.records = records.map(Bytes::from);
            p.aborted_transactions = if txn {
                let mut a = AbortedTransaction::default();
                a.producer_id = ProducerId(5);
                a.first_offset = 9;
                Some(vec![a])
            } else {
                Some(vec![])
            };
            t.partitions.push(p);
        }
        r.responses.push(t);
        r
    }

    proptest! {
        #[test]
        fn chunks_equal_the_reference_encoding(
            version in 4i16..=12,
            parts in proptest::collection::vec(
                (0i32..100, 0i16..3, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..9000)), any::<bool>()),
                0..4),
            topic in "[a-z]{1,20}",
            session in 0i32..3,
        ) {
            let r = response(parts, &topic, if version >= 7 { session } else { 0 });
            let reference = crate::codec::encode_response(11, version, &r).unwrap();
            let chunks = encode_fetch_response(11, version, &r).unwrap();
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            prop_assert_eq!(&joined[..], &reference[..]);
        }
    }

    #[test]
    fn large_records_are_not_copied() {
        let records = Bytes::from(vec![7u8; 100_000]);
        let mut r = response(vec![(0, 0, None, false)], "t", 0);
        r.responses[0].partitions[0].records = Some(records.clone());
        let chunks = encode_fetch_response(1, 12, &r).unwrap();
        assert!(chunks
            .iter()
            .any(|c| c.as_ptr() == records.as_ptr() && c.len() == records.len()));
    }
}
