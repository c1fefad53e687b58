#![no_main]
//! Manifest edit decoding never panics, and what decodes re-encodes to the same bytes.
use hashlog::lsm::manifest::VersionEdit;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(edit) = VersionEdit::decode(data) {
        assert_eq!(edit.encode(), data);
    }
});
