//! A Fetch response encoder that does not copy record bytes.
//!
//! `kafka-protocol` encodes a response into one contiguous buffer, which would copy every
//! partition's records (megabytes per fetch) once more after they were read from the log. This
//! encoder writes the same bytes as a list of [`Chunk`]s: small encoded pieces interleaved with
//! each partition's records, either the `Bytes` the log returned or a range of the segment file
//! ([`FileChunk`]) that the connection sends with `sendfile`, so record data is never copied
//! through user space. It covers the versions Runnel advertises (v4 to v12); the tests check it
//! byte for byte against `kafka-protocol`'s encoder.

use crate::chunk::{Chunk, FileChunk};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{FetchResponse, ResponseHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion};

/// Records at least this large travel as their own chunk; smaller ones are copied, which is
/// cheaper than an extra write (or `sendfile`) for a few bytes.
const ZERO_COPY_MIN_BYTES: usize = 4096;

/// Highest Fetch version this encoder writes (v13 replaces topic names with ids).
pub const MAX_VERSION: i16 = 12;

struct Chunks {
    done: Vec<Chunk>,
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
                self.bytes_len(b.len());
                if b.len() >= ZERO_COPY_MIN_BYTES {
                    self.cut();
                    self.done.push(Chunk::Bytes(b.clone()));
                } else {
                    self.cur.put_slice(b);
                }
            }
        }
    }
    /// Records given as a file range: the same bytes `nullable_bytes` would write for them.
    fn file_records(&mut self, f: &FileChunk) -> std::io::Result<()> {
        self.bytes_len(f.len);
        if f.len >= ZERO_COPY_MIN_BYTES {
            self.cut();
            self.done.push(Chunk::File(f.clone()));
        } else {
            self.cur.put_slice(&f.read_to_vec()?);
        }
        Ok(())
    }
    fn bytes_len(&mut self, len: usize) {
        if self.flexible {
            self.uvarint(len as u32 + 1);
        } else {
            self.cur.put_i32(len as i32);
        }
    }
    /// Ends the current run of encoded bytes so that a records chunk can follow it.
    fn cut(&mut self) {
        if !self.cur.is_empty() {
            self.done.push(Chunk::Bytes(self.cur.split().freeze()));
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
/// `files` gives records as file ranges: its `i`-th element belongs to the `i`-th partition of
/// the response (counting through all topics in order); such a partition's `records` must be
/// `None` and is encoded as if it held the range's bytes. Missing elements mean no file.
///
/// Fields Runnel never sets (tagged fields, diverging epochs, snapshot ids, node endpoints) must
/// be at their defaults; otherwise this falls back to the copying encoder (reading any file
/// ranges into memory).
pub fn encode_fetch_response(
    correlation_id: i32,
    version: i16,
    r: &FetchResponse,
    files: &[Option<FileChunk>],
) -> anyhow::Result<Vec<Chunk>> {
    let file_at = |i: usize| files.get(i).and_then(Option::as_ref);
    if !(4..=MAX_VERSION).contains(&version) || !only_supported_fields(r) {
        return Ok(vec![Chunk::Bytes(encode_with_files_read(
            correlation_id,
            version,
            r,
            files,
        )?)]);
    }
    let header_version = FetchResponse::header_version(version);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let flexible = version >= 12;
    let mut size = header.compute_size(header_version)? + r.compute_size(version)?;
    for f in files.iter().flatten() {
        // `compute_size` counted these records as null.
        size += f.len
            + if flexible {
                uvarint_size(f.len as u32 + 1) - 1
            } else {
                0
            };
    }
    let mut c = Chunks {
        done: Vec::new(),
        cur: BytesMut::with_capacity(1024),
        flexible,
    };
    c.cur.put_i32(size as i32);
    header.encode(&mut c.cur, header_version)?;
    c.cur.put_i32(r.throttle_time_ms);
    if version >= 7 {
        c.cur.put_i16(r.error_code);
        c.cur.put_i32(r.session_id);
    }
    let mut partition = 0usize;
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
            match file_at(partition) {
                Some(f) => {
                    anyhow::ensure!(
                        p.records.is_none(),
                        "partition {partition} has both records and a file range"
                    );
                    c.file_records(f)?;
                }
                None => c.nullable_bytes(p.records.as_ref()),
            }
            partition += 1;
            c.no_tagged_fields();
        }
        c.no_tagged_fields();
    }
    c.no_tagged_fields();
    c.cut();
    let chunks = c.done;
    let written: usize = chunks.iter().map(Chunk::len).sum();
    anyhow::ensure!(
        written == size + 4,
        "fetch encoder wrote {written} bytes, expected {}",
        size + 4
    );
    Ok(chunks)
}

/// The copying encoder's frame, with file ranges read into the records they stand for.
fn encode_with_files_read(
    correlation_id: i32,
    version: i16,
    r: &FetchResponse,
    files: &[Option<FileChunk>],
) -> anyhow::Result<Bytes> {
    if files.iter().all(Option::is_none) {
        return crate::codec::encode_response(correlation_id, version, r);
    }
    let mut r = r.clone();
    let mut partition = 0usize;
    for t in &mut r.responses {
        for p in &mut t.partitions {
            if let Some(Some(f)) = files.get(partition) {
                p.records = Some(Bytes::from(f.read_to_vec()?));
            }
            partition += 1;
        }
    }
    crate::codec::encode_response(correlation_id, version, &r)
}

fn uvarint_size(v: u32) -> usize {
    match v {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
    }
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

    /// `records` written to a temporary file after `skip` other bytes, as a file range.
    fn file_chunk(records: &[u8], skip: usize) -> FileChunk {
        use std::io::Write;
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![0xEE; skip]).unwrap();
        f.write_all(records).unwrap();
        f.write_all(b"trailing bytes that are not part of the range")
            .unwrap();
        FileChunk {
            file: std::sync::Arc::new(f),
            position: skip as u64,
            len: records.len(),
        }
    }

    fn joined(chunks: &[Chunk]) -> Vec<u8> {
        chunks
            .iter()
            .flat_map(|c| c.to_bytes().unwrap().to_vec())
            .collect()
    }

    proptest! {
        #[test]
        fn chunks_equal_the_reference_encoding(
            version in 4i16..=12,
            parts in proptest::collection::vec(
                (0i32..100, 0i16..3, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..9000)), any::<bool>(), any::<bool>()),
                0..4),
            topic in "[a-z]{1,20}",
            session in 0i32..3,
            skip in 0usize..5000,
        ) {
            let as_file: Vec<bool> = parts.iter().map(|p| p.4 && p.2.is_some()).collect();
            let parts: Vec<_> = parts.into_iter().map(|(i, e, r, t, _)| (i, e, r, t)).collect();
            let r = response(parts, &topic, if version >= 7 { session } else { 0 });
            let reference = crate::codec::encode_response(11, version, &r).unwrap();
            let chunks = encode_fetch_response(11, version, &r, &[]).unwrap();
            prop_assert_eq!(&joined(&chunks)[..], &reference[..]);

            // The same records given as file ranges encode to the same bytes.
            let mut with_files = r.clone();
            let mut files = Vec::new();
            for (p, file) in with_files.responses[0].partitions.iter_mut().zip(&as_file) {
                files.push(if *file {
                    Some(file_chunk(&p.records.take().unwrap(), skip))
                } else {
                    None
                });
            }
            let chunks = encode_fetch_response(11, version, &with_files, &files).unwrap();
            prop_assert_eq!(&joined(&chunks)[..], &reference[..]);
        }
    }

    #[test]
    fn large_records_are_not_copied() {
        let records = Bytes::from(vec![7u8; 100_000]);
        let mut r = response(vec![(0, 0, None, false)], "t", 0);
        r.responses[0].partitions[0].records = Some(records.clone());
        let chunks = encode_fetch_response(1, 12, &r, &[]).unwrap();
        assert!(chunks.iter().any(|c| matches!(c,
            Chunk::Bytes(b) if b.as_ptr() == records.as_ptr() && b.len() == records.len())));
    }

    #[test]
    fn large_file_records_stay_a_file_range_and_small_ones_are_read_in() {
        let r = response(vec![(0, 0, None, false), (1, 0, None, false)], "t", 0);
        let big = file_chunk(&[1u8; 50_000], 10);
        let small = file_chunk(&[2u8; 100], 10);
        let chunks = encode_fetch_response(1, 12, &r, &[Some(big.clone()), Some(small)]).unwrap();
        let files: Vec<_> = chunks
            .iter()
            .filter_map(|c| match c {
                Chunk::File(f) => Some((f.position, f.len)),
                Chunk::Bytes(_) => None,
            })
            .collect();
        assert_eq!(files, vec![(big.position, big.len)]);
    }
}
