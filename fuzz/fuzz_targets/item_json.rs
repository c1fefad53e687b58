#![no_main]
//! DynamoDB JSON attribute values: arbitrary JSON gives a value or a DynamoDB error, and a
//! value survives to_json/from_json.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(item) = hashlog::model::item_from_json(&v) {
        let back = hashlog::model::item_from_json(&hashlog::model::item_to_json(&item));
        assert_eq!(back.ok(), Some(item));
    }
});
