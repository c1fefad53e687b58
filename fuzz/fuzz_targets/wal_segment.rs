#![no_main]
//! WAL segment scanning (headers, frames, batches) never panics on arbitrary bytes. The
//! header's salt seeds the frame checksums when the header decodes; otherwise the bytes are
//! scanned as a segment of salt 0 (version 1's unseeded checksums), so frames the fuzzer
//! builds with plain xxh3 are reachable.
use hashlog::wal::format::{decode_segment_header, SegmentHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let header = decode_segment_header(data).unwrap_or(SegmentHeader {
        id: 1,
        base_seq: 1,
        salt: 0,
    });
    let _ = hashlog::wal::recover::scan_segment(data, "fuzz.wal", &header, true);
    let _ = hashlog::wal::recover::scan_segment(data, "fuzz.wal", &header, false);
});
