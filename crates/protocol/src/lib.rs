//! # runnel-protocol: Kafka wire framing and codec glue
//!
//! Every Kafka request and response travels as a frame: a big-endian `int32` size followed by
//! that many bytes. This crate reads frames with a hard size limit, splits a request frame into
//! its header and body, decodes bodies with the `kafka-protocol` crate and encodes responses.
//!
//! `kafka-protocol` is vendored with a patch (see `vendor/kafka-protocol.runnel.patch`) so that
//! no count or length read off the wire makes it pre-allocate: a count beyond the bytes that
//! remain is refused, and at most 1024 elements are reserved before they decode. Without it a
//! 12-byte Produce body declaring 2^31-1 topics aborts the process. The tests in
//! `tests/hostile_input.rs` hold that line with a counting allocator.
//!
//! Layout:
//! - [`frame`]: reading and writing size-prefixed frames.
//! - [`codec`]: request header / body decoding, response encoding.
//! - [`chunk`], [`fetch_encode`]: responses as pieces, Fetch records uncopied (bytes or file
//!   ranges for `sendfile`).
//! - [`versions`]: the APIs and version ranges Runnel advertises.
//! - [`records`]: the one record-batch reader (header, streamed records, bounded
//!   decompression) that every crate uses to look inside batches.
//! - [`samples`]: small valid requests of every advertised API, for tests.

pub mod chunk;
pub mod codec;
pub mod fetch_encode;
pub mod frame;
pub mod records;
pub mod samples;
pub mod versions;

pub use chunk::{Chunk, FileChunk};
pub use codec::{decode_body, decode_request_header, encode_response, DecodeError, RequestFrame};
pub use frame::{read_frame, read_frame_body, read_frame_size, FrameError};
pub use kafka_protocol;
