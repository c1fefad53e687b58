#![no_main]
//! Opening and fully reading an arbitrary file as an SSTable gives data or an error, never a
//! panic.
use std::io::Write;
use std::ops::Bound;
use std::sync::Arc;

use hashlog::io::std_backend::StdFile;
use hashlog::sstable::{BlockCache, ReadMode, SstReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut f) = tempfile::tempfile() else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    for mode in [ReadMode::Mmap, ReadMode::Io] {
        let Ok(file) = f.try_clone() else { return };
        let file = Arc::new(StdFile::from_file(file));
        if let Ok(r) = SstReader::open(file, 1, Arc::new(BlockCache::new(1 << 16)), mode) {
            for e in r.iter(Bound::Unbounded, Bound::Unbounded).take(10_000) {
                if e.is_err() {
                    break;
                }
            }
            let _ = r.get(b"key", u64::MAX >> 8);
        }
    }
});
