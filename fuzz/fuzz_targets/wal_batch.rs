#![no_main]
//! WAL batch payload decoding never panics.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hashlog::db::decode_batch(data);
});
