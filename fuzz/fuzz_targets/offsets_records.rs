//! The `__consumer_offsets` record reader (crates/broker/src/coordinator/records.rs): the key,
//! then the value as the key's kind says, as the coordinator reads them on load. Anything
//! must fail cleanly; whatever decodes must re-encode to bytes that decode to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runnel_broker::coordinator::records::{
    decode_group_value, decode_key, decode_offset_value, encode_group_key, encode_group_value,
    encode_offset_key, encode_offset_value, RecordKey,
};
use runnel_fuzz_input::split_offsets_record;

fuzz_target!(|data: &[u8]| {
    let (key, value) = split_offsets_record(data);
    let decoded_key = decode_key(key);
    if let Ok(k) = &decoded_key {
        let again = match k {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => encode_offset_key(group, topic, *partition),
            RecordKey::Group { group } => encode_group_key(group),
        };
        assert_eq!(decode_key(&again).as_ref(), Ok(k), "key round trip");
    }
    let Some(value) = value else { return };
    // Both value readers see every value: a key that fails to decode still has its value
    // walked, so the value readers get the fuzzer's full attention.
    if let Ok(v) = decode_offset_value(value) {
        let again = decode_offset_value(&encode_offset_value(&v));
        assert_eq!(again.as_ref(), Ok(&v), "offset value round trip");
    }
    if let Ok(v) = decode_group_value(value) {
        let again = decode_group_value(&encode_group_value(&v));
        assert_eq!(again.as_ref(), Ok(&v), "group value round trip");
    }
});
