//! The I/O layer's batched reads: `read_many` of N random 4 KiB blocks from a 256 MiB file,
//! io_uring (every read of the batch in one submission) against std (one `pread` after
//! another), in the same run. Two cases: O_DIRECT, so every read goes to the device, and
//! buffered with the file in the page cache. Single reads are measured alongside.
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hashlog::io::{default_backend, BackendKind, IoBackend, IoFile, OpenOptions, DIRECT_IO_ALIGN};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const FILE_BYTES: u64 = 256 << 20;
const BLOCK: usize = 4096;

/// A buffer aligned for O_DIRECT.
struct Aligned {
    ptr: *mut u8,
    layout: Layout,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let layout = Layout::from_size_align(len, DIRECT_IO_ALIGN.max(BLOCK)).expect("layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "allocation failed");
        Aligned { ptr, layout }
    }
    fn chunks(&mut self) -> Vec<&mut [u8]> {
        // SAFETY: ptr is valid for layout.size() bytes and uniquely borrowed through self.
        let all = unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) };
        all.chunks_mut(BLOCK).collect()
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

fn make_file(path: &Path) {
    let io = default_backend(BackendKind::Std).0;
    let f = io
        .open(
            path,
            OpenOptions {
                create: true,
                write: true,
                truncate: true,
                ..OpenOptions::default()
            },
        )
        .expect("create");
    let mut rng = SmallRng::seed_from_u64(7);
    let mut chunk = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < FILE_BYTES {
        rng.fill(&mut chunk[..]);
        f.write_all_at(&chunk, off).expect("write");
        off += chunk.len() as u64;
    }
    f.sync_all().expect("sync");
}

fn open(io: &Arc<dyn IoBackend>, path: &Path, direct: bool) -> Arc<dyn IoFile> {
    let f = io
        .open(
            path,
            OpenOptions {
                direct,
                ..OpenOptions::read_only()
            },
        )
        .expect("open");
    assert_eq!(f.is_direct(), direct, "O_DIRECT not honoured here");
    f
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("blocks");
    make_file(&path);
    let blocks = FILE_BYTES / BLOCK as u64;
    let mut backends: Vec<(&str, Arc<dyn IoBackend>)> =
        vec![("std", default_backend(BackendKind::Std).0)];
    match default_backend(BackendKind::Uring) {
        (io, None) => backends.insert(0, ("io_uring", io)),
        (_, Some(why)) => eprintln!("io_uring unavailable, std only: {why}"),
    }
    for (case, direct) in [("device_o_direct", true), ("page_cache", false)] {
        let mut g = c.benchmark_group(format!("read_4KiB_{case}"));
        g.sample_size(20);
        g.measurement_time(Duration::from_secs(3));
        g.warm_up_time(Duration::from_secs(1));
        for batch in [1usize, 8, 32] {
            g.throughput(Throughput::Elements(batch as u64));
            for (name, io) in &backends {
                let f = open(io, &path, direct);
                let mut buf = Aligned::new(batch * BLOCK);
                let mut rng = SmallRng::seed_from_u64(batch as u64);
                g.bench_with_input(BenchmarkId::new(*name, batch), &batch, |b, _| {
                    b.iter(|| {
                        let mut chunks = buf.chunks();
                        let mut reqs: Vec<(u64, &mut [u8])> = chunks
                            .iter_mut()
                            .map(|c| (rng.gen_range(0..blocks) * BLOCK as u64, &mut **c))
                            .collect();
                        f.read_many(&mut reqs).expect("read_many");
                    })
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
