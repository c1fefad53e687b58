#![no_main]
//! WAL segment scanning (headers, frames, batches) never panics on arbitrary bytes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hashlog::wal::format::decode_segment_header(data);
    let _ = hashlog::wal::recover::scan_segment(data, "fuzz.wal", 1, true);
    let _ = hashlog::wal::recover::scan_segment(data, "fuzz.wal", 1, false);
});
