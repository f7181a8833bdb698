//! One v2 record, parsed from its body bytes without copying.
//!
//! Layout after the record's length varint (Kafka's `DefaultRecord`):
//!
//! ```text
//! attributes: int8 | timestampDelta: varlong | offsetDelta: varint
//! keyLength: varint | key | valueLength: varint | value
//! headerCount: varint | (headerKeyLength: varint | headerKey | headerValueLength: varint | value)*
//! ```
//!
//! The body is checked as Kafka's `DefaultRecord.readFrom` checks it: a negative header count or
//! header key length is refused, and the fields must use up exactly the declared length.

use super::RecordError;

/// The longest varlong Kafka writes: 10 bytes of 7 bits.
const MAX_VARLONG_BYTES: usize = 10;
/// The longest varint: 5 bytes.
const MAX_VARINT_BYTES: usize = 5;

/// A zigzag varlong from the front of `bytes`, advancing it. `None` if truncated or too long.
pub(crate) fn read_varlong(bytes: &mut &[u8]) -> Option<i64> {
    let mut z: u64 = 0;
    for i in 0..MAX_VARLONG_BYTES {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        z |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    None
}

/// A zigzag varint (at most 5 bytes, as Kafka's `readVarint`).
pub(crate) fn read_varint(bytes: &mut &[u8]) -> Option<i32> {
    let mut z: u32 = 0;
    for i in 0..MAX_VARINT_BYTES {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        z |= ((b & 0x7f) as u32) << (7 * i);
        if b & 0x80 == 0 {
            return Some(((z >> 1) as i32) ^ -((z & 1) as i32));
        }
    }
    None
}

/// `length` bytes (or none for a negative length, Kafka's null) from the front of `bytes`.
fn read_field<'a>(bytes: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    let len = read_varint(bytes)?;
    if len < 0 {
        return Some(None);
    }
    let len = len as usize;
    if bytes.len() < len {
        return None;
    }
    let (field, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(Some(field))
}

/// One record of a batch, borrowing the batch's (or the decompressed stream's) bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    /// `baseOffset + offsetDelta`.
    pub offset: i64,
    /// `baseTimestamp + timestampDelta`, or the batch's `maxTimestamp` under LogAppendTime.
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    header_count: usize,
    /// The header fields, already checked to hold exactly `header_count` headers.
    header_bytes: &'a [u8],
}

impl<'a> Record<'a> {
    /// Parses one record body (the bytes its length varint counts). `index` is the record's
    /// position in its batch, for error messages. Offsets and timestamps are filled in by the
    /// batch reader.
    pub(crate) fn parse(body: &'a [u8], index: usize) -> Result<Record<'a>, RecordError> {
        let malformed = |reason: String| RecordError::Malformed { index, reason };
        let structure = || malformed("Found invalid record structure".to_string());
        let mut b = body;
        let (&attributes, rest) = b.split_first().ok_or_else(structure)?;
        b = rest;
        let timestamp_delta = read_varlong(&mut b).ok_or_else(structure)?;
        let offset_delta = read_varint(&mut b).ok_or_else(structure)?;
        let key = read_field(&mut b).ok_or_else(structure)?;
        let value = read_field(&mut b).ok_or_else(structure)?;
        let header_count = read_varint(&mut b).ok_or_else(structure)?;
        if header_count < 0 {
            return Err(malformed(format!(
                "Found invalid number of record headers {header_count}"
            )));
        }
        let header_bytes = b;
        for _ in 0..header_count {
            let key_len = read_varint(&mut b).ok_or_else(structure)?;
            if key_len < 0 {
                return Err(malformed(format!(
                    "Invalid negative header key size {key_len}"
                )));
            }
            if b.len() < key_len as usize {
                return Err(structure());
            }
            b = &b[key_len as usize..];
            read_field(&mut b).ok_or_else(structure)?;
        }
        if !b.is_empty() {
            return Err(malformed(format!(
                "Invalid record size: expected to read {} bytes in record payload, but instead read {}",
                body.len(),
                body.len() - b.len()
            )));
        }
        let header_bytes = &header_bytes[..header_bytes.len() - b.len()];
        Ok(Record {
            attributes: attributes as i8,
            timestamp_delta,
            offset_delta,
            offset: 0,
            timestamp: 0,
            key,
            value,
            header_count: header_count as usize,
            header_bytes,
        })
    }

    pub fn header_count(&self) -> usize {
        self.header_count
    }

    /// The record's headers in order (keys may repeat).
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            bytes: self.header_bytes,
            left: self.header_count,
        }
    }
}

/// One record header: a key and a nullable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// The headers of a [`Record`]; their bytes were checked when the record was parsed.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    bytes: &'a [u8],
    left: usize,
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let key = read_field(&mut self.bytes)??;
        let value = read_field(&mut self.bytes)?;
        Some(Header { key, value })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zigzag(v: i64, out: &mut Vec<u8>) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    #[test]
    fn varints_round_trip_at_their_extremes() {
        for v in [0i64, 1, -1, 63, -64, 64, i32::MAX as i64, i32::MIN as i64] {
            let mut b = Vec::new();
            zigzag(v, &mut b);
            assert_eq!(read_varint(&mut b.as_slice()), Some(v as i32), "{v}");
            assert_eq!(read_varlong(&mut b.as_slice()), Some(v), "{v}");
        }
        let mut b = Vec::new();
        zigzag(i64::MIN, &mut b);
        assert_eq!(read_varlong(&mut b.as_slice()), Some(i64::MIN));
        assert_eq!(
            read_varint(&mut b.as_slice()),
            None,
            "too long for a varint"
        );
        assert_eq!(read_varlong(&mut [0x80u8; 11].as_slice()), None);
    }

    #[test]
    fn a_record_body_with_bytes_left_over_is_refused_with_both_sizes() {
        let mut body = vec![0u8];
        zigzag(0, &mut body); // timestamp delta
        zigzag(0, &mut body); // offset delta
        zigzag(-1, &mut body); // null key
        zigzag(1, &mut body);
        body.push(b'v');
        zigzag(0, &mut body); // no headers
        assert!(Record::parse(&body, 0).is_ok());
        body.push(0);
        let err = Record::parse(&body, 3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "record 3: Invalid record size: expected to read 8 bytes in record payload, but instead read 7"
        );
    }

    #[test]
    fn a_negative_header_count_is_refused() {
        let mut body = vec![0u8, 0, 0, 1, 1];
        zigzag(-2, &mut body);
        let err = Record::parse(&body, 0).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid number of record headers -2"),
            "{err}"
        );
    }
}
