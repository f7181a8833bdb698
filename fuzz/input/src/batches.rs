//! Record batches for the record-batch target: the input is one or more magic-2 batches back
//! to back, whose CRCs the target recomputes before validating, so that mutations of the
//! header fields and records reach the record walk instead of stopping at the checksum.

/// Offset of the CRC field in a v2 batch, and of the bytes it covers.
const CRC_AT: usize = 17;
const CRC_COVERS_FROM: usize = 21;

/// Rewrites the CRC of every whole batch in `data` (by its `batchLength`), leaving a trailing
/// partial batch and any batch with a nonsensical length untouched.
pub fn fix_crcs(data: &mut [u8]) {
    let mut at = 0usize;
    while data.len() - at >= CRC_COVERS_FROM {
        let len = i32::from_be_bytes([data[at + 8], data[at + 9], data[at + 10], data[at + 11]]);
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| (at + 12).checked_add(l))
            .filter(|&end| end <= data.len() && end >= at + CRC_COVERS_FROM)
        else {
            return;
        };
        let crc = crc32c::crc32c(&data[at + CRC_COVERS_FROM..end]);
        data[at + CRC_AT..at + CRC_COVERS_FROM].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}
