//! Input formats of the fuzz targets, shared with the seed generator so that seeds and
//! targets cannot drift apart, and the request decode path the broker runs.

pub mod batches;
pub mod request;
pub mod segment_files;

/// An offsets-topic record as the `offsets_records` target reads its input:
/// `[key length: u16 BE][key][value]` (a short input is all key, no value).
pub fn split_offsets_record(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    if data.len() < 2 {
        return (data, None);
    }
    let key_len = u16::from_be_bytes([data[0], data[1]]) as usize;
    let rest = &data[2..];
    if key_len >= rest.len() {
        return (rest, None);
    }
    let (key, value) = rest.split_at(key_len);
    (key, Some(value))
}

/// The inverse of [`split_offsets_record`], for seeds.
pub fn join_offsets_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + key.len() + value.len());
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}
