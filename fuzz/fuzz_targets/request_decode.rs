//! Request decoding: any bytes off a socket, read as a size-prefixed frame, split into header
//! and body, and decoded as the API and version the header names (every API Runnel advertises,
//! at every advertised version: the seeds hold one of each). Must never panic, abort or
//! allocate beyond the libFuzzer limits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runnel_fuzz_input::request::{decode_frame, decode_wire};

fuzz_target!(|data: &[u8]| {
    decode_wire(data);
    // The same bytes as a frame body without the prefix, so mutations of the header and body
    // are not wasted on a size prefix that does not match.
    decode_frame(bytes::Bytes::copy_from_slice(data));
});
