#![no_main]
//! Stored-item decoding never panics; what decodes re-encodes and decodes to the same item.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(item) = hashlog::model::decode_item(data) {
        let again = hashlog::model::decode_item(&hashlog::model::encode_item(&item));
        assert_eq!(again.ok(), Some(item));
    }
});
