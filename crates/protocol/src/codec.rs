//! Request header and body decoding, response encoding.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DecodeError {
    /// Fewer than the 4 bytes of api key and version: garbage, close the connection.
    #[error("request frame of {size_bytes} bytes is too short for a header")]
    TooShort { size_bytes: usize },
    /// An API key Kafka does not define: close the connection (as Kafka does).
    #[error("unknown api key {api_key}")]
    UnknownApiKey { api_key: i16 },
    /// The header or body did not decode: close the connection.
    #[error("malformed {what}: {source}")]
    Malformed {
        what: &'static str,
        source: anyhow::Error,
    },
}

/// A request split into its header and still-encoded body.
#[derive(Debug)]
pub struct RequestFrame {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    /// The body bytes; decoded by the handler for its API with [`decode_body`]. Record batches
    /// inside a Produce body stay slices of this buffer (no copy).
    pub body: Bytes,
}

/// Splits a request frame into header and body.
pub fn decode_request_header(frame: Bytes) -> Result<RequestFrame, DecodeError> {
    if frame.len() < 4 {
        return Err(DecodeError::TooShort {
            size_bytes: frame.len(),
        });
    }
    let api_key_raw = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let api_key = ApiKey::try_from(api_key_raw).map_err(|_| DecodeError::UnknownApiKey {
        api_key: api_key_raw,
    })?;
    let header_version = api_key.request_header_version(api_version);
    let mut body = frame;
    let header = RequestHeader::decode(&mut body, header_version).map_err(|source| {
        DecodeError::Malformed {
            what: "request header",
            source,
        }
    })?;
    Ok(RequestFrame {
        api_key,
        header,
        body,
    })
}

/// Decodes a request body at `version`. Trailing bytes are tolerated as Kafka does.
pub fn decode_body<T: Decodable>(body: &mut Bytes, version: i16) -> Result<T, DecodeError> {
    T::decode(body, version).map_err(|source| DecodeError::Malformed {
        what: "request body",
        source,
    })
}

/// Encodes a whole response frame (size prefix, response header, body).
pub fn encode_response<T: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    body: &T,
) -> anyhow::Result<Bytes> {
    let header_version = T::header_version(version);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let size = header.compute_size(header_version)? + body.compute_size(version)?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header.encode(&mut buf, header_version)?;
    body.encode(&mut buf, version)?;
    debug_assert_eq!(
        buf.len(),
        4 + size,
        "encoded size differs from computed size"
    );
    Ok(buf.freeze())
}
